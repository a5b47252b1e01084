//! `ripcord report RUN`: the report of a past run (drill, dry run or real run), rebuilt from
//! the journal.

use std::path::{Path, PathBuf};

use ripcord_runtime::journal::Journal;
use ripcord_runtime::report::Report;
use ripcord_runtime::run::exit;

use crate::app::Context;
use crate::command::drill::{file_safe, report_json};
use crate::machine::{fail_with, print};

pub fn report(ctx: &Context, id: i64, dir: Option<&Path>, json: bool) -> i32 {
    let fail = |code: i32, message: &str| fail_with(json, code, message);
    let unknown = || {
        fail(
            exit::USAGE,
            &format!(
                "no run {id} in {}\nhelp: `ripcord history` lists the runs",
                ctx.journal.display()
            ),
        )
    };
    if !ctx.journal.exists() {
        return unknown();
    }
    let journal = match Journal::open(&ctx.journal) {
        Ok(j) => j,
        Err(e) => return fail(exit::FAILED, &e),
    };
    match journal.run(id) {
        Ok(Some(_)) => {}
        Ok(None) => return unknown(),
        Err(e) => return fail(exit::FAILED, &format!("cannot read the journal: {e}")),
    }
    let report = match Report::from_journal(&journal, id) {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, &e),
    };
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from("drill-reports").join(format!("{}-run{id}", file_safe(&report.script)))
    });
    let files = match report.write(&dir) {
        Ok(files) => files,
        Err(e) => {
            return fail(
                exit::FAILED,
                &format!("{e}\nhelp: pass a writable folder with --report DIR"),
            );
        }
    };
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
    exit::OK
}
