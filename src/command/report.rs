//! `ripcord report RUN`: the report of a past run (drill, dry run or real run), rebuilt from
//! the journal; `ripcord report --fleet MERGED`: one fleet run across hosts.

use std::path::{Path, PathBuf};

use ripcord_runtime::fleet_report::{FleetReport, FleetReportError, HostRun};
use ripcord_runtime::journal::Journal;
use ripcord_runtime::report::Report;

use crate::app::Context;
use crate::command::drill::{file_safe, report_json};
use crate::error::{Error, Result};
use crate::machine::{print, versioned, write_stdout};

pub fn report(ctx: &Context, id: i64, dir: Option<&Path>, json: bool) -> Result {
    let report = recorded(ctx, id).map_err(|e| e.json(json))?;
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from("drill-reports").join(format!("{}-run{id}", file_safe(&report.script)))
    });
    let files = report.write(&dir).map_err(|e| {
        Error::failed(e)
            .help("pass a writable folder with --report DIR")
            .json(json)
    })?;
    eprintln!(
        "run {id} ({}, {}): {}",
        report.script,
        report.status,
        report.rto_line()
    );
    eprintln!("report:");
    for f in &files {
        eprintln!("  {}", f.display());
    }
    if json {
        let mut value = report.json();
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("files".to_string(), report_json(&dir, &files));
        }
        return print(&value);
    }
    Ok(())
}

/// The report of run `id` as the journal recorded it.
fn recorded(ctx: &Context, id: i64) -> Result<Report> {
    let unknown = || {
        Error::usage(format!("no run {id} in {}", ctx.journal.display()))
            .help("`ripcord history` lists the runs")
    };
    if !ctx.journal.exists() {
        return Err(unknown());
    }
    let journal = Journal::open(&ctx.journal).map_err(Error::failed)?;
    match journal.run(id) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(unknown()),
        Err(e) => return Err(Error::failed(format!("cannot read the journal: {e}"))),
    }
    Report::from_journal(&journal, id).map_err(Error::failed)
}

/// `report --fleet MERGED`: the fleet run's table (or `--json`); exit 0 whatever the hosts' runs
/// did, 2 when the file is not a journal or the fleet run is not in it.
pub fn fleet(merged: &Path, correlation: Option<&str>, hosts: &[String], json: bool) -> Result {
    let hosts: Vec<String> = hosts
        .iter()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    let report = FleetReport::build(merged, correlation, &hosts).map_err(|e| {
        let error = match e {
            FleetReportError::Usage(m) => Error::usage(m),
            FleetReportError::Failed(m) => Error::failed(m),
        };
        error.json(json)
    })?;
    if json {
        let value = serde_json::to_value(&report)
            .map_err(|e| Error::failed(format!("cannot write the report: {e}")))?;
        return print(&versioned(value));
    }
    write_stdout(fleet_text(&report).as_bytes())
}

fn fleet_text(report: &FleetReport) -> String {
    let mut text = format!(
        "fleet run {} from {}: {} hosts ran, {} ok, {} not ok, {} never touched\n\n",
        report
            .correlation_id
            .as_deref()
            .unwrap_or("(no correlation id)"),
        report.journal,
        report.counts.hosts,
        report.counts.ok,
        report.counts.failed,
        report.counts.never_touched
    );
    for line in hosts_table(report).lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text.push_str("\nbatches:\n");
    for b in &report.batches {
        text.push_str(&format!(
            "  {}  {} .. {}  {}{}\n",
            b.number,
            b.started,
            b.ended.as_deref().unwrap_or("(still running)"),
            b.hosts.join(", "),
            if b.recorded {
                ""
            } else {
                "  (guessed from overlapping run times: these runs recorded no --fleet-batch)"
            }
        ));
    }
    if !report.never_touched.is_empty() {
        text.push_str(&format!(
            "never touched (no run in the journal; the rollout stopped before them): {}\n",
            report.never_touched.join(", ")
        ));
    }
    text
}

/// One row per host that ran, then one per host never touched.
fn hosts_table(report: &FleetReport) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header([
            "HOST",
            "BATCH",
            "RUN",
            "STATUS",
            "EXIT",
            "DURATION",
            "CHANGES",
            "STOPPED AT",
            "ERROR",
        ]);
    for h in &report.hosts {
        table.add_row(host_row(h));
    }
    for h in &report.never_touched {
        table.add_row([
            h.as_str(),
            "-",
            "-",
            "never touched",
            "-",
            "-",
            "-",
            "-",
            "-",
        ]);
    }
    table
}

fn host_row(h: &HostRun) -> [String; 9] {
    let mut changes = h.changes.to_string();
    if h.changes_failed > 0 {
        changes.push_str(&format!(" (+{} failed)", h.changes_failed));
    }
    if h.simulated > 0 {
        changes.push_str(&format!(" ({} simulated)", h.simulated));
    }
    // A resumed run: the chain, ending with the run whose outcome the line shows.
    let run = std::iter::once(h.run)
        .chain(h.resumed_by.iter().copied())
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(" -> ");
    [
        h.host_id.clone(),
        h.batch.to_string(),
        run,
        h.status.clone(),
        h.exit_code.map_or("-".to_string(), |c| c.to_string()),
        h.duration_ms.map_or("-".to_string(), |ms| {
            if ms < 1000 {
                format!("{ms}ms")
            } else {
                format!("{:.1}s", ms as f64 / 1000.0)
            }
        }),
        changes,
        h.stopped_at.clone().unwrap_or_else(|| "-".to_string()),
        h.error.as_deref().map_or("-".to_string(), |e| {
            e.lines().next().unwrap_or("").to_string()
        }),
    ]
}
