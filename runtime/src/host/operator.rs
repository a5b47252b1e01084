//! Asking the operator: pauses before steps and changes, `confirm`, the inspect prompt.

use std::time::Instant;

use rhai::NativeCallContext;
use serde_json::json;

use super::{Gate, Host, Stop, WOULD_ASK};
use crate::effect::Change;
use crate::failure::{Failure, RhaiResult};
use crate::status::EventKind;

/// The operator's answer at a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Continue,
    Skip,
    Abort,
}

/// Asks the operator: implemented by the terminal prompter and by the REPL's step-through.
pub trait Prompter: Send + Sync {
    /// Before a step starts. `scope` lets an inspect prompt read and assign script variables.
    fn before_step(&self, step: &str, position: &str, inspect: &mut dyn Inspect) -> Decision;
    /// Before a change is made, shown with the same words as the dry run.
    fn before_change(&self, change: &Change) -> Decision;
    /// A yes/no question from `confirm(msg)`; `None` when nobody can answer.
    fn confirm(&self, message: &str) -> Option<bool>;
}

/// Evaluates operator input with the script's variables in scope.
pub trait Inspect {
    fn eval(&mut self, code: &str) -> Result<String, String>;
}

impl Host {
    /// `confirm(msg)`: ask on a terminal; `--yes` answers yes; with nobody to ask, abort. A dry
    /// run or drill answers itself: it records the gate a real run would stop at and goes on, so
    /// a preview sees past every gate, with or without a terminal.
    pub fn confirm(&self, ctx: &NativeCallContext, message: &str) -> RhaiResult<bool> {
        let pos = ctx.call_position();
        let message = self.secrets.redact(message);
        if self.mode.simulates_changes() {
            self.out.would_ask(&message);
            let step = self.current_step();
            self.state().gates.push(Gate {
                step,
                message: message.clone(),
            });
            self.journal(
                EventKind::Prompt,
                json!({ "kind": "confirm", "message": message, "answer": WOULD_ASK }),
            )
            .map_err(|e| Failure::new(e).at_position(pos))?;
            return Ok(true);
        }
        if let Some(approvals) = self.approvals() {
            return self.confirm_by_policy(&approvals, &message, pos);
        }
        let (answer, wait_ms) = if self.yes {
            self.out.note(&format!("confirm: {message} -> yes (--yes)"));
            (Some(true), 0)
        } else if let Some(p) = self.prompter() {
            self.waiting(|| p.confirm(&message))
        } else {
            self.waiting(|| crate::prompt::ask_yes_no(&message))
        };
        let _ = self.journal(
            EventKind::Prompt,
            json!({ "kind": "confirm", "message": message, "answer": answer, "wait_ms": wait_ms }),
        );
        match answer {
            Some(true) => Ok(true),
            Some(false) => Err(self.terminate(Stop::Aborted(format!("the operator answered no to: {message}")), pos)),
            None => Err(self.terminate(
                Stop::Aborted(format!(
                    "confirm needs an answer but there is no terminal: {message}\nhelp: run it on a terminal, or pass --yes to answer yes"
                )),
                pos,
            )),
        }
    }

    /// Run `ask` (a question to the operator) and return its answer with how long it took; the
    /// time is counted as the current step's operator wait, not as its own duration.
    pub(super) fn waiting<T>(&self, ask: impl FnOnce() -> T) -> (T, u64) {
        let started = Instant::now();
        let answer = ask();
        let ms = started.elapsed().as_millis() as u64;
        let mut state = self.state();
        if let Some(i) = state.current {
            state.in_step_wait_ms += ms;
            state.steps[i].wait_ms += ms;
        }
        (answer, ms)
    }
}

pub(super) fn decision_text(decision: Decision) -> &'static str {
    match decision {
        Decision::Continue => "continue",
        Decision::Skip => "skip",
        Decision::Abort => "abort",
    }
}

/// What the operator types at an inspect prompt can change the run: each input is journaled.
pub(super) struct JournaledInspect<'a> {
    pub(super) host: &'a Host,
    pub(super) inner: &'a mut dyn Inspect,
}

impl Inspect for JournaledInspect<'_> {
    fn eval(&mut self, code: &str) -> Result<String, String> {
        let result = self.inner.eval(code);
        let _ = self.host.journal(
            EventKind::Inspect,
            json!({ "code": code, "ok": result.is_ok(), "error": result.as_ref().err() }),
        );
        result
    }
}
