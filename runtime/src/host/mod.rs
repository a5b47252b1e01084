//! The seam between scripts and the world.
//!
//! Native functions reach the run's [`Host`] through the engine's tag. Every change goes through
//! [`Host::change`]: journaled before it is made, simulated in a dry run, paused on in
//! step-through mode, failed on purpose when a drill injects a fault. Reads and probes go through
//! [`Host::read`] and [`Host::probe`] so drills can inject faults there too and reports can show
//! what was observed.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rhai::{Dynamic, NativeCallContext, Position};
use serde_json::{Value, json};

use crate::failure::{Failure, RhaiResult};
use crate::journal::Journal;
use crate::limits::{Limits, Size};
use crate::output::Output;
use crate::replay::Replay;
use crate::secrets::Secrets;
use crate::status::EventKind;

mod change;
mod fleet;
mod injection;
mod mode;
mod observe;
mod operator;
mod options;
mod records;
mod steps;
mod stop;

pub use injection::Injection;
pub use mode::Mode;
pub use operator::{Decision, Inspect, Prompter};
pub use options::{HostOptions, RunTag, SubRunner, UndoAction};
pub use records::{ChangeRecord, Gate, ObservationRecord, StepRecord, WOULD_ASK};
pub use stop::Stop;

#[derive(Default)]
struct State {
    journal: Option<(Journal, i64)>,
    steps: Vec<StepRecord>,
    current: Option<usize>,
    ordinal: usize,
    calls: Vec<(String, u32)>,
    gates: Vec<Gate>,
    /// Operator wait inside the current step, taken off its duration when it ends.
    in_step_wait_ms: u64,
    stop: Option<Stop>,
    journal_error: Option<String>,
    locks: Vec<crate::lock::RunLock>,
    /// Waiting for its step to start.
    replay_pending: Option<Replay>,
    /// Replaying: inside the step it belongs to.
    replay: Option<Replay>,
    /// `print` output not yet journaled (journaled at each step's end and the run's end).
    pending_output: String,
    /// Bytes of `print` output journaled so far.
    journaled_output: usize,
    /// All `print` output, with `--json`.
    captured: Option<String>,
}

/// `print` output beyond this is not journaled (the journal notes how much was left out).
const JOURNALED_OUTPUT_MAX: usize = 1 << 20;

/// The host is shared with the threads a native function starts (probe fan-out, stop requests),
/// so it holds no Rhai values: Rhai is built without `sync`, and its values are not `Send`.
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<Host>();
};

/// The run's connection to the world.
pub struct Host {
    pub mode: Mode,
    pub out: Output,
    pub secrets: Secrets,
    pub config: Value,
    yes: bool,
    injections: Vec<Injection>,
    interrupt: Arc<AtomicBool>,
    /// Set once a stop is decided, so the per-operation check is two relaxed loads.
    stopping: AtomicBool,
    /// Operations count at the last memory reading.
    memory_checked_at: AtomicU64,
    pub limits: Limits,
    started: Instant,
    deadline: Option<(Instant, Duration)>,
    completed_steps: Vec<(usize, String)>,
    prompter: Mutex<Option<Arc<dyn Prompter>>>,
    sub_runner: Mutex<Option<SubRunner>>,
    state: Mutex<State>,
    fleet: Mutex<fleet::FleetHooks>,
}

impl Host {
    pub fn new(options: HostOptions, out: Output) -> Host {
        let started = Instant::now();
        let state = State {
            captured: options.capture_output.then(String::new),
            ..State::default()
        };
        Host {
            mode: options.mode,
            out,
            secrets: options.secrets,
            config: options.config,
            yes: options.yes,
            injections: options.injections,
            interrupt: options.interrupt,
            stopping: AtomicBool::new(false),
            memory_checked_at: AtomicU64::new(0),
            limits: options.limits,
            started,
            deadline: options.deadline.map(|d| (started + d, d)),
            completed_steps: options.completed_steps,
            prompter: Mutex::new(None),
            sub_runner: Mutex::new(None),
            state: Mutex::new(State {
                replay_pending: options.replay,
                ..state
            }),
            fleet: Mutex::new(fleet::FleetHooks::default()),
        }
    }

    /// The host of the run a native function is called from.
    pub fn of(ctx: &NativeCallContext) -> RhaiResult<Arc<Host>> {
        ctx.tag()
            .and_then(Host::from_tag)
            .ok_or_else(|| Failure::new("internal error: this engine has no ripcord host").at(ctx))
    }

    pub fn from_tag(tag: &Dynamic) -> Option<Arc<Host>> {
        tag.read_lock::<RunTag>().map(|t| t.host.clone())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held is caught at the run's edge; the state is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_prompter(&self, prompter: Option<Arc<dyn Prompter>>) {
        *self.prompter.lock().unwrap_or_else(|p| p.into_inner()) = prompter;
    }

    pub fn set_sub_runner(&self, runner: SubRunner) {
        *self.sub_runner.lock().unwrap_or_else(|p| p.into_inner()) = Some(runner);
    }

    pub fn sub_runner(&self) -> Option<SubRunner> {
        self.sub_runner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn prompter(&self) -> Option<Arc<dyn Prompter>> {
        self.prompter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn attach_journal(&self, journal: Journal, run: i64) {
        self.state().journal = Some((journal, run));
    }

    pub fn detach_journal(&self) -> Option<(Journal, i64)> {
        self.state().journal.take()
    }

    pub fn run_id(&self) -> Option<i64> {
        self.state().journal.as_ref().map(|(_, id)| *id)
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Append an event to the journal (redacted). A journal that fails is reported once and the
    /// run stops before its next change: a change must not happen unrecorded.
    pub fn journal(&self, kind: impl AsRef<str>, data: Value) -> Result<(), String> {
        let kind = kind.as_ref();
        let mut state = self.state();
        let step = state
            .current
            .and_then(|i| state.steps.get(i))
            .map(|s| s.name.clone());
        let data = self.secrets.redact_json(data);
        let run = state.journal.as_ref().map(|(_, id)| *id);
        self.emit_event(run, kind, step.as_deref(), &data);
        let State {
            journal,
            journal_error,
            ..
        } = &mut *state;
        if let Some((journal, run)) = journal.as_mut()
            && let Err(e) = journal.event(*run, kind, step.as_deref(), &data)
        {
            let message = format!(
                "cannot write to the journal {}: {e}",
                journal.path().display()
            );
            *journal_error = Some(message.clone());
            return Err(message);
        }
        Ok(())
    }

    // ---- script output ----------------------------------------------------------------------

    /// `print(text)`: the script's output. To stdout (or kept for `--json`), redacted, and
    /// journaled in batches: one event per print would make a chatty loop wait on the disk.
    pub fn print(&self, text: &str) {
        let text = self.secrets.redact(text);
        let mut state = self.state();
        match state.captured.as_mut() {
            Some(captured) => {
                captured.push_str(&text);
                captured.push('\n');
            }
            None => crate::output::print_stdout(&text),
        }
        if state.journaled_output + state.pending_output.len() < JOURNALED_OUTPUT_MAX {
            state.pending_output.push_str(&text);
            state.pending_output.push('\n');
        } else {
            state.journaled_output += text.len() + 1;
        }
    }

    /// Journal the `print` output since the last flush as one `output` event.
    pub fn flush_output(&self) {
        let (text, total) = {
            let mut state = self.state();
            if state.pending_output.is_empty() {
                return;
            }
            let text = std::mem::take(&mut state.pending_output);
            state.journaled_output += text.len();
            (text, state.journaled_output)
        };
        let mut data = json!({ "text": text });
        if total > JOURNALED_OUTPUT_MAX {
            data["truncated"] = json!(format!(
                "output past {} is not journaled",
                Size(JOURNALED_OUTPUT_MAX as u64)
            ));
        }
        let _ = self.journal(EventKind::Output, data);
    }

    /// A sub-run's captured output joins the caller's (it is journaled under the sub-run).
    pub fn capture_sub_output(&self, text: &str) {
        if let Some(captured) = self.state().captured.as_mut() {
            captured.push_str(text);
        }
    }

    /// Everything `print` wrote, with `--json`.
    pub fn captured_output(&self) -> Option<String> {
        self.state().captured.clone()
    }

    // ---- locks ------------------------------------------------------------------------------

    /// Take a run lock for the rest of the run (`lock("cortex")`); held locks are kept.
    pub fn lock(&self, name: &str, pos: Position) -> RhaiResult<()> {
        if self.mode.simulates_changes() || self.state().locks.iter().any(|l| l.name == name) {
            return Ok(());
        }
        match crate::lock::acquire(name, name) {
            Ok(lock) => {
                let _ = self.journal(EventKind::Lock, json!({ "name": name }));
                self.state().locks.push(lock);
                Ok(())
            }
            Err(crate::lock::LockError::Held(message)) => {
                Err(self.terminate(Stop::Locked(message), pos))
            }
            // A lock that cannot be taken at all is the step's failure (exit 1), with the cause.
            Err(crate::lock::LockError::Failed(message)) => {
                Err(Failure::new(message).at_position(pos))
            }
        }
    }

    pub fn hold_lock(&self, lock: crate::lock::RunLock) {
        self.state().locks.push(lock);
    }
}

/// Convert a Rhai value into JSON for the journal (unit becomes null; other types their text).
pub fn dynamic_to_json(value: &Dynamic) -> Value {
    rhai::serde::from_dynamic::<Value>(value).unwrap_or_else(|_| Value::String(value.to_string()))
}
