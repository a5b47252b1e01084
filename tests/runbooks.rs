//! The shipped runbooks end to end against the demo's sandbox service: a real WAL SQLite DB,
//! a real git checkout built with make, and a real HTTP service (process backend, so these
//! tests do not depend on systemd; the systemd backend has its own tests).

use std::path::PathBuf;

use crate::support::{Outcome, Sandbox, Test};

/// Params that take the host capacity checks of `triggers` out of a test: the shipped runbook
/// checks the machine's real disk and memory, and the machine the tests share may well be over
/// 90% full (the capacity checks have their own test, which sets its own thresholds).
pub(crate) const CAPACITY_OFF: [&str; 2] = ["disk_pct_p1=100", "memory_pct_p1=100"];

/// A sandbox Cortex service, stopped when dropped.
pub(crate) struct Cortex {
    pub(crate) sb: Sandbox,
    pub(crate) root: PathBuf,
}

impl Cortex {
    pub(crate) fn start(healthy: bool) -> Cortex {
        let sb = Sandbox::new();
        let root = sb.join("cortex-sandbox");
        let root_arg = root.display().to_string();
        let mut args = vec![
            "demo",
            "--setup-only",
            "--dir",
            &root_arg,
            "--backend",
            "process",
        ];
        if healthy {
            args.push("--healthy");
        }
        sb.test().args(&args).run();
        Cortex { sb, root }
    }

    /// `run SCRIPT --yes --json -p PARAM...` against the sandbox's scripts and config, as a
    /// test: exit 0 unless the caller says otherwise.
    pub(crate) fn test(&self, script: &str, params: &[&str]) -> Test<'_> {
        self.sb.test().args(self.run_args(script, params))
    }

    fn run_args(&self, script: &str, params: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--scripts".to_string(),
            self.root.join("scripts").display().to_string(),
            "run".to_string(),
            script.to_string(),
            "--config".to_string(),
            self.root.join("ripcord.toml").display().to_string(),
            "--yes".to_string(),
            "--json".to_string(),
        ];
        for p in params {
            args.extend(["-p".to_string(), p.to_string()]);
        }
        args
    }

    /// Add `text` at the end of the sandbox's ripcord.toml.
    pub(crate) fn append_config(&self, text: &str) {
        let config = self.root.join("ripcord.toml");
        let old = std::fs::read_to_string(&config).expect("ripcord.toml");
        std::fs::write(&config, old + text).expect("write ripcord.toml");
    }

    /// Evaluate a line of ripcord code against the sandbox's config.
    pub(crate) fn eval(&self, code: &str) -> serde_json::Value {
        let file = format!("eval-{}.rhai", code.len());
        self.sb.write(&file, code);
        let config = self.root.join("ripcord.toml").display().to_string();
        let args = [
            "run",
            &file,
            "--config",
            &config,
            "--json",
            "--journal",
            "off",
        ];
        let out = self.sb.test().args(args).context(code).run();
        out.json()["result"].clone()
    }

    pub(crate) fn health(&self) -> i64 {
        self.eval("probe::http(cfg.api + \"/health\", #{ timeout: \"3s\" }).status")
            .as_i64()
            .unwrap_or(0)
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(self.root.join("cortex"))
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Cortex {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.root.join("cortex.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: signalling the sandbox's own service process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn triggers_decide_p0_rollback_on_a_gateway_critical_storm() {
    let cortex = Cortex::start(false);
    let out = cortex.test("triggers", &CAPACITY_OFF).run();
    let result = &out.json()["result"];
    assert_eq!(result["priority"], "P0");
    assert_eq!(result["decision"], "rollback now");
    let checks: Vec<&str> = result["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["check"].as_str())
        .collect();
    assert!(checks.contains(&"gateway_critical storm"), "{checks:?}");
}

#[test]
fn triggers_decide_no_action_on_a_quiet_service() {
    let cortex = Cortex::start(true);
    let out = cortex.test("triggers", &CAPACITY_OFF).run();
    assert_eq!(
        out.json()["result"]["decision"],
        "no action",
        "{}",
        out.stdout
    );
    assert_eq!(out.json()["result"]["priority"], "none");
}

#[test]
fn triggers_raise_p1_when_disk_or_memory_cross_their_thresholds() {
    let cortex = Cortex::start(true);
    let out = cortex
        .test("triggers", &["disk_pct_p1=0", "memory_pct_p1=0"])
        .run();
    let result = &out.json()["result"];
    assert_eq!(result["priority"], "P1", "{result}");
    assert_eq!(result["decision"], "rollback");
    let findings = result["findings"].as_array().expect("findings");
    let detail = |check: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check)
            .and_then(|f| f["detail"].as_str())
            .unwrap_or_else(|| panic!("no `{check}` finding in {findings:?}"))
            .to_string()
    };
    assert!(
        detail("disk nearly full").contains("% used, "),
        "{findings:?}"
    );
    assert!(detail("memory nearly exhausted").ends_with(" MB available"));
}

#[test]
fn rollback_git_returns_the_service_to_the_previous_commit_and_healthy() {
    let cortex = Cortex::start(false);
    assert_eq!(cortex.health(), 503);
    let stable = cortex.git(&["rev-parse", "v1.4.2^{commit}"]);
    cortex
        .test(
            "rollback",
            &["option=git", "target=v1.4.2", "reason=test: storm"],
        )
        .run();
    assert_eq!(cortex.git(&["rev-parse", "HEAD"]), stable);
    assert_eq!(cortex.health(), 200);
    let log = std::fs::read_to_string(cortex.root.join("rollback-log.txt")).expect("rollback log");
    assert!(
        log.contains("rollback initiated due to: test: storm"),
        "{log}"
    );
    assert!(
        std::fs::read_dir(cortex.root.join("backups"))
            .expect("backups")
            .any(|e| e
                .map(|e| e
                    .file_name()
                    .to_string_lossy()
                    .starts_with("rollback-safety-"))
                .unwrap_or(false))
    );
}

#[test]
fn rollback_binary_restores_the_stored_binary_and_config() {
    let cortex = Cortex::start(true);
    cortex.test("prepare-rollback-assets", &[]).run();
    let good_binary = std::fs::read(cortex.root.join("cortex/bin/cortex")).expect("binary");
    // A bad deploy: the faulty release built and started.
    cortex.git(&["reset", "-q", "--hard", "v1.5.0"]);
    let built = std::process::Command::new("make")
        .args(["-s", "build"])
        .current_dir(cortex.root.join("cortex"))
        .status()
        .expect("make");
    assert!(built.success());
    cortex.eval("service::restart(cfg.unit, #{ settle: \"200ms\" }); ()");
    assert_eq!(cortex.health(), 503);

    cortex
        .test(
            "rollback",
            &["option=binary", "target=v1.4.2", "reason=test: bad binary"],
        )
        .run();
    assert_eq!(
        std::fs::read(cortex.root.join("cortex/bin/cortex")).expect("binary"),
        good_binary
    );
    assert_eq!(cortex.health(), 200);
}

#[test]
fn rollback_full_restores_a_page_corrupted_database() {
    let cortex = Cortex::start(false);
    let db = cortex.root.join("data/cortex.db");
    cortex.eval("service::stop(cfg.unit); ()");
    corrupt_page(&db);

    cortex
        .test(
            "rollback",
            &["option=full", "target=v1.4.2", "reason=test: corruption"],
        )
        .run();
    let conn = rusqlite::Connection::open(&db).expect("open");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(integrity, "ok");
    let backup = std::fs::read_dir(cortex.root.join("backups"))
        .expect("backups")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("cortex-backup-"))
        })
        .expect("baseline backup");
    let counts = |c: &rusqlite::Connection| -> (i64, i64) {
        (
            c.query_row("SELECT count(*) FROM dispatches", [], |r| r.get(0))
                .expect("dispatches"),
            c.query_row("SELECT count(*) FROM health_events", [], |r| r.get(0))
                .expect("events"),
        )
    };
    let expected = counts(&rusqlite::Connection::open(&backup).expect("backup"));
    let restored = counts(&conn);
    // The service writes nothing on the stable release, so the counts are the backup's.
    assert_eq!(restored, expected);
    assert_eq!(cortex.health(), 200);
}

#[test]
fn verify_fails_naming_the_check_when_the_health_endpoint_is_down() {
    let cortex = Cortex::start(true);
    cortex.eval("service::stop(cfg.unit); ()");
    let out = cortex
        .test("verify", &["phase2_secs=0", "phase3_secs=0"])
        .status(1)
        .stderr_contains("health endpoint")
        .stderr_contains("is down")
        .run();
    assert_eq!(out.json()["error"]["step"], "Phase 1: service health");
}

#[test]
fn drill_of_rollback_writes_the_report_and_shows_an_injected_start_failure() {
    let cortex = Cortex::start(false);
    let scripts = cortex.root.join("scripts").display().to_string();
    let config = cortex.root.join("ripcord.toml").display().to_string();
    let drill = |report: &str, inject: Option<&str>| {
        let mut args = vec![
            "--scripts",
            &scripts,
            "drill",
            "rollback",
            "--config",
            &config,
            "-y",
            "--report",
            report,
            "-p",
            "option=git",
            "-p",
            "target=v1.4.2",
            "-p",
            "reason=drill",
        ];
        if let Some(fault) = inject {
            args.extend(["--inject", fault]);
        }
        cortex.sb.run(&args)
    };
    let head = cortex.git(&["rev-parse", "HEAD"]);
    let clean = drill("r1", None);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    for f in ["report.md", "report.json", "timeline.svg"] {
        assert!(cortex.sb.join("r1").join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        cortex.git(&["rev-parse", "HEAD"]),
        head,
        "a drill must not move HEAD"
    );
    assert_eq!(cortex.health(), 503, "a drill must not restart the service");

    let failed = drill("r2", Some("service::start=fail"));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let md = std::fs::read_to_string(cortex.sb.join("r2/report.md")).expect("report.md");
    assert!(md.contains("Start and verify"), "{md}");
    assert!(md.contains("❌"), "{md}");
    assert!(md.contains("service::start=fail"), "{md}");
}

#[test]
fn demo_runs_end_to_end() {
    let sb = Sandbox::new();
    sb.test()
        .args(["demo", "--backend", "process"])
        .stderr_contains("decision: rollback now P0")
        .stderr_contains("demo finished")
        .stderr_contains("report: drill-reports/")
        .run();
}

// ---- database, release and emergency runbooks (the MCP Cortex rollback runbook) -------------

impl Cortex {
    pub(crate) fn db(&self) -> PathBuf {
        self.root.join("data/cortex.db")
    }

    pub(crate) fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// The demo's known-good backup (taken at setup, user_version 34).
    pub(crate) fn baseline(&self) -> PathBuf {
        self.files("backups", "cortex-backup-")
            .into_iter()
            .next()
            .expect("baseline backup")
    }

    /// Files in `dir` (relative to the sandbox root) whose names start with `prefix`, sorted.
    pub(crate) fn files(&self, dir: &str, prefix: &str) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.root.join(dir))
            .expect("read dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        found.sort();
        found
    }

    /// A backup of the live DB under `name` in the backups folder, at `user_version`.
    fn backup_as(&self, name: &str, user_version: i64) -> PathBuf {
        let path = self.backups().join(name);
        sql(&self.db(), &format!("VACUUM INTO '{}'", path.display()));
        sql(&path, &format!("PRAGMA user_version = {user_version}"));
        path
    }

    /// Move the service to the releases layout of the system service rollback:
    /// `app/releases/<tag>/bin/cortex` for the stable and the faulty tag, `app/current`
    /// pointing at `current`, and the unit running `app/current/bin/cortex`.
    pub(crate) fn releases_layout(&self, current: &str) -> PathBuf {
        self.eval("service::stop(cfg.unit); ()");
        let app = self.root.join("app");
        for tag in ["v1.4.2", "v1.5.0"] {
            self.git(&["reset", "-q", "--hard", tag]);
            let built = std::process::Command::new("make")
                .args(["-s", "build"])
                .current_dir(self.root.join("cortex"))
                .status()
                .expect("make");
            assert!(built.success());
            let bin = app.join("releases").join(tag).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::copy(self.root.join("cortex/bin/cortex"), bin.join("cortex")).expect("copy");
        }
        std::os::unix::fs::symlink(app.join("releases").join(current), app.join("current"))
            .expect("symlink");
        let toml = self.root.join("ripcord.toml");
        let text = std::fs::read_to_string(&toml).expect("ripcord.toml");
        let bin = self.root.join("cortex/bin/cortex").display().to_string();
        let text = format!(
            "releases = \"{}\"\ncurrent = \"{}\"\n{}",
            app.join("releases").display(),
            app.join("current").display(),
            text.replace(
                &format!("command = \"{bin}\""),
                &format!("command = \"{}/current/bin/cortex\"", app.display())
            )
        );
        std::fs::write(&toml, text).expect("write ripcord.toml");
        self.eval("service::start(cfg.unit, #{ settle: \"200ms\" }); ()");
        app
    }
}

pub(crate) fn sql(db: &std::path::Path, batch: &str) {
    rusqlite::Connection::open(db)
        .and_then(|c| c.execute_batch(batch))
        .unwrap_or_else(|e| panic!("{batch} on {}: {e}", db.display()));
}

pub(crate) fn one(db: &std::path::Path, query: &str) -> i64 {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row(query, [], |r| r.get(0)))
        .unwrap_or_else(|e| panic!("{query} on {}: {e}", db.display()))
}

pub(crate) fn integrity(db: &std::path::Path) -> String {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .unwrap_or_else(|e| e.to_string())
}

/// Overwrite one page in the middle of a (checkpointed) SQLite file with garbage.
pub(crate) fn corrupt_page(db: &std::path::Path) {
    sql(db, "PRAGMA wal_checkpoint(TRUNCATE);");
    let mut bytes = std::fs::read(db).expect("read");
    let page = 4096;
    assert!(bytes.len() > 6 * page);
    for b in &mut bytes[4 * page..5 * page] {
        *b = 0xA5;
    }
    std::fs::write(db, &bytes).expect("corrupt");
    assert_ne!(integrity(db), "ok", "the corruption did not take");
}

/// Run a runbook that must fail (exit 1) with `expected` in its error.
fn fails_with(cortex: &Cortex, script: &str, params: &[&str], expected: &str) -> Outcome {
    cortex
        .test(script, params)
        .status(1)
        .stderr_contains(expected)
        .run()
}

/// Run a runbook whose params its header refuses: a usage error (exit 2), nothing run.
fn refused(cortex: &Cortex, script: &str, params: &[&str], expected: &str) -> Outcome {
    let test = cortex
        .test(script, params)
        .status(2)
        .stderr_contains(expected);
    test.stderr_contains("nothing was run").run()
}

pub(crate) fn sha256_hex(path: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(std::fs::read(path).expect("read"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256sum -c SHA256SUMS` in an evidence folder: every file listed matches its hash.
pub(crate) fn sums_check(dir: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "sha256sum -c failed:\n{text}");
    text
}

#[test]
fn db_rollback_schema_restores_the_newest_verified_backup_at_the_expected_user_version() {
    let cortex = Cortex::start(true);
    let db = cortex.db();
    let baseline = cortex.baseline();
    cortex.backup_as("cortex-backup-20200101-000000.db", 33);
    // An older backup at the right version, but not the newest one: it must not be chosen.
    let older = cortex.backup_as("cortex-backup-20200601-000000.db", 34);
    sql(&older, "DELETE FROM dispatches WHERE id = 1;");
    // A migration to user_version 35 that the code does not expect, then a backup taken after it.
    sql(
        &db,
        "ALTER TABLE dispatches ADD COLUMN priority INTEGER;
         INSERT INTO dispatches (bead, project, status, started_at) VALUES ('bead-new', 'cortex', 'completed', 1);
         PRAGMA user_version = 35;",
    );
    cortex.backup_as("cortex-backup-29991231-235959.db", 35);
    // The newest backup at version 34 is damaged: it must be skipped, not restored.
    let damaged = cortex.backups().join("cortex-backup-29991230-000000.db");
    std::fs::copy(&baseline, &damaged).expect("copy");
    corrupt_page(&damaged);

    let out = cortex
        .test(
            "db-rollback",
            &[
                "mode=schema",
                "expected_version=34",
                "reason=test: bad migration",
            ],
        )
        .stderr_contains("cortex-backup-29991230-000000.db: it fails verification")
        .run();
    assert_eq!(
        out.json()["result"]["backup"],
        baseline.display().to_string()
    );
    assert_eq!(one(&db, "PRAGMA user_version"), 34);
    assert_eq!(integrity(&db), "ok");
    for table in ["dispatches", "health_events"] {
        let q = format!("SELECT count(*) FROM {table}");
        assert_eq!(one(&db, &q), one(&baseline, &q), "{table}");
    }
    let safety = cortex.files("data", "cortex.db.pre-restore-");
    assert_eq!(safety.len(), 1, "{safety:?}");
    assert_eq!(one(&safety[0], "PRAGMA user_version"), 35);
    assert_eq!(cortex.health(), 200);
}

/// New completed dispatches, as many as a `LIMIT` after it says.
const ADD_DISPATCHES: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
    INSERT INTO dispatches (bead, project, status, started_at)
    SELECT 'pitr-' || i, 'cortex', 'completed', 1 FROM n";

#[test]
fn db_rollback_pitr_restores_the_newest_backup_at_or_before_the_recovery_point() {
    let cortex = Cortex::start(true);
    let db = cortex.db();
    let add = |n: i64| sql(&db, &format!("{ADD_DISPATCHES} LIMIT {n}"));
    let base = one(&db, "SELECT count(*) FROM dispatches");
    cortex.backup_as("cortex-backup-20250101-000000.db", 34);
    add(10);
    let june = cortex.backup_as("cortex-backup-20250601-000000.db", 34);
    add(10);
    cortex.backup_as("cortex-backup-20251201-000000.db", 34);
    add(5);

    let out = cortex
        .test(
            "db-rollback",
            &[
                "mode=pitr",
                "at=2025-07-01 12:00",
                "reason=test: bad import",
            ],
        )
        .stderr_contains("RPO:")
        .run();
    let result = &out.json()["result"];
    assert_eq!(result["backup"], june.display().to_string());
    assert_eq!(result["stamp"], "20250601-000000");
    assert_eq!(one(&db, "SELECT count(*) FROM dispatches"), base + 10);
    assert_eq!(result["rpo"]["rows_lost"]["dispatches"], 15);
    assert_eq!(result["rpo"]["before_point_s"], 30 * 86400 + 12 * 3600);
    assert_eq!(cortex.health(), 200);

    // A recovery point with an offset is a moment whatever the host's zone (the tests run in
    // +05:30): 03:00 at +05:00 is 22:00 UTC the day before the June backup, so January's it is.
    let zone = [
        "mode=pitr",
        "at=2025-06-01T03:00:00+05:00",
        "reason=test: zone",
    ];
    let out = cortex.test("db-rollback", &zone).run();
    assert_eq!(out.json()["result"]["stamp"], "20250101-000000");
    assert_eq!(one(&db, "SELECT count(*) FROM dispatches"), base);
}

#[test]
fn db_rollback_refuses_bad_input_before_changing_anything() {
    let cortex = Cortex::start(true);
    let db = cortex.db();
    let before = sha256_hex(&db);

    refused(
        &cortex,
        "db-rollback",
        &["mode=bogus", "reason=test"],
        "`mode`: must be one of schema, pitr, got \"bogus\"",
    );

    let out = fails_with(
        &cortex,
        "db-rollback",
        &["mode=pitr", "at=2019-01-01", "reason=test"],
        "is taken at or before 2019-01-01 (20190101-000000)",
    );
    assert_eq!(out.json()["error"]["step"], "Choose the backup");

    fails_with(
        &cortex,
        "db-rollback",
        &["mode=pitr", "at=someday", "reason=test"],
        "cannot read at=`someday` as a time",
    );

    fails_with(
        &cortex,
        "db-rollback",
        &["mode=schema", "expected_version=40", "reason=test"],
        "is at user_version 34 and the code expects 40",
    );

    assert_eq!(sha256_hex(&db), before, "a refused rollback changed the DB");
    assert!(cortex.files("data", "cortex.db.pre-restore-").is_empty());
    assert_eq!(cortex.health(), 200);
}

#[test]
fn release_switch_moves_the_current_symlink_and_the_service_answers_healthy() {
    let cortex = Cortex::start(false);
    let app = cortex.releases_layout("v1.5.0");
    assert_eq!(cortex.health(), 503);
    let faulty = std::fs::read(app.join("releases/v1.5.0/bin/cortex")).expect("binary");

    cortex
        .test("release-switch", &["release=v1.4.2", "reason=test: storm"])
        .run();
    assert_eq!(
        std::fs::read_link(app.join("current")).expect("link"),
        app.join("releases/v1.4.2")
    );
    assert_eq!(cortex.health(), 200);
    let kept = cortex.files("backups", "release-backup-");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read(kept[0].join("installation/bin/cortex")).expect("kept binary"),
        faulty,
        "the backup is not the installation that was running"
    );
    assert!(kept[0].join("config.toml").is_file());
}

#[test]
fn release_switch_switches_back_when_the_target_release_is_not_healthy() {
    let cortex = Cortex::start(true);
    let app = cortex.releases_layout("v1.4.2");
    assert_eq!(cortex.health(), 200);

    fails_with(
        &cortex,
        "release-switch",
        &["release=v1.5.0", "reason=test: deploy", "health_timeout=3s"],
        "release v1.5.0 did not answer healthy within 3s; switched back to",
    );
    assert_eq!(
        std::fs::read_link(app.join("current")).expect("link"),
        app.join("releases/v1.4.2")
    );
    assert_eq!(cortex.health(), 200);
}

#[test]
fn release_switch_names_a_missing_release_and_changes_nothing() {
    let cortex = Cortex::start(true);
    let app = cortex.releases_layout("v1.4.2");
    let out = cortex
        .test("release-switch", &["release=v9.9.9", "reason=test"])
        .status(1)
        .run();
    let expected = format!(
        "no release v9.9.9 in {} (there: [\"v1.4.2\", \"v1.5.0\"])",
        app.join("releases").display()
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert_eq!(
        std::fs::read_link(app.join("current")).expect("link"),
        app.join("releases/v1.4.2")
    );
    assert!(cortex.files("backups", "release-backup-").is_empty());
}

#[test]
fn emergency_corruption_restores_a_good_backup_and_keeps_the_corrupted_db() {
    let cortex = Cortex::start(true);
    let db = cortex.db();
    cortex.eval("service::stop(cfg.unit); ()");
    corrupt_page(&db);
    let corrupted = sha256_hex(&db);
    let baseline = cortex.baseline();

    let out = cortex
        .test("emergency", &["kind=corruption", "reason=test: integrity"])
        .run();
    assert_eq!(integrity(&db), "ok");
    for table in ["dispatches", "health_events"] {
        let q = format!("SELECT count(*) FROM {table}");
        assert_eq!(one(&db, &q), one(&baseline, &q), "{table}");
    }
    let evidence = cortex.files("backups", "emergency-corruption-");
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert_eq!(sha256_hex(&evidence[0].join("cortex.db")), corrupted);
    let checked = sums_check(&evidence[0]);
    for f in ["cortex.db: OK", "salvaged.db: OK", "salvage.json: OK"] {
        assert!(checked.contains(f), "{f} not in:\n{checked}");
    }
    // What the damaged DB still held, table by table, against the backup restored.
    let salvage = &out.json()["result"]["salvage"];
    let salvaged = evidence[0].join("salvaged.db");
    for table in ["dispatches", "health_events"] {
        let t = &salvage["tables"][table];
        let q = format!("SELECT count(*) FROM {table}");
        assert_eq!(t["recovered"], one(&salvaged, &q), "{table}: {salvage}");
        assert_eq!(t["expected"], one(&baseline, &q), "{table}: {salvage}");
        let line = format!("{table}: {} rows recovered, ", t["recovered"]);
        assert!(
            out.stderr.contains(&format!("salvage: {line}")),
            "{line}\n{}",
            out.stderr
        );
    }
    assert_eq!(cortex.health(), 200);
}

#[test]
fn a_salvage_that_fails_does_not_stop_the_corruption_procedures() {
    let cortex = Cortex::start(true);
    let scripts = cortex.root.join("scripts").display().to_string();
    let config = cortex.root.join("ripcord.toml").display().to_string();
    let db_before = sha256_hex(&cortex.db());
    for (script, params) in [
        ("emergency-corruption", &["-p", "reason=drill"][..]),
        (
            "rollback",
            &[
                "-p",
                "option=full",
                "-p",
                "target=v1.4.2",
                "-p",
                "reason=drill",
            ][..],
        ),
    ] {
        let report = cortex.sb.join(&format!("report-{script}"));
        let report = report.display().to_string();
        let mut args = vec![
            "--scripts",
            &scripts,
            "drill",
            script,
            "--config",
            &config,
            "--report",
            &report,
            "--inject",
            "db::salvage=fail",
        ];
        args.extend(params);
        let out = cortex.sb.run(&args);
        assert_eq!(out.code, 0, "{script}: {}", out.stderr);
        let line = format!("salvage: nothing salvaged from {}: ", cortex.db().display());
        assert!(out.stderr.contains(&line), "{script}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("its files as they were are the evidence"),
            "{script}: {}",
            out.stderr
        );
    }
    assert_eq!(
        sha256_hex(&cortex.db()),
        db_before,
        "a drill changed the DB"
    );
    assert!(cortex.files("backups", "emergency-corruption-").is_empty());
    assert!(cortex.files("backups", "rollback-evidence-").is_empty());
    assert_eq!(cortex.health(), 200);
}

#[test]
fn emergency_breach_preserves_evidence_and_rotates_the_token_without_showing_it() {
    let cortex = Cortex::start(true);
    let config = cortex.root.join("cortex/cortex.toml");
    let old = "old-token-7f3a9c";
    let new = "new-token-b81e42";
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("[api]\n", &format!("[api]\ntoken = \"{old}\"\n")),
    )
    .expect("write config");
    let config_sum = sha256_hex(&config);

    let out = cortex
        .test(
            "emergency",
            &[
                "kind=breach",
                "reason=test: token leaked",
                &format!("new_token={new}"),
            ],
        )
        .run();
    let evidence = cortex.files("backups", "emergency-breach-");
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let checked = sums_check(&evidence[0]);
    for f in ["cortex.db: OK", "cortex.toml: OK", "service.log: OK"] {
        assert!(checked.contains(f), "{f} not in:\n{checked}");
    }
    assert_eq!(sha256_hex(&evidence[0].join("cortex.toml")), config_sum);
    let rotated = std::fs::read_to_string(&config).expect("config");
    assert!(rotated.contains(&format!("token = \"{new}\"")), "{rotated}");
    assert!(!rotated.contains(old), "{rotated}");
    for token in [old, new] {
        assert!(!out.stdout.contains(token), "{token} in stdout");
        assert!(!out.stderr.contains(token), "{token} in stderr");
        for suffix in ["", "-wal"] {
            let journal = format!("{}{suffix}", cortex.sb.journal().display());
            if let Ok(bytes) = std::fs::read(&journal) {
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "{token} in {journal}"
                );
            }
        }
    }
    assert!(std::fs::metadata(cortex.sb.journal()).is_ok(), "no journal");
    assert_eq!(cortex.health(), 200);
}

#[test]
fn emergency_refuses_an_unknown_kind_and_a_breach_without_a_new_token() {
    let cortex = Cortex::start(true);
    refused(
        &cortex,
        "emergency",
        &["kind=flood", "reason=test"],
        "`kind`: must be one of corruption, breach, got \"flood\"",
    );
    fails_with(
        &cortex,
        "emergency",
        &["kind=breach", "reason=test"],
        "kind breach needs -p new_token=<the replacement API token>",
    );
    assert!(cortex.files("backups", "emergency-").is_empty());
    assert_eq!(
        cortex.health(),
        200,
        "a refused emergency stopped the service"
    );
}

// ---- previews: every shipped runbook's dry run, without a terminal ---------------------------

impl Cortex {
    /// `run --dry-run` as a pipeline runs it: no terminal, no `--yes`.
    pub(crate) fn dry_run(&self, script: &str, params: &[&str]) -> Outcome {
        let scripts = self.root.join("scripts").display().to_string();
        let config = self.root.join("ripcord.toml").display().to_string();
        let mut args = vec![
            "--scripts",
            &scripts,
            "run",
            script,
            "--config",
            &config,
            "--dry-run",
        ];
        for p in params {
            args.extend(["-p", p]);
        }
        self.sb.run(&args)
    }
}

/// The names of the runbooks shipped in scripts/, sorted.
fn shipped_runbooks() -> Vec<String> {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut names: Vec<String> = std::fs::read_dir(shipped)
        .expect("scripts")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".rhai").map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn every_shipped_runbook_dry_runs_without_a_terminal_on_a_healthy_sandbox() {
    let cortex = Cortex::start(true);
    let head = cortex.git(&["rev-parse", "HEAD"]);
    let target = format!("target={head}");
    let dry_ok = |script: &str, params: &[&str]| {
        let out = cortex.dry_run(script, params);
        assert_eq!(out.code, 0, "{script} {params:?}:\n{}", out.stderr);
        out
    };
    // First, before the assets exist: the dry run must not read what it did not store.
    dry_ok("prepare-rollback-assets", &[]);
    cortex.test("prepare-rollback-assets", &[]).run();

    // A schema rollback needs a DB ahead of the code: a migration the code does not expect.
    // And rows written since the backups: restore's preview must not compare them.
    sql(
        &cortex.db(),
        "PRAGMA user_version = 35; INSERT INTO dispatches (bead, project, status, started_at) VALUES ('new', 'cortex', 'completed', 1)",
    );
    let db_before = sha256_hex(&cortex.db());
    let cases = preview_cases(&target);
    let mut gated = Vec::new();
    for (script, params) in &cases {
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let out = dry_ok(script, &params);
        if out.stderr.contains("would ask: ") {
            gated.push(*script);
        }
    }
    for script in [
        "restore",
        "rollback",
        "db-rollback",
        "emergency",
        "emergency-corruption",
        "emergency-breach",
        "rollback-drill",
    ] {
        assert!(gated.contains(&script), "{script} met no gate: {gated:?}");
    }
    assert_eq!(
        sha256_hex(&cortex.db()),
        db_before,
        "a dry run changed the DB"
    );
    assert_eq!(
        cortex.git(&["rev-parse", "HEAD"]),
        head,
        "a dry run moved HEAD"
    );
    assert_eq!(cortex.health(), 200);

    // release-switch needs the releases layout the system service rollback uses.
    cortex.releases_layout("v1.5.0");
    let current = || std::fs::read_link(cortex.root.join("app/current")).expect("link");
    let link = current();
    dry_ok("release-switch", &["release=v1.4.2", "reason=preview"]);
    assert_eq!(current(), link);

    assert_every_shipped_runbook_in(&cases);
}

/// The parameters each shipped runbook's preview is given (release-switch aside: it needs the
/// releases layout). `target` is the commit the git rollbacks aim at.
pub(crate) fn preview_cases(target: &str) -> Vec<(&'static str, Vec<String>)> {
    let cases: &[(&'static str, &[&str])] = &[
        ("triggers", &CAPACITY_OFF),
        ("verify", &["phase2_secs=0", "phase3_secs=0"]),
        ("backup", &[]),
        ("restore", &[]),
        ("backup-restore-drill", &[]),
        ("prepare-rollback-assets", &[]),
        ("config-rollback", &["reason=preview"]),
        ("rollback", &["option=git", target, "reason=preview"]),
        ("rollback", &["option=binary", "reason=preview"]),
        ("rollback", &["option=full", target, "reason=preview"]),
        ("rollback-drill", &[target]),
        (
            "db-rollback",
            &["mode=schema", "expected_version=34", "reason=preview"],
        ),
        (
            "db-rollback",
            &["mode=pitr", "at=2999-01-01T00:00:00Z", "reason=preview"],
        ),
        ("emergency", &["kind=corruption", "reason=preview"]),
        (
            "emergency",
            &["kind=breach", "reason=preview", "new_token=preview-token-1"],
        ),
        ("emergency-corruption", &["reason=preview"]),
        (
            "emergency-breach",
            &["reason=preview", "new_token=preview-token-2"],
        ),
    ];
    cases
        .iter()
        .map(|(s, p)| (*s, p.iter().map(|p| p.to_string()).collect()))
        .collect()
}

/// Every shipped runbook is among `cases` or is release-switch.
pub(crate) fn assert_every_shipped_runbook_in(cases: &[(&str, Vec<String>)]) {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut shipped: Vec<String> = std::fs::read_dir(shipped)
        .expect("scripts")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".rhai").map(str::to_string))
        .collect();
    shipped.sort();
    let mut previewed: Vec<String> = cases.iter().map(|(s, _)| s.to_string()).collect();
    previewed.push("release-switch".to_string());
    previewed.sort();
    previewed.dedup();
    assert_eq!(previewed, shipped_runbooks());
}

// ---- the environment is not the demo: another schema, an unreadable DB ------------------------

/// The checks of a `triggers` result, as `priority check` lines.
pub(crate) fn findings(out: &Outcome) -> Vec<String> {
    out.json()["result"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["priority"].as_str().unwrap_or("?"),
                f["check"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn triggers_on_a_database_no_query_can_read_decide_p0_corruption() {
    let cortex = Cortex::start(true);
    sql(&cortex.db(), "PRAGMA wal_checkpoint(TRUNCATE);");
    // The service holds the DB open; damage the file under it as a disk fault would.
    let mut bytes = std::fs::read(cortex.db()).expect("read");
    for b in &mut bytes[..4096] {
        *b = 0x5A;
    }
    std::fs::write(cortex.db(), &bytes).expect("damage");
    let out = cortex.test("triggers", &CAPACITY_OFF).run();
    let result = &out.json()["result"];
    assert_eq!(result["priority"], "P0", "{result}");
    assert_eq!(result["decision"], "rollback now");
    let found = findings(&out);
    // Each check that reads the DB said so on its own; the others still ran.
    assert!(
        found
            .iter()
            .filter(|f| *f == "P0 database corruption")
            .count()
            >= 3,
        "{found:?}"
    );
    let steps = out.json()["steps"].clone();
    let statuses: Vec<&str> = steps
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["status"].as_str())
        .collect();
    assert!(
        statuses.len() >= 7 && statuses.iter().all(|s| *s == "ok"),
        "{steps}"
    );
}

#[test]
fn rollback_with_notify_configured_tells_slack_and_pagerduty_it_started_and_succeeded() {
    use crate::support::receiver::{Http, Reply};
    let cortex = Cortex::start(false);
    let http = Http::start(vec![Reply::Status(202, r#"{"status":"success"}"#)]);
    cortex.append_config(&format!(
        "\n[notify]\nservice = \"MCP Cortex\"\n[notify.slack]\nwebhook = \"{}\"\n[notify.pagerduty]\nrouting_key = \"rk-0123456789\"\nurl = \"{}\"\n",
        http.url("/services/T/B/hooksecret"),
        http.url("/v2/enqueue")
    ));
    let storm = [
        "option=git",
        "target=v1.4.2",
        "reason=gateway_critical storm",
    ];
    let out = cortex.test("rollback", &storm).run();
    let seen = http.seen();
    let sent_to = |path: &str| -> Vec<serde_json::Value> {
        let to = seen.iter().filter(|s| s.path.starts_with(path));
        to.map(|s| s.json()).collect()
    };
    let slack: Vec<String> = sent_to("/services/")
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(slack.len(), 2, "{seen:?}");
    assert!(
        slack[0].starts_with(
            "Rollback initiated for MCP Cortex - Reason: gateway_critical storm - ETA: 15m\n\nRollback Status Update\n"
        ),
        "{}",
        slack[0]
    );
    assert!(slack[0].contains("\nStatus: IN_PROGRESS\n"));
    assert!(slack[1].starts_with(
        "Rollback completed for MCP Cortex - Reason: gateway_critical storm - Took: "
    ));
    let pages = sent_to("/v2/enqueue");
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["event_action"], "trigger");
    assert_eq!(pages[0]["payload"]["severity"], "error");
    assert_eq!(pages[1]["event_action"], "resolve");
    assert_eq!(pages[0]["dedup_key"], pages[1]["dedup_key"]);
    assert!(!out.stderr.contains("hooksecret") && !out.stdout.contains("rk-0123456789"));
}

/// Two backups in one second (a re-run, a retry) each get their own name, and the runbooks that
/// look for a backup by its stamp read both: the newer is the one a recovery point after both
/// picks, the older stays.
#[test]
fn two_backups_in_one_second_keep_their_own_names_and_the_newest_is_chosen() {
    let cortex = Cortex::start(true);
    let before = cortex.files("backups", "cortex-backup-");
    let paths: Vec<String> = (0..2)
        .map(|_| {
            let out = cortex.test("backup", &[]).run();
            out.json()["result"]["path"]
                .as_str()
                .expect("the backup's path")
                .to_string()
        })
        .collect();
    assert_ne!(paths[0], paths[1]);
    let after = cortex.files("backups", "cortex-backup-");
    let dbs = |files: &[std::path::PathBuf]| {
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "db"))
            .count()
    };
    assert_eq!(dbs(&after), dbs(&before) + 2, "{after:?}");
    let second = std::path::Path::new(&paths[1])
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    // cortex-backup-<%Y%m%d-%H%M%S>-<usec>-<pid>.db
    let stamp = &second["cortex-backup-".len().."cortex-backup-".len() + 15];
    let out = cortex
        .test(
            "db-rollback",
            &[
                "mode=pitr",
                "at=2999-01-01T00:00:00Z",
                "reason=test: same second",
            ],
        )
        .arg("--dry-run")
        .run();
    let result = &out.json()["result"];
    assert_eq!(result["backup"], paths[1].as_str(), "{result}");
    assert_eq!(result["stamp"], stamp, "{result}");
    assert!(std::path::Path::new(&paths[0]).exists());
}
