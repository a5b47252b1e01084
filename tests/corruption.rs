//! The corruption path end to end under the real systemd user manager: the demo's Cortex runs as
//! a user unit, rows are written after its backup, its state DB is damaged three ways (page 1,
//! a data page, the file cut short), and `rollback option=full` (from the faulty release, which
//! writes an event every second) or `emergency-corruption` (on the stable release) repairs it.
//! Each trial checks that the procedure ends ok, the unit is active and healthy, the DB passes
//! `integrity_check`, and the evidence folder holds the salvage whose per-table numbers account
//! for the rows the test wrote after the backup.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::runbooks::{integrity, one, sums_check};
use crate::support::Sandbox;
use crate::support::systemd::{UserManager, manager};

/// Rows the test writes into `dispatches` after the backup, in each trial.
const WRITTEN: i64 = 300;
/// Trials per cell (damage × procedure): each starts from the DB the previous one restored.
const TRIALS: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Page 1 (the header and the schema's root) overwritten: SQLite cannot open the DB.
    Header,
    /// One page in the middle overwritten.
    DataPage,
    /// The file cut to 60% of its length, as a full disk or a lost write leaves it.
    Truncated,
}

impl Damage {
    /// Damage the checkpointed DB file under the running service. The faulty release writes
    /// an event every second: a write between the checkpoint and the damage can put a good
    /// copy of the damaged page in the WAL, where SQLite reads it first; then it is done again.
    fn apply(self, db: &Path) {
        for _ in 0..5 {
            write(db, "PRAGMA wal_checkpoint(TRUNCATE);");
            let mut bytes = std::fs::read(db).expect("read");
            let page = 4096;
            assert!(
                bytes.len() > 8 * page,
                "the DB is too small to damage a page"
            );
            match self {
                Damage::Header => bytes[..page].fill(0x5A),
                Damage::DataPage => bytes[4 * page..5 * page].fill(0xA5),
                Damage::Truncated => bytes.truncate(bytes.len() * 6 / 10 / page * page),
            }
            std::fs::write(db, &bytes).expect("damage");
            if integrity(db) != "ok" {
                return;
            }
        }
        panic!("{self:?}: the damage did not take in five tries");
    }
}

/// Run `batch` on `db`, waiting for the service's own writes (the faulty release's every
/// second) instead of failing on them.
fn write(db: &Path, batch: &str) {
    rusqlite::Connection::open(db)
        .and_then(|c| {
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.execute_batch(batch)
        })
        .unwrap_or_else(|e| panic!("{batch} on {}: {e}", db.display()));
}

/// The demo's Cortex as a unit of the test's systemd user manager.
struct Demo {
    sb: Sandbox,
    root: PathBuf,
    mgr: &'static UserManager,
    unit: String,
}

impl Demo {
    fn start(healthy: bool) -> Demo {
        let mgr = manager();
        let sb = Sandbox::new();
        let root = sb.join("cortex");
        let root_arg = root.display().to_string();
        let mut args = vec![
            "demo",
            "--setup-only",
            "--backend",
            "systemd",
            "--dir",
            &root_arg,
        ];
        if healthy {
            args.push("--healthy");
        }
        let out = command(&sb, mgr, &args).output().expect("demo");
        assert!(
            out.status.success(),
            "demo setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(root.join("ripcord.toml")).expect("config");
        let unit = text
            .lines()
            .find_map(|l| l.strip_prefix("unit = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("unit in ripcord.toml")
            .to_string();
        let demo = Demo {
            sb,
            root,
            mgr,
            unit,
        };
        assert_eq!(demo.active(), "active", "the demo's unit did not start");
        demo
    }

    fn db(&self) -> PathBuf {
        self.root.join("data/cortex.db")
    }

    /// The demo's known-good backup (taken at setup).
    fn baseline(&self) -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.root.join("backups"))
            .expect("backups")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("cortex-backup-"))
            })
            .collect();
        found.sort();
        assert_eq!(found.len(), 1, "{found:?}");
        found.remove(0)
    }

    /// `run SCRIPT --yes --json -p PARAM...` against the sandbox, talking to the manager.
    fn run(&self, script: &str, params: &[&str]) -> (i32, Value, String) {
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
            args.extend(["-p", p]);
        }
        let out = command(&self.sb, self.mgr, &args)
            .output()
            .expect("ripcord");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (out.status.code().unwrap_or(-1), json, stderr)
    }

    fn active(&self) -> String {
        self.mgr.property(&self.unit, "ActiveState")
    }

    fn health(&self) -> u16 {
        let text = std::fs::read_to_string(self.root.join("ripcord.toml")).expect("config");
        let port: u16 = text
            .lines()
            .find_map(|l| l.strip_prefix("api = \"http://127.0.0.1:"))
            .and_then(|l| l.strip_suffix('"'))
            .and_then(|p| p.parse().ok())
            .expect("api port");
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let _ = s.write_all(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Check out and build `tag`, and restart the unit on it.
    fn deploy(&self, tag: &str) {
        let repo = self.root.join("cortex");
        let reset = Command::new("git")
            .args(["reset", "-q", "--hard", tag])
            .current_dir(&repo)
            .status()
            .expect("git");
        assert!(reset.success(), "git reset --hard {tag}");
        let built = Command::new("make")
            .args(["-s", "build"])
            .current_dir(&repo)
            .status()
            .expect("make");
        assert!(built.success(), "make build");
        let out = self.mgr.systemctl(&["restart", &self.unit]);
        assert_eq!(out.code, 0, "restart: {}", out.stderr);
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.mgr.systemctl(&["stop", &self.unit]);
        let _ = std::fs::remove_file(self.mgr.unit_dir.join(&self.unit));
        self.mgr.systemctl(&["reset-failed", &self.unit]);
    }
}

/// `ripcord ARGS` in the sandbox, with the manager's runtime and unit folders.
fn command(sb: &Sandbox, mgr: &UserManager, args: &[&str]) -> Command {
    let config_home = mgr
        .unit_dir
        .parent()
        .and_then(Path::parent)
        .expect("the manager's config folder");
    let mut cmd = sb.command(args);
    cmd.env("XDG_RUNTIME_DIR", &mgr.runtime_dir)
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    cmd
}

/// One trial: rows written after the backup, the damage, the procedure, and every check.
fn trial(demo: &Demo, damage: Damage, script: &str, params: &[&str], evidence_prefix: &str) {
    let db = demo.db();
    let backup = demo.baseline();
    let expected = one(&backup, "SELECT count(*) FROM dispatches");
    let base = one(&db, "SELECT max(id) FROM dispatches");
    assert_eq!(
        one(&db, "SELECT count(*) FROM dispatches"),
        expected,
        "the trial does not start from the backup's rows"
    );
    write(
        &db,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {WRITTEN})
             INSERT INTO dispatches (bead, project, status, started_at)
             SELECT 'after-backup-' || i, 'cortex', 'completed', strftime('%s','now') FROM n;"
        ),
    );
    damage.apply(&db);
    let before = evidence_dirs(demo, evidence_prefix);

    let (code, json, stderr) = demo.run(script, params);
    let cell = format!("{damage:?} × {script}");
    assert_eq!(code, 0, "{cell}: {stderr}");
    assert_eq!(json["status"], "ok", "{cell}: {json}");
    assert_eq!(demo.active(), "active", "{cell}: the unit is not active");
    assert_eq!(demo.health(), 200, "{cell}: not healthy after");
    assert_eq!(integrity(&db), "ok", "{cell}");
    assert_eq!(
        one(&db, "SELECT count(*) FROM dispatches"),
        expected,
        "{cell}"
    );

    // The salvage: in the result, in salvage.json and in salvaged.db, hashed in SHA256SUMS.
    let salvage = &json["result"]["salvage"];
    let after = evidence_dirs(demo, evidence_prefix);
    let new: Vec<&PathBuf> = after.iter().filter(|d| !before.contains(d)).collect();
    assert_eq!(new.len(), 1, "{cell}: {after:?}");
    let evidence = new[0];
    let checked = sums_check(evidence);
    for f in ["salvaged.db: OK", "salvage.json: OK"] {
        assert!(checked.contains(f), "{cell}: {f} not in:\n{checked}");
    }
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(evidence.join("salvage.json")).expect("salvage.json"),
    )
    .expect("salvage.json is JSON");
    assert_eq!(&report["tables"], &salvage["tables"], "{cell}");
    // Every table's numbers add up: what was salvaged is the backup's rows less those missing,
    // plus those newer than the backup (the faulty release writes health_events meanwhile).
    for (name, t) in salvage["tables"].as_object().expect("tables") {
        let n = |k: &str| t[k].as_i64().unwrap_or(0);
        assert_eq!(
            n("recovered"),
            n("expected") - n("missing") + n("new_since_backup"),
            "{cell}: {name}: {t}"
        );
    }
    let t = &salvage["tables"]["dispatches"];
    let n = |k: &str| {
        t[k].as_i64()
            .unwrap_or_else(|| panic!("{cell}: dispatches.{k} is {}: {salvage}", t[k]))
    };
    let salvaged_db = evidence.join("salvaged.db");
    assert_eq!(n("expected"), expected, "{cell}");
    assert_eq!(
        n("recovered"),
        one(&salvaged_db, "SELECT count(*) FROM dispatches"),
        "{cell}"
    );
    assert_eq!(
        n("new_since_backup"),
        one(
            &salvaged_db,
            &format!("SELECT count(*) FROM dispatches WHERE id > {base}")
        ),
        "{cell}"
    );
    assert!(n("new_since_backup") <= WRITTEN, "{cell}: {t}");
    assert_eq!(
        n("recovered"),
        expected - n("missing") + n("new_since_backup"),
        "{cell}: {t}"
    );
    // Every row not salvaged is counted as lost: exactly, or within a bound the rows truly
    // gone (the backup's rows missing, and those written since it that were not salvaged)
    // never exceed. A header that reads and a WAL that lost no commit always give a bound.
    let gone = n("missing") + (WRITTEN - n("new_since_backup"));
    match (t["lost"].as_i64(), t["lost_at_most"].as_i64()) {
        (Some(lost), _) => assert_eq!(lost, gone, "{cell}: {t}"),
        (None, Some(most)) => assert!(most >= gone, "{cell}: at most {most} < {gone} gone: {t}"),
        (None, None) => panic!("{cell}: no bound on the rows lost: {t}"),
    }
    assert!(
        t["lost_at_least"]
            .as_i64()
            .is_some_and(|least| least <= gone),
        "{cell}: {t}"
    );
    let lost_words = match (t["lost"].as_i64(), t["lost_at_most"].as_i64()) {
        (Some(lost), _) => format!(", {lost} lost, "),
        (None, Some(most)) => format!(", lost at most {most}, "),
        (None, None) => format!(
            ", lost: unknown ({}), ",
            t["lost_unknown"].as_str().unwrap_or_default()
        ),
    };
    let line = salvage["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(Value::as_str)
        .find(|l| l.starts_with("dispatches: "))
        .unwrap_or_else(|| panic!("{cell}: no line for dispatches: {salvage}"))
        .to_string();
    assert!(
        line.contains(&format!(
            "{} newer than the backup (kept only in the salvage)",
            n("new_since_backup")
        )),
        "{cell}: {line}"
    );
    assert!(line.contains(&lost_words), "{cell}: {line}");
    assert!(
        stderr.contains(&format!("salvage: {line}")),
        "{cell}: {stderr}"
    );
    let log = std::fs::read_to_string(demo.root.join("rollback-log.txt")).expect("log");
    assert!(log.contains(&line), "{cell}: {log}");
    eprintln!(
        "{cell}: run {} ms, salvage {} ms, {gone} rows truly gone: {line}",
        json["ms"], salvage["ms"]
    );
}

fn evidence_dirs(demo: &Demo, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(demo.root.join("backups"))
        .expect("backups")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect()
}

const DAMAGES: [Damage; 3] = [Damage::Header, Damage::DataPage, Damage::Truncated];

#[test]
fn rollback_full_from_the_faulty_release_salvages_and_restores_a_damaged_db() {
    let demo = Demo::start(false);
    for damage in DAMAGES {
        for _ in 0..TRIALS {
            demo.deploy("v1.5.0");
            trial(
                &demo,
                damage,
                "rollback",
                &["option=full", "target=v1.4.2", "reason=test: corruption"],
                "rollback-evidence-",
            );
        }
    }
}

#[test]
fn emergency_corruption_on_the_stable_release_salvages_and_restores_a_damaged_db() {
    let demo = Demo::start(true);
    for damage in DAMAGES {
        for _ in 0..TRIALS {
            trial(
                &demo,
                damage,
                "emergency-corruption",
                &["reason=test: corruption"],
                "emergency-corruption-",
            );
        }
    }
}
