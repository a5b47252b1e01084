//! One run of a runbook, from params to journal: the order of everything `ripcord run` does.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rhai::{Dynamic, EvalAltResult, Scope};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{Diagnostic, SourceCache};
use crate::fleet::{FleetOptions, RunIdentity};
use crate::header::Header;
use crate::host::{
    Gate, Host, HostOptions, Injection, Mode, Prompter, StepRecord, Stop, dynamic_to_json,
};
use crate::journal::{Journal, RunStart};
use crate::native::NativeModule;
use crate::output::Output;
use crate::params::Bound;
use crate::script::Script;
use crate::secrets::Secrets;
use crate::status::{EventKind, RunStatus, StepStatus};

/// Exit codes (SPEC): one place that says what each means.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const ABORTED: i32 = 3;
    pub const LOCKED: i32 = 4;
    pub const INTERRUPTED: i32 = 130;
}

/// The version of every JSON object ripcord prints or writes (docs/json.md). Within one
/// version fields are only added; a field that changes meaning or goes away bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run needs to start.
pub struct RunRequest {
    pub script: Script,
    pub params: Vec<(String, String)>,
    pub config: Option<PathBuf>,
    pub mode: Mode,
    pub yes: bool,
    pub timeout: Option<Duration>,
    /// `None`: the default journal; `Some(path)`: that file.
    pub journal: Option<PathBuf>,
    pub injections: Vec<Injection>,
    pub undo_on_failure: bool,
    pub interrupt: Arc<AtomicBool>,
    pub prompter: Option<Arc<dyn Prompter>>,
    /// Steps done by an earlier run (resume).
    pub completed_steps: Vec<(usize, String)>,
    /// The interrupted step's changes, replayed instead of made again (resume).
    pub replay: Option<crate::replay::Replay>,
    pub resumes: Option<i64>,
    /// The run that called this one with `runbook::run`.
    pub parent: Option<i64>,
    pub quiet: bool,
    /// Builds the native modules again for sub-runs (`runbook::run`).
    pub sub_modules: Option<fn() -> Vec<NativeModule>>,
    /// Folders searched for `runbook::run` names after the caller's own folder.
    pub script_dirs: Vec<PathBuf>,
    /// `--limit NAME=VALUE` settings; they override the header's `@limit` lines.
    pub limits: Vec<crate::limits::Setting>,
    /// `--json`: `print` output goes into the result object, not to stdout.
    pub capture_output: bool,
    /// The secrets of the run; a sub-run shares its caller's, so a secret passed down stays one.
    pub secrets: Secrets,
    /// Host id, fleet run id, approvals and event stream (all optional).
    pub fleet: FleetOptions,
}

impl RunRequest {
    pub fn new(script: Script) -> RunRequest {
        RunRequest {
            script,
            params: Vec::new(),
            config: None,
            mode: Mode::Run,
            yes: false,
            timeout: None,
            journal: None,
            injections: Vec::new(),
            undo_on_failure: false,
            interrupt: Arc::new(AtomicBool::new(false)),
            prompter: None,
            completed_steps: Vec::new(),
            replay: None,
            resumes: None,
            parent: None,
            quiet: false,
            sub_modules: None,
            script_dirs: Vec::new(),
            limits: Vec::new(),
            capture_output: false,
            secrets: Secrets::default(),
            fleet: FleetOptions::default(),
        }
    }
}

/// How a run ended: the `--json` object, and what the terminal showed.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub schema_version: u32,
    pub run: Option<i64>,
    pub script: String,
    pub path: String,
    pub mode: Mode,
    pub status: RunStatus,
    pub exit_code: i32,
    pub ms: u64,
    pub result: Value,
    pub steps: Vec<StepRecord>,
    /// The `confirm` gates a dry run or drill answered itself (a real run stops at each).
    pub gates: Vec<Gate>,
    pub error: Option<ErrorReport>,
    pub journal: Option<String>,
    pub rto: Option<String>,
    /// What the script printed, with `--json` (otherwise it went to stdout as it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// `run_uuid`, `host_id`, `correlation_id` in the `--json` object; absent when nothing ran
    /// because the command line was wrong.
    #[serde(flatten)]
    pub identity: Option<RunIdentity>,
    #[serde(skip)]
    pub rto_duration: Option<Duration>,
    #[serde(skip)]
    pub rendered_error: Option<String>,
    #[serde(skip)]
    pub summary: String,
    /// For a last pass over everything shown (`--json`).
    #[serde(skip)]
    pub secrets: Secrets,
}

/// An error in the `--json` object.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub message: String,
    pub location: Option<String>,
    pub step: Option<String>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl RunOutcome {
    /// A run that has not started yet (status `usage` until it does).
    pub fn not_run(script: &str, path: &str, mode: Mode) -> RunOutcome {
        RunOutcome {
            schema_version: SCHEMA_VERSION,
            run: None,
            script: script.to_string(),
            path: path.to_string(),
            mode,
            status: RunStatus::Usage,
            exit_code: exit::USAGE,
            ms: 0,
            result: Value::Null,
            steps: Vec::new(),
            gates: Vec::new(),
            error: None,
            journal: None,
            rto: None,
            output: None,
            identity: None,
            rto_duration: None,
            rendered_error: None,
            summary: String::new(),
            secrets: Secrets::default(),
        }
    }

    /// Nothing ran because of a usage error found before the run (a runbook that does not
    /// exist, a bad flag): the same object a run prints, so every exit code has one shape.
    pub fn usage(script: &str, mode: Mode, message: &str) -> RunOutcome {
        let d = Diagnostic::from_text(message);
        let rendered = d.render(&mut SourceCache::default(), crate::output::use_color());
        RunOutcome::not_run(script, "", mode).nothing_ran(&d, rendered, false)
    }

    /// Nothing ran: the outcome shows `d` (as `rendered`); exit 2, or 4 when the run's lock was
    /// held by another run.
    fn nothing_ran(mut self, d: &Diagnostic, rendered: String, locked: bool) -> RunOutcome {
        self.rendered_error = Some(rendered);
        self.error = Some(ErrorReport::from(d, None));
        self.summary = "nothing was run".to_string();
        if locked {
            self.status = RunStatus::Locked;
            self.exit_code = exit::LOCKED;
        }
        self
    }
}

impl ErrorReport {
    /// The error object of a message (`help:` lines become `help`).
    pub fn from_message(message: &str) -> ErrorReport {
        ErrorReport::from(&Diagnostic::from_text(message), None)
    }

    fn from(d: &Diagnostic, step: Option<String>) -> ErrorReport {
        ErrorReport {
            message: d.message.clone(),
            location: d.location(),
            step,
            notes: d.notes.clone(),
            help: d.help.clone(),
        }
    }
}

/// Why a run did not start: nothing ran and nothing was journaled.
struct NotStarted {
    diagnostic: Box<Diagnostic>,
    /// Another run holds the lock (exit 4), not a usage error (exit 2).
    locked: bool,
}

impl From<Diagnostic> for NotStarted {
    fn from(diagnostic: Diagnostic) -> Self {
        NotStarted {
            diagnostic: Box::new(diagnostic),
            locked: false,
        }
    }
}

/// A run that can start: its header, params, config and script are good and its lock is held.
struct Ready {
    host: Arc<Host>,
    engine: rhai::Engine,
    ast: rhai::AST,
    bound: Vec<Bound>,
    config: Config,
}

/// Run a runbook with the given native modules.
pub fn run(request: RunRequest, modules: Vec<NativeModule>) -> RunOutcome {
    let out = Output::new(request.secrets.clone()).quiet(request.quiet);
    let name = request.script.display_path();
    let mut sources = SourceCache::default();
    sources.insert(&name, &request.script.text);
    let identity = RunIdentity {
        fleet_batch: request.fleet.fleet_batch,
        fleet_play: request.fleet.fleet_play.clone(),
        ..RunIdentity::new(
            request.fleet.host_id.clone(),
            request.fleet.correlation_id.clone(),
        )
    };
    let mut outcome = RunOutcome::not_run(&request.script.name, &name, request.mode);
    outcome.secrets = request.secrets.clone();
    outcome.identity = Some(identity.clone());
    let started = prepare(&request, modules, &out, &identity, &mut outcome).and_then(|ready| {
        open_journal(&request, &ready, &identity, &mut outcome)?;
        Ok(ready)
    });
    let ready = match started {
        Ok(ready) => ready,
        Err(not) => {
            let rendered = not.diagnostic.render(&mut sources, out.color());
            return outcome.nothing_ran(&not.diagnostic, rendered, not.locked);
        }
    };
    ready.host.emit_event(
        outcome.run,
        EventKind::RunStart.as_str(),
        None,
        &json!({ "script": request.script.name, "mode": request.mode.as_str(), "sha256": request.script.sha256 }),
    );
    match evaluate(&ready) {
        Ok(value) => {
            outcome.status = RunStatus::Ok;
            outcome.exit_code = exit::OK;
            outcome.result = request.secrets.redact_json(dynamic_to_json(&value));
        }
        Err(err) => record_failure(&request, &ready, &err, &mut outcome, &mut sources, &out),
    }
    close(&ready.host, &mut outcome, &out);
    outcome
}

/// Everything up to the first journaled event: header, params, config, engine, compile, lock.
fn prepare(
    request: &RunRequest,
    modules: Vec<NativeModule>,
    out: &Output,
    identity: &RunIdentity,
    outcome: &mut RunOutcome,
) -> Result<Ready, NotStarted> {
    let name = outcome.path.clone();
    let header = read_header(&request.script, &name)?;
    outcome.rto = header.rto_text.clone();
    outcome.rto_duration = header.rto;
    let bound = crate::params::bind(&header.params, &request.params, &name)
        .map_err(Diagnostic::from_text)?;
    learn_param_secrets(&request.secrets, &bound);
    let config = load_config(request)?;
    let host = build_host(request, &header, &config, out, identity);
    let (engine, ast) = compile(request, &host, modules, &name)?;
    take_lock(request, &header, &host)?;
    Ok(Ready {
        host,
        engine,
        ast,
        bound,
        config,
    })
}

fn read_header(script: &Script, name: &str) -> Result<Header, NotStarted> {
    crate::header::parse(&script.text).map_err(|e| {
        let pos = rhai::Position::new(e.line as u16, e.column.max(1) as u16);
        Diagnostic::from_text(e.message).at(name, pos).into()
    })
}

/// Secret params are masked everywhere; other string params are escaped where they are shown.
fn learn_param_secrets(secrets: &Secrets, bound: &[Bound]) {
    for b in bound {
        if b.secret {
            secrets.add(&b.value.to_string());
        } else if b.value.is_string() {
            secrets.escape(&b.value.to_string());
        }
    }
}

/// The config file, with its secret values learned for redaction.
fn load_config(request: &RunRequest) -> Result<Config, NotStarted> {
    let config = Config::load(request.config.as_deref()).map_err(Diagnostic::from_text)?;
    for value in config.secret_values() {
        request.secrets.add(&value);
    }
    request
        .secrets
        .learn_config(&config.value)
        .map_err(Diagnostic::from_text)?;
    Ok(config)
}

fn build_host(
    request: &RunRequest,
    header: &Header,
    config: &Config,
    out: &Output,
    identity: &RunIdentity,
) -> Arc<Host> {
    let options = HostOptions {
        mode: request.mode,
        yes: request.yes,
        injections: request.injections.clone(),
        secrets: request.secrets.clone(),
        config: config.value.clone(),
        deadline: request.timeout,
        interrupt: request.interrupt.clone(),
        completed_steps: request.completed_steps.clone(),
        replay: request.replay.clone(),
        limits: crate::limits::Limits::default()
            .with(&header.limits)
            .with(&request.limits),
        capture_output: request.capture_output,
    };
    let host = Arc::new(Host::new(options, out.clone()));
    host.set_prompter(request.prompter.clone());
    host.set_fleet(identity.clone(), &request.fleet);
    if let Some(modules) = request.sub_modules {
        host.set_sub_runner(crate::host::SubRunner {
            modules,
            config: config.path.clone(),
            journal: request.journal.clone(),
            dirs: request.script_dirs.clone(),
            yes: request.yes,
            interrupt: request.interrupt.clone(),
            prompter: request.prompter.clone(),
            limits: request.limits.clone(),
        });
    }
    host
}

/// The engine with the builtins, `runbook::run` and the native modules, and the compiled script.
fn compile(
    request: &RunRequest,
    host: &Arc<Host>,
    modules: Vec<NativeModule>,
    name: &str,
) -> Result<(rhai::Engine, rhai::AST), NotStarted> {
    let script = &request.script;
    let base = script
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let mut all = vec![crate::builtins::module(), crate::call::module()];
    all.extend(modules);
    let engine = crate::engine::build(all, host.clone(), &base);
    let ast = crate::engine::compile_file(&engine, &script.path, &script.text)
        .map_err(|e| Diagnostic::from_parse(&e, name))?;
    if let Some((cycle, pos)) = crate::check::import_cycle(&engine, &script.path, &ast) {
        return Err(Diagnostic::new(format!("import cycle: {cycle}"))
            .at(name, pos)
            .help("modules cannot import each other; move what both need into a third module")
            .into());
    }
    Ok((engine, ast))
}

/// A real run holds its script's lock (or the header's `@lock`) for its whole length.
fn take_lock(request: &RunRequest, header: &Header, host: &Host) -> Result<(), NotStarted> {
    if request.mode != Mode::Run {
        return Ok(());
    }
    let (key, lock_name) = match &header.lock {
        Some(name) => (name.clone(), name.clone()),
        None => (
            crate::lock::script_key(&request.script.path),
            request.script.name.clone(),
        ),
    };
    match crate::lock::acquire(&key, &lock_name) {
        Ok(lock) => {
            host.hold_lock(lock);
            Ok(())
        }
        Err(crate::lock::LockError::Held(message)) => Err(NotStarted {
            diagnostic: Box::new(Diagnostic::from_text(message)),
            locked: true,
        }),
        // Not contention: nothing ran, and the cause is the message (exit 2).
        Err(crate::lock::LockError::Failed(message)) => Err(Diagnostic::from_text(message).into()),
    }
}

/// Record the run in the journal and attach it to the host; `--journal off` records nothing.
fn open_journal(
    request: &RunRequest,
    ready: &Ready,
    identity: &RunIdentity,
    outcome: &mut RunOutcome,
) -> Result<(), NotStarted> {
    let path = request
        .journal
        .clone()
        .unwrap_or_else(crate::journal::default_path);
    // `--journal off` is for benchmarks and throwaway sandboxes: no history, no resume.
    if path.as_os_str() == "off" {
        return Ok(());
    }
    let mut journal = Journal::open_reaped(&path).map_err(|message| {
        Diagnostic::from_text(message)
            .help("pass a writable file with --journal or RIPCORD_JOURNAL")
    })?;
    let id = journal
        .start_run(&run_start(request, &ready.bound, identity))
        .map_err(|e| {
            Diagnostic::new(format!(
                "cannot write to the journal {}: {e}",
                path.display()
            ))
        })?;
    outcome.run = Some(id);
    ready.host.attach_journal(journal, id);
    let _ = ready
        .host
        .journal(CONTEXT_EVENT, run_context(&ready.config));
    if let Some(resumed) = request.resumes {
        let _ = ready
            .host
            .journal(EventKind::Resume, json!({ "resumes": resumed }));
    }
    outcome.journal = Some(path.display().to_string());
    Ok(())
}

/// The journal's record of a run as it starts, secret params masked.
fn run_start(request: &RunRequest, bound: &[Bound], identity: &RunIdentity) -> RunStart {
    let params: serde_json::Map<String, Value> = bound
        .iter()
        .map(|b| {
            let value = if b.secret {
                json!(crate::secrets::MASK)
            } else {
                dynamic_to_json(&b.value)
            };
            (b.name.clone(), value)
        })
        .collect();
    let script = &request.script;
    RunStart {
        script: script.name.clone(),
        path: absolute(&script.path),
        sha256: script.sha256.clone(),
        // A non-secret param can carry a secret (a sub-run's param from a caller's secret).
        params: request.secrets.redact_json(Value::Object(params)),
        operator: crate::who::operator(),
        host: crate::who::hostname(),
        mode: request.mode.as_str().to_string(),
        parent: request.parent.or(request.resumes),
        identity: identity.clone(),
    }
}

/// The script, with its params and `cfg` in scope.
fn evaluate(ready: &Ready) -> Result<Dynamic, Box<EvalAltResult>> {
    let mut scope = Scope::new();
    for b in &ready.bound {
        scope.push_dynamic(b.name.clone(), b.value.clone());
    }
    scope.push_dynamic("cfg", ready.config.to_dynamic());
    eval_guarded(&ready.engine, &mut scope, &ready.ast)
}

/// A run that ended in an error: its status and exit code, the error journaled and shown, and
/// the undo actions of a failed real run.
fn record_failure(
    request: &RunRequest,
    ready: &Ready,
    err: &EvalAltResult,
    outcome: &mut RunOutcome,
    sources: &mut SourceCache,
    out: &Output,
) {
    let host = &ready.host;
    let secrets = &request.secrets;
    let (status, code) = classify(host, err);
    outcome.status = status;
    outcome.exit_code = code;
    let failed_step = host
        .steps()
        .iter()
        .rev()
        .find(|s| {
            !matches!(
                s.status,
                StepStatus::Ok | StepStatus::Skipped | StepStatus::Resumed
            )
        })
        .map(|s| s.name.clone());
    let mut d = describe_stop(host.stop_reason(), err, &outcome.path);
    if let Some(step) = &failed_step {
        d = d.note(format!("in step `{step}`"));
    }
    d.message = secrets.redact(&d.message);
    d.notes = d.notes.iter().map(|n| secrets.redact(n)).collect();
    d.help = d.help.as_deref().map(|h| secrets.redact(h));
    let _ = host.journal(
        EventKind::Error,
        json!({ "message": d.message, "location": d.location(), "step": failed_step }),
    );
    outcome.error = Some(ErrorReport::from(&d, failed_step));
    outcome.rendered_error = Some(secrets.redact(&d.render(sources, out.color())));
    if code == exit::FAILED && request.mode == Mode::Run {
        unwind(
            host,
            &ready.engine,
            &ready.ast,
            request.undo_on_failure,
            out,
        );
    }
}

/// The error to show for a run that stopped (`stop`), or for the script's own error.
fn describe_stop(stop: Option<Stop>, err: &EvalAltResult, name: &str) -> Diagnostic {
    let at = err.position();
    match stop {
        Some(Stop::Aborted(m)) | Some(Stop::Locked(m)) | Some(Stop::Unsafe(m)) => {
            Diagnostic::from_text(m).at(name, at)
        }
        Some(Stop::Interrupted) => {
            Diagnostic::new("interrupted (Ctrl-C or SIGTERM); stopped at a safe point").at(name, at)
        }
        Some(Stop::TimedOut(d)) => Diagnostic::new(format!(
            "timed out after {} (--timeout)",
            crate::time::human(d)
        ))
        .at(name, at),
        Some(Stop::Limit(m)) => Diagnostic::from_text(m).at(name, at),
        Some(Stop::OutputClosed) => {
            Diagnostic::new("stopped at a safe point: the output was closed (broken pipe)")
                .at(name, at)
        }
        None => Diagnostic::from_eval(err, name),
    }
}

/// What every run that started does at its end: output, steps and gates into the outcome, the
/// end journaled and streamed, the summary line.
fn close(host: &Host, outcome: &mut RunOutcome, out: &Output) {
    host.flush_output();
    outcome.output = host.captured_output();
    outcome.steps = host.steps();
    outcome.gates = host.gates();
    outcome.ms = host.elapsed().as_millis() as u64;
    if let Some((mut journal, id)) = host.detach_journal() {
        let error = outcome.error.as_ref().map(|e| e.message.clone());
        if let Err(e) = journal.finish_run(
            id,
            outcome.status.as_str(),
            outcome.exit_code,
            error.as_deref(),
        ) {
            out.warn(&format!(
                "cannot record the end of run {id} in the journal: {e}"
            ));
        }
    }
    host.emit_event(
        outcome.run,
        EventKind::RunEnd.as_str(),
        None,
        &json!({ "status": outcome.status, "exit_code": outcome.exit_code, "ms": outcome.ms }),
    );
    outcome.summary = summary(outcome);
}

/// Evaluate, turning a panic inside the engine into an error at the line it names (rhai
/// 1.24-1.27 panics on `const M = #{a:1}; M.a = 2;`) instead of a crash of the host.
pub fn eval_guarded(
    engine: &rhai::Engine,
    scope: &mut Scope,
    ast: &rhai::AST,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| {
        engine.eval_ast_with_scope::<Dynamic>(scope, ast)
    }));
    std::panic::set_hook(previous);
    result.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        // Rhai's messages end with `@ LINE:COL`.
        let pos = what
            .rsplit_once(" @ ")
            .and_then(|(_, at)| at.split_once(':'))
            .and_then(|(l, c)| Some(rhai::Position::new(l.trim().parse().ok()?, c.trim().parse().ok()?)))
            .unwrap_or(rhai::Position::NONE);
        let what = what.trim_start_matches("internal error: entered unreachable code: ");
        Err(crate::Failure::new(format!("the script engine failed on this line ({what})"))
            .hint("this is a known engine bug, not your runbook: e.g. a field of a `const` map cannot be assigned; copy it to a `let` first")
            .at_position(pos))
    })
}

fn classify(host: &Host, _err: &EvalAltResult) -> (RunStatus, i32) {
    match host.stop_reason() {
        Some(Stop::Aborted(_)) => (RunStatus::Aborted, exit::ABORTED),
        Some(Stop::Interrupted) => (RunStatus::Interrupted, exit::INTERRUPTED),
        Some(Stop::TimedOut(_)) => (RunStatus::TimedOut, exit::FAILED),
        Some(Stop::Locked(_)) => (RunStatus::Locked, exit::LOCKED),
        Some(Stop::Unsafe(_)) | Some(Stop::Limit(_)) | None => (RunStatus::Failed, exit::FAILED),
        Some(Stop::OutputClosed) => (RunStatus::Interrupted, exit::INTERRUPTED),
    }
}

/// Run the registered undo actions in reverse order, if the operator (or the flag) says so.
fn unwind(host: &Arc<Host>, engine: &rhai::Engine, ast: &rhai::AST, automatic: bool, out: &Output) {
    let actions = crate::host::RunTag::from_tag(engine.default_tag())
        .map_or_else(Vec::new, |t| t.take_undo());
    if actions.is_empty() {
        return;
    }
    let go = automatic
        || crate::prompt::ask_yes_no(&format!(
            "a step failed; run {} undo action(s) in reverse order?",
            actions.len()
        )) == Some(true);
    if !go {
        out.warn(&format!(
            "{} undo action(s) registered but not run (pass --undo-on-failure to run them)",
            actions.len()
        ));
        let _ = host.journal(EventKind::UndoDeclined, json!({ "count": actions.len() }));
        return;
    }
    out.raw("↺ undoing");
    for action in actions.into_iter().rev() {
        let _ = host.journal(EventKind::UndoStart, json!({ "step": action.step }));
        let result = action.action.call::<Dynamic>(engine, ast, ());
        match &result {
            Ok(_) => out.info(&format!("undid `{}`", action.step)),
            Err(e) => out.error(&format!(
                "undo of `{}` failed: {}",
                action.step,
                crate::error::message_of(e)
            )),
        }
        let _ = host.journal(
            EventKind::UndoEnd,
            json!({ "step": action.step, "ok": result.is_ok(), "error": result.err().map(|e| crate::error::message_of(&e)) }),
        );
    }
}

/// The journal event that records where a run ran: its working folder and its config (path and
/// sha256), so `ripcord resume` runs the rest the same way from any folder.
pub const CONTEXT_EVENT: EventKind = EventKind::Context;

fn run_context(config: &Config) -> Value {
    let cwd = std::env::current_dir()
        .ok()
        .map(|d| d.display().to_string());
    let (path, sha256) = match &config.path {
        Some(p) => (
            Some(absolute(p)),
            std::fs::read(p).ok().map(|b| crate::script::sha256_hex(&b)),
        ),
        None => (None, None),
    };
    json!({ "cwd": cwd, "config": path, "config_sha256": sha256 })
}

fn summary(o: &RunOutcome) -> String {
    let id = o.run.map(|i| format!("run {i} ")).unwrap_or_default();
    let dur = crate::time::human(Duration::from_millis(o.ms));
    let dry = if o.mode != Mode::Run {
        let gates = match o.gates.len() {
            0 => String::new(),
            1 => "; a real run stops at 1 confirm gate".to_string(),
            n => format!("; a real run stops at {n} confirm gates"),
        };
        format!(" ({}: no changes made{gates})", o.mode)
    } else {
        String::new()
    };
    format!("{id}{} in {dur}{dry}", o.status)
}

fn absolute(p: &std::path::Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
