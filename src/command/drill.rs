//! `ripcord drill`: a run in drill mode (reads and probes real, changes simulated, faults
//! injected), then its report. A failed drill still writes its report: finding the failure is
//! what the drill is for.

use std::path::{Path, PathBuf};

use ripcord_runtime::journal::Journal;
use ripcord_runtime::report::{REPORT_EVENT, Report};
use ripcord_runtime::run::{ErrorReport, RunOutcome, exit};
use ripcord_runtime::{Mode, RunStatus};
use serde_json::{Value, json};

use crate::app::Context;
use crate::cli::{DrillArgs, RunArgs};
use crate::error::Error;

pub fn drill(ctx: &Context, args: DrillArgs) -> crate::error::Result {
    let run_args = RunArgs {
        script: args.script.clone(),
        params: args.params.clone(),
        config: args.config.clone(),
        dry_run: false,
        yes: args.yes,
        step: false,
        json: args.json,
        timeout: args.timeout.clone(),
        undo_on_failure: false,
        inject: args.inject.clone(),
        limits: Vec::new(),
        fleet: args.fleet.clone(),
    };
    let mut request = match crate::command::run::request(ctx, &run_args) {
        Ok(r) => r,
        Err(message) => return usage(&args.script, &message, args.json),
    };
    request.mode = Mode::Drill;
    // The folder is made before the run so a bad --report fails before anything runs.
    let (dir, created) = match report_dir(args.report.as_deref(), &request.script.name) {
        Ok(d) => d,
        Err(message) => return usage(&args.script, &message, args.json),
    };
    let started = ripcord_runtime::time::now_rfc3339();
    let outcome = ripcord_runtime::run::run(request, ripcord_stdlib::modules());
    if outcome.status == RunStatus::Usage {
        // Nothing ran (bad params, config, syntax): there is nothing to report.
        if created {
            let _ = std::fs::remove_dir(&dir);
        }
        return crate::command::run::finish(outcome, args.json);
    }

    let mut report = Report::from_outcome(&outcome, &started, &args.inject);
    if let Some(id) = outcome.run {
        enrich_from_journal(ctx, id, &mut report, &dir);
    }
    let written = report.write(&dir);
    finish(outcome, written, &dir, args.json)
}

/// The journal knows what the outcome does not (params as recorded, prompts, the start time);
/// the drill also records there which faults it injected and where its report went.
fn enrich_from_journal(ctx: &Context, id: i64, report: &mut Report, dir: &Path) {
    let Ok(mut journal) = Journal::open(&ctx.journal) else {
        return;
    };
    let data = json!({ "injected": report.injected, "dir": absolute(dir) });
    let _ = journal.event(id, REPORT_EVENT, None, &data);
    if let Ok(recorded) = Report::from_journal(&journal, id) {
        report.params = recorded.params;
        report.prompts = recorded.prompts;
        report.started = recorded.started;
        report.operator = recorded.operator;
        report.host = recorded.host;
    }
}

/// `--report DIR`, or `./drill-reports/SCRIPT-STAMP/` made unique. Returns whether this call
/// created it.
fn report_dir(explicit: Option<&Path>, script: &str) -> Result<(PathBuf, bool), String> {
    let dir = match explicit {
        Some(d) => d.to_path_buf(),
        None => {
            let base = format!("{}-{}", file_safe(script), ripcord_runtime::time::stamp());
            let root = Path::new("drill-reports");
            let mut dir = root.join(&base);
            let mut n = 2;
            while dir.exists() {
                dir = root.join(format!("{base}-{n}"));
                n += 1;
            }
            dir
        }
    };
    let created = !dir.exists();
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "cannot create the report folder {}: {e}\nhelp: pass a writable folder with --report DIR",
            dir.display()
        )
    })?;
    Ok((dir, created))
}

/// A script name as a folder name: letters, digits, `-`, `_` and `.` kept.
pub fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.trim_matches('.').is_empty() {
        "run".to_string()
    } else {
        safe
    }
}

pub fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn usage(script: &str, message: &str, json: bool) -> crate::error::Result {
    crate::command::run::finish(RunOutcome::usage(script, Mode::Drill, message), json)
}

/// Print the outcome and where the report is; the exit code is the run's, unless the run
/// passed and its report could not be written.
fn finish(
    mut outcome: RunOutcome,
    written: Result<Vec<PathBuf>, String>,
    dir: &Path,
    json: bool,
) -> crate::error::Result {
    if let Some(rendered) = &outcome.rendered_error {
        eprintln!("{rendered}");
    }
    eprintln!("{}", outcome.summary);
    let mut code = outcome.exit_code;
    let files = match written {
        Ok(files) => {
            eprintln!("report:");
            for f in &files {
                eprintln!("  {}", f.display());
            }
            files
        }
        Err(message) => {
            // Said here, between the summary and the JSON, and the run's outcome follows.
            Error::failed(message.as_str()).report();
            if code == exit::OK {
                // The drill passed but its report is missing: that is a failure, said the
                // same way in the JSON as on the terminal.
                code = exit::FAILED;
                outcome.status = RunStatus::Failed;
                outcome.exit_code = code;
                outcome.error = Some(ErrorReport::from_message(&message));
            }
            Vec::new()
        }
    };
    if json {
        let mut value = serde_json::to_value(&outcome).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("exit_code".to_string(), json!(code));
            map.insert("report".to_string(), report_json(dir, &files));
        }
        match serde_json::to_string_pretty(&value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("cannot encode the result as JSON: {e}"),
        }
    }
    Error::exit(code)
}

/// `{ dir, markdown, json, svg }` with absolute paths (null for a file not written).
pub fn report_json(dir: &Path, files: &[PathBuf]) -> Value {
    let find = |name: &str| {
        files
            .iter()
            .find(|f| f.file_name().is_some_and(|n| n == name))
            .map(|f| absolute(f))
    };
    json!({
        "dir": absolute(dir),
        "markdown": find("report.md"),
        "json": find("report.json"),
        "svg": find("timeline.svg"),
    })
}
