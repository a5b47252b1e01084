//! `Host::change`: the one place a change is journaled, simulated, paused on, failed on purpose
//! or replayed from an interrupted run.

use std::time::Instant;

use rhai::{Dynamic, EvalAltResult, NativeCallContext, Position};
use serde_json::{Value, json};

use super::operator::decision_text;
use super::{Decision, Host, Prompter, Stop, dynamic_to_json};
use crate::effect::{Change, ScriptValue};
use crate::failure::{Failure, RhaiResult};
use crate::replay::{Recorded, RecordedChange, Verdict};
use crate::status::{ChangeOutcome, EventKind};

impl Host {
    /// Make (or simulate) a change. `perform` runs only in a real run, after the journal has the
    /// change and the operator (in step-through) has said yes. What it returns goes back to the
    /// script as `T`; a simulated, skipped or replayed change returns `change.simulated` (or the
    /// recorded result) read as `T` (see [`ScriptValue`]).
    pub fn change<T: ScriptValue>(
        &self,
        ctx: &NativeCallContext,
        change: Change,
        perform: impl FnOnce() -> Result<T, Failure>,
    ) -> RhaiResult<T> {
        self.change_dynamic(ctx.call_position(), change, || {
            perform().map(ScriptValue::into_dynamic)
        })
        .map(T::from_dynamic)
    }

    fn change_dynamic(
        &self,
        pos: Position,
        change: Change,
        perform: impl FnOnce() -> Result<Dynamic, Failure>,
    ) -> RhaiResult<Dynamic> {
        if let Some(stop) = self.check_stop() {
            return Err(self.terminate(stop, pos));
        }
        let summary = self.secrets.redact(&change.summary);
        if let Some(replayed) = self.replayed(&change, &summary, pos) {
            return replayed;
        }
        if let Some(failure) = self.injected(&change.function) {
            return Err(self.fail_injected(&change, &summary, failure, pos));
        }
        if let Some(prompter) = self.prompter()
            && self.skipped_by_operator(prompter.as_ref(), &change, &summary, pos)?
        {
            return Ok(change.simulated);
        }
        if self.mode.simulates_changes() {
            self.simulate(&change, &summary, pos)?;
            return Ok(change.simulated);
        }
        self.make(&change, &summary, perform, pos)
    }
    /// A fault `--inject` asked for: shown, recorded and journaled as the change failing;
    /// nothing is made.
    fn fail_injected(
        &self,
        change: &Change,
        summary: &str,
        failure: Failure,
        pos: Position,
    ) -> Box<EvalAltResult> {
        self.out.change_failed(summary, &failure.message);
        self.record_change(
            &change.function,
            summary,
            ChangeOutcome::Failed,
            0,
            Some(failure.message.clone()),
        );
        let _ = self.journal(
            EventKind::ChangeInjected,
            json!({ "function": change.function, "summary": summary, "args": change.args, "error": failure.message }),
        );
        failure.at_position(pos)
    }

    /// Step-through: the operator says whether to make the change. `Ok(true)` when they skip
    /// it (journaled); an abort ends the run.
    fn skipped_by_operator(
        &self,
        prompter: &dyn Prompter,
        change: &Change,
        summary: &str,
        pos: Position,
    ) -> RhaiResult<bool> {
        let (decision, wait_ms) = self.waiting(|| {
            prompter.before_change(&Change {
                summary: summary.to_string(),
                ..change.clone()
            })
        });
        let _ = self.journal(
            EventKind::Prompt,
            json!({ "kind": "change", "function": change.function, "summary": summary, "answer": decision_text(decision), "wait_ms": wait_ms }),
        );
        match decision {
            Decision::Continue => Ok(false),
            Decision::Skip => {
                self.out.skipped_change(summary);
                self.record_change(&change.function, summary, ChangeOutcome::Skipped, 0, None);
                let _ = self.journal(
                    EventKind::ChangeSkip,
                    json!({ "function": change.function, "summary": summary }),
                );
                Ok(true)
            }
            Decision::Abort => {
                let _ = self.journal(
                    EventKind::ChangeAbort,
                    json!({ "function": change.function, "summary": summary }),
                );
                Err(self.terminate(Stop::Aborted(format!("aborted before: {summary}")), pos))
            }
        }
    }

    /// A dry run or drill: shown, recorded and journaled as what would happen.
    fn simulate(&self, change: &Change, summary: &str, pos: Position) -> RhaiResult<()> {
        self.out.would(summary);
        self.record_change(&change.function, summary, ChangeOutcome::Simulated, 0, None);
        self.journal(
            EventKind::ChangeSimulated,
            json!({ "function": change.function, "summary": summary, "args": change.args }),
        )
        .map_err(|e| Failure::new(e).at_position(pos))
    }

    /// A real run: the change is journaled (and synced) before it starts, so a killed run shows
    /// it; then it is made and its outcome journaled.
    fn make(
        &self,
        change: &Change,
        summary: &str,
        perform: impl FnOnce() -> Result<Dynamic, Failure>,
        pos: Position,
    ) -> RhaiResult<Dynamic> {
        let function = &change.function;
        self.journal(
            EventKind::ChangeStart,
            json!({ "function": function, "summary": summary, "args": change.args }),
        )
        .map_err(|e| {
            Failure::new(e)
                .hint("no change was made; fix the journal and run again")
                .at_position(pos)
        })?;
        self.out.change(summary);
        let started = Instant::now();
        let result = perform();
        let ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(value) => {
                let shown = self.secrets.redact_json(dynamic_to_json(&value));
                self.record_change(function, summary, ChangeOutcome::Made, ms, None);
                self.journal(
                    EventKind::ChangeEnd,
                    json!({ "function": function, "ok": true, "ms": ms, "result": shown }),
                )
                .map_err(|e| self.outcome_unjournaled(summary, ChangeOutcome::Made, &e, pos))?;
                Ok(value)
            }
            Err(failure) => {
                let message = self.secrets.redact(&failure.message);
                self.record_change(
                    function,
                    summary,
                    ChangeOutcome::Failed,
                    ms,
                    Some(message.clone()),
                );
                self.journal(
                    EventKind::ChangeEnd,
                    json!({ "function": function, "ok": false, "ms": ms, "error": message }),
                )
                .map_err(|e| self.outcome_unjournaled(summary, ChangeOutcome::Failed, &e, pos))?;
                Err(failure.at_position(pos))
            }
        }
    }

    /// In a resumed run's interrupted step: the recorded outcome of this change, or `None` to
    /// make it. See [`crate::replay`].
    fn replayed(
        &self,
        change: &Change,
        summary: &str,
        pos: Position,
    ) -> Option<RhaiResult<Dynamic>> {
        let args = self.secrets.redact_json(Value::Object(change.args.clone()));
        let (verdict, run) = {
            let mut state = self.state();
            let replay = state.replay.as_mut()?;
            (replay.next(&change.function, &args, summary), replay.run)
        };
        match verdict {
            Verdict::Live => None,
            Verdict::Replayed(recorded) => Some(self.replay_recorded(recorded, summary, run, pos)),
            Verdict::Diverged(message) => Some(Err(self.terminate(Stop::Unsafe(message), pos))),
            Verdict::Unknown(recorded) => self.decide_unknown(change, recorded, summary, run, pos),
        }
    }

    /// A change the interrupted run started without journaling its end: the operator says
    /// whether it was made (`None`: make it now); with no terminal the resume stops (`--yes`
    /// does not answer this).
    fn decide_unknown(
        &self,
        change: &Change,
        recorded: RecordedChange,
        summary: &str,
        run: i64,
        pos: Position,
    ) -> Option<RhaiResult<Dynamic>> {
        let question = format!(
            "run {run} started `{summary}` but its outcome is unknown (no end was journaled). Was it made? (yes: treat it as made and go on; no: make it now)"
        );
        let answer = crate::prompt::ask_yes_no(&question);
        let _ = self.journal(
            EventKind::Prompt,
            json!({ "kind": "outcome-unknown", "summary": summary, "answer": answer }),
        );
        match answer {
            Some(true) => {
                let made = RecordedChange {
                    outcome: Recorded::Made(dynamic_to_json(&change.simulated)),
                    ..recorded
                };
                Some(self.replay_recorded(made, summary, run, pos))
            }
            Some(false) => None,
            None => Some(Err(self.terminate(
                Stop::Unsafe(format!(
                    "run {run} started `{summary}` but its outcome is unknown, and there is no terminal to ask whether it was made\nhelp: check it by hand, then resume on a terminal to answer"
                )),
                pos,
            ))),
        }
    }

    /// Return a recorded outcome instead of making the change again; journaled as replayed.
    fn replay_recorded(
        &self,
        recorded: RecordedChange,
        summary: &str,
        run: i64,
        pos: Position,
    ) -> RhaiResult<Dynamic> {
        self.out
            .note(&format!("replayed (made by run {run}): {summary}"));
        let (ok, result, error) = match &recorded.outcome {
            Recorded::Failed(message) => (false, Value::Null, Some(message.clone())),
            Recorded::Made(value) => (true, value.clone(), None),
            _ => (true, Value::Null, None),
        };
        self.record_change(
            &recorded.function,
            summary,
            ChangeOutcome::Replayed,
            0,
            error.clone(),
        );
        self.journal(
            EventKind::ChangeReplayed,
            json!({ "function": recorded.function, "summary": summary, "args": recorded.args,
                    "ok": ok, "result": result, "error": error, "from_run": run }),
        )
        .map_err(|e| self.outcome_unjournaled(summary, ChangeOutcome::Replayed, &e, pos))?;
        match error {
            Some(message) => Err(Failure::new(message).at_position(pos)),
            None => Ok(rhai::serde::to_dynamic(&result).unwrap_or(Dynamic::UNIT)),
        }
    }

    /// A change whose outcome the journal could not record ends the run, uncatchably: a resume
    /// could not know whether to make it again.
    fn outcome_unjournaled(
        &self,
        summary: &str,
        outcome: ChangeOutcome,
        error: &str,
        pos: Position,
    ) -> Box<EvalAltResult> {
        let message = format!(
            "the change `{summary}` was {outcome}, but its outcome could not be journaled ({error}); the run stops here so that nothing runs on an unrecorded state\nhelp: the journal shows this change as \"outcome unknown\"; check it by hand before `ripcord resume`"
        );
        self.out.warn(&message);
        self.terminate(Stop::Unsafe(message), pos)
    }
}
