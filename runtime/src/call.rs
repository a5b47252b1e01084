//! `runbook::run(name, params)`: run another runbook as a sub-run and return its result.
//!
//! (SPEC calls it `runbook::run`, but `call` is a reserved word in Rhai and cannot be
//! parsed after `::`.) The sub-run has the caller's mode, config, journal (recorded with the caller as parent) and
//! operator answers; a failing sub-run fails the calling step.

use std::path::{Path, PathBuf};

use rhai::{Dynamic, EvalAltResult, Map, NativeCallContext};

use crate::Effect;
use crate::failure::{Failure, RhaiResult};
use crate::host::{Host, SubRunner};
use crate::native::{Decl, NativeModule};
use crate::run::{RunOutcome, RunRequest, exit};
use crate::script::Script;

const CALL: Decl = Decl {
    name: "run",
    effect: Effect::Control,
    // The result is the sub-run's last expression: any type.
    params: &["name: String", "params: Map", "?"],
    doc: "Run another runbook as a sub-run and return its result (the value of its last expression).\n\nThe name is looked up beside the calling script, then on the script path. The sub-run is journaled with the caller as its parent, in the caller's mode (a dry run stays a dry run). A failing sub-run fails the calling step.",
    example: r#"let checks = runbook::run("verify", #{ phase2_secs: 1 });"#,
};

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("runbook", "Run other runbooks as sub-runs");
    let without_params = Decl {
        params: &["name: String", "?"],
        ..CALL
    };
    m.function(without_params, |ctx: NativeCallContext, name: &str| {
        call(ctx, name, Map::new())
    });
    m.function(CALL, call);
    m
}

fn call(ctx: NativeCallContext, name: &str, params: Map) -> RhaiResult<Dynamic> {
    let host = Host::of(&ctx)?;
    let Some(runner) = host.sub_runner() else {
        return Err(Failure::new("runbook::run is not available here (no script path)").at(&ctx));
    };
    let mut dirs: Vec<PathBuf> = ctx
        .call_source()
        .or(ctx.fn_source())
        .and_then(|s| Path::new(s).parent().map(Path::to_path_buf))
        .into_iter()
        .collect();
    dirs.extend(runner.dirs.iter().cloned());
    let script = Script::find(name, &dirs).map_err(|e| Failure::new(e).at(&ctx))?;
    let request = sub_request(&host, &runner, script, &params);
    host.out.note(&format!("↳ runbook {name}"));
    let outcome = crate::run::run(request, (runner.modules)());
    if let Some(output) = &outcome.output {
        host.capture_sub_output(output);
    }
    if let Some(rendered) = &outcome.rendered_error {
        host.out.raw(rendered);
    }
    host.out.note(&format!("↲ {}", outcome.summary));
    match outcome.exit_code {
        exit::OK => Ok(rhai::serde::to_dynamic(&outcome.result).unwrap_or(Dynamic::UNIT)),
        code => Err(sub_run_failed(&ctx, &host, name, outcome, code)),
    }
}

/// The sub-run's request: the caller's mode, answers, config, journal (as its parent),
/// folders, limits, secrets and fleet identity.
fn sub_request(host: &Host, runner: &SubRunner, script: Script, params: &Map) -> RunRequest {
    let mut request = RunRequest::new(script);
    request.params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    request.mode = host.mode;
    request.yes = runner.yes;
    request.config = runner.config.clone();
    request.journal = runner.journal.clone();
    request.interrupt = runner.interrupt.clone();
    request.prompter = runner.prompter.clone();
    request.parent = host.run_id();
    request.sub_modules = Some(runner.modules);
    request.script_dirs = runner.dirs.clone();
    request.limits = runner.limits.clone();
    request.capture_output = host.captured_output().is_some();
    // Secret-ness travels with the value: the sub-run hides what its caller hides.
    request.secrets = host.secrets.clone();
    request.fleet = host.fleet_for_sub_run();
    request
}

/// A sub-run that did not end ok fails the calling step; an aborted or interrupted one ends
/// the caller's run the same way.
fn sub_run_failed(
    ctx: &NativeCallContext,
    host: &Host,
    name: &str,
    outcome: RunOutcome,
    code: i32,
) -> Box<EvalAltResult> {
    let why = outcome
        .error
        .map(|e| e.message)
        .unwrap_or_else(|| outcome.status.to_string());
    let failure = Failure::new(format!(
        "runbook `{name}` {} (exit {code}): {why}",
        outcome.status
    ));
    match code {
        exit::ABORTED => host.terminate(
            crate::host::Stop::Aborted(failure.message),
            ctx.call_position(),
        ),
        exit::INTERRUPTED => host.terminate(crate::host::Stop::Interrupted, ctx.call_position()),
        _ => failure.at(ctx),
    }
}
