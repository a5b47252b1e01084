//! The shipped runbooks end to end against the demo's sandbox service: a real WAL SQLite DB,
//! a real git checkout built with make, and a real HTTP service (process backend, so these
//! tests do not depend on systemd; the systemd backend has its own tests).

use std::path::PathBuf;

use crate::support::{Outcome, Sandbox};

/// A sandbox Cortex service, stopped when dropped.
struct Cortex {
    sb: Sandbox,
    root: PathBuf,
}

impl Cortex {
    fn start(healthy: bool) -> Cortex {
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
        let out = sb.run(&args);
        assert_eq!(out.code, 0, "setup failed:\n{}", out.stderr);
        Cortex { sb, root }
    }

    fn run(&self, script: &str, params: &[&str]) -> Outcome {
        let scripts = self.root.join("scripts").display().to_string();
        let config = self.root.join("ripcord.toml").display().to_string();
        let mut args = vec![
            "--scripts",
            &scripts,
            "run",
            script,
            "--config",
            &config,
            "--yes",
            "--json",
        ];
        for p in params {
            args.push("-p");
            args.push(p);
        }
        self.sb.run(&args)
    }

    /// Evaluate a line of ripcord code against the sandbox's config.
    fn eval(&self, code: &str) -> serde_json::Value {
        let file = format!("eval-{}.rhai", code.len());
        self.sb.write(&file, code);
        let config = self.root.join("ripcord.toml").display().to_string();
        let out = self.sb.run(&[
            "run",
            &file,
            "--config",
            &config,
            "--json",
            "--journal",
            "off",
        ]);
        assert_eq!(out.code, 0, "{code}:\n{}", out.stderr);
        out.json()["result"].clone()
    }

    fn health(&self) -> i64 {
        self.eval("probe::http(cfg.api + \"/health\", #{ timeout: \"3s\" }).status")
            .as_i64()
            .unwrap_or(0)
    }

    fn git(&self, args: &[&str]) -> String {
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
    let out = cortex.run("triggers", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    let out = cortex.run("triggers", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.json()["result"]["decision"],
        "no action",
        "{}",
        out.stdout
    );
    assert_eq!(out.json()["result"]["priority"], "none");
}

#[test]
fn rollback_git_returns_the_service_to_the_previous_commit_and_healthy() {
    let cortex = Cortex::start(false);
    assert_eq!(cortex.health(), 503);
    let stable = cortex.git(&["rev-parse", "v1.4.2^{commit}"]);
    let out = cortex.run(
        "rollback",
        &["option=git", "target=v1.4.2", "reason=test: storm"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    let stored = cortex.run("prepare-rollback-assets", &[]);
    assert_eq!(stored.code, 0, "{}", stored.stderr);
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

    let out = cortex.run(
        "rollback",
        &["option=binary", "target=v1.4.2", "reason=test: bad binary"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    // Fold the WAL in, then overwrite a page in the middle of the file with garbage.
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    drop(conn);
    let mut bytes = std::fs::read(&db).expect("read");
    let page = 4096;
    assert!(bytes.len() > 6 * page);
    for b in &mut bytes[4 * page..5 * page] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).expect("corrupt");
    let check: String = rusqlite::Connection::open(&db)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .unwrap_or_else(|e| e.to_string());
    assert_ne!(check, "ok", "the corruption did not take");

    let out = cortex.run(
        "rollback",
        &["option=full", "target=v1.4.2", "reason=test: corruption"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    let out = cortex.run("verify", &["phase2_secs=0", "phase3_secs=0"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("health endpoint"), "{}", out.stderr);
    assert!(out.stderr.contains("is down"), "{}", out.stderr);
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
    let out = sb.run(&["demo", "--backend", "process"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("decision: rollback now P0"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("demo finished"), "{}", out.stderr);
    assert!(
        out.stderr.contains("report: drill-reports/"),
        "{}",
        out.stderr
    );
}
