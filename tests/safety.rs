//! The journal's integrity and exactly-once resume: what a run does when the journal cannot
//! record a change's outcome, what it refuses to use as a journal, and how a resumed run
//! replays the changes an interrupted step had already made.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::support::Sandbox;

/// Every byte and the mode of `path`, and whether SQLite side files exist beside it.
fn fingerprint(path: &std::path::Path) -> (Vec<u8>, u32, bool) {
    let side = ["-wal", "-shm", "-journal"].iter().any(|s| {
        let mut p = path.as_os_str().to_os_string();
        p.push(s);
        std::path::Path::new(&p).exists()
    });
    (
        std::fs::read(path).expect("read"),
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777,
        side,
    )
}

#[test]
fn the_journal_refuses_any_other_file_and_touches_nothing() {
    let sb = Sandbox::new();
    sb.write("w.rhai", "step \"Write\" { fs::write(\"out\", \"1\"); }\n");
    let other = sb.join("app.db");
    let conn = Connection::open(&other).expect("open");
    conn.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY); INSERT INTO orders DEFAULT VALUES;",
    )
    .expect("schema");
    drop(conn);
    let text = sb.write("notes.txt", "not a journal\n");
    for file in [&other, &text] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let before = fingerprint(file);
        let shown = file.display().to_string();
        for args in [
            vec!["--journal", &shown, "run", "w.rhai"],
            vec!["--journal", &shown, "history"],
        ] {
            let out = sb.run(&args);
            assert_ne!(out.code, 0, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.contains("is not a ripcord journal"),
                "{args:?}: {}",
                out.stderr
            );
            assert_eq!(fingerprint(file), before, "{args:?} changed {shown}");
        }
    }
    assert!(
        !sb.join("out").exists(),
        "the run went ahead without a journal"
    );
    assert!(
        sb.run(&["--journal", &other.display().to_string(), "run", "w.rhai"])
            .stderr
            .contains("orders")
    );

    // A journal ripcord writes carries its application id.
    sb.test().args(["run", "w.rhai"]).run();
    let conn = Connection::open(sb.journal()).expect("journal");
    let id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .expect("application_id");
    assert_eq!(id, 0x5250_434A);
}

/// A helper that makes the journal's write lock someone else's: run as a change, it starts a
/// detached process that takes the lock for a while, and returns once the lock is taken.
const HOLD_JOURNAL: &str = r#"
import os, sqlite3, subprocess, sys, time
journal = sys.argv[1]
if len(sys.argv) == 2:
    subprocess.Popen([sys.executable, __file__, journal, "hold"], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists("locked"):
        time.sleep(0.02)
    sys.exit(0)
c = sqlite3.connect(journal, isolation_level=None, timeout=60)
c.execute("BEGIN IMMEDIATE")
open("locked", "w").close()
time.sleep(12)
c.execute("ROLLBACK")
open("released", "w").close()
"#;

#[test]
fn a_change_whose_outcome_cannot_be_journaled_fails_the_run_and_shows_as_unknown() {
    let sb = Sandbox::new();
    sb.write("hold.py", HOLD_JOURNAL);
    sb.write(
        "j.rhai",
        &format!(
            "step \"Lock\" {{\n    try {{ sh(\"python3 hold.py {}\"); }} catch {{ }}\n    fs::write(\"after\", \"1\");\n}}\n",
            sb.journal().display()
        ),
    );
    // The journal exists before the run so the helper can lock it.
    sb.write("w.rhai", "1\n");
    assert_eq!(sb.run(&["run", "w.rhai"]).code, 0);
    sb.test()
        .args(["run", "j.rhai"])
        .status(1)
        .stderr_contains("its outcome could not be journaled")
        .run();
    assert!(
        !sb.join("after").exists(),
        "the run went on after an unjournaled change (try/catch swallowed it)"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sb.join("released").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let history = sb.run(&["history"]);
    assert!(
        history.stdout.contains("outcome unknown: ") && history.stdout.contains("hold.py"),
        "{}",
        history.stdout
    );
    let show = sb.run(&["show", "2"]);
    assert!(show.stdout.contains("outcome unknown"), "{}", show.stdout);
}

/// A runbook with several changes per step and a gate at every change boundary: with
/// `stop-at-N` present the run says `reached N` and waits there to be killed.
const GATED: &str = r#"//! Gated.
fn gate(n) {
    if fs::exists(`stop-at-${n}`) {
        log::info(`reached ${n}`);
        while true { time::sleep("20ms"); }
    }
}
step "A" {
    gate(0);
    let r = fs::append("log", "1\n");
    gate(1);
    fs::append("log", "2\n");
    gate(2);
}
step "B" {
    fs::append("log", "3\n");
    gate(3);
    fs::append("log", "4\n");
    gate(4);
    fs::append("log", "5\n");
}
"#;

/// Start `script`, wait for `reached N` on its stderr, SIGKILL it.
fn kill_at_gate(sb: &Sandbox, script: &str, n: usize) {
    use std::io::{BufRead, BufReader};
    sb.write(&format!("stop-at-{n}"), "");
    let mut child = sb
        .command(&["run", script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let reached = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains(&format!("reached {n}")));
    let _ = child.kill();
    let _ = child.wait();
    assert!(reached, "the run never reached gate {n}");
    std::fs::remove_file(sb.join(&format!("stop-at-{n}"))).expect("rm");
}

#[test]
fn resume_after_a_kill_at_every_change_boundary_makes_each_change_exactly_once() {
    for n in 0..=4 {
        let sb = Sandbox::new();
        sb.write("g.rhai", GATED);
        kill_at_gate(&sb, "g.rhai", n);
        let test = sb.test().args(["resume", "1"]);
        let out = test.context(format!("kill at gate {n}")).run();
        assert_eq!(
            std::fs::read_to_string(sb.join("log")).expect("log"),
            "1\n2\n3\n4\n5\n",
            "kill at gate {n}: a change was made twice or not at all"
        );
        if n == 1 || n == 2 || n == 4 {
            assert!(
                out.stderr.contains("replayed (made by run 1)"),
                "kill at gate {n}: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn resume_stops_on_an_unknown_outcome_without_a_terminal_and_where_the_script_diverges() {
    // Killed inside a change: it has a start and no end.
    let sb = Sandbox::new();
    sb.write(
        "u.rhai",
        "step \"A\" {\n    fs::append(\"log\", \"1\\n\");\n    sh(\"touch inside; sleep 60\");\n    fs::append(\"log\", \"2\\n\");\n}\n",
    );
    let mut child = sb
        .command(&["run", "u.rhai"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sb.join("inside").exists() {
        assert!(Instant::now() < deadline, "the change never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    sb.test()
        .args(["resume", "1", "--yes"])
        .status(1)
        .stderr_contains("outcome is unknown")
        .stderr_contains("no terminal")
        .run();
    assert_eq!(std::fs::read_to_string(sb.join("log")).expect("log"), "1\n");

    // The runbook now asks for another change where the journal recorded the append.
    let sb = Sandbox::new();
    sb.write("g.rhai", GATED);
    kill_at_gate(&sb, "g.rhai", 1);
    sb.write("g.rhai", &GATED.replace("\"1\\n\"", "\"one\\n\""));
    sb.test()
        .args(["resume", "1", "--allow-changed"])
        .status(1)
        .stderr_contains("resume diverges from run 1 in step `A`")
        .run();
    assert_eq!(std::fs::read_to_string(sb.join("log")).expect("log"), "1\n");
}
