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
        let d = Diagnostic::new(message);
        let mut outcome = RunOutcome::not_run(script, "", mode);
        outcome.rendered_error =
            Some(d.render(&mut SourceCache::default(), crate::output::use_color()));
        outcome.error = Some(ErrorReport::from(&d, None));
        outcome.summary = "nothing was run".to_string();
        outcome
    }
}

impl ErrorReport {
    /// The error object of a message (`help:` lines become `help`).
    pub fn from_message(message: &str) -> ErrorReport {
        ErrorReport::from(&Diagnostic::new(message), None)
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

/// Run a runbook with the given native modules.
pub fn run(request: RunRequest, modules: Vec<NativeModule>) -> RunOutcome {
    let secrets = request.secrets.clone();
    let out = Output::new(secrets.clone()).quiet(request.quiet);
    let script = request.script.clone();
    let name = script.display_path();
    let mut sources = SourceCache::default();
    sources.insert(&name, &script.text);
    let identity = RunIdentity::new(
        request.fleet.host_id.clone(),
        request.fleet.correlation_id.clone(),
    );
    let mut outcome = RunOutcome::not_run(&script.name, &name, request.mode);
    outcome.secrets = secrets.clone();
    outcome.identity = Some(identity.clone());
    let usage_error = |mut outcome: RunOutcome, d: Diagnostic, sources: &mut SourceCache| {
        outcome.rendered_error = Some(d.render(sources, out.color()));
        outcome.error = Some(ErrorReport::from(&d, None));
        outcome.summary = "nothing was run".to_string();
        outcome
    };

    // 1. Header and params: a usage error here means nothing ran.
    let header: Header = match crate::header::parse(&script.text) {
        Ok(h) => h,
        Err(e) => {
            let pos = rhai::Position::new(e.line as u16, e.column.max(1) as u16);
            return usage_error(
                outcome,
                Diagnostic::new(e.message).at(&name, pos),
                &mut sources,
            );
        }
    };
    outcome.rto = header.rto_text.clone();
    outcome.rto_duration = header.rto;
    let bound = match crate::params::bind(&header.params, &request.params, &name) {
        Ok(b) => b,
        Err(message) => return usage_error(outcome, Diagnostic::new(message), &mut sources),
    };
    for b in &bound {
        if b.secret {
            secrets.add(&b.value.to_string());
        } else if b.value.is_string() {
            secrets.escape(&b.value.to_string());
        }
    }
    let config = match Config::load(request.config.as_deref()) {
        Ok(c) => c,
        Err(message) => return usage_error(outcome, Diagnostic::new(message), &mut sources),
    };
    for value in config.secret_values() {
        secrets.add(&value);
    }
    if let Err(message) = secrets.learn_config(&config.value) {
        return usage_error(outcome, Diagnostic::new(message), &mut sources);
    }

    // 2. Engine and compile.
    let options = HostOptions {
        mode: request.mode,
        yes: request.yes,
        injections: request.injections.clone(),
        secrets: secrets.clone(),
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
    let base = script
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let mut all = vec![crate::builtins::module(), crate::call::module()];
    all.extend(modules);
    let engine = crate::engine::build(all, host.clone(), &base);
    let ast = match crate::engine::compile_file(&engine, &script.path, &script.text) {
        Ok(ast) => ast,
        Err(e) => return usage_error(outcome, Diagnostic::from_parse(&e, &name), &mut sources),
    };
    if let Some((cycle, pos)) = crate::check::import_cycle(&engine, &script.path, &ast) {
        let d = Diagnostic::new(format!("import cycle: {cycle}"))
            .at(&name, pos)
            .help("modules cannot import each other; move what both need into a third module");
        return usage_error(outcome, d, &mut sources);
    }

    // 3. Lock and journal, then run.
    if request.mode == Mode::Run {
        let (key, lock_name) = match &header.lock {
            Some(name) => (name.clone(), name.clone()),
            None => (crate::lock::script_key(&script.path), script.name.clone()),
        };
        match crate::lock::acquire(&key, &lock_name) {
            Ok(lock) => host.hold_lock(lock),
            Err(crate::lock::LockError::Held(message)) => {
                let mut o = usage_error(outcome, Diagnostic::new(message), &mut sources);
                o.status = RunStatus::Locked;
                o.exit_code = exit::LOCKED;
                return o;
            }
            // Not contention: nothing ran, and the cause is the message (exit 2).
            Err(crate::lock::LockError::Failed(message)) => {
                return usage_error(outcome, Diagnostic::new(message), &mut sources);
            }
        }
    }
    let journal_path = request
        .journal
        .clone()
        .unwrap_or_else(crate::journal::default_path);
    // `--journal off` is for benchmarks and throwaway sandboxes: no history, no resume.
    if journal_path.as_os_str() != "off" {
        let mut journal = match Journal::open_reaped(&journal_path) {
            Ok(j) => j,
            Err(message) => {
                let d = Diagnostic::new(message)
                    .help("pass a writable file with --journal or RIPCORD_JOURNAL");
                return usage_error(outcome, d, &mut sources);
            }
        };
        let params_json: serde_json::Map<String, Value> = bound
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    if b.secret {
                        json!(crate::secrets::MASK)
                    } else {
                        dynamic_to_json(&b.value)
                    },
                )
            })
            .collect();
        let start = RunStart {
            script: script.name.clone(),
            path: absolute(&script.path),
            sha256: script.sha256.clone(),
            // A non-secret param can carry a secret (a sub-run's param from a caller's secret).
            params: secrets.redact_json(Value::Object(params_json)),
            operator: crate::who::operator(),
            host: crate::who::hostname(),
            mode: request.mode.as_str().to_string(),
            parent: request.parent.or(request.resumes),
            identity: identity.clone(),
        };
        match journal.start_run(&start) {
            Ok(id) => {
                outcome.run = Some(id);
                host.attach_journal(journal, id);
                let _ = host.journal(CONTEXT_EVENT, run_context(&config));
            }
            Err(e) => {
                let d = Diagnostic::new(format!(
                    "cannot write to the journal {}: {e}",
                    journal_path.display()
                ));
                return usage_error(outcome, d, &mut sources);
            }
        }
        outcome.journal = Some(journal_path.display().to_string());
    }
    host.emit_event(
        outcome.run,
        EventKind::RunStart.as_str(),
        None,
        &json!({ "script": script.name, "mode": request.mode.as_str(), "sha256": script.sha256 }),
    );

    let mut scope = Scope::new();
    for b in &bound {
        scope.push_dynamic(b.name.clone(), b.value.clone());
    }
    scope.push_dynamic("cfg", config.to_dynamic());

    let result = eval_guarded(&engine, &mut scope, &ast);

    // 4. Outcome, undo, journal.
    match result {
        Ok(value) => {
            outcome.status = RunStatus::Ok;
            outcome.exit_code = exit::OK;
            outcome.result = secrets.redact_json(dynamic_to_json(&value));
        }
        Err(err) => {
            let (status, code) = classify(&host, &err);
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
            let mut d = match host.stop_reason() {
                Some(Stop::Aborted(m)) | Some(Stop::Locked(m)) | Some(Stop::Unsafe(m)) => {
                    Diagnostic::new(m).at(&name, err.position())
                }
                Some(Stop::Interrupted) => {
                    Diagnostic::new("interrupted (Ctrl-C or SIGTERM); stopped at a safe point")
                        .at(&name, err.position())
                }
                Some(Stop::TimedOut(d)) => Diagnostic::new(format!(
                    "timed out after {} (--timeout)",
                    crate::time::human(d)
                ))
                .at(&name, err.position()),
                Some(Stop::Limit(m)) => Diagnostic::new(m).at(&name, err.position()),
                Some(Stop::OutputClosed) => {
                    Diagnostic::new("stopped at a safe point: the output was closed (broken pipe)")
                        .at(&name, err.position())
                }
                None => Diagnostic::from_eval(&err, &name),
            };
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
            outcome.rendered_error = Some(secrets.redact(&d.render(&mut sources, out.color())));
            if code == exit::FAILED && request.mode == Mode::Run {
                unwind(&host, &engine, &ast, request.undo_on_failure, &out);
            }
        }
    }
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
    outcome.summary = summary(&outcome);
    outcome
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
        Err(EvalAltResult::ErrorRuntime(
            format!("the script engine failed on this line ({what})\nhelp: this is a known engine bug, not your runbook: e.g. a field of a `const` map cannot be assigned; copy it to a `let` first").into(),
            pos,
        )
        .into())
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
