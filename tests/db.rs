//! `db::backup`, `db::verify`, `db::restore`, `db::query`/`exec`/`checkpoint` against real SQLite
//! files, with writers in other processes. The writer is this test binary run again with
//! `RIPCORD_TEST_WRITER` set (see `writer_child`), so the tests need nothing but the binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::support::Sandbox;

/// A WAL database with `rows` rows in `items` (ids 1..=rows) and an index.
fn make_db(path: &Path, rows: i64, tag: &str) {
    let conn = Connection::open(path).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, payload BLOB);
         CREATE INDEX IF NOT EXISTS items_tag ON items(tag);
         PRAGMA user_version = 7;",
    )
    .expect("schema");
    let tx = conn.unchecked_transaction().expect("tx");
    for _ in 0..rows {
        tx.execute(
            "INSERT INTO items (tag, payload) VALUES (?1, zeroblob(200))",
            [tag],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
}

fn ids(path: &Path) -> Vec<i64> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open");
    let mut stmt = conn
        .prepare("SELECT id FROM items ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn tags(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT DISTINCT tag FROM items ORDER BY tag")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn integrity(path: &Path) -> String {
    let conn = Connection::open(path).expect("open");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

/// Every file in the sandbox (name -> bytes), to show that a refused call changed nothing.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .filter(|(name, _)| !name.ends_with(".rhai"))
        .collect();
    files.sort();
    files
}

// ---- the writer process --------------------------------------------------------------------

/// Spawn this test binary as a writer on `db`: `commit` commits one row per transaction as fast
/// as it can (WAL, no automatic checkpoint, so its WAL stays hot); `hold` opens the database and
/// sleeps; `burst` updates rows 1..=300, one per transaction, then sleeps with them still in its WAL;
/// `pin` opens a read transaction (a snapshot no checkpoint may pass) and sleeps. It prints `writer-ready` once it has the database open.
fn spawn_writer(db: &Path, mode: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "db::writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RIPCORD_TEST_WRITER", db)
        .env("RIPCORD_TEST_WRITER_MODE", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("writer-ready") => break,
            Some(Ok(_)) => continue,
            _ => panic!("the writer process exited before it was ready"),
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn writer_child() {
    let Some(db) = std::env::var_os("RIPCORD_TEST_WRITER") else {
        return;
    };
    let mode = std::env::var("RIPCORD_TEST_WRITER_MODE").unwrap_or_default();
    let conn = Connection::open(&db).expect("writer: open");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy");
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
        .expect("writer: wal");
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("writer: read");
    match mode.as_str() {
        "burst" => {
            for id in 1..=300 {
                conn.execute("UPDATE items SET tag = 'burst' WHERE id = ?1", [id])
                    .expect("writer: update");
            }
        }
        "pin" => {
            conn.execute_batch("BEGIN").expect("writer: begin");
            conn.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))
                .expect("writer: pin a snapshot");
        }
        _ => {}
    }
    if matches!(mode.as_str(), "hold" | "burst" | "pin") {
        println!("writer-ready");
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
    let mut n = 0;
    loop {
        conn.execute(
            "INSERT INTO items (tag, payload) VALUES ('writer', zeroblob(200))",
            [],
        )
        .expect("writer: insert");
        n += 1;
        if n == 20 {
            println!("writer-ready");
        }
    }
}

// ---- backup ----------------------------------------------------------------------------------

#[test]
fn backup_finishes_under_a_busy_writer_with_every_earlier_commit() {
    let sb = Sandbox::new();
    let db = sb.join("live.db");
    make_db(&db, 20_000, "seed");
    let writer = spawn_writer(&db, "commit");
    // Every id committed before the backup starts must be in the copy.
    let before = *ids(&db).last().expect("rows");
    sb.write(
        "b.rhai",
        "db::backup(\"live.db\", \"copy.db\", #{ verify: \"full\" })",
    );
    let out = sb.run(&["run", "b.rhai", "--json"]);
    let after = *ids(&db).last().expect("rows");
    kill(writer);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result = &out.json()["result"];
    let copy = sb.join("copy.db");
    assert!(
        !sb.join("copy.db-wal").exists(),
        "the backup left a -wal beside the copy"
    );
    assert_eq!(integrity(&copy), "ok");
    let got = ids(&copy);
    let m = *got.last().expect("the copy has rows");
    assert_eq!(
        got,
        (1..=m).collect::<Vec<_>>(),
        "the copy's ids are not exactly 1..{m}"
    );
    assert!(
        m >= before,
        "the copy ends at id {m}, but id {before} was committed before the backup started"
    );
    assert!(m <= after);
    assert!(
        after > before,
        "the writer did not commit during the backup; the test proves nothing"
    );
    assert_eq!(result["integrity"], "ok");
    assert_eq!(result["tables"]["items"], m);
    assert_eq!(result["user_version"], 7);
    assert_eq!(result["path"], "copy.db");
    assert_eq!(result["sha256"], sha256_hex(&copy));
}

/// Back up `live.db` to `copy.db` and check the copy: ids 1..=`rows`, the first 300 tagged
/// `updated`, nothing beside it. (Updates, not inserts: a main file missing them is as long as
/// the snapshot, so only the WAL holds the difference.)
fn backup_has_every_update(sb: &Sandbox, rows: i64, updated: &str) {
    sb.write("b.rhai", "db::backup(\"live.db\", \"copy.db\")");
    let out = sb.run(&["run", "b.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = sb.join(&format!("copy.db{suffix}"));
        assert!(!side.exists(), "the backup left {}", side.display());
    }
    let copy = sb.join("copy.db");
    let result = &out.json()["result"];
    assert_eq!(
        result["sha256"],
        sha256_hex(&copy),
        "the reported sha256 is not the copy's"
    );
    assert_eq!(
        result["bytes"],
        std::fs::metadata(&copy).expect("stat").len()
    );
    assert_eq!(result["tables"]["items"], rows);
    assert_eq!(integrity(&copy), "ok");
    assert_eq!(ids(&copy), (1..=rows).collect::<Vec<_>>());
    let conn = Connection::open(&copy).expect("open");
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM items WHERE tag = ?1",
            [updated],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(
        n, 300,
        "the copy misses updates committed before the backup"
    );
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(std::fs::read(path).expect("read"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn backup_has_the_commits_still_in_another_processs_wal() {
    let sb = Sandbox::new();
    let db = sb.join("live.db");
    make_db(&db, 1000, "seed");
    let writer = spawn_writer(&db, "burst");
    let wal = std::fs::metadata(sb.join("live.db-wal")).map_or(0, |m| m.len());
    assert!(
        wal > 0,
        "the burst is not in the WAL; the test proves nothing"
    );
    backup_has_every_update(&sb, 1000, "burst");
    kill(writer);
}

#[test]
fn backup_has_the_newest_commits_while_a_reader_pins_an_older_snapshot() {
    let sb = Sandbox::new();
    let db = sb.join("live.db");
    make_db(&db, 1000, "seed");
    let reader = spawn_writer(&db, "pin");
    // Commits after the pinned snapshot cannot be checkpointed into the main file yet.
    let conn = Connection::open(&db).expect("open");
    for id in 1..=300 {
        conn.execute("UPDATE items SET tag = 'late' WHERE id = ?1", [id])
            .expect("update");
    }
    let (_, frames, moved): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("checkpoint");
    assert!(
        moved < frames,
        "the pinned reader did not hold the checkpoint back; the test proves nothing"
    );
    backup_has_every_update(&sb, 1000, "late");
    kill(reader);
}

#[test]
fn backup_of_a_rollback_journal_database_is_an_exact_copy() {
    let sb = Sandbox::new();
    let db = sb.join("live.db");
    make_db(&db, 1000, "seed");
    let conn = Connection::open(&db).expect("open");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "delete");
    conn.execute("UPDATE items SET tag = 'rolled' WHERE id <= 300", [])
        .expect("update");
    drop(conn);
    backup_has_every_update(&sb, 1000, "rolled");
    assert_eq!(
        std::fs::read(sb.join("copy.db")).expect("copy"),
        std::fs::read(&db).expect("source"),
        "a quiet rollback-journal database is copied byte for byte"
    );
}

#[test]
fn backup_refuses_an_existing_destination_without_force_and_dry_run_writes_nothing() {
    let sb = Sandbox::new();
    make_db(&sb.join("app.db"), 10, "a");
    make_db(&sb.join("old.db"), 3, "old");
    sb.write("b.rhai", "db::backup(\"app.db\", \"old.db\")");
    let before = snapshot(sb.path());
    let out = sb.run(&["run", "b.rhai", "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("old.db already exists"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("force: true"), "{}", out.stderr);
    assert_eq!(snapshot(sb.path()), before);

    sb.write("d.rhai", "db::backup(\"app.db\", \"new.db\")");
    let out = sb.run(&["run", "d.rhai", "--dry-run", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("would: back up app.db to new.db"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["result"]["tables"]["items"], 10);
    assert!(!sb.join("new.db").exists());

    sb.write(
        "f.rhai",
        "db::backup(\"app.db\", \"old.db\", #{ force: true, compact: true })",
    );
    let out = sb.run(&["run", "f.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(tags(&sb.join("old.db")), ["a"]);
}

// ---- bad inputs ------------------------------------------------------------------------------

/// Run `call` in a fresh sandbox prepared by `setup`; it must fail with exit 1, say `expected`,
/// and leave every file as it was.
fn refused(setup: impl Fn(&Sandbox), call: &str, expected: &str) {
    let sb = Sandbox::new();
    setup(&sb);
    sb.write("t.rhai", call);
    let before = snapshot(sb.path());
    let out = sb.run(&["run", "t.rhai", "--json"]);
    assert_eq!(out.code, 1, "{call}\n{}", out.stderr);
    assert!(
        out.stderr.contains(expected),
        "{call}: expected `{expected}` in:\n{}",
        out.stderr
    );
    assert_eq!(snapshot(sb.path()), before, "{call} changed files");
}

#[test]
fn bad_inputs_are_clear_errors_that_change_nothing() {
    let with_db = |sb: &Sandbox| make_db(&sb.join("app.db"), 50, "a");
    let garbage = |sb: &Sandbox| {
        with_db(sb);
        sb.write(
            "garbage.db",
            "this is not a database, just some text that is long enough to have a header\n",
        );
    };
    let truncated = |sb: &Sandbox| {
        with_db(sb);
        let bytes = std::fs::read(sb.join("app.db")).expect("read");
        let conn = Connection::open(sb.join("app.db")).expect("open");
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
        drop(conn);
        let full = std::fs::read(sb.join("app.db")).expect("read");
        assert!(full.len() >= bytes.len());
        std::fs::write(sb.join("cut.db"), &full[..full.len() / 2]).expect("write");
    };
    refused(
        garbage,
        "db::verify(\"garbage.db\")",
        "garbage.db is not a SQLite database",
    );
    refused(
        garbage,
        "db::restore(\"garbage.db\", \"app.db\", #{ force: true })",
        "garbage.db is not a SQLite database",
    );
    refused(truncated, "db::verify(\"cut.db\")", "cut.db is truncated");
    refused(
        truncated,
        "db::restore(\"cut.db\", \"app.db\", #{ force: true })",
        "cut.db is truncated",
    );
    refused(
        with_db,
        "db::backup(\"missing.db\", \"copy.db\")",
        "missing.db: no such file",
    );
    refused(
        with_db,
        "db::restore(\"missing.db\", \"app.db\", #{ force: true })",
        "missing.db: no such file",
    );
    refused(
        with_db,
        "db::verify(\".\")",
        ". is a directory, not a SQLite database file",
    );
    refused(
        |sb| {
            with_db(sb);
            std::fs::create_dir(sb.join("folder")).expect("mkdir");
        },
        "db::restore(\"app.db\", \"folder\", #{ force: true })",
        "restore target folder is a directory",
    );
    refused(
        with_db,
        "db::backup(\"app.db\", \"no/such/folder/copy.db\")",
        "folder no/such/folder does not exist",
    );
    refused(
        with_db,
        "db::backup(\"app.db\", \"app.db\", #{ force: true })",
        "app.db is the source itself",
    );
    refused(
        with_db,
        "db::backup(\"app.db\", \"copy.db\", #{ forse: true })",
        "unknown option `forse`",
    );
}

#[test]
fn backup_into_a_read_only_folder_fails_cleanly() {
    let sb = Sandbox::new();
    make_db(&sb.join("app.db"), 5, "a");
    // Root ignores folder permissions; /proc refuses new files to everyone.
    let ro = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/proc/ripcord-test-copy.db")
    } else {
        let dir = sb.join("ro");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o555))
            .expect("chmod");
        dir.join("copy.db")
    };
    sb.write(
        "t.rhai",
        &format!("db::backup(\"app.db\", \"{}\")", ro.display()),
    );
    let out = sb.run(&["run", "t.rhai", "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot create a temp file in"),
        "{}",
        out.stderr
    );
    assert!(!ro.exists());
}

// ---- restore ---------------------------------------------------------------------------------

#[test]
fn restore_over_a_killed_writers_hot_wal_holds_exactly_the_backups_rows() {
    let sb = Sandbox::new();
    make_db(&sb.join("backup.db"), 30, "backup");
    let target = sb.join("app.db");
    make_db(&target, 5, "old");
    let writer = spawn_writer(&target, "commit");
    kill(writer);
    let wal = sb.join("app.db-wal");
    assert!(
        std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0),
        "the killed writer left no hot WAL"
    );
    let old_rows = ids(&target).len();

    sb.write(
        "r.rhai",
        "db::restore(\"backup.db\", \"app.db\", #{ force: true })",
    );
    let out = sb.run(&["run", "r.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result = &out.json()["result"];
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "a stale -wal is beside the restored file"
    );
    assert_eq!(ids(&target), (1..=30).collect::<Vec<_>>());
    assert_eq!(tags(&target), ["backup"]);
    assert_eq!(integrity(&target), "ok");
    assert_eq!(result["tables"]["items"], 30);
    assert_eq!(result["integrity"], "ok");
    // The safety copy is the whole old database, the killed writer's commits included.
    let safety = PathBuf::from(result["safety"].as_str().expect("safety path"));
    let safety = sb.join(safety.to_str().expect("utf-8"));
    assert!(
        safety
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("app.db.pre-restore-"))
    );
    assert_eq!(ids(&safety).len(), old_rows);
    assert_eq!(integrity(&safety), "ok");
}

#[test]
fn restore_refuses_a_target_another_process_holds_open() {
    let sb = Sandbox::new();
    make_db(&sb.join("backup.db"), 30, "backup");
    let target = sb.join("app.db");
    make_db(&target, 5, "old");
    let holder = spawn_writer(&target, "hold");
    let pid = holder.id();
    sb.write(
        "r.rhai",
        "db::restore(\"backup.db\", \"app.db\", #{ force: true })",
    );
    let before = snapshot(sb.path());
    let out = sb.run(&["run", "r.rhai", "--json"]);
    let after = snapshot(sb.path());

    sb.write(
        "p.rhai",
        "db::restore(\"backup.db\", \"app.db\", #{ force: true, dry_run: true })",
    );
    let plan = sb.run(&["run", "p.rhai", "--json"]);
    kill(holder);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("app.db is open in pid {pid}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("live: true"), "{}", out.stderr);
    assert_eq!(after, before, "a refused restore changed files");
    assert_eq!(tags(&target), ["old"]);

    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan = &plan.json()["result"];
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["held_by"][0]["pid"], pid);
    assert_eq!(plan["tables"]["items"], 30);
    assert_eq!(tags(&target), ["old"]);
}

#[test]
fn live_restore_writes_through_sqlite_into_an_open_database() {
    let sb = Sandbox::new();
    make_db(&sb.join("backup.db"), 30, "backup");
    let target = sb.join("app.db");
    make_db(&target, 5, "old");
    let holder = spawn_writer(&target, "hold");
    sb.write(
        "r.rhai",
        "db::restore(\"backup.db\", \"app.db\", #{ force: true, live: true })",
    );
    let out = sb.run(&["run", "r.rhai", "--json"]);
    kill(holder);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result = &out.json()["result"];
    assert_eq!(result["live"], true);
    assert_eq!(tags(&target), ["backup"]);
    assert_eq!(integrity(&target), "ok");
    let safety = sb.join(result["safety"].as_str().expect("safety"));
    assert_eq!(tags(&safety), ["old"]);
}

/// Start a restore that pauses at `point` (a debug-build test hook), or runs free when `point`
/// is empty, and SIGKILL it there (or after `delay`).
fn killed_restore(sb: &Sandbox, point: &str, delay: Duration) {
    let mut cmd = sb.command(&["run", "r.rhai"]);
    cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    if !point.is_empty() {
        cmd.env("RIPCORD_TEST_PAUSE_AT", point);
    }
    let mut child = cmd.spawn().expect("spawn ripcord");
    if point.is_empty() {
        std::thread::sleep(delay);
    } else {
        let stderr = child.stderr.take().expect("stderr");
        let paused = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains(&format!("paused at {point}")));
        assert!(paused, "the restore never reached {point}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_restore_killed_at_any_point_leaves_the_old_or_the_new_database() {
    let points = ["after-temp", "after-safety", "after-rename", "", "", ""];
    let started = Instant::now();
    for (i, point) in points.iter().enumerate() {
        let sb = Sandbox::new();
        make_db(&sb.join("backup.db"), 3000, "new");
        let target = sb.join("app.db");
        make_db(&target, 2000, "old");
        let writer = spawn_writer(&target, "commit");
        kill(writer);
        sb.write(
            "r.rhai",
            "db::restore(\"backup.db\", \"app.db\", #{ force: true })",
        );
        killed_restore(&sb, point, Duration::from_millis(40 * i as u64));
        let found = tags(&target);
        assert!(
            found == ["new"] || found == ["old", "writer"],
            "after a kill at `{point}` (#{i}) the target holds {found:?}"
        );
        assert_eq!(integrity(&target), "ok", "after a kill at `{point}` (#{i})");
        if found == ["new"] {
            assert_eq!(ids(&target), (1..=3000).collect::<Vec<_>>());
        }
    }
    assert!(started.elapsed() < Duration::from_secs(600));
}

// ---- query, exec, checkpoint ---------------------------------------------------------------

#[test]
fn query_exec_and_checkpoint_round_trip() {
    let sb = Sandbox::new();
    make_db(&sb.join("app.db"), 3, "a");
    sb.write(
        "q.rhai",
        r#"
let e = db::exec("app.db", "UPDATE items SET tag = :tag WHERE id >= :min", #{ tag: "b", min: 2 });
let rows = db::query("app.db", "SELECT id, tag FROM items WHERE tag = ? ORDER BY id", ["b"]);
let c = db::checkpoint("app.db", "passive");
let v = db::verify("app.db", #{ check: "full" });
#{ changes: e.changes, rows: rows, busy: c.busy, integrity: v.integrity, version: v.user_version }
"#,
    );
    let out = sb.run(&["run", "q.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r["changes"], 2);
    assert_eq!(
        r["rows"],
        serde_json::json!([{ "id": 2, "tag": "b" }, { "id": 3, "tag": "b" }])
    );
    assert_eq!(r["busy"], false);
    assert_eq!(r["integrity"], "ok");
    assert_eq!(r["version"], 7);

    sb.write("w.rhai", "db::query(\"app.db\", \"DELETE FROM items\")");
    let out = sb.run(&["run", "w.rhai", "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("readonly")
            || out.stderr.contains("read-only")
            || out.stderr.contains("query_only"),
        "{}",
        out.stderr
    );
    assert_eq!(ids(&sb.join("app.db")).len(), 3);
}
