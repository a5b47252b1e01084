//! `ripcord history`, `ripcord show RUN`, `ripcord journal verify`.

use std::path::Path;

use ripcord_runtime::RunStatus;
use ripcord_runtime::journal::{EventRow, Journal, RunRow};
use ripcord_runtime::run::exit;

use crate::app::Context;
use crate::error::{Error, Result};
use crate::machine::{print, versioned, write_stdout};

/// The journal, if there is one and it opens (with `open`).
pub(crate) fn open(ctx: &Context, open: fn(&Path) -> Result<Journal, String>) -> Result<Journal> {
    if !ctx.journal.exists() {
        return Err(Error::usage(format!(
            "no journal at {}: no runs recorded yet",
            ctx.journal.display()
        ))
        .help("`ripcord run SCRIPT` records a run; --journal FILE picks another journal"));
    }
    open(&ctx.journal).map_err(Error::failed)
}

fn unreadable(e: impl std::fmt::Display) -> Error {
    Error::failed(format!("cannot read the journal: {e}"))
}

/// Past runs, newest first. No journal yet is an empty history (exit 0), not an error.
pub fn history(ctx: &Context, limit: usize, json: bool) -> Result {
    if !ctx.journal.exists() {
        if json {
            return print(&versioned(serde_json::json!({ "runs": [] })));
        }
        eprintln!(
            "no runs recorded yet (no journal at {})",
            ctx.journal.display()
        );
        return Ok(());
    }
    let journal = open(ctx, Journal::open_reaped).map_err(|e| e.json(json))?;
    let runs = journal.runs(limit).map_err(|e| unreadable(e).json(json))?;
    if json {
        return print(&versioned(serde_json::json!({ "runs": runs })));
    }
    if runs.is_empty() {
        eprintln!("no runs recorded yet in {}", ctx.journal.display());
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header([
            "RUN",
            "STARTED",
            "SCRIPT",
            "MODE",
            "STATUS",
            "BY",
            "HOST ID",
            "CORRELATION ID",
            "WHERE IT ENDED",
        ]);
    for r in &runs {
        table.add_row([
            r.id.to_string(),
            r.started.clone(),
            r.script.clone(),
            r.mode.clone(),
            r.status.clone(),
            format!("{}@{}", r.operator, r.host),
            r.host_id.clone().unwrap_or_else(|| "-".to_string()),
            r.correlation_id.clone().unwrap_or_else(|| "-".to_string()),
            ended_note(&journal, r),
        ]);
    }
    if let Some(id) = table.column_mut(0) {
        id.set_cell_alignment(comfy_table::CellAlignment::Right);
    }
    emit_table(&table)
}

/// Where a run that did not finish stopped, and what to do about it.
fn ended_note(journal: &Journal, r: &RunRow) -> String {
    let status = RunStatus::parse(&r.status);
    let mut at = match (&r.step, status) {
        (Some(s), Some(RunStatus::Running)) => format!("at step `{s}`"),
        (Some(s), Some(status)) if status.is_resumable() => format!("at step `{s}`"),
        _ => String::new(),
    };
    if status != Some(RunStatus::Running) {
        match journal.last_change(r.id) {
            Ok(Some((summary, true))) if status == Some(RunStatus::Interrupted) => {
                at.push_str(&format!(" (last change completed: {summary})"))
            }
            Ok(Some((summary, false))) => at.push_str(&format!(" (outcome unknown: {summary})")),
            _ => {}
        }
    }
    if status == Some(RunStatus::Interrupted) {
        at.push_str(&format!(" — `ripcord resume {}` continues it", r.id));
    }
    at.trim_start().to_string()
}

/// The table on stdout, trailing blanks trimmed; a reader that went away (`| head`) is fine.
fn emit_table(table: &comfy_table::Table) -> Result {
    let mut text = String::new();
    for line in table.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    write_stdout(text.as_bytes())
}

pub fn show(ctx: &Context, id: i64, json: bool) -> Result {
    let (run, events) = recorded(ctx, id).map_err(|e| e.json(json))?;
    if json {
        return print(&versioned(
            serde_json::json!({ "run": run, "events": events }),
        ));
    }
    print_run(&run);
    println!();
    for (i, e) in events.iter().enumerate() {
        let time = e.ts.get(11..23).unwrap_or(&e.ts);
        let text = event_text(e);
        println!("{time}  {text}");
        if e.kind == "change.start"
            && RunStatus::parse(&run.status) != Some(RunStatus::Running)
            && !has_end(&events[i + 1..])
        {
            println!(
                "{time}      outcome unknown: the journal has no end for this change; check it by hand"
            );
        }
    }
    Ok(())
}

/// The run's row: what ran, with what, by whom, when, and how it ended.
fn print_run(run: &RunRow) {
    println!(
        "run {} — {} ({}) {}",
        run.id, run.script, run.mode, run.status
    );
    println!(
        "  script   {} (sha256 {})",
        run.path,
        &run.sha256[..12.min(run.sha256.len())]
    );
    println!("  params   {}", run.params);
    println!("  by       {}@{} pid {}", run.operator, run.host, run.pid);
    if let Some(host_id) = &run.host_id {
        println!("  host id  {host_id}");
    }
    if let Some(uuid) = &run.run_uuid {
        println!("  run uuid {uuid}");
    }
    if let Some(correlation) = &run.correlation_id {
        println!("  fleet    correlation id {correlation}");
    }
    println!("  started  {}", run.started);
    if let Some(end) = &run.ended {
        println!("  ended    {end} (exit {})", run.exit_code.unwrap_or(-1));
    }
    if let Some(err) = &run.error {
        println!("  error    {err}");
    }
}

/// One event as a line of `show`.
fn event_text(e: &EventRow) -> String {
    match e.kind.as_str() {
        "step.start" => format!("▶ step `{}`", e.data["name"].as_str().unwrap_or("?")),
        "step.end" => format!(
            "  step `{}` {} in {}ms{}",
            e.data["name"].as_str().unwrap_or("?"),
            e.data["status"].as_str().unwrap_or("?"),
            e.data["ms"],
            match e.data["wait_ms"].as_u64() {
                Some(w) if w > 0 => format!(" (+{w}ms waiting for the operator)"),
                _ => String::new(),
            }
        ),
        "change.start" => format!("  → {}", e.data["summary"].as_str().unwrap_or("?")),
        "change.end" => format!(
            "    {} ({}ms){}",
            if e.data["ok"] == true {
                "done"
            } else {
                "FAILED"
            },
            e.data["ms"],
            e.data["error"]
                .as_str()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        "change.simulated" => format!("  would: {}", e.data["summary"].as_str().unwrap_or("?")),
        _ => format!("  {} {}", e.kind, e.data),
    }
}

/// Whether the change whose start precedes `after` has its end recorded (changes never overlap,
/// so its end comes before the next change starts).
fn has_end(after: &[EventRow]) -> bool {
    after
        .iter()
        .find(|e| e.kind == "change.start" || e.kind == "change.end")
        .is_some_and(|e| e.kind == "change.end")
}

/// Run `id` and its events.
fn recorded(ctx: &Context, id: i64) -> Result<(RunRow, Vec<EventRow>)> {
    let journal = open(ctx, Journal::open)?;
    let run = journal.run(id).map_err(unreadable)?.ok_or_else(|| {
        Error::usage(format!("no run {id} in {}", ctx.journal.display()))
            .help("`ripcord history` lists the runs")
    })?;
    let events = journal.events(id).map_err(unreadable)?;
    Ok((run, events))
}

pub fn verify(ctx: &Context) -> Result {
    let journal = open(ctx, Journal::open)?;
    match journal.verify() {
        Ok(Ok(n)) => {
            println!(
                "journal {} ok: {n} events, hash chain intact",
                ctx.journal.display()
            );
            Ok(())
        }
        Ok(Err(broken)) => {
            eprintln!(
                "journal {} is broken at event {} (run {}): {}",
                ctx.journal.display(),
                broken.event,
                broken.run,
                broken.reason
            );
            Err(Error::Exit(exit::FAILED))
        }
        Err(e) => Err(unreadable(e)),
    }
}
