//! Fleet runs on one machine: host and run identity in the journal, `--approve`, `--events`.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::support::Sandbox;

/// A change, then a confirm, then another change: what a confirm guards is visible.
const GUARDED: &str = r#"//! A change guarded by a confirm.
step "prepare" {
    fs::write("prepared.txt", "1\n");
}
step "switch" {
    confirm("Switch cortex to v1.4.2?");
    fs::write("switched.txt", "1\n");
}
"#;

fn approvals(sb: &Sandbox, body: &str) -> String {
    let path = sb.write("approvals.toml", body);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.display().to_string()
}

const APPROVED: &str = "[[approval]]\nconfirm = \"Switch cortex to v1.4.2?\"\napprover = \"alice\"\nticket = \"CHG-1234\"\n";

fn sql_rows(path: &std::path::Path, sql: &str) -> Vec<Vec<Value>> {
    let conn = rusqlite::Connection::open(path).expect("open journal");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(v) => v.into(),
                    rusqlite::types::ValueRef::Text(t) => {
                        String::from_utf8_lossy(t).into_owned().into()
                    }
                    other => format!("{other:?}").into(),
                })
            })
            .collect()
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

#[test]
fn a_run_records_its_host_id_uuid_and_correlation_id() {
    let sb = Sandbox::new();
    sb.write("t.rhai", "//! T.\nstep \"a\" { 1 }\n");
    let out = sb
        .test()
        .args([
            "run",
            "t.rhai",
            "--json",
            "--host-id",
            "web-01",
            "--correlation-id",
            "rollback-2026-11-30",
        ])
        .run();
    let json = out.json();
    assert_eq!(json["host_id"], "web-01");
    assert_eq!(json["correlation_id"], "rollback-2026-11-30");
    let uuid = json["run_uuid"].as_str().expect("run_uuid").to_string();
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(&uuid[14..15], "4", "a v4 UUID: {uuid}");

    let rows = sql_rows(
        &sb.journal(),
        "SELECT run_uuid, host_id, correlation_id FROM run_identity",
    );
    assert_eq!(
        rows,
        vec![vec![
            Value::from(uuid.clone()),
            "web-01".into(),
            "rollback-2026-11-30".into()
        ]]
    );
    // In the hashed run.start event too, so an edited identity fails `journal verify`.
    let start = sql_rows(
        &sb.journal(),
        "SELECT data FROM events WHERE kind = 'run.start'",
    );
    let data: Value = serde_json::from_str(start[0][0].as_str().unwrap_or("")).expect("json");
    assert_eq!(data["run_uuid"], uuid.as_str());
    assert_eq!(data["host_id"], "web-01");

    // The environment gives the same; without either the host id is the hostname.
    let out = sb
        .command(&["run", "t.rhai", "--json"])
        .env("RIPCORD_HOST_ID", "web-02")
        .env("RIPCORD_CORRELATION_ID", "f2")
        .output()
        .expect("run");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (json["host_id"].as_str(), json["correlation_id"].as_str()),
        (Some("web-02"), Some("f2"))
    );
    let json = sb.run(&["run", "t.rhai", "--json"]).json();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(json["host_id"], hostname.trim());
    assert_eq!(json["correlation_id"], Value::Null);
    assert_ne!(json["run_uuid"], uuid.as_str());
}

#[test]
fn bad_host_and_correlation_ids_are_usage_errors() {
    let sb = Sandbox::new();
    sb.write(
        "t.rhai",
        "//! T.\nstep \"a\" { fs::write(\"x\", \"1\"); }\n",
    );
    for (flag, value, why) in [
        ("--host-id", "web 01", "it contains ' '"),
        ("--host-id", "a/b", "it contains '/'"),
        ("--correlation-id", "x\ty", "it contains '\\t'"),
        (
            "--correlation-id",
            &"x".repeat(201),
            "it is 201 bytes long (at most 200)",
        ),
        (
            "--fleet-batch",
            "two",
            "--fleet-batch `two`: not a whole number",
        ),
        (
            "--fleet-batch",
            "2.5",
            "not a whole number from 0 to 4294967295",
        ),
        (
            "--fleet-play",
            "play one",
            "--fleet-play `play one`: it contains ' '",
        ),
    ] {
        sb.test()
            .args(["run", "t.rhai", flag, value])
            .status(2)
            .stderr_contains(why)
            .run();
        assert!(!sb.join("x").exists(), "nothing runs on a usage error");
    }
}

#[test]
fn a_journal_from_before_identities_keeps_opening_and_verifying() {
    let sb = Sandbox::new();
    let journal = sb.journal();
    std::fs::create_dir_all(journal.parent().expect("parent")).expect("mkdir");
    // The first schema, with one finished run, as an older ripcord left it.
    sb.write("t.rhai", "//! T.\nstep \"a\" { 1 }\n");
    sb.test().args(["run", "t.rhai"]).run();
    let conn = rusqlite::Connection::open(&journal).expect("open");
    conn.execute_batch("DROP TABLE run_identity;")
        .expect("drop");
    drop(conn);

    sb.test().args(["run", "t.rhai", "--host-id", "h1"]).run();
    let history = sb.run(&["history", "--json"]).json();
    assert_eq!(history["runs"].as_array().map(Vec::len), Some(2));
    sb.test().args(["journal", "verify"]).run();
    let rows = sql_rows(&journal, "SELECT run, host_id FROM run_identity");
    assert_eq!(
        rows,
        vec![vec![Value::from(2), "h1".into()]],
        "only the new run has one"
    );
}

#[test]
fn an_approved_confirm_goes_through_and_names_the_approver() {
    let sb = Sandbox::new();
    sb.write("guarded.rhai", GUARDED);
    let file = approvals(&sb, APPROVED);
    sb.test()
        .args(["run", "guarded.rhai", "--approve", &file, "--json"])
        .stderr_contains(
            "confirm: Switch cortex to v1.4.2? -> yes (approved by alice under CHG-1234)",
        )
        .run();
    assert!(sb.join("switched.txt").exists());
    let prompts = sql_rows(
        &sb.journal(),
        "SELECT data FROM events WHERE kind = 'prompt'",
    );
    let data: Value = serde_json::from_str(prompts[0][0].as_str().unwrap_or("")).expect("json");
    assert_eq!(data["answer"], true);
    assert_eq!(data["approver"], "alice");
    assert_eq!(data["ticket"], "CHG-1234");
    assert_eq!(data["policy_sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn a_confirm_the_file_does_not_approve_aborts_with_exit_3() {
    let sb = Sandbox::new();
    sb.write("guarded.rhai", GUARDED);
    let cases = [
        (
            "not listed",
            APPROVED.replace("v1.4.2?", "v1.4.3?"),
            "it is not listed in",
        ),
        (
            "expired",
            format!("{APPROVED}expires = \"2020-01-01T00:00:00Z\"\n"),
            "its approval has expired in",
        ),
    ];
    for (case, body, why) in cases {
        let _ = std::fs::remove_file(sb.join("prepared.txt"));
        let file = approvals(&sb, &body);
        let out = sb
            .test()
            .args(["run", "guarded.rhai", "--approve", &file, "--json"])
            .status(3)
            .context(case)
            .stderr_contains(format!("error: confirm not approved ({why}"))
            .stderr_contains("Switch cortex to v1.4.2?")
            .run();
        assert!(
            sb.join("prepared.txt").exists(),
            "{case}: the step before ran"
        );
        assert!(
            !sb.join("switched.txt").exists(),
            "{case}: the guarded change was not made"
        );
        assert_eq!(out.json()["status"], "aborted");
    }
}

#[test]
fn approval_files_that_cannot_be_trusted_or_read_are_usage_errors() {
    let sb = Sandbox::new();
    sb.write("guarded.rhai", GUARDED);
    let file = approvals(&sb, APPROVED);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o622)).expect("chmod");
    sb.test()
        .args(["run", "guarded.rhai", "--approve", &file])
        .status(2)
        .stderr_contains("it is writable by other users (mode 622), so anyone could approve")
        .stderr_contains("help: chmod go-w")
        .run();
    assert!(!sb.join("prepared.txt").exists(), "nothing ran");

    sb.test()
        .args(["run", "guarded.rhai", "--approve", "missing.toml"])
        .status(2)
        .stderr_contains("--approve missing.toml: cannot read it")
        .run();

    // `--yes` would answer what nobody approved: the two do not mix.
    let file = approvals(&sb, APPROVED);
    sb.test()
        .args(["run", "guarded.rhai", "--approve", &file, "--yes"])
        .status(2)
        .stderr_contains("'--approve <FILE>' cannot be used with '--yes'")
        .run();
}

/// The event lines of a file, parsed.
fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("events file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn events_stream_one_line_per_run_step_change_and_prompt() {
    let sb = Sandbox::new();
    sb.write("guarded.rhai", GUARDED);
    let file = approvals(&sb, APPROVED);
    let out = sb
        .test()
        .args([
            "run",
            "guarded.rhai",
            "--approve",
            &file,
            "--json",
            "--events",
            "ndjson=events.ndjson",
            "--host-id",
            "h7",
            "--correlation-id",
            "c9",
        ])
        .run();
    let uuid = out.json()["run_uuid"].clone();
    let lines = events(&sb.join("events.ndjson"));
    let kinds: Vec<&str> = lines
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        kinds,
        [
            "run.start",
            "step.start",
            "change.start",
            "change.end",
            "step.end",
            "step.start",
            "prompt",
            "change.start",
            "change.end",
            "step.end",
            "run.end"
        ]
    );
    for e in &lines {
        assert_eq!(
            (e["v"].as_u64(), &e["host_id"], &e["correlation_id"]),
            (Some(1), &"h7".into(), &"c9".into())
        );
        assert_eq!(e["run_uuid"], uuid);
        assert_eq!(e["run"], 1);
    }
    assert_eq!(lines[6]["data"]["approver"], "alice");
    assert_eq!(lines[10]["data"]["status"], "ok");
    let mode = std::fs::metadata(sb.join("events.ndjson"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn events_reach_stdout_without_a_journal_and_refuse_to_share_it_with_json() {
    let sb = Sandbox::new();
    sb.write(
        "t.rhai",
        "//! T.\nstep \"a\" { fs::write(\"x\", \"1\"); }\n",
    );
    let out = sb
        .test()
        .args(["--journal", "off", "run", "t.rhai", "--events", "ndjson"])
        .stdout_contains("\"run\":null")
        .run();
    let kinds: Vec<String> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line")["kind"].to_string())
        .collect();
    assert_eq!(kinds.len(), 6, "{}", out.stdout);

    sb.test()
        .args(["run", "t.rhai", "--events", "ndjson", "--json"])
        .status(2)
        .stderr_contains("--events ndjson and --json would both write to stdout")
        .run();
    sb.test()
        .args(["run", "t.rhai", "--events", "xml"])
        .status(2)
        .stderr_contains("expected `ndjson` (stdout) or `ndjson=FILE`")
        .run();
}

#[test]
fn a_sub_run_inherits_the_fleet_run_and_its_approvals() {
    let sb = Sandbox::new();
    sb.write("guarded.rhai", GUARDED);
    sb.write(
        "outer.rhai",
        "//! Outer.\nstep \"call\" { runbook::run(\"guarded\"); }\n",
    );
    let file = approvals(&sb, APPROVED);
    sb.test()
        .args([
            "--scripts",
            ".",
            "run",
            "outer.rhai",
            "--approve",
            &file,
            "--correlation-id",
            "c1",
            "--host-id",
            "h1",
        ])
        .run();
    let rows = sql_rows(
        &sb.journal(),
        "SELECT run, host_id, correlation_id FROM run_identity ORDER BY run",
    );
    assert_eq!(
        rows,
        vec![
            vec![Value::from(1), "h1".into(), "c1".into()],
            vec![Value::from(2), "h1".into(), "c1".into()]
        ]
    );
}

/// A runbook that changes a file, then fails on request.
const ROLLOUT: &str = r#"//! A fleet rollout step.
//! @param fail = "no"
step "switch" { fs::write("switched.txt", "1\n"); }
if fail == "yes" {
    step "verify" { fail("health check failed"); }
}
"#;

/// Host `host`'s journal (own file) after one run of fleet run `correlation`.
fn host_run(sb: &Sandbox, host: &str, correlation: &str, fail: bool) -> std::path::PathBuf {
    let journal = sb.join(&format!("{host}.db"));
    let journal_arg = journal.display().to_string();
    sb.test()
        .args([
            "--journal",
            &journal_arg,
            "run",
            "rollout.rhai",
            "--host-id",
            host,
            "--correlation-id",
            correlation,
            "-p",
            if fail { "fail=yes" } else { "fail=no" },
        ])
        .status(if fail { 1 } else { 0 })
        .run();
    journal
}

#[test]
fn hosts_journals_merge_once_verify_and_read_as_one_fleet() {
    let sb = Sandbox::new();
    sb.write("rollout.rhai", ROLLOUT);
    let web1 = host_run(&sb, "web-01", "F1", false);
    let web2 = host_run(&sb, "web-02", "F1", true);
    let (a, b) = (web1.display().to_string(), web2.display().to_string());
    sb.test()
        .args(["journal", "merge", "fleet.db", &a, &b])
        .stdout_contains("web-01.db: 1 runs added")
        .stdout_contains("merged 2 runs")
        .run();
    // Again: idempotent.
    sb.test()
        .args(["journal", "merge", "fleet.db", &b, &a])
        .stdout_contains("web-02.db: 0 runs added (0 events), 1 already merged")
        .stdout_contains("merged 0 runs, 0 events")
        .run();
    let fleet = ["--journal", "fleet.db"];
    sb.test()
        .args(fleet)
        .args(["journal", "verify"])
        .stdout_contains("hash chain intact")
        .run();
    let history = sb
        .test()
        .args(fleet)
        .args(["history", "--json"])
        .run()
        .json();
    crate::json::assert_valid("history", &history);
    let hosts: Vec<(Value, Value)> = history["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| (r["host_id"].clone(), r["correlation_id"].clone()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("web-02".into(), "F1".into()),
            ("web-01".into(), "F1".into())
        ]
    );
    sb.test()
        .args(fleet)
        .args(["history"])
        .stdout_contains("HOST ID")
        .stdout_contains("web-02")
        .run();
    sb.test()
        .args(fleet)
        .args(["show", "2"])
        .stdout_contains("host id  web-02")
        .stdout_contains("correlation id F1")
        .stdout_contains("health check failed")
        .run();
    let report = sb
        .test()
        .args(fleet)
        .args(["report", "2", "--report", "rep", "--json"])
        .run()
        .json();
    assert_eq!(
        (report["script"].clone(), report["status"].clone()),
        ("rollout".into(), "failed".into())
    );

    let report = sb
        .test()
        .args([
            "report",
            "--fleet",
            "fleet.db",
            "--hosts",
            "web-01,web-02,web-03",
            "--json",
        ])
        .run()
        .json();
    crate::json::assert_valid("fleet_report", &report);
    assert_eq!(report["correlation_id"], "F1");
    let lines = report["hosts"].as_array().expect("hosts");
    assert_eq!(lines.len(), 2, "{report}");
    assert_eq!(lines[0]["host_id"], "web-01");
    assert_eq!(lines[0]["status"], "ok");
    assert_eq!(lines[0]["changes"], 1);
    assert_eq!(lines[1]["status"], "failed");
    assert_eq!(lines[1]["exit_code"], 1);
    assert_eq!(lines[1]["stopped_at"], "verify");
    assert!(
        lines[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("health check failed")),
        "{report}"
    );
    assert_eq!(report["never_touched"], serde_json::json!(["web-03"]));
    assert_eq!(
        report["batches"].as_array().map(Vec::len),
        Some(2),
        "runs one after the other are two batches: {report}"
    );
    sb.test()
        .args([
            "report",
            "--fleet",
            "fleet.db",
            "--hosts",
            "web-01,web-02,web-03",
        ])
        .stdout_contains("web-03")
        .stdout_contains("never touched")
        .run();

    // One edited event in the merged file is found.
    let conn = rusqlite::Connection::open(sb.join("fleet.db")).expect("open");
    conn.execute(
        "UPDATE events SET data = replace(data, 'switched', 'SWITCHED') WHERE kind = 'change.start' AND run = 1",
        [],
    )
    .expect("edit");
    drop(conn);
    sb.test()
        .args(fleet)
        .args(["journal", "verify"])
        .status(1)
        .stderr_contains("edited")
        .run();
}

#[test]
fn merge_refuses_a_foreign_file_and_a_broken_chain_and_writes_nothing() {
    let sb = Sandbox::new();
    sb.write("rollout.rhai", ROLLOUT);
    let web1 = host_run(&sb, "web-01", "F1", false).display().to_string();
    let foreign = sb.join("app.db");
    rusqlite::Connection::open(&foreign)
        .expect("open")
        .execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY);")
        .expect("create");
    let before = std::fs::read(&foreign).expect("read");
    sb.test()
        .args(["journal", "merge", "fleet.db", &web1, "app.db"])
        .status(2)
        .stderr_contains("app.db is not a ripcord journal")
        .stderr_contains("tables: orders")
        .stderr_contains("nothing was merged")
        .run();
    assert_eq!(std::fs::read(&foreign).expect("read"), before);
    assert!(!sb.join("fleet.db").exists());

    let web2 = host_run(&sb, "web-02", "F1", false);
    let conn = rusqlite::Connection::open(&web2).expect("open");
    conn.execute(
        "UPDATE events SET ts = '2000-01-01T00:00:00.000Z' WHERE id = 2",
        [],
    )
    .expect("edit");
    drop(conn);
    let web2 = web2.display().to_string();
    sb.test()
        .args(["journal", "merge", "fleet.db", &web1, &web2])
        .status(1)
        .stderr_contains("web-02.db does not verify: event 2")
        .stderr_contains("nothing was merged")
        .run();
    assert!(!sb.join("fleet.db").exists());

    // Two fleet runs in one file: the report asks which.
    let other = host_run(&sb, "web-03", "F2", false).display().to_string();
    sb.test()
        .args(["journal", "merge", "fleet.db", &web1, &other])
        .run();
    sb.test()
        .args(["report", "--fleet", "fleet.db"])
        .status(2)
        .stderr_contains("holds 2 fleet runs (F1, F2): pick one with --correlation-id")
        .run();
    sb.test()
        .args(["report", "--fleet", "fleet.db", "--correlation-id", "F9"])
        .status(2)
        .stderr_contains("no run in fleet.db has correlation id `F9`")
        .run();
    sb.test()
        .args(["report", "--fleet", "app.db"])
        .status(2)
        .stderr_contains("app.db is not a ripcord journal")
        .run();
    sb.test()
        .args(["report", "1", "--hosts", "web-01"])
        .status(2)
        .stderr_contains("they need --fleet MERGED")
        .run();
    sb.test()
        .args(["journal", "merge", "app.db", &web1])
        .status(2)
        .stderr_contains("app.db is not a ripcord journal: it is another application's SQLite database (tables: orders); nothing was merged")
        .run();
    assert_eq!(std::fs::read(&foreign).expect("read"), before);
}

#[test]
fn resume_keeps_the_runs_host_id_and_correlation_id() {
    let sb = Sandbox::new();
    sb.write(
        "flaky.rhai",
        "//! Fails until ok.txt exists.\nstep \"one\" { fs::write(\"one.txt\", \"1\\n\"); }\nstep \"two\" { if !fs::exists(\"ok.txt\") { fail(\"not yet\"); } }\n",
    );
    sb.test()
        .args([
            "run",
            "flaky.rhai",
            "--host-id",
            "web-07",
            "--correlation-id",
            "F3",
        ])
        .status(1)
        .run();
    sb.write("ok.txt", "1\n");
    let resumed = sb.test().args(["resume", "1", "--json"]).run().json();
    assert_eq!(resumed["host_id"], "web-07");
    assert_eq!(resumed["correlation_id"], "F3");
    let rows = sql_rows(
        &sb.journal(),
        "SELECT host_id, correlation_id FROM run_identity WHERE run = 2",
    );
    assert_eq!(rows, vec![vec![Value::from("web-07"), "F3".into()]]);
}

/// Fails at step two until `ok.txt` exists in the folder it runs in.
const FLAKY: &str = "//! Fails until ok.txt exists.\nstep \"one\" { fs::write(\"one.txt\", \"1\\n\"); }\nstep \"two\" { if !fs::exists(\"ok.txt\") { fail(\"not yet\"); } }\n";

#[test]
fn fleet_report_uses_recorded_batches_and_a_resumes_outcome() {
    let sb = Sandbox::new();
    sb.write("flaky.rhai", FLAKY);
    let run = |host: &str, batch: Option<&str>, code: i32| {
        let journal = sb.join(&format!("{host}.db")).display().to_string();
        let mut args = vec![
            "--journal",
            &journal,
            "run",
            "flaky.rhai",
            "--host-id",
            host,
            "--correlation-id",
            "F5",
        ];
        if let Some(batch) = batch {
            args.extend(["--fleet-batch", batch, "--fleet-play", "rollback"]);
        }
        sb.test().args(args).status(code).run();
    };
    // One after another: by their times these would be four batches.
    sb.write("ok.txt", "1\n");
    run("web-01", Some("1"), 0);
    std::fs::remove_file(sb.join("ok.txt")).expect("remove ok.txt");
    run("web-02", Some("1"), 1);
    sb.write("ok.txt", "1\n");
    run("web-03", Some("3"), 0);
    run("web-04", None, 0);
    // web-02's run is resumed on its host: the fleet report shows the resume's outcome.
    let web2 = sb.join("web-02.db").display().to_string();
    sb.test().args(["--journal", &web2, "resume", "1"]).run();

    let files: Vec<String> = ["web-01", "web-02", "web-03", "web-04"]
        .iter()
        .map(|h| sb.join(&format!("{h}.db")).display().to_string())
        .collect();
    sb.test()
        .args(["journal", "merge", "fleet.db"])
        .args(&files)
        .run();
    let fleet = ["--journal", "fleet.db"];
    sb.test()
        .args(fleet)
        .args(["journal", "verify"])
        .stdout_contains("hash chain intact")
        .run();
    let report = sb
        .test()
        .args(["report", "--fleet", "fleet.db", "--json"])
        .run()
        .json();
    crate::json::assert_valid("fleet_report", &report);
    let lines: Vec<(Value, Value, Value, Value, Value)> = report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            (
                h["host_id"].clone(),
                h["status"].clone(),
                h["batch"].clone(),
                h["fleet_batch"].clone(),
                h["resumed_by"].clone(),
            )
        })
        .collect();
    let resume_run = report["hosts"][1]["resumed_by"][0].clone();
    assert!(resume_run.is_i64(), "{report}");
    assert_eq!(
        lines,
        [
            ("web-01".into(), "ok".into(), 1.into(), 1.into(), json!([])),
            (
                "web-02".into(),
                "ok".into(),
                1.into(),
                1.into(),
                json!([resume_run])
            ),
            ("web-03".into(), "ok".into(), 2.into(), 3.into(), json!([])),
            (
                "web-04".into(),
                "ok".into(),
                3.into(),
                Value::Null,
                json!([])
            ),
        ],
        "{report}"
    );
    let web02 = &report["hosts"][1];
    assert_eq!(web02["exit_code"], 0, "the resume's exit: {web02}");
    assert_eq!(web02["stopped_at"], Value::Null, "{web02}");
    assert_eq!(web02["error"], Value::Null, "{web02}");
    assert_eq!(web02["fleet_play"], "rollback");
    assert_eq!(report["counts"]["ok"], 4, "{report}");
    assert_eq!(report["counts"]["failed"], 0, "{report}");
    let batches: Vec<(Value, Value)> = report["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| (b["hosts"].clone(), b["recorded"].clone()))
        .collect();
    assert_eq!(
        batches,
        [
            (json!(["web-01", "web-02"]), Value::Bool(true)),
            (json!(["web-03"]), Value::Bool(true)),
            (json!(["web-04"]), Value::Bool(false)),
        ]
    );
    let text = sb.test().args(["report", "--fleet", "fleet.db"]).run();
    assert!(
        text.stdout
            .contains(&format!("{} -> {resume_run}", web02["run"])),
        "the chain run -> resume: {}",
        text.stdout
    );
    assert!(
        text.stdout.contains(
            "web-04  (guessed from overlapping run times: these runs recorded no --fleet-batch)"
        ),
        "{}",
        text.stdout
    );
}
