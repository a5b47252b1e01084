//! Step bookkeeping: a step begins (or is skipped, resumed, aborted) and ends with a status.

use std::time::Duration;

use rhai::{EvalAltResult, Position};
use serde_json::{Value, json};

use super::operator::{JournaledInspect, decision_text};
use super::{Decision, Gate, Host, Inspect, Prompter, State, StepRecord, Stop};
use crate::failure::{Failure, RhaiResult};
use crate::status::{EventKind, StepStatus};

impl Host {
    /// Called when a step starts. Returns `false` if the step is to be skipped.
    pub fn begin_step(
        &self,
        name: &str,
        position: &str,
        inspect: &mut dyn Inspect,
        pos: Position,
    ) -> RhaiResult<bool> {
        if let Some(stop) = self.check_stop() {
            return Err(self.terminate(stop, pos));
        }
        let ordinal = {
            let mut state = self.state();
            state.ordinal += 1;
            state.ordinal
        };
        if self
            .completed_steps
            .iter()
            .any(|(n, s)| *n == ordinal && s == name)
        {
            self.resume_completed(name, position, ordinal);
            return Ok(false);
        }
        let mut wait_ms = 0;
        if let Some(prompter) = self.prompter() {
            match self.ask_before_step(prompter.as_ref(), name, position, ordinal, inspect, pos)? {
                Some(waited) => wait_ms = waited,
                None => return Ok(false),
            }
        }
        self.start_step(name, position, ordinal, wait_ms)
            .map_err(|e| Failure::new(e).at_position(pos))?;
        Ok(true)
    }

    /// A new step's record; the step starts when the operator lets it (a pause before it is
    /// not its time).
    fn step_record(
        &self,
        name: &str,
        position: &str,
        status: StepStatus,
        wait_ms: u64,
    ) -> StepRecord {
        StepRecord {
            name: name.to_string(),
            position: position.to_string(),
            start_ms: self.elapsed().as_millis() as u64,
            ms: 0,
            wait_ms,
            status,
            error: None,
            changes: Vec::new(),
            observations: Vec::new(),
        }
    }

    /// A step the resumed run completed: recorded and journaled as resumed, not run again.
    fn resume_completed(&self, name: &str, position: &str, ordinal: usize) {
        let record = self.step_record(name, position, StepStatus::Resumed, 0);
        self.state().steps.push(record);
        self.out.step_resumed(name);
        let _ = self.journal(
            EventKind::StepResumed,
            json!({ "name": name, "ordinal": ordinal }),
        );
    }

    /// Step-through: the operator decides before the step. `Some(wait)` to run it after
    /// waiting `wait` ms; `None` when they skip it (journaled); an abort ends the run.
    fn ask_before_step(
        &self,
        prompter: &dyn Prompter,
        name: &str,
        position: &str,
        ordinal: usize,
        inspect: &mut dyn Inspect,
        pos: Position,
    ) -> RhaiResult<Option<u64>> {
        let mut journaled = JournaledInspect {
            host: self,
            inner: inspect,
        };
        let (decision, wait_ms) =
            self.waiting(|| prompter.before_step(name, position, &mut journaled));
        let _ = self.journal(
            EventKind::Prompt,
            json!({ "kind": "step", "step": name, "answer": decision_text(decision), "wait_ms": wait_ms }),
        );
        match decision {
            Decision::Continue => Ok(Some(wait_ms)),
            Decision::Skip => {
                let record = self.step_record(name, position, StepStatus::Skipped, wait_ms);
                self.state().steps.push(record);
                self.out.step_skipped(name);
                let _ = self.journal(
                    EventKind::StepSkip,
                    json!({ "name": name, "ordinal": ordinal }),
                );
                Ok(None)
            }
            Decision::Abort => {
                let record = self.step_record(name, position, StepStatus::Aborted, wait_ms);
                self.state().steps.push(record);
                Err(self.terminate(Stop::Aborted(format!("aborted before step `{name}`")), pos))
            }
        }
    }

    /// The step runs: it becomes the current one (taking over a pending replay if it is the
    /// interrupted step) and is journaled as started.
    fn start_step(
        &self,
        name: &str,
        position: &str,
        ordinal: usize,
        wait_ms: u64,
    ) -> Result<(), String> {
        // Output printed before the step belongs to what came before it.
        self.flush_output();
        let record = self.step_record(name, position, StepStatus::Running, wait_ms);
        {
            let mut state = self.state();
            state.steps.push(record);
            state.current = Some(state.steps.len() - 1);
            state.in_step_wait_ms = 0;
            if state
                .replay_pending
                .as_ref()
                .is_some_and(|r| r.ordinal == ordinal && r.step == name)
            {
                state.replay = state.replay_pending.take();
            }
        }
        self.out.step_start(name);
        self.journal(
            EventKind::StepStart,
            json!({ "name": name, "ordinal": ordinal, "position": position }),
        )
    }

    /// Called when a started step ends, with its error if it failed.
    pub fn end_step(&self, error: Option<&EvalAltResult>) {
        // The step's output is journaled as the step's, before its end.
        self.flush_output();
        let (name, ms, wait_ms, status, end) = {
            let mut state = self.state();
            let stop = state.stop.clone();
            let ordinal = state.ordinal;
            let Some(i) = state.current.take() else {
                return;
            };
            let in_step_wait = std::mem::take(&mut state.in_step_wait_ms);
            if let Some(replay) = state.replay.take()
                && !replay.changes.is_empty()
            {
                self.out.warn(&format!(
                    "step `{}` ended with {} change(s) that run {} made here not asked for again: the runbook changed since",
                    replay.step,
                    replay.changes.len(),
                    replay.run
                ));
            }
            let step = &mut state.steps[i];
            step.ms = (self.elapsed().as_millis() as u64)
                .saturating_sub(step.start_ms)
                .saturating_sub(in_step_wait);
            step.status = match (error, stop) {
                (None, _) => StepStatus::Ok,
                (Some(_), Some(Stop::Aborted(_))) => StepStatus::Aborted,
                (Some(_), Some(Stop::Interrupted)) => StepStatus::Interrupted,
                (Some(_), Some(Stop::TimedOut(_))) => StepStatus::TimedOut,
                (Some(_), Some(Stop::Locked(_))) => StepStatus::Locked,
                (Some(_), Some(Stop::Unsafe(_))) => StepStatus::Failed,
                (Some(_), Some(Stop::Limit(_))) => StepStatus::Failed,
                (Some(_), Some(Stop::OutputClosed)) => StepStatus::Interrupted,
                (Some(_), None) => StepStatus::Failed,
            };
            step.error = error.map(|e| self.secrets.redact(&crate::error::message_of(e)));
            let end = json!({ "name": step.name, "ordinal": ordinal, "status": step.status, "ms": step.ms, "wait_ms": step.wait_ms });
            (step.name.clone(), step.ms, step.wait_ms, step.status, end)
        };
        self.out.step_end(
            &name,
            status,
            Duration::from_millis(ms),
            Duration::from_millis(wait_ms),
        );
        let _ = self.journal_step_end(&name, &end);
    }

    fn journal_step_end(&self, name: &str, data: &Value) -> Result<(), String> {
        self.emit_event(self.run_id(), EventKind::StepEnd.as_str(), Some(name), data);
        let mut state = self.state();
        let State { journal, .. } = &mut *state;
        if let Some((journal, run)) = journal.as_mut() {
            journal
                .event(*run, EventKind::StepEnd, Some(name), data)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub fn current_step(&self) -> Option<String> {
        let state = self.state();
        state
            .current
            .and_then(|i| state.steps.get(i))
            .map(|s| s.name.clone())
    }

    pub fn steps(&self) -> Vec<StepRecord> {
        self.state().steps.clone()
    }

    /// The gates a dry run or drill answered itself, in order.
    pub fn gates(&self) -> Vec<Gate> {
        self.state().gates.clone()
    }
}
