//! The seam between scripts and the world.
//!
//! Native functions reach the run's [`Host`] through the engine's tag. Every change goes through
//! [`Host::change`]: journaled before it is made, simulated in a dry run, paused on in
//! step-through mode, failed on purpose when a drill injects a fault. Reads and probes go through
//! [`Host::read`] and [`Host::probe`] so drills can inject faults there too and reports can show
//! what was observed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, FnPtr, NativeCallContext, Position};
use serde::Serialize;
use serde_json::{Value, json};

use crate::effect::Change;
use crate::failure::{Failure, RhaiResult};
use crate::journal::Journal;
use crate::limits::{Limits, Size};
use crate::output::Output;
use crate::replay::{Recorded, RecordedChange, Replay, Verdict};
use crate::secrets::Secrets;

mod fleet;

/// How changes are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Changes are made.
    Run,
    /// Changes are printed and simulated.
    DryRun,
    /// A dry run that also writes a report.
    Drill,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::DryRun => "dry-run",
            Mode::Drill => "drill",
        }
    }

    pub fn simulates_changes(self) -> bool {
        self != Mode::Run
    }
}

/// Why a run stopped before its end without a script error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The operator said no, or aborted at a pause (exit 3).
    Aborted(String),
    /// Ctrl-C or SIGTERM (exit 130).
    Interrupted,
    /// `--timeout` elapsed (exit 1).
    TimedOut(Duration),
    /// `lock(name)` is held by another run (exit 4).
    Locked(String),
    /// Going on could repeat or lose a change (exit 1): a change whose outcome the journal could
    /// not record (history, show and resume say "outcome unknown"); a resume whose script
    /// diverges from the journal; an unknown outcome nobody can decide on.
    Unsafe(String),
    /// A limit of the run (memory) was passed (exit 1); the message says which and how to raise it.
    Limit(String),
    /// stdout or stderr was closed (a broken pipe, e.g. `| head`): stopped like Ctrl-C (exit 130).
    OutputClosed,
}

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

/// A fault a drill injects: `module::fn=fail`, or `=fail@N` for the Nth call only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub function: String,
    pub nth: Option<u32>,
}

impl Injection {
    pub fn parse(text: &str) -> Result<Injection, String> {
        let (function, what) = text.split_once('=').ok_or_else(|| {
            format!("--inject `{text}`: expected `module::fn=fail` or `module::fn=fail@N`")
        })?;
        let nth = match what.trim() {
            "fail" => None,
            other => match other.strip_prefix("fail@").map(str::parse::<u32>) {
                Some(Ok(n)) if n > 0 => Some(n),
                _ => {
                    return Err(format!(
                        "--inject `{text}`: expected `fail` or `fail@N` (N >= 1) after `=`"
                    ));
                }
            },
        };
        Ok(Injection {
            function: function.trim().to_string(),
            nth,
        })
    }
}

/// What happened to one change, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    pub function: String,
    pub summary: String,
    /// `made`, `simulated`, `skipped` or `failed`.
    pub outcome: String,
    pub ms: u64,
    pub error: Option<String>,
}

/// What one read or probe observed, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct ObservationRecord {
    pub function: String,
    pub ok: bool,
    pub ms: u64,
    pub error: Option<String>,
}

/// One step as it ran, for progress, the report and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub name: String,
    pub position: String,
    /// Milliseconds since the run started.
    pub start_ms: u64,
    /// The step's own duration: the time spent waiting for the operator is not in it.
    pub ms: u64,
    /// Milliseconds spent waiting for the operator: the pause before the step (step-through),
    /// and pauses before its changes and at its `confirm`s.
    pub wait_ms: u64,
    /// `ok`, `failed`, `skipped`, `aborted`, `interrupted` or `resumed` (done by an earlier run).
    pub status: String,
    pub error: Option<String>,
    pub changes: Vec<ChangeRecord>,
    pub observations: Vec<ObservationRecord>,
}

/// The journaled answer of a `confirm` that a dry run or drill answered itself.
pub const WOULD_ASK: &str = "would ask";

/// A `confirm` gate a real run would stop at, as a dry run or drill met it.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    /// The step it is in; `None` outside any step.
    pub step: Option<String>,
    pub message: String,
}

/// A compensation registered by `undo(|| ...)`.
#[derive(Clone)]
pub struct UndoAction {
    pub step: String,
    pub action: FnPtr,
}

/// What `runbook::run` needs to start a sub-run like the current run.
#[derive(Clone)]
pub struct SubRunner {
    pub modules: fn() -> Vec<crate::native::NativeModule>,
    pub config: Option<std::path::PathBuf>,
    pub journal: Option<std::path::PathBuf>,
    pub dirs: Vec<std::path::PathBuf>,
    pub yes: bool,
    pub interrupt: Arc<AtomicBool>,
    pub prompter: Option<Arc<dyn Prompter>>,
    /// The caller's `--limit` settings, which apply to its sub-runs too.
    pub limits: Vec<crate::limits::Setting>,
}

/// Settings for one run's host.
pub struct HostOptions {
    pub mode: Mode,
    pub yes: bool,
    pub injections: Vec<Injection>,
    pub secrets: Secrets,
    /// The `cfg` map as JSON, for natives that read settings (e.g. `[service] scope`).
    pub config: Value,
    pub deadline: Option<Duration>,
    pub interrupt: Arc<AtomicBool>,
    /// Steps done by an earlier run (`ripcord resume`), by ordinal.
    pub completed_steps: Vec<(usize, String)>,
    /// The step the resumed run was in when it stopped, and the changes it made there.
    pub replay: Option<Replay>,
    pub limits: Limits,
    /// `--json`: keep `print` output for the result object instead of writing it to stdout.
    pub capture_output: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            mode: Mode::Run,
            yes: false,
            injections: Vec::new(),
            secrets: Secrets::default(),
            config: Value::Object(Default::default()),
            deadline: None,
            interrupt: Arc::new(AtomicBool::new(false)),
            completed_steps: Vec::new(),
            replay: None,
            limits: Limits::default(),
            capture_output: false,
        }
    }
}

#[derive(Default)]
struct State {
    journal: Option<(Journal, i64)>,
    steps: Vec<StepRecord>,
    current: Option<usize>,
    ordinal: usize,
    calls: Vec<(String, u32)>,
    undo: Vec<UndoAction>,
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
            .and_then(|t| t.clone().try_cast::<Arc<Host>>())
            .ok_or_else(|| Failure::new("internal error: this engine has no ripcord host").at(ctx))
    }

    pub fn from_tag(tag: &Dynamic) -> Option<Arc<Host>> {
        tag.clone().try_cast::<Arc<Host>>()
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
    pub fn journal(&self, kind: &str, data: Value) -> Result<(), String> {
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
        let _ = self.journal("output", data);
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

    // ---- stopping -------------------------------------------------------------------------

    /// Called by the engine before every operation, so it must be cheap: two relaxed loads, and
    /// the clock and the memory reading only every few thousand operations.
    pub fn poll(&self, operations: u64) -> Option<Stop> {
        const CLOCK_EVERY: u64 = 1 << 10;
        if !operations.is_multiple_of(CLOCK_EVERY)
            && !self.interrupt.load(Ordering::Relaxed)
            && !self.stopping.load(Ordering::Relaxed)
        {
            return None;
        }
        self.check_stop().or_else(|| self.check_memory(operations))
    }

    /// Stop the run if the process holds more memory than `--limit memory` allows. Read from
    /// `/proc` every 2^16 operations: cheap, and soon enough for values grown a step at a time.
    fn check_memory(&self, operations: u64) -> Option<Stop> {
        const MEMORY_EVERY: u64 = 1 << 16;
        let cap = self.limits.memory?;
        let last = self.memory_checked_at.load(Ordering::Relaxed);
        if operations.wrapping_sub(last) < MEMORY_EVERY {
            return None;
        }
        self.memory_checked_at.store(operations, Ordering::Relaxed);
        let used = crate::limits::resident_bytes()?;
        if used <= cap {
            return None;
        }
        let stop = Stop::Limit(format!(
            "the script uses {} of memory, over the limit of {} (a value growing without end?)\nhelp: raise it with `--limit memory=SIZE` or `//! @limit memory=SIZE` in the header",
            Size(used),
            Size(cap)
        ));
        self.request_stop(stop.clone());
        Some(stop)
    }

    /// Checked by the engine's progress callback and by natives that wait.
    pub fn check_stop(&self) -> Option<Stop> {
        if let Some(stop) = self.state().stop.clone() {
            return Some(stop);
        }
        let stop = if self.interrupt.load(Ordering::Relaxed) {
            Some(Stop::Interrupted)
        } else if crate::output::closed() {
            Some(Stop::OutputClosed)
        } else {
            match self.deadline {
                Some((at, d)) if Instant::now() >= at => Some(Stop::TimedOut(d)),
                _ => None,
            }
        };
        if let Some(s) = &stop {
            self.request_stop(s.clone());
        }
        stop
    }

    pub fn stop_reason(&self) -> Option<Stop> {
        self.state().stop.clone()
    }

    /// Forget a stop and a pending Ctrl-C, so the REPL can evaluate its next input.
    pub fn clear_stop(&self) {
        self.interrupt.store(false, Ordering::Relaxed);
        self.stopping.store(false, Ordering::Relaxed);
        self.state().stop = None;
    }

    pub fn request_stop(&self, stop: Stop) {
        let mut state = self.state();
        if state.stop.is_none() {
            state.stop = Some(stop);
        }
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// An uncatchable error that ends the script (`try`/`catch` cannot swallow it).
    pub fn terminate(&self, stop: Stop, pos: Position) -> Box<EvalAltResult> {
        self.request_stop(stop);
        EvalAltResult::ErrorTerminated(Dynamic::from("ripcord-stop"), pos).into()
    }

    /// Sleep in small slices so Ctrl-C and `--timeout` are honoured while waiting.
    pub fn sleep(&self, ctx: &NativeCallContext, d: Duration) -> RhaiResult<()> {
        let until = Instant::now() + d;
        loop {
            if let Some(stop) = self.check_stop() {
                return Err(self.terminate(stop, ctx.call_position()));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }

    /// Remaining time before `--timeout`, to cap a blocking call's own timeout.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    // ---- the seam ---------------------------------------------------------------------------

    /// The injection that applies to this call of `function`, if any (counting every call).
    fn injected(&self, function: &str) -> Option<Failure> {
        let mut state = self.state();
        let n = match state.calls.iter_mut().find(|(f, _)| f == function) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                state.calls.push((function.to_string(), 1));
                1
            }
        };
        let hit = self
            .injections
            .iter()
            .find(|i| i.function == function && i.nth.is_none_or(|k| k == n))?;
        let spec = match hit.nth {
            Some(k) => format!("{function}=fail@{k}"),
            None => format!("{function}=fail"),
        };
        Some(Failure::new(format!(
            "{function} failed: fault injected by the drill (--inject {spec})"
        )))
    }

    /// Make (or simulate) a change. `perform` runs only in a real run, after the journal has the
    /// change and the operator (in step-through) has said yes.
    pub fn change(
        &self,
        ctx: &NativeCallContext,
        change: Change,
        perform: impl FnOnce() -> Result<Dynamic, Failure>,
    ) -> RhaiResult<Dynamic> {
        let pos = ctx.call_position();
        if let Some(stop) = self.check_stop() {
            return Err(self.terminate(stop, pos));
        }
        let summary = self.secrets.redact(&change.summary);
        let args = Value::Object(change.args.clone());
        if let Some(replayed) = self.replayed(&change, &summary, pos) {
            return replayed;
        }
        if let Some(failure) = self.injected(&change.function) {
            self.out.change_failed(&summary, &failure.message);
            self.record_change(
                &change.function,
                &summary,
                "failed",
                0,
                Some(failure.message.clone()),
            );
            let _ = self.journal(
                "change.injected",
                json!({ "function": change.function, "summary": summary, "args": args, "error": failure.message }),
            );
            return Err(failure.at_position(pos));
        }
        if let Some(prompter) = self.prompter() {
            let (decision, wait_ms) = self.waiting(|| {
                prompter.before_change(&Change {
                    summary: summary.clone(),
                    ..change.clone()
                })
            });
            let _ = self.journal(
                "prompt",
                json!({ "kind": "change", "function": change.function, "summary": summary, "answer": decision_text(decision), "wait_ms": wait_ms }),
            );
            match decision {
                Decision::Continue => {}
                Decision::Skip => {
                    self.out.skipped_change(&summary);
                    self.record_change(&change.function, &summary, "skipped", 0, None);
                    let _ = self.journal(
                        "change.skip",
                        json!({ "function": change.function, "summary": summary }),
                    );
                    return Ok(change.simulated);
                }
                Decision::Abort => {
                    let _ = self.journal(
                        "change.abort",
                        json!({ "function": change.function, "summary": summary }),
                    );
                    return Err(
                        self.terminate(Stop::Aborted(format!("aborted before: {summary}")), pos)
                    );
                }
            }
        }
        if self.mode.simulates_changes() {
            self.out.would(&summary);
            self.record_change(&change.function, &summary, "simulated", 0, None);
            self.journal(
                "change.simulated",
                json!({ "function": change.function, "summary": summary, "args": args }),
            )
            .map_err(|e| Failure::new(e).at_position(pos))?;
            return Ok(change.simulated);
        }
        // Journaled (and synced) before the change starts: a killed run shows it.
        self.journal(
            "change.start",
            json!({ "function": change.function, "summary": summary, "args": args }),
        )
        .map_err(|e| {
            Failure::new(e)
                .hint("no change was made; fix the journal and run again")
                .at_position(pos)
        })?;
        self.out.change(&summary);
        let started = Instant::now();
        let result = perform();
        let ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(value) => {
                let shown = self.secrets.redact_json(dynamic_to_json(&value));
                self.record_change(&change.function, &summary, "made", ms, None);
                self.journal(
                    "change.end",
                    json!({ "function": change.function, "ok": true, "ms": ms, "result": shown }),
                )
                .map_err(|e| self.outcome_unjournaled(&summary, "made", &e, pos))?;
                Ok(value)
            }
            Err(failure) => {
                let message = self.secrets.redact(&failure.message);
                self.record_change(
                    &change.function,
                    &summary,
                    "failed",
                    ms,
                    Some(message.clone()),
                );
                self.journal(
                    "change.end",
                    json!({ "function": change.function, "ok": false, "ms": ms, "error": message }),
                )
                .map_err(|e| self.outcome_unjournaled(&summary, "failed", &e, pos))?;
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
            "prompt",
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
        self.record_change(&recorded.function, summary, "replayed", 0, error.clone());
        self.journal(
            "change.replayed",
            json!({ "function": recorded.function, "summary": summary, "args": recorded.args,
                    "ok": ok, "result": result, "error": error, "from_run": run }),
        )
        .map_err(|e| self.outcome_unjournaled(summary, "replayed", &e, pos))?;
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
        outcome: &str,
        error: &str,
        pos: Position,
    ) -> Box<EvalAltResult> {
        let message = format!(
            "the change `{summary}` was {outcome}, but its outcome could not be journaled ({error}); the run stops here so that nothing runs on an unrecorded state\nhelp: the journal shows this change as \"outcome unknown\"; check it by hand before `ripcord resume`"
        );
        self.out.warn(&message);
        self.terminate(Stop::Unsafe(message), pos)
    }

    /// Run a read. Reads run in every mode; a drill can inject a fault.
    pub fn read<T>(
        &self,
        ctx: &NativeCallContext,
        function: &str,
        read: impl FnOnce() -> Result<T, Failure>,
    ) -> RhaiResult<T> {
        self.observe(ctx, function, false, read)
    }

    /// Run a probe. Probes run in every mode; results are kept for the report and the journal.
    pub fn probe<T>(
        &self,
        ctx: &NativeCallContext,
        function: &str,
        probe: impl FnOnce() -> Result<T, Failure>,
    ) -> RhaiResult<T> {
        self.observe(ctx, function, true, probe)
    }

    fn observe<T>(
        &self,
        ctx: &NativeCallContext,
        function: &str,
        record: bool,
        f: impl FnOnce() -> Result<T, Failure>,
    ) -> RhaiResult<T> {
        let pos = ctx.call_position();
        if let Some(stop) = self.check_stop() {
            return Err(self.terminate(stop, pos));
        }
        if let Some(failure) = self.injected(function) {
            self.record_observation(function, false, 0, Some(failure.message.clone()));
            return Err(failure.at_position(pos));
        }
        let started = Instant::now();
        let result = f();
        let ms = started.elapsed().as_millis() as u64;
        if record {
            let error = result
                .as_ref()
                .err()
                .map(|f| self.secrets.redact(&f.message));
            self.record_observation(function, result.is_ok(), ms, error.clone());
            let _ = self.journal(
                "probe",
                json!({ "function": function, "ok": result.is_ok(), "ms": ms, "error": error }),
            );
        }
        if let Some(stop) = self.check_stop() {
            return Err(self.terminate(stop, pos));
        }
        result.map_err(|f| f.at_position(pos))
    }

    /// Record a probe's own verdict (e.g. `probe::http` returns `ok: false` without failing).
    pub fn note_probe(&self, function: &str, ok: bool, ms: u64, error: Option<String>) {
        self.record_observation(function, ok, ms, error);
    }

    fn record_change(
        &self,
        function: &str,
        summary: &str,
        outcome: &str,
        ms: u64,
        error: Option<String>,
    ) {
        let mut state = self.state();
        if let Some(i) = state.current {
            state.steps[i].changes.push(ChangeRecord {
                function: function.to_string(),
                summary: summary.to_string(),
                outcome: outcome.to_string(),
                ms,
                error,
            });
        }
    }

    fn record_observation(&self, function: &str, ok: bool, ms: u64, error: Option<String>) {
        let mut state = self.state();
        if let Some(i) = state.current {
            state.steps[i].observations.push(ObservationRecord {
                function: function.to_string(),
                ok,
                ms,
                error,
            });
        }
    }

    // ---- operator ---------------------------------------------------------------------------

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
                "prompt",
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
            "prompt",
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
    fn waiting<T>(&self, ask: impl FnOnce() -> T) -> (T, u64) {
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

    // ---- steps ------------------------------------------------------------------------------

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
        let record = |status: &str, wait_ms: u64| StepRecord {
            name: name.to_string(),
            position: position.to_string(),
            // The step starts when the operator lets it: a pause before it is not its time.
            start_ms: self.elapsed().as_millis() as u64,
            ms: 0,
            wait_ms,
            status: status.to_string(),
            error: None,
            changes: Vec::new(),
            observations: Vec::new(),
        };
        if self
            .completed_steps
            .iter()
            .any(|(n, s)| *n == ordinal && s == name)
        {
            self.state().steps.push(record("resumed", 0));
            self.out.step_resumed(name);
            let _ = self.journal("step.resumed", json!({ "name": name, "ordinal": ordinal }));
            return Ok(false);
        }
        let mut wait_ms = 0;
        if let Some(prompter) = self.prompter() {
            let mut journaled = JournaledInspect {
                host: self,
                inner: inspect,
            };
            let decision;
            (decision, wait_ms) =
                self.waiting(|| prompter.before_step(name, position, &mut journaled));
            let _ = self.journal(
                "prompt",
                json!({ "kind": "step", "step": name, "answer": decision_text(decision), "wait_ms": wait_ms }),
            );
            match decision {
                Decision::Continue => {}
                Decision::Skip => {
                    self.state().steps.push(record("skipped", wait_ms));
                    self.out.step_skipped(name);
                    let _ = self.journal("step.skip", json!({ "name": name, "ordinal": ordinal }));
                    return Ok(false);
                }
                Decision::Abort => {
                    self.state().steps.push(record("aborted", wait_ms));
                    return Err(
                        self.terminate(Stop::Aborted(format!("aborted before step `{name}`")), pos)
                    );
                }
            }
        }
        // Output printed before the step belongs to what came before it.
        self.flush_output();
        {
            let mut state = self.state();
            state.steps.push(record("running", wait_ms));
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
            "step.start",
            json!({ "name": name, "ordinal": ordinal, "position": position }),
        )
        .map_err(|e| Failure::new(e).at_position(pos))?;
        Ok(true)
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
                (None, _) => "ok",
                (Some(_), Some(Stop::Aborted(_))) => "aborted",
                (Some(_), Some(Stop::Interrupted)) => "interrupted",
                (Some(_), Some(Stop::TimedOut(_))) => "timed out",
                (Some(_), Some(Stop::Locked(_))) => "locked",
                (Some(_), Some(Stop::Unsafe(_))) => "failed",
                (Some(_), Some(Stop::Limit(_))) => "failed",
                (Some(_), Some(Stop::OutputClosed)) => "interrupted",
                (Some(_), None) => "failed",
            }
            .to_string();
            step.error = error.map(|e| self.secrets.redact(&crate::error::message_of(e)));
            let end = json!({ "name": step.name, "ordinal": ordinal, "status": step.status, "ms": step.ms, "wait_ms": step.wait_ms });
            (
                step.name.clone(),
                step.ms,
                step.wait_ms,
                step.status.clone(),
                end,
            )
        };
        self.out.step_end(
            &name,
            &status,
            Duration::from_millis(ms),
            Duration::from_millis(wait_ms),
        );
        let _ = self.journal_step_end(&name, &end);
    }

    fn journal_step_end(&self, name: &str, data: &Value) -> Result<(), String> {
        self.emit_event(self.run_id(), "step.end", Some(name), data);
        let mut state = self.state();
        let State { journal, .. } = &mut *state;
        if let Some((journal, run)) = journal.as_mut() {
            journal
                .event(*run, "step.end", Some(name), data)
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

    // ---- locks ------------------------------------------------------------------------------

    /// Take a run lock for the rest of the run (`lock("cortex")`); held locks are kept.
    pub fn lock(&self, name: &str, pos: Position) -> RhaiResult<()> {
        if self.mode.simulates_changes() || self.state().locks.iter().any(|l| l.name == name) {
            return Ok(());
        }
        match crate::lock::acquire(name, name) {
            Ok(lock) => {
                let _ = self.journal("lock", json!({ "name": name }));
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

    // ---- undo -------------------------------------------------------------------------------

    pub fn push_undo(&self, action: FnPtr) {
        let step = self.current_step().unwrap_or_else(|| "(setup)".to_string());
        self.state().undo.push(UndoAction { step, action });
    }

    pub fn take_undo(&self) -> Vec<UndoAction> {
        std::mem::take(&mut self.state().undo)
    }
}

fn decision_text(decision: Decision) -> &'static str {
    match decision {
        Decision::Continue => "continue",
        Decision::Skip => "skip",
        Decision::Abort => "abort",
    }
}

/// What the operator types at an inspect prompt can change the run: each input is journaled.
struct JournaledInspect<'a> {
    host: &'a Host,
    inner: &'a mut dyn Inspect,
}

impl Inspect for JournaledInspect<'_> {
    fn eval(&mut self, code: &str) -> Result<String, String> {
        let result = self.inner.eval(code);
        let _ = self.host.journal(
            "inspect",
            json!({ "code": code, "ok": result.is_ok(), "error": result.as_ref().err() }),
        );
        result
    }
}

/// Convert a Rhai value into JSON for the journal (unit becomes null; other types their text).
pub fn dynamic_to_json(value: &Dynamic) -> Value {
    rhai::serde::from_dynamic::<Value>(value).unwrap_or_else(|_| Value::String(value.to_string()))
}
