//! `ripcord run`: run a runbook for real, as a dry run, or step by step.

use std::sync::Arc;

use ripcord_runtime::Mode;
use ripcord_runtime::host::Injection;
use ripcord_runtime::native::Catalog;
use ripcord_runtime::output::{eprint_line, print_stdout};
use ripcord_runtime::run::{RunOutcome, RunRequest};

use crate::app::Context;
use crate::cli::RunArgs;
use crate::error::Error;

pub fn run(ctx: &Context, args: RunArgs) -> crate::error::Result {
    match request(ctx, &args) {
        Ok(request) => finish(
            ripcord_runtime::run::run(request, ripcord_stdlib::modules()),
            args.json,
        ),
        Err(message) => {
            let mode = if args.dry_run {
                Mode::DryRun
            } else {
                Mode::Run
            };
            finish(RunOutcome::usage(&args.script, mode, &message), args.json)
        }
    }
}

/// Build the request from the flags; any problem here is a usage error and nothing runs.
pub fn request(ctx: &Context, args: &RunArgs) -> Result<RunRequest, String> {
    let (script, builtin_dir) = crate::shipped::find(&args.script, &ctx.scripts)?;
    let mut request = RunRequest::new(script);
    request.params = args
        .params
        .iter()
        .map(|p| ripcord_runtime::params::split_assignment(p))
        .collect::<Result<_, _>>()?;
    request.config = args.config.clone();
    request.mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Run
    };
    request.yes = args.yes;
    request.timeout = args
        .timeout
        .as_deref()
        .map(|t| ripcord_runtime::time::parse_duration(t).map_err(|e| format!("--timeout: {e}")))
        .transpose()?;
    request.journal = Some(ctx.journal.clone());
    request.injections = args
        .inject
        .iter()
        .map(|i| Injection::parse(i))
        .collect::<Result<_, _>>()?;
    if !request.injections.is_empty() {
        // A misspelt fault would make a drill pass for the wrong reason: refuse it.
        let catalog = Catalog::from_modules(&crate::command::doc::all_modules());
        for (text, injection) in args.inject.iter().zip(&request.injections) {
            ripcord_runtime::doc::find_function(&catalog, &injection.function)
                .map_err(|e| format!("--inject `{text}`: {e}"))?;
        }
    }
    request.limits = args
        .limits
        .iter()
        .map(|l| ripcord_runtime::limits::Setting::parse(l).map_err(|e| format!("--limit {e}")))
        .collect::<Result<_, _>>()?;
    request.capture_output = args.json;
    request.undo_on_failure = args.undo_on_failure;
    request.interrupt = ctx.interrupt.clone();
    request.sub_modules = Some(ripcord_stdlib::modules);
    request.script_dirs = ctx.scripts.clone();
    // A built-in runbook's `runbook::run("verify")` finds the built-in verify too.
    request.script_dirs.extend(builtin_dir);
    request.fleet = crate::command::fleet::options(&args.fleet, args.json)?;
    if args.step {
        if !ripcord_repl::has_terminal() {
            return Err("--step needs a terminal to ask on\nhelp: run it in a terminal, or drop --step (use --dry-run to see what it would do)".to_string());
        }
        request.prompter = Some(Arc::new(ripcord_repl::StepPrompter::new()));
    }
    Ok(request)
}

/// Print the outcome (stderr for people, stdout JSON for pipelines); its exit code is left.
/// Writes never panic: with the reader gone (`| head`) the run has already stopped quietly.
pub fn finish(outcome: RunOutcome, json: bool) -> crate::error::Result {
    if let Some(rendered) = &outcome.rendered_error {
        eprint_line(rendered);
    }
    eprint_line(&outcome.summary);
    if json {
        // Everything in the object, keys included, passes the run's secrets once more.
        let value = serde_json::to_value(&outcome).map(|v| outcome.secrets.redact_json(v));
        match value.and_then(|v| serde_json::to_string_pretty(&v)) {
            Ok(text) => print_stdout(&text),
            Err(e) => eprint_line(&format!("cannot encode the result as JSON: {e}")),
        }
    }
    Error::exit(outcome.exit_code)
}
