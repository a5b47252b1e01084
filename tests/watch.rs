//! `ripcord watch` end to end: the watch runs as a unit under the real systemd user manager
//! (installed by `ripcord watch install`), against the demo's Cortex (its own systemd unit),
//! and its state is read back from the journal it shares with the tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::systemd::{Unit, UserManager, manager};
use crate::support::{Detached, Guarded, Sandbox};

/// The trigger runbook's capacity checks ignore this machine's own disk and memory.
const QUIET_CAPACITY: [&str; 4] = ["-p", "disk_pct_p1=100", "-p", "memory_pct_p1=100"];

/// The demo sandbox, built with the systemd backend on the test manager.
struct Demo {
    /// The demo's service unit, stopped however the test ends (first: before the dir goes).
    _service: Unit,
    sb: Sandbox,
    root: PathBuf,
    mgr: &'static UserManager,
}

impl Demo {
    fn start() -> Demo {
        let mgr = manager();
        let sb = Sandbox::new();
        let root = sb.join("cortex");
        let service = mgr.adopt("ripcord-demo-*.service");
        let out = demo_cmd(
            &sb,
            mgr,
            &[
                "demo",
                "--setup-only",
                "--healthy",
                "--backend",
                "systemd",
                "--dir",
                root.to_str().unwrap(),
            ],
        )
        .output()
        .expect("demo");
        assert!(
            out.status.success(),
            "demo setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Demo {
            _service: service,
            sb,
            root,
            mgr,
        }
    }

    fn ripcord(&self, args: &[&str]) -> std::process::Output {
        let scripts = self.root.join("scripts");
        let mut all = vec!["--scripts", scripts.to_str().unwrap()];
        all.extend_from_slice(args);
        demo_cmd(&self.sb, self.mgr, &all)
            .output()
            .expect("ripcord")
    }

    fn config(&self) -> PathBuf {
        self.root.join("ripcord.toml")
    }

    fn storm(&self) {
        let db = self.root.join("cortex.db");
        let db = if db.exists() { db } else { find_db(&self.root) };
        let conn = rusqlite::Connection::open(db).expect("db");
        let now = jiff::Timestamp::now().as_second();
        for i in 0..12i64 {
            conn.execute(
                "INSERT INTO health_events (kind, severity, message, created_at) VALUES ('gateway_critical', 'critical', 'storm', ?1)",
                [now - i],
            )
            .expect("storm");
        }
    }

    fn health(&self) -> u16 {
        let text = std::fs::read_to_string(self.config()).expect("config");
        let api = text
            .lines()
            .find_map(|l| l.strip_prefix("api = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("api")
            .to_string();
        let port: u16 = api.rsplit(':').next().unwrap().parse().unwrap();
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Watch events of kind `kind` in the journal, oldest first.
    fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        let Ok(conn) = rusqlite::Connection::open(self.sb.journal()) else {
            return Vec::new();
        };
        let Ok(mut stmt) = conn.prepare(
            "SELECT e.data FROM events e JOIN runs r ON r.id = e.run WHERE r.script = 'watch:triggers' AND e.kind = ?1 ORDER BY e.id",
        ) else {
            return Vec::new();
        };
        stmt.query_map([kind], |r| r.get::<_, String>(0))
            .map(|rows| {
                rows.filter_map(Result::ok)
                    .filter_map(|t| serde_json::from_str(&t).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait (generously: the machine is shared) until `ok` holds.
    fn wait(&self, what: &str, ok: impl Fn(&Demo) -> bool) {
        let until = Instant::now() + Duration::from_secs(180);
        while !ok(self) {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; status:\n{}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn status(&self) -> String {
        let out = self.ripcord(&["watch", "status", "triggers"]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

fn find_db(root: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root.join("ripcord.toml")).expect("config");
    PathBuf::from(
        text.lines()
            .find_map(|l| l.strip_prefix("db = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("db"),
    )
}

fn demo_cmd(sb: &Sandbox, mgr: &UserManager, args: &[&str]) -> Command {
    let mut cmd = sb.command(args);
    cmd.env("XDG_RUNTIME_DIR", &mgr.runtime_dir)
        .env(
            "XDG_CONFIG_HOME",
            mgr.unit_dir.parent().unwrap().parent().unwrap(),
        )
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    cmd
}

#[test]
fn watch_under_systemd_acts_once_after_sustain_and_not_again_after_a_kill() {
    let demo = Demo::start();
    let mut text = std::fs::read_to_string(demo.config()).unwrap();
    text.push_str(
        "\n[watch]\nevery = \"1s\"\nsustain = 2\nthen = \"rollback\"\nconfirm = \"yes\"\nheartbeat = \"2s\"\ncooldown = \"1s\"\n[watch.params]\ndisk_pct_p1 = \"100\"\nmemory_pct_p1 = \"100\"\n[watch.then_params]\noption = \"git\"\ntarget = \"v1.4.2\"\n",
    );
    std::fs::write(demo.config(), text).unwrap();
    let config = demo.config().display().to_string();
    let _watch = demo.mgr.adopt("ripcord-watch-triggers.service");
    let out = demo.ripcord(&["watch", "install", "triggers", "--config", &config, "--now"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(unit, "ripcord-watch-triggers.service");
    let unit_text = std::fs::read_to_string(demo.mgr.unit_dir.join(&unit)).unwrap();
    assert!(unit_text.contains("\nRestart=on-failure\n"), "{unit_text}");

    // Quiet: evaluations and heartbeats, no action.
    demo.wait("a quiet state and two heartbeats", |d| {
        d.events("watch.state")
            .iter()
            .any(|e| e["phase"] == "quiet")
            && d.events("watch.heartbeat").len() >= 2
    });
    assert!(demo.events("watch.action.start").is_empty());

    demo.storm();
    let stormed = Instant::now();
    demo.wait("the action to end", |d| {
        !d.events("watch.action.end").is_empty()
    });
    let healthy_after = stormed.elapsed();
    let end = &demo.events("watch.action.end")[0];
    assert_eq!(end["status"], "ok", "{end}\n{}", demo.status());
    assert_eq!(demo.health(), 200);
    let start = &demo.events("watch.action.start")[0];
    assert_eq!(start["priority"], "P0");
    assert!(start["evaluation"].as_u64().unwrap() >= 2, "{start}");
    eprintln!("storm to healthy under watch: {healthy_after:?}");

    // The storm is still in the DB: sustained again, held by max_actions.
    demo.wait("a hold", |d| !d.events("watch.held").is_empty());
    assert!(
        demo.events("watch.held")[0]["why"]
            .as_str()
            .unwrap()
            .contains("an automatic action already ran for this incident")
    );

    // A crash: systemd restarts the watch; the journal keeps it from acting again.
    let before = demo.events("watch.start").len();
    let kill = demo
        .mgr
        .systemctl(&["kill", "--signal=SIGKILL", "--kill-whom=main", &unit]);
    assert_eq!(kill.code, 0, "{}", kill.stderr);
    demo.wait("the restarted watch", |d| {
        d.events("watch.start").len() > before
    });
    let restarted = demo.events("watch.start").last().cloned().unwrap();
    assert_eq!(restarted["actions_since_rearm"], 1, "{restarted}");
    demo.wait("a hold by the restarted watch", |d| {
        d.events("watch.held").len() >= 2
    });
    assert_eq!(
        demo.events("watch.action.start").len(),
        1,
        "{}",
        demo.status()
    );

    let status = demo.status();
    assert!(status.contains("watch on triggers: running"), "{status}");
    assert!(
        status.contains("actions since the last re-arm: 1 (max 1)"),
        "{status}"
    );

    // The operator re-arms: the storm is still there, so the watch acts once more.
    let out = demo.ripcord(&["watch", "rearm", "triggers"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("re-armed: 1 automatic action(s) before")
    );
    demo.wait("the action after the re-arm", |d| {
        d.events("watch.action.end").len() >= 2
    });
    assert_eq!(demo.events("watch.action.start").len(), 2);
}

#[test]
fn shadow_watch_decides_and_journals_but_changes_nothing() {
    let sb = Sandbox::new();
    let root = sb.join("cortex");
    let root_arg = root.display().to_string();
    // The faulty release with its storm: P0 from the first evaluation.
    let out = sb.run(&[
        "demo",
        "--setup-only",
        "--backend",
        "process",
        "--dir",
        &root_arg,
    ]);
    let _service = Detached::pidfile(root.join("cortex.pid"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let config = root.join("ripcord.toml").display().to_string();
    let scripts = root.join("scripts").display().to_string();
    let head = || {
        let out = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(root.join("cortex"))
            .output()
            .expect("git");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before = head();
    let mut args = vec![
        "--scripts",
        &scripts,
        "watch",
        "triggers",
        "--config",
        &config,
        "--shadow",
        "--every",
        "1s",
        "--sustain",
        "2",
        "--then",
        "rollback",
        "-P",
        "option=git",
        "-P",
        "target=v1.4.2",
        "--confirm",
        "yes",
    ];
    args.extend(QUIET_CAPACITY);
    let watch = Guarded::spawn(sb.command(&args).stderr(std::process::Stdio::null()));
    let journal = sb.journal();
    let count = |kind: &str| -> i64 {
        rusqlite::Connection::open(&journal)
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM events WHERE kind = ?1", [kind], |r| {
                    r.get(0)
                })
            })
            .unwrap_or(0)
    };
    let until = Instant::now() + Duration::from_secs(120);
    while count("watch.would_act") == 0 {
        assert!(Instant::now() < until, "no shadow decision in 120s");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(watch.stop(), Some(130));
    assert_eq!(count("watch.action.start"), 0);
    assert_eq!(head(), before, "the shadow watch reset the repo");
    let runs: i64 = rusqlite::Connection::open(&journal)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM runs WHERE script = 'rollback'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(runs, 0, "the shadow watch ran the rollback");
    let status = sb.run(&["watch", "status", "triggers", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let json = status.json();
    assert_eq!(json["mode"], "shadow");
    assert_eq!(json["running"], false);
    assert_eq!(json["state"]["phase"], "sustained");
}

/// A runbook that opens the journal a second time (a sub-run, as each of a watch's evaluations
/// does) and then waits for the test at two points.
const HOLDER: &str = r#"//! Holds the journal open across the test's checks.
//! @param dir
let sub = runbook::run("sub", #{});
fs::write(`${dir}/opened`, "1");
while !fs::exists(`${dir}/go`) { time::sleep("20ms"); }
step "after the others closed the journal" { sub.n + 1 }
fs::write(`${dir}/written`, "1");
while !fs::exists(`${dir}/done`) { time::sleep("20ms"); }
#{ ok: true }
"#;

/// Regression: reading the journal's header through a plain file handle and closing it dropped
/// every POSIX lock the process's SQLite connections held on the journal. Another process
/// closing its last connection then saw no other user, checkpointed and deleted the WAL the
/// first process was still appending to: its later events went to a deleted file, invisible
/// to everyone else, and the two processes' hash chains forked.
#[test]
fn a_process_with_the_journal_open_twice_keeps_its_locks_and_its_later_events() {
    let sb = Sandbox::new();
    sb.write("holder.rhai", HOLDER);
    sb.write("sub.rhai", "//! A sub-run.\n#{ n: 41 }\n");
    sb.write(
        "other.rhai",
        "//! Another process's run.\nstep \"write\" { 1 }\n",
    );
    let dir = sb.join("signals");
    std::fs::create_dir(&dir).unwrap();
    let dir_arg = format!("dir={}", dir.display());
    let mut holder = Guarded::spawn(
        sb.command(&["run", "holder.rhai", "-p", &dir_arg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let wait_for = |name: &str, holder: &mut Guarded| {
        let until = Instant::now() + Duration::from_secs(120);
        while !dir.join(name).exists() {
            assert!(holder.running(), "the holder ended before `{name}`");
            assert!(
                Instant::now() < until,
                "no `{name}` from the holder in 120 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("opened", &mut holder);

    // Another SQLite reads and closes, as a poller or an operator's shell does (the system's
    // sqlite3, not ripcord's own build); then another ripcord run writes and closes.
    let sqlite3 = |sql: &str| -> String {
        let out = Command::new("sqlite3")
            .arg(sb.journal())
            .arg(sql)
            .output()
            .expect("run sqlite3");
        assert!(
            out.status.success(),
            "sqlite3 {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        sqlite3("SELECT count(*) FROM runs"),
        "2",
        "the holder and its sub-run"
    );
    assert!(
        sb.journal().with_extension("db-wal").exists(),
        "the WAL of the journal the holder still writes to was deleted"
    );
    sb.test().args(["run", "other.rhai"]).run();

    std::fs::write(dir.join("go"), "1").unwrap();
    wait_for("written", &mut holder);
    // Still open in the holder: its step after the others closed must be visible to them.
    assert_eq!(
        sqlite3("SELECT step FROM events WHERE kind = 'step.end' ORDER BY id"),
        "write\nafter the others closed the journal"
    );

    std::fs::write(dir.join("done"), "1").unwrap();
    assert_eq!(holder.wait().code(), Some(0));
    assert_eq!(
        sqlite3("SELECT script || ' ' || status FROM runs ORDER BY id"),
        "holder ok\nsub ok\nother ok"
    );
    assert_eq!(sqlite3("PRAGMA integrity_check"), "ok");
    // One hash chain: the holder's events after the others' still link to theirs.
    sb.test().args(["journal", "verify"]).run();
}
