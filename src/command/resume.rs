//! `ripcord resume RUN`: continue an interrupted run after its last completed step, with the
//! same params, refusing if the script changed since.

use ripcord_runtime::journal::Journal;
use ripcord_runtime::run::{RunRequest, exit};
use ripcord_runtime::script::Script;
use ripcord_runtime::secrets::MASK;

use crate::app::{Context, fail};
use crate::cli::ResumeArgs;

pub fn resume(ctx: &Context, args: ResumeArgs) -> i32 {
    match request(ctx, &args) {
        Ok(request) => crate::command::run::finish(
            ripcord_runtime::run::run(request, ripcord_stdlib::modules()),
            args.json,
        ),
        Err(message) => fail(exit::USAGE, &message),
    }
}

fn request(ctx: &Context, args: &ResumeArgs) -> Result<RunRequest, String> {
    if !ctx.journal.exists() {
        return Err(format!(
            "no journal at {}: nothing to resume",
            ctx.journal.display()
        ));
    }
    let mut journal = Journal::open(&ctx.journal)?;
    let _ = journal.reap_dead_runs();
    let id = args.run;
    let run = journal
        .run(id)
        .map_err(|e| format!("cannot read the journal: {e}"))?
        .ok_or_else(|| {
            format!(
                "no run {id} in {}\nhelp: `ripcord history` lists the runs",
                ctx.journal.display()
            )
        })?;
    match run.status.as_str() {
        "interrupted" | "failed" | "timed out" | "aborted" => {}
        "running" => {
            return Err(format!(
                "run {id} is still running (pid {} on {})\nhelp: wait for it, or stop it first",
                run.pid, run.host
            ));
        }
        other => {
            return Err(format!(
                "run {id} ended `{other}`: there is nothing to resume"
            ));
        }
    }
    if run.mode != "run" {
        return Err(format!(
            "run {id} was a {}: run it again instead of resuming",
            run.mode
        ));
    }
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
    let completed = journal
        .completed_steps(id)
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    if let Some(step) = &run.step {
        let last = journal.last_change(id).ok().flatten();
        let detail = match last {
            Some((summary, true)) => format!("; its last change completed: {summary}"),
            Some((summary, false)) => format!(
                "; its last change was started but not confirmed complete: {summary} — check it before continuing"
            ),
            None => String::new(),
        };
        eprintln!(
            "resuming run {id} at step `{step}` ({} step(s) done){detail}",
            completed.len()
        );
    }
    let mut request = RunRequest::new(script);
    request.params = params;
    request.yes = args.yes;
    request.journal = Some(ctx.journal.clone());
    request.interrupt = ctx.interrupt.clone();
    request.sub_modules = Some(ripcord_stdlib::modules);
    request.script_dirs = ctx.scripts.clone();
    request.undo_on_failure = args.undo_on_failure;
    request.completed_steps = completed;
    request.resumes = Some(id);
    Ok(request)
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}
