//! Exactly-once resume: the changes an interrupted step had already made, replayed from the
//! journal instead of made again.
//!
//! `ripcord resume` re-enters the step the run was in when it stopped. Each change the script
//! asks for there is matched, in order, against what the journal recorded for that step: a
//! change recorded as made returns its recorded result without running; a change that failed
//! last (the failure that stopped the run) is made again, as resuming is for; a change whose
//! outcome is unknown (started, no end) needs the operator; a script that now asks for a
//! different change than the journal recorded stops the run there.

use std::collections::VecDeque;

use serde_json::Value;

use crate::journal::EventRow;
use crate::status::EventKind;

/// How a recorded change ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Made; its (redacted) result.
    Made(Value),
    /// Failed with this message, and the step went on (a `try`/`catch`): replayed as the same failure.
    Failed(String),
    /// Failed, and nothing after it: the failure that stopped the run. Made again.
    FailedLast,
    /// Skipped at a step-through prompt: not made, so asked for again.
    Skipped,
    /// Started, and no end was journaled.
    Unknown,
}

/// One change of the interrupted step as the journal has it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedChange {
    pub function: String,
    pub args: Value,
    pub summary: String,
    pub outcome: Recorded,
}

/// The interrupted step of an earlier run and its recorded changes, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub run: i64,
    pub ordinal: usize,
    pub step: String,
    pub changes: VecDeque<RecordedChange>,
    /// How many recorded changes the resumed run has matched so far.
    pub taken: usize,
}

/// What to do with the change the script asks for now.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Make it (nothing left to replay, or the journal says it must be made again).
    Live,
    Replayed(RecordedChange),
    Unknown(RecordedChange),
    /// The script asks for something else than the journal recorded.
    Diverged(String),
}

impl Replay {
    /// The step a run was in when it stopped and the changes it made there, from its events;
    /// `None` if it stopped between steps (nothing to replay).
    pub fn from_events(run: i64, events: &[EventRow]) -> Option<Replay> {
        let start = events.iter().rposition(|e| e.is(EventKind::StepStart))?;
        let step = &events[start];
        let ordinal = step.data["ordinal"].as_u64()? as usize;
        let name = step.data["name"].as_str()?.to_string();
        let mut changes: VecDeque<RecordedChange> = VecDeque::new();
        for e in &events[start + 1..] {
            let field = |k: &str| e.data[k].as_str().unwrap_or("").to_string();
            match e.known_kind() {
                Some(EventKind::StepEnd) if e.ends_step_ok() => return None,
                Some(
                    kind @ (EventKind::ChangeStart
                    | EventKind::ChangeReplayed
                    | EventKind::ChangeSkip),
                ) => changes.push_back(RecordedChange {
                    function: field("function"),
                    args: e.data["args"].clone(),
                    summary: field("summary"),
                    outcome: match kind {
                        EventKind::ChangeReplayed if e.data["ok"] == false => {
                            Recorded::Failed(field("error"))
                        }
                        EventKind::ChangeReplayed => Recorded::Made(e.data["result"].clone()),
                        EventKind::ChangeSkip => Recorded::Skipped,
                        _ => Recorded::Unknown,
                    },
                }),
                Some(EventKind::ChangeEnd) => {
                    if let Some(last) = changes
                        .back_mut()
                        .filter(|c| c.outcome == Recorded::Unknown)
                    {
                        last.outcome = if e.data["ok"] == true {
                            Recorded::Made(e.data["result"].clone())
                        } else {
                            Recorded::Failed(field("error"))
                        };
                    }
                }
                _ => {}
            }
        }
        if let Some(last) = changes.back_mut()
            && matches!(last.outcome, Recorded::Failed(_))
        {
            last.outcome = Recorded::FailedLast;
        }
        Some(Replay {
            run,
            ordinal,
            step: name,
            changes,
            taken: 0,
        })
    }

    /// Match the change the script asks for now (`args` already redacted as the journal has
    /// them) against the next recorded one.
    pub fn next(&mut self, function: &str, args: &Value, summary: &str) -> Verdict {
        let Some(recorded) = self.changes.pop_front() else {
            return Verdict::Live;
        };
        self.taken += 1;
        if recorded.function != function || &recorded.args != args {
            let message = format!(
                "resume diverges from run {} in step `{}`: the script now asks for `{summary}` where the journal recorded `{}` (change {} of the step)\nhelp: the runbook or its inputs changed since; check what run {} did (`ripcord show {}`) and start a new run",
                self.run, self.step, recorded.summary, self.taken, self.run, self.run
            );
            self.changes.clear();
            return Verdict::Diverged(message);
        }
        match recorded.outcome {
            Recorded::Made(_) | Recorded::Failed(_) => Verdict::Replayed(recorded),
            Recorded::Unknown => Verdict::Unknown(recorded),
            Recorded::FailedLast | Recorded::Skipped => Verdict::Live,
        }
    }
}
