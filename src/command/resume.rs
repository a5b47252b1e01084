//! `ripcord resume RUN`: continue an interrupted run after its last completed step, with the
//! same params, script, config and working folder, refusing if the script or the config changed
//! since.

use std::path::{Path, PathBuf};

use ripcord_runtime::journal::{Journal, RunRow};
use ripcord_runtime::run::{CONTEXT_EVENT, RunOutcome, RunRequest};
use ripcord_runtime::script::{Script, sha256_hex};
use ripcord_runtime::secrets::MASK;
use ripcord_runtime::{Mode, RunStatus};

use crate::app::Context;
use crate::cli::ResumeArgs;

pub fn resume(ctx: &Context, args: ResumeArgs) -> crate::error::Result {
    match request(ctx, &args) {
        Ok(request) => crate::command::run::finish(
            ripcord_runtime::run::run(request, ripcord_stdlib::modules()),
            args.json,
        ),
        Err(message) => crate::command::run::finish(
            RunOutcome::usage("", ripcord_runtime::Mode::Run, &message),
            args.json,
        ),
    }
}

fn request(ctx: &Context, args: &ResumeArgs) -> Result<RunRequest, String> {
    if !ctx.journal.exists() {
        return Err(format!(
            "no journal at {}: nothing to resume",
            ctx.journal.display()
        ));
    }
    let journal = Journal::open_reaped(&ctx.journal)?;
    let id = args.run;
    let run = resumable(ctx, &journal, id)?;
    let script = unchanged_script(&run, args)?;
    let params = params_for(&run, args)?;
    let completed = journal
        .completed_steps(id)
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    announce(&journal, &run, completed.len());
    let context = recorded_context(&journal, id)?;
    let config = config_for(id, &context, args.config.as_deref())?;
    let journal_path = std::path::absolute(&ctx.journal).unwrap_or_else(|_| ctx.journal.clone());
    let script_dirs = ctx
        .scripts
        .iter()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .collect();
    enter_folder(id, &context)?;
    let mut request = RunRequest::new(script);
    request.config = config;
    request.params = params;
    request.yes = args.yes;
    request.journal = Some(journal_path);
    request.interrupt = ctx.interrupt.clone();
    request.sub_modules = Some(ripcord_stdlib::modules);
    request.script_dirs = script_dirs;
    request.undo_on_failure = args.undo_on_failure;
    request.completed_steps = completed;
    request.replay = journal
        .events(id)
        .map(|events| ripcord_runtime::replay::Replay::from_events(id, &events))
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    request.resumes = Some(id);
    // The resumed run is the same host's part of the same fleet run.
    if let Some(identity) = journal
        .identity(id)
        .map_err(|e| format!("cannot read the journal: {e}"))?
    {
        request.fleet.host_id = Some(identity.host_id);
        request.fleet.correlation_id = identity.correlation_id;
    }
    Ok(request)
}

/// Run `id`, if it is a real run that ended before its end and nothing runs it now.
fn resumable(ctx: &Context, journal: &Journal, id: i64) -> Result<RunRow, String> {
    let run = journal
        .run(id)
        .map_err(|e| format!("cannot read the journal: {e}"))?
        .ok_or_else(|| {
            format!(
                "no run {id} in {}\nhelp: `ripcord history` lists the runs",
                ctx.journal.display()
            )
        })?;
    match RunStatus::parse(&run.status) {
        Some(status) if status.is_resumable() => {}
        Some(RunStatus::Running) => {
            return Err(format!(
                "run {id} is still running (pid {} on {})\nhelp: wait for it, or stop it first",
                run.pid, run.host
            ));
        }
        _ => {
            return Err(format!(
                "run {id} ended `{}`: there is nothing to resume",
                run.status
            ));
        }
    }
    if Mode::parse(&run.mode) != Some(Mode::Run) {
        return Err(format!(
            "run {id} was a {}: run it again instead of resuming",
            run.mode
        ));
    }
    Ok(run)
}

/// The runbook the run ran, refused if it changed since (unless `--allow-changed`).
fn unchanged_script(run: &RunRow, args: &ResumeArgs) -> Result<Script, String> {
    let id = run.id;
    let script = Script::read(std::path::Path::new(&run.path))
        .map_err(|e| format!("{e}\nhelp: the runbook of run {id} moved or was deleted; run it again with `ripcord run`"))?;
    if script.sha256 != run.sha256 && !args.allow_changed {
        return Err(format!(
            "{} changed since run {id} (sha256 {} then, {} now): resuming could skip or repeat the wrong steps\nhelp: check the change; pass --allow-changed to resume anyway, or start a new run",
            script.display_path(),
            short(&run.sha256),
            short(&script.sha256)
        ));
    }
    Ok(script)
}

/// The run's params as journaled, with those given again on the command line; secrets were
/// never journaled and must be given again.
fn params_for(run: &RunRow, args: &ResumeArgs) -> Result<Vec<(String, String)>, String> {
    let id = run.id;
    let given: Vec<(String, String)> = args
        .params
        .iter()
        .map(|p| ripcord_runtime::params::split_assignment(p))
        .collect::<Result<_, _>>()?;
    let mut params = Vec::new();
    if let Some(recorded) = run.params.as_object() {
        for (name, value) in recorded {
            if let Some((_, v)) = given.iter().find(|(n, _)| n == name) {
                params.push((name.clone(), v.clone()));
            } else if value == MASK {
                return Err(format!(
                    "`{name}` is a secret param and secrets are never journaled\nhelp: pass it again: ripcord resume {id} -p {name}=…"
                ));
            } else {
                let text = value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| value.to_string());
                params.push((name.clone(), text));
            }
        }
    }
    Ok(params)
}

/// Where the run stopped and what its last change did, before it goes on.
fn announce(journal: &Journal, run: &RunRow, done: usize) {
    let id = run.id;
    if let Some(step) = &run.step {
        let last = journal.last_change(id).ok().flatten();
        let detail = match last {
            Some((summary, true)) => format!("; its last change completed: {summary}"),
            Some((summary, false)) => format!(
                "; its last change has outcome unknown (started, no end journaled): {summary} — check it before continuing"
            ),
            None => String::new(),
        };
        eprintln!("resuming run {id} at step `{step}` ({done} step(s) done){detail}");
    }
}

/// Where the run ran, as its context event recorded it (runs journaled before the event existed
/// have none: they resume as before, in the current folder with the config found from there).
#[derive(Default)]
struct RunPlace {
    cwd: Option<PathBuf>,
    config: Option<PathBuf>,
    config_sha256: Option<String>,
}

fn recorded_context(journal: &Journal, id: i64) -> Result<RunPlace, String> {
    let events = journal
        .events(id)
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    let Some(event) = events.iter().find(|e| e.is(CONTEXT_EVENT)) else {
        return Ok(RunPlace::default());
    };
    let text = |key: &str| event.data[key].as_str().map(str::to_string);
    Ok(RunPlace {
        cwd: text("cwd").map(PathBuf::from),
        config: text("config").map(PathBuf::from),
        config_sha256: text("config_sha256"),
    })
}

/// The config to resume with: `--config` when given, else the recorded one if it is unchanged.
fn config_for(
    id: i64,
    context: &RunPlace,
    given: Option<&Path>,
) -> Result<Option<PathBuf>, String> {
    if let Some(given) = given {
        let path = std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf());
        if let Some(recorded) = context.config.as_ref().filter(|r| **r != path) {
            eprintln!(
                "resuming run {id} with the config {} (--config) instead of {}",
                path.display(),
                recorded.display()
            );
        }
        return Ok(Some(path));
    }
    let Some(recorded) = &context.config else {
        return Ok(None);
    };
    let bytes = std::fs::read(recorded).map_err(|e| {
        format!(
            "cannot read {}, the config run {id} ran with: {e}\nhelp: pass the config to use with --config FILE",
            recorded.display()
        )
    })?;
    let now = sha256_hex(&bytes);
    if let Some(then) = context.config_sha256.as_deref().filter(|then| *then != now) {
        return Err(format!(
            "the config {} changed since run {id} (sha256 {} then, {} now): the rest of the run would use other settings\nhelp: check the change; pass --config {} to resume with it as it is now",
            recorded.display(),
            short(then),
            short(&now),
            recorded.display()
        ));
    }
    Ok(Some(recorded.clone()))
}

/// Move to the folder the run ran in, so its relative paths mean what they meant.
fn enter_folder(id: i64, context: &RunPlace) -> Result<(), String> {
    let Some(cwd) = &context.cwd else {
        return Ok(());
    };
    if std::env::current_dir().ok().as_ref() == Some(cwd) {
        return Ok(());
    }
    std::env::set_current_dir(cwd).map_err(|e| {
        format!(
            "cannot enter {}, the folder run {id} ran in: {e}\nhelp: its relative paths start there; restore the folder, or start a new run",
            cwd.display()
        )
    })?;
    eprintln!(
        "resuming run {id} in {}, the folder it ran in",
        cwd.display()
    );
    Ok(())
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}
