//! `ripcord report RUN`: the report of a past run (drill, dry run or real run), rebuilt from
//! the journal.

use std::path::{Path, PathBuf};

use ripcord_runtime::journal::Journal;
use ripcord_runtime::report::Report;

use crate::app::Context;
use crate::command::drill::{file_safe, report_json};
use crate::error::{Error, Result};
use crate::machine::print;

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
