//! Drills and reports: `ripcord drill` (reads real, changes simulated, faults injected) and
//! `ripcord report RUN`, each writing report.md, report.json and timeline.svg.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Outcome, Sandbox};

/// Three steps; the second reads a real file and writes another (a change).
const RESTORE: &str = r#"//! Restore drill: read the state, write a marker, finish.
//! @rto 15m
//! @param marker = "restored.txt": file the second step writes
step "Check state" {
    print("state checked");
}
step "Write marker" {
    let state = fs::read("state.txt");
    if state != "v1\n" { throw `the read was not done: got '${state}'`; }
    fs::write(marker, "restored from " + state);
}
step "Announce" {
    print("done");
}
"#;

fn report_files(out: &Outcome) -> (PathBuf, PathBuf, PathBuf) {
    let report = &out.json()["report"];
    let path = |key: &str| {
        PathBuf::from(
            report[key]
                .as_str()
                .unwrap_or_else(|| panic!("no report.{key} in {report}\n{}", out.stderr)),
        )
    };
    (path("markdown"), path("json"), path("svg"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).expect("report.json is JSON")
}

/// Parse the SVG with a real XML parser and count its step bars.
fn svg_bars(path: &Path) -> usize {
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom\n\
             d = xml.dom.minidom.parse(sys.argv[1])\n\
             bars = [r for r in d.getElementsByTagName('rect') if r.getAttribute('class') == 'bar']\n\
             print(len(bars))",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        status.status.success(),
        "{} is not well-formed XML: {}",
        path.display(),
        String::from_utf8_lossy(&status.stderr)
    );
    String::from_utf8_lossy(&status.stdout)
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn drill_reads_for_real_simulates_the_change_and_writes_the_report() {
    let sb = Sandbox::new();
    sb.write("restore.rhai", RESTORE);
    sb.write("state.txt", "v1\n");
    let out = sb.test().args(["drill", "restore.rhai", "--json"]).run();
    assert!(
        !sb.join("restored.txt").exists(),
        "a drill must not make changes"
    );
    let json = out.json();
    assert_eq!(json["mode"], "drill");
    assert_eq!(json["status"], "ok");

    let (md, js, svg) = report_files(&out);
    for f in [&md, &js, &svg] {
        assert!(
            f.starts_with(sb.path().canonicalize().unwrap().join("drill-reports")),
            "{}",
            f.display()
        );
        assert!(
            out.stderr
                .contains(&*f.file_name().unwrap().to_string_lossy()),
            "paths are printed: {}",
            out.stderr
        );
    }
    let text = read(&md);
    assert!(text.starts_with("# Drill report: restore — "), "{text}");
    assert!(text.contains("**✅ PASS**"), "{text}");
    assert!(text.contains("RTO 15m: met ("), "{text}");
    for step in [
        "| 1 | Check state | ✅ ok |",
        "| 2 | Write marker | ✅ ok |",
        "| 3 | Announce | ✅ ok |",
    ] {
        assert!(text.contains(step), "{step} missing:\n{text}");
    }
    assert!(
        text.contains("⏭ simulated: would write 17 bytes to restored.txt `fs::write`"),
        "{text}"
    );
    assert!(
        text.contains("`marker=restored.txt`"),
        "params are shown:\n{text}"
    );
    assert!(text.contains("None: every step passed"), "{text}");

    let report = read_json(&js);
    assert_eq!(report["status"], "ok");
    assert_eq!(report["rto"], "15m");
    assert_eq!(report["rto_ms"], 900_000);
    assert_eq!(report["rto_met"], true);
    assert_eq!(report["run"], json["run"]);
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1]["changes"][0]["outcome"], "simulated");
    assert_eq!(steps[1]["changes"][0]["function"], "fs::write");

    assert_eq!(svg_bars(&svg), 3);
    let timeline = read(&svg);
    assert!(timeline.contains("Write marker"), "{timeline}");
    assert!(timeline.contains("RTO 15m"), "{timeline}");
}

#[test]
fn injected_write_failure_fails_the_drill_and_still_writes_the_report() {
    let sb = Sandbox::new();
    sb.write("restore.rhai", RESTORE);
    sb.write("state.txt", "v1\n");
    let out = sb
        .test()
        .args([
            "drill",
            "restore.rhai",
            "--inject",
            "fs::write=fail",
            "--report",
            "out/drill",
            "--json",
        ])
        .status(1)
        .stderr_contains("fs::write failed: fault injected by the drill")
        .run();
    let dir = sb.join("out/drill");
    let text = read(&dir.join("report.md"));
    assert!(text.contains("**❌ FAIL**"), "{text}");
    assert!(text.contains("| 1 | Check state | ✅ ok |"), "{text}");
    assert!(text.contains("| 2 | Write marker | ❌ failed |"), "{text}");
    assert!(
        !text.contains("| 3 | Announce"),
        "the step after the failure did not run:\n{text}"
    );
    assert!(
        text.contains("## Injected faults\n\n- `--inject fs::write=fail`"),
        "{text}"
    );
    assert!(
        text.contains(
            "## Gaps found\n\n1. Step 2 `Write marker` failed at `write 17 bytes to restored.txt`: fs::write failed: fault injected"
        ),
        "{text}"
    );
    assert!(
        !text.contains("2. Change"),
        "one gap for one failure:\n{text}"
    );
    assert!(
        text.contains("RTO 15m: missed (the run failed after"),
        "{text}"
    );

    let report = read_json(&dir.join("report.json"));
    assert_eq!(report["status"], "failed");
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["rto_met"], false);
    assert_eq!(report["injected"][0], "fs::write=fail");
    assert_eq!(report["steps"][1]["status"], "failed");
    assert_eq!(report["steps"][1]["changes"][0]["outcome"], "failed");
    assert_eq!(svg_bars(&dir.join("timeline.svg")), 2);
    assert_eq!(
        out.json()["report"]["dir"],
        dir.canonicalize().unwrap().display().to_string()
    );

    // The journal remembers the injection: the rebuilt report lists it too.
    let run = out.json()["run"].as_i64().expect("run id");
    sb.test()
        .args(["report", &run.to_string(), "--report", "again"])
        .run();
    let text = read(&sb.join("again/report.md"));
    assert!(text.contains("- `--inject fs::write=fail`"), "{text}");
    assert!(text.contains("| 2 | Write marker | ❌ failed |"), "{text}");
}

#[test]
fn injected_nth_read_failure_names_the_fault() {
    let sb = Sandbox::new();
    sb.write(
        "reads.rhai",
        "step \"First read\" { fs::read(\"state.txt\"); }\nstep \"Second read\" { fs::read(\"state.txt\"); }\n",
    );
    sb.write("state.txt", "v1\n");
    sb.test()
        .args([
            "drill",
            "reads.rhai",
            "--inject",
            "fs::read=fail@2",
            "--report",
            "r",
        ])
        .status(1)
        .run();
    let text = read(&sb.join("r/report.md"));
    assert!(text.contains("| 1 | First read | ✅ ok |"), "{text}");
    assert!(text.contains("| 2 | Second read | ❌ failed |"), "{text}");
    assert!(text.contains("- `--inject fs::read=fail@2`"), "{text}");
    assert!(text.contains("RTO: no target"), "{text}");
}

#[test]
fn report_of_a_real_run_comes_from_the_journal_with_its_step_durations() {
    let sb = Sandbox::new();
    sb.write("restore.rhai", RESTORE);
    sb.write("state.txt", "v1\n");
    let out = sb.test().args(["run", "restore.rhai", "--json"]).run();
    assert_eq!(read(&sb.join("restored.txt")), "restored from v1\n");
    let run = out.json()["run"].as_i64().expect("run id");

    let rep = sb.test().args(["report", &run.to_string(), "--json"]).run();
    let dir = sb.join(&format!("drill-reports/restore-run{run}"));
    let md = read(&dir.join("report.md"));
    assert!(md.starts_with("# Run report: restore — "), "{md}");
    assert!(md.contains("| Mode | run (changes made) |"), "{md}");
    assert!(
        md.contains("✅ made: write 17 bytes to restored.txt"),
        "{md}"
    );
    assert!(md.contains("RTO 15m: met ("), "{md}");

    // Step durations are the journal's own step.end figures.
    let show = sb.run(&["show", &run.to_string(), "--json"]).json();
    let journaled: Vec<(String, u64)> = show["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "step.end")
        .map(|e| {
            (
                e["data"]["name"].as_str().unwrap().to_string(),
                e["data"]["ms"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(journaled.len(), 3);
    let report = read_json(&dir.join("report.json"));
    let steps: Vec<(String, u64)> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["ms"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps, journaled);
    assert_eq!(report["steps"][1]["changes"][0]["outcome"], "made");
    assert_eq!(report["mode"], "run");
    assert_eq!(rep.json()["steps"].as_array().map(Vec::len), Some(3));
    assert_eq!(svg_bars(&dir.join("timeline.svg")), 3);
}

#[test]
fn report_of_an_unknown_run_exits_2_pointing_at_history() {
    let sb = Sandbox::new();
    sb.test()
        .args(["report", "42"])
        .status(2)
        .stderr_contains("no run 42 in ")
        .stderr_contains("`ripcord history` lists the runs")
        .run();

    sb.write("ok.rhai", "step \"Only\" { 1 }\n");
    assert_eq!(sb.run(&["run", "ok.rhai"]).code, 0);
    sb.test().args(["report", "42"]).status(2).run();
    assert!(!sb.join("drill-reports").exists());
}

#[test]
fn drill_with_a_bad_param_runs_nothing_and_writes_no_report() {
    let sb = Sandbox::new();
    sb.write("restore.rhai", RESTORE);
    let refused = |args: &[&str], expected: &str| {
        let out = sb.run(args);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains(expected), "{}", out.stderr);
        assert!(
            !sb.join("drill-reports")
                .read_dir()
                .is_ok_and(|mut d| d.next().is_some()),
            "a refused drill wrote a report"
        );
    };
    refused(
        &["drill", "restore.rhai", "-p", "nope=1"],
        "`nope` is not a param",
    );
    refused(
        &["drill", "restore.rhai", "--inject", "fs::write=explode"],
        "expected `fail` or `fail@N`",
    );
    // A misspelt function would make the drill pass for the wrong reason.
    refused(
        &["drill", "restore.rhai", "--inject", "db::restroe=fail"],
        "did you mean `db::restore`?",
    );
}

/// Two gates in two steps and one outside any step; a change after each.
const GATED: &str = r#"//! Gated: a real run stops at each confirm.
confirm("Start the gated procedure?");
step "Stop" {
    confirm("Stop the service?");
    fs::write("stopped", "x");
}
step "Reset" {
    confirm("Reset to v1.4.2?");
    fs::write("reset", "x");
}
"#;

#[test]
fn dry_run_and_drill_answer_confirm_themselves_and_the_report_lists_every_gate() {
    let sb = Sandbox::new();
    sb.write("gated.rhai", GATED);
    // No terminal (stdin is null) and no --yes: a preview still sees past every gate.
    let dry = sb
        .test()
        .args(["run", "gated.rhai", "--dry-run"])
        .stderr_contains("a real run stops at 3 confirm gates")
        .stderr_contains("would: write 1 bytes to reset")
        .run();
    for message in [
        "would ask: Start the gated procedure?",
        "would ask: Stop the service?",
        "would ask: Reset to v1.4.2?",
    ] {
        assert!(dry.stderr.contains(message), "{message}:\n{}", dry.stderr);
    }

    let out = sb.test().args(["drill", "gated.rhai", "--json"]).run();
    assert!(!sb.join("stopped").exists() && !sb.join("reset").exists());
    let (md, js, _) = report_files(&out);
    let text = read(&md);
    assert!(text.contains("## Gates a real run stops at"), "{text}");
    for line in [
        "- confirm: Start the gated procedure?",
        "- confirm (step `Stop`): Stop the service?",
        "- confirm (step `Reset`): Reset to v1.4.2?",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    let gates = read_json(&js)["gates"].clone();
    assert_eq!(gates.as_array().map(Vec::len), Some(3), "{gates}");
    assert_eq!(gates[1]["step"], "Stop");

    // The journal has them too: a report rebuilt from it lists the same gates.
    let run = out.json()["run"].as_i64().expect("run id").to_string();
    sb.test().args(["report", &run, "--report", "again"]).run();
    let rebuilt = read(&sb.join("again/report.md"));
    assert!(
        rebuilt.contains("- confirm (step `Reset`): Reset to v1.4.2?"),
        "{rebuilt}"
    );

    // A real run still stops at the first gate without a terminal.
    sb.test().args(["run", "gated.rhai"]).status(3).run();
    assert!(!sb.join("stopped").exists());
}
