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
    let out = sb.run(&["run", "w.rhai"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
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
    let out = sb.run(&["run", "j.rhai"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("its outcome could not be journaled"),
        "{}",
        out.stderr
    );
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
