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
pub(crate) fn make_db(path: &Path, rows: i64, tag: &str) {
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
    conn.busy_timeout(Duration::from_secs(30)).expect("busy");
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

/// Restore `backup.db` over `app.db`.
const RESTORE: &str = r#"db::restore("backup.db", "app.db", #{ force: true })"#;
/// The same, through SQLite into a database that stays open.
const LIVE_RESTORE: &str = r#"db::restore("backup.db", "app.db", #{ force: true, live: true })"#;

// ---- the writer process --------------------------------------------------------------------

/// Spawn this test binary as a writer on `db`: `commit` commits one row per transaction as fast
/// as it can (WAL, no automatic checkpoint, so its WAL stays hot); `hold` opens the database and
/// sleeps; `burst` updates rows 1..=300, one per transaction, then sleeps with them still in its WAL;
/// `pin` opens a read transaction (a snapshot no checkpoint may pass) and sleeps. It prints `writer-ready` once it has the database open.
fn spawn_writer(db: &Path, mode: &str) -> Helper {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "db::writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RIPCORD_TEST_WRITER", db)
        .env("RIPCORD_TEST_WRITER_MODE", mode)
        .env("RIPCORD_TEST_WRITER_LOG", db.with_extension("writer-log"))
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
    Helper(child)
}

/// A helper process, killed and reaped when dropped: a failing test leaves none behind.
pub(crate) struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stop a helper process here rather than at the end of the test.
pub(crate) fn kill(helper: Helper) {
    drop(helper);
}

#[test]
fn writer_child() {
    let Some(db) = std::env::var_os("RIPCORD_TEST_WRITER") else {
        return;
    };
    let mode = std::env::var("RIPCORD_TEST_WRITER_MODE").unwrap_or_default();
    let conn = Connection::open(&db).expect("writer: open");
    conn.busy_timeout(Duration::from_secs(30)).expect("busy");
    if mode == "rollback" {
        conn.execute_batch("PRAGMA journal_mode = DELETE;")
            .expect("writer: rollback journal");
    } else {
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
            .expect("writer: wal");
    }
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
    // `log`: every committed row's sequence number is in its payload and, once committed, in
    // the file RIPCORD_TEST_WRITER_LOG, so a test can tell which commits were acknowledged.
    let mut log = std::env::var_os("RIPCORD_TEST_WRITER_LOG").map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("writer: log")
    });
    let mut n: i64 = 0;
    loop {
        n += 1;
        conn.execute(
            "INSERT INTO items (tag, payload) VALUES ('writer', ?1)",
            [n],
        )
        .expect("writer: insert");
        if let Some(log) = log.as_mut() {
            use std::io::Write;
            writeln!(log, "{n}").expect("writer: log");
        }
        if n == 20 {
            println!("writer-ready");
        }
    }
}

// ---- backup ----------------------------------------------------------------------------------

#[test]
fn backup_finishes_under_a_busy_writer_with_every_earlier_commit() {
    // The copy with direct I/O, and the ordinary one (a filesystem that refuses O_DIRECT).
    for hooks in ["", "no-direct-io"] {
        let sb = Sandbox::new();
        make_db(&sb.join("live.db"), 20_000, "seed");
        backup_under_a_writer(&sb, "commit", hooks);
    }
}

/// A rollback-journal source under a writer: SQLite's read lock must hold for the whole copy
/// (closing any other descriptor of the source would drop it and let the writer in, mixing two
/// states in the copy and its checksum). A few trials, as the failure was 4 in 50 before.
#[test]
fn backup_of_a_rollback_journal_database_under_a_writer_is_one_state() {
    for _ in 0..4 {
        let sb = Sandbox::new();
        let db = sb.join("live.db");
        make_db(&db, 20_000, "seed");
        let conn = Connection::open(&db).expect("open");
        let mode: String = conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "delete");
        drop(conn);
        backup_under_a_writer(&sb, "rollback", "");
    }
}

/// Back up `live.db` (ids 1..) while a writer in another process commits: the copy is one
/// state (integrity ok, ids exactly 1..M, M at least the last id committed before the backup),
/// and the reported sha256 is the file's.
fn backup_under_a_writer(sb: &Sandbox, mode: &str, hooks: &str) {
    let db = sb.join("live.db");
    let writer = spawn_writer(&db, mode);
    // Every id committed before the backup starts must be in the copy.
    let before = *ids(&db).last().expect("rows");
    let out = sb
        .runbook(
            "b.rhai",
            r#"db::backup("live.db", "copy.db", #{ verify: "full" })"#,
        )
        .arg("--json")
        .env("RIPCORD_TEST_HOOKS", hooks)
        .run();
    let after = *ids(&db).last().expect("rows");
    kill(writer);
    let result = &out.json()["result"];
    let copy = sb.join("copy.db");
    assert!(
        !sb.join("copy.db-wal").exists(),
        "the backup left a -wal beside the copy"
    );
    assert_eq!(
        result["sha256"],
        sha256_hex(&copy),
        "sha256 is not the copy's"
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
}

/// A source of several 8 MiB slices (the copy fills and writes the snapshot slice by slice while
/// the checksum follows it): the copy is byte-exact and the reported sha256 is the file's, with
/// direct I/O and without, with 512-byte pages making a length that is not a whole number of
/// disk blocks (its tail goes through the cache), and where the source cannot be mapped (SQLite
/// copies it).
#[test]
fn a_backup_of_many_slices_is_byte_exact_and_reports_the_files_sha256() {
    for (page_size, hooks) in [
        (4096, ""),
        (512, ""),
        (4096, "no-direct-io"),
        (4096, "no-map"),
    ] {
        let sb = Sandbox::new();
        let db = sb.join("big.db");
        let conn = Connection::open(&db).expect("open");
        conn.execute_batch(&format!(
            "PRAGMA page_size = {page_size}; PRAGMA journal_mode = WAL;
             CREATE TABLE items (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
             BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 90000)
             INSERT INTO items (payload) SELECT randomblob(230) FROM n; COMMIT;"
        ))
        .expect("fill");
        // With 512-byte pages, a length that is not a whole number of 4 KiB blocks.
        while page_size == 512
            && conn
                .query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))
                .expect("page_count")
                % 8
                == 0
        {
            conn.execute("INSERT INTO items (payload) VALUES (randomblob(3000))", [])
                .expect("insert");
        }
        drop(conn);
        let len = std::fs::metadata(&db).expect("metadata").len();
        assert!(len > 20 << 20, "{len} bytes is not several slices");
        assert_eq!(!len.is_multiple_of(4096), page_size == 512, "{len} bytes");
        let out = sb
            .runbook("b.rhai", r#"db::backup("big.db", "copy.db")"#)
            .arg("--json")
            .env("RIPCORD_TEST_HOOKS", hooks)
            .run();
        let copy = sb.join("copy.db");
        let result = &out.json()["result"];
        // SQLite's copy has the same pages but its own header.
        let byte_copy = hooks != "no-map";
        assert!(
            !byte_copy
                || std::fs::read(&copy).expect("copy") == std::fs::read(&db).expect("source"),
            "page size {page_size}, hooks {hooks:?}: the copy differs from the source"
        );
        assert_eq!(result["sha256"], sha256_hex(&copy), "hooks {hooks:?}");
        assert_eq!(
            result["bytes"],
            std::fs::metadata(&copy).expect("copy").len()
        );
        assert_eq!(std::fs::metadata(&copy).expect("copy").len(), len);
        assert_eq!(result["integrity"], "ok");
        assert_eq!(integrity(&copy), "ok");
        assert_eq!(ids(&copy), ids(&db), "hooks {hooks:?}");
    }
}

/// Back up `live.db` to `copy.db` and check the copy: ids 1..=`rows`, the first 300 tagged
/// `updated`, nothing beside it. (Updates, not inserts: a main file missing them is as long as
/// the snapshot, so only the WAL holds the difference.)
fn backup_has_every_update(sb: &Sandbox, rows: i64, updated: &str) {
    let out = sb
        .runbook("b.rhai", r#"db::backup("live.db", "copy.db")"#)
        .arg("--json")
        .run();
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

pub(crate) fn sha256_hex(path: &Path) -> String {
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
fn a_byte_copy_leaves_only_the_copy_beside_it_in_either_journal_mode() {
    for mode in ["wal", "delete"] {
        let sb = Sandbox::new();
        let db = sb.join("app.db");
        make_db(&db, 500, "seed");
        // Closed cleanly: a WAL database then has no -wal or -shm beside it.
        let conn = Connection::open(&db).expect("open");
        let _: String = conn
            .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))
            .expect("journal_mode");
        drop(conn);
        let backup = r#"db::backup("app.db", "copy.db", #{ verify: "none" })"#;
        let out = sb.runbook("b.rhai", backup).arg("--json").run();
        assert_eq!(out.json()["result"]["integrity"], "ok", "{mode}");
        let mut names: Vec<String> = std::fs::read_dir(sb.path())
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".db"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["app.db", "copy.db"],
            "{mode}: the side files SQLite made to read the copy stay behind"
        );
        assert_eq!(
            std::fs::read(sb.join("copy.db")).expect("copy"),
            std::fs::read(&db).expect("source"),
            "{mode}"
        );
    }
}

#[test]
fn backup_refuses_an_existing_destination_without_force_and_dry_run_writes_nothing() {
    let sb = Sandbox::new();
    make_db(&sb.join("app.db"), 10, "a");
    make_db(&sb.join("old.db"), 3, "old");
    sb.write("b.rhai", r#"db::backup("app.db", "old.db")"#);
    let before = snapshot(sb.path());
    sb.test()
        .args(["run", "b.rhai", "--json"])
        .status(1)
        .stderr_contains("old.db already exists")
        .stderr_contains("force: true")
        .run();
    assert_eq!(snapshot(sb.path()), before);

    let out = sb
        .runbook("d.rhai", r#"db::backup("app.db", "new.db")"#)
        .args(["--dry-run", "--json"])
        .stderr_contains("would: back up app.db to new.db")
        .run();
    assert_eq!(out.json()["result"]["tables"]["items"], 10);
    assert!(!sb.join("new.db").exists());

    let force = r#"db::backup("app.db", "old.db", #{ force: true, compact: true })"#;
    sb.runbook("f.rhai", force).arg("--json").run();
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
    let test = sb.test().args(["run", "t.rhai", "--json"]);
    test.context(call).status(1).stderr_contains(expected).run();
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
    let call = format!("db::backup(\"app.db\", \"{}\")", ro.display());
    sb.runbook("t.rhai", &call)
        .arg("--json")
        .status(1)
        .stderr_contains("cannot create a temp file in")
        .run();
    assert!(!ro.exists());
}

// ---- restore ---------------------------------------------------------------------------------

#[test]
fn restore_of_a_database_of_small_pages_copies_its_last_partial_block_too() {
    let sb = Sandbox::new();
    let backup = sb.join("backup.db");
    let conn = Connection::open(&backup).expect("open");
    conn.execute_batch(
        "PRAGMA page_size = 512; CREATE TABLE items (id INTEGER PRIMARY KEY, tag TEXT, payload BLOB);",
    )
    .expect("schema");
    // Rows until the file is not a whole number of 4 KiB blocks.
    let mut n = 0;
    while n < 50
        || std::fs::metadata(&backup)
            .expect("len")
            .len()
            .is_multiple_of(4096)
    {
        conn.execute(
            "INSERT INTO items (tag, payload) VALUES ('backup', zeroblob(300))",
            [],
        )
        .expect("insert");
        n += 1;
    }
    drop(conn);
    let target = sb.join("app.db");
    make_db(&target, 5, "old");
    let out = sb.runbook("r.rhai", RESTORE).arg("--json").run();
    assert_eq!(out.json()["result"]["sha256"], sha256_hex(&backup));
    assert_eq!(
        std::fs::read(&target).expect("target"),
        std::fs::read(&backup).expect("backup")
    );
    assert_eq!(integrity(&target), "ok");
}

/// With direct I/O, through the cache (a filesystem that refuses O_DIRECT), and read and
/// copied the ordinary way (a backup on a filesystem that cannot map it).
#[test]
fn restore_reports_the_sha256_of_the_bytes_it_put_in_place() {
    for hooks in ["", "no-direct-io", "no-map"] {
        let sb = Sandbox::new();
        // Larger than one slice of the copy (8 MiB) and not a whole number of them.
        let backup = sb.join("backup.db");
        make_db(&backup, 60_000, "backup");
        Connection::open(&backup)
            .and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
            .expect("checkpoint");
        let target = sb.join("app.db");
        make_db(&target, 5, "old");
        let out = sb
            .runbook("r.rhai", RESTORE)
            .arg("--json")
            .env("RIPCORD_TEST_HOOKS", hooks)
            .run();
        let result = &out.json()["result"];
        let len = std::fs::metadata(&target).expect("target").len();
        assert!(len > 8 << 20 && !len.is_multiple_of(8 << 20), "{len} bytes");
        assert!(
            std::fs::read(&target).expect("target") == std::fs::read(&backup).expect("backup"),
            "hooks {hooks:?}: the restored file differs from the backup"
        );
        assert_eq!(result["sha256"], sha256_hex(&target), "hooks {hooks:?}");
        assert_eq!(result["backup"]["sha256"], sha256_hex(&backup));
        assert_eq!(result["tables"]["items"], 60_000);
    }
}

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

    let out = sb.runbook("r.rhai", RESTORE).arg("--json").run();
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
    let pid = holder.0.id();
    sb.write("r.rhai", RESTORE);
    let before = snapshot(sb.path());
    sb.test()
        .args(["run", "r.rhai", "--json"])
        .status(1)
        .stderr_contains(format!("app.db is open in pid {pid}"))
        .stderr_contains("live: true")
        .run();
    assert_eq!(
        snapshot(sb.path()),
        before,
        "a refused restore changed files"
    );
    assert_eq!(tags(&target), ["old"]);

    let dry_run = r#"db::restore("backup.db", "app.db", #{ force: true, dry_run: true })"#;
    let plan = sb.runbook("p.rhai", dry_run).arg("--json").run();
    kill(holder);

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
    let out = sb.runbook("r.rhai", LIVE_RESTORE).arg("--json").run();
    kill(holder);
    let result = &out.json()["result"];
    assert_eq!(result["live"], true);
    assert_eq!(tags(&target), ["backup"]);
    assert_eq!(integrity(&target), "ok");
    let safety = sb.join(result["safety"].as_str().expect("safety"));
    assert_eq!(tags(&safety), ["old"]);
}

/// The sequence numbers of the writer's rows in a database.
fn writer_rows(path: &Path) -> std::collections::HashSet<i64> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open");
    let mut stmt = conn
        .prepare("SELECT payload FROM items WHERE tag = 'writer'")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn live_restore_under_a_busy_writer_loses_no_commit() {
    let sb = Sandbox::new();
    make_db(&sb.join("backup.db"), 30, "backup");
    let target = sb.join("app.db");
    make_db(&target, 5, "old");
    let writer = spawn_writer(&target, "commit");
    let out = sb.runbook("r.rhai", LIVE_RESTORE).arg("--json").run();
    let log = sb.join("app.writer-log");
    let logged = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let at_restore = logged(&log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while logged(&log) < at_restore + 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(writer);
    let result = &out.json()["result"];
    let safety = sb.join(result["safety"].as_str().expect("safety"));
    let acknowledged: Vec<i64> = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let (kept, now) = (writer_rows(&safety), writer_rows(&target));
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| !kept.contains(n) && !now.contains(n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} committed transactions are in neither the safety copy nor the restored database: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        !kept.is_empty() && !now.is_empty(),
        "the writer did not write on both sides; the test proves nothing"
    );
    assert_eq!(integrity(&target), "ok");
    assert_eq!(integrity(&safety), "ok");
    let restored: Vec<i64> = ids(&target).into_iter().take(30).collect();
    assert_eq!(restored, (1..=30).collect::<Vec<_>>());
}

/// Files a killed run may leave: temp files and their SQLite side files.
pub(crate) fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
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
        sb.write("r.rhai", RESTORE);
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
        // The next run sweeps what the killed one left, and says so.
        let out = sb.test().args(["run", "r.rhai", "--json"]).run();
        assert_eq!(
            leftovers(sb.path()),
            Vec::<String>::new(),
            "after a kill at `{point}` (#{i})"
        );
        if point == &"after-temp" {
            let swept = out.json()["result"]["swept"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                !swept.is_empty(),
                "the sweep of the killed run's temp file is not reported"
            );
        }
    }
    assert!(started.elapsed() < Duration::from_secs(600));
}

/// Start `ripcord run SCRIPT` paused at the debug-build test hook `point`; returns once it is
/// there, still running (its stderr is held so it never blocks on a full pipe).
fn paused_run(
    sb: &Sandbox,
    script: &str,
    point: &str,
) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut cmd = sb.command(&["run", script]);
    cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    cmd.env("RIPCORD_TEST_PAUSE_AT", point);
    let mut child = cmd.spawn().expect("spawn ripcord");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("stderr") > 0 {
        if line.contains(&format!("paused at {point}")) {
            return (child, stderr);
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the run never reached {point}");
}

/// Run the restore of `RESTORE` paused right after its rename, let `meddle` change the target
/// then, and return the run's exit code and stderr.
fn restore_meddled_after_rename(sb: &Sandbox, meddle: impl FnOnce(&Path)) -> (Option<i32>, String) {
    use std::io::Read;
    make_db(&sb.join("backup.db"), 3000, "new");
    make_db(&sb.join("app.db"), 2000, "old");
    sb.write("r.rhai", RESTORE);
    let resume = sb.join("resume");
    let mut cmd = sb.command(&["run", "r.rhai"]);
    cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    cmd.env("RIPCORD_TEST_PAUSE_AT", "after-rename");
    cmd.env("RIPCORD_TEST_RESUME", &resume);
    let mut child = cmd.spawn().expect("spawn ripcord");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    while !seen.contains("paused at after-rename") {
        assert!(
            stderr.read_line(&mut seen).expect("stderr") > 0,
            "never paused: {seen}"
        );
    }
    meddle(&sb.join("app.db"));
    std::fs::write(&resume, "").expect("resume");
    stderr.read_to_string(&mut seen).expect("stderr");
    (child.wait().expect("wait").code(), seen)
}

/// After the rename, the restore checks that the file under the target's name is the one it
/// wrote and reads as the backup, instead of counting every row again.
#[test]
fn a_restored_target_replaced_or_changed_after_the_rename_is_caught() {
    let sb = Sandbox::new();
    let (code, stderr) = restore_meddled_after_rename(&sb, |target| {
        let other = target.with_file_name("other.db");
        make_db(&other, 10, "other");
        std::fs::rename(&other, target).expect("replace the target");
    });
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("app.db is not the file the restore wrote"),
        "{stderr}"
    );
    assert!(
        stderr.contains(".pre-restore-"),
        "the safety copy is not named: {stderr}"
    );

    let sb = Sandbox::new();
    let (code, stderr) = restore_meddled_after_rename(&sb, |target| {
        use std::os::unix::fs::FileExt;
        // user_version, in place: the same file, no longer what was verified.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(target)
            .expect("open");
        file.write_all_at(&8_u32.to_be_bytes(), 60).expect("write");
    });
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("app.db does not read as the backup"),
        "{stderr}"
    );

    let sb = Sandbox::new();
    let (code, stderr) = restore_meddled_after_rename(&sb, |_| {});
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(ids(&sb.join("app.db")), (1..=3000).collect::<Vec<_>>());
}

/// A database unlike `make_db`'s, in journal mode `mode`: a table with no index (its count
/// reads every page), a WITHOUT ROWID table and an empty one.
fn make_other_schema(path: &Path, mode: &str, rows: i64) {
    let conn = Connection::open(path).expect("open");
    conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| {
        r.get::<_, String>(0)
    })
    .expect("journal_mode");
    conn.execute_batch(
        "CREATE TABLE log (at REAL, line TEXT);
         CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
         CREATE TABLE unused (x);
         PRAGMA user_version = 3;",
    )
    .expect("schema");
    let tx = conn.unchecked_transaction().expect("tx");
    for i in 0..rows {
        tx.execute("INSERT INTO log VALUES (?1, 'line')", [i])
            .expect("log");
        tx.execute("INSERT INTO kv VALUES ('k' || ?1, zeroblob(50))", [i])
            .expect("kv");
    }
    tx.commit().expect("commit");
}

/// The byte-copy restore's check after the rename, across journal modes and a schema unlike the
/// demo's: a rollback-journal backup over a WAL target and the other way round both restore,
/// report the backup's row counts (what is now in the file) and leave no journal beside it.
#[test]
fn a_restore_across_journal_modes_of_another_schema_reports_the_rows_in_place() {
    for (backup_mode, target_mode) in [("DELETE", "WAL"), ("WAL", "DELETE")] {
        let sb = Sandbox::new();
        make_other_schema(&sb.join("backup.db"), backup_mode, 700);
        make_other_schema(&sb.join("app.db"), target_mode, 20);
        let out = sb.runbook("r.rhai", RESTORE).arg("--json").run();
        let result = &out.json()["result"];
        let target = sb.join("app.db");
        let conn = Connection::open(&target).expect("open");
        for (table, rows) in [("log", 700), ("kv", 700), ("unused", 0)] {
            let counted: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .expect("count");
            assert_eq!(counted, rows, "{backup_mode} over {target_mode}: {table}");
            assert_eq!(
                result["tables"][table], rows,
                "{backup_mode} over {target_mode}: {result}"
            );
        }
        drop(conn);
        assert_eq!(integrity(&target), "ok");
        assert_eq!(result["sha256"], sha256_hex(&sb.join("backup.db")));
        for side in ["app.db-wal", "app.db-journal"] {
            assert!(
                std::fs::metadata(sb.join(side)).map_or(true, |m| m.len() == 0),
                "{backup_mode} over {target_mode}: {side} beside the restored file"
            );
        }
    }
}

fn swept_by(out: &crate::support::Outcome) -> Vec<String> {
    out.json()["result"]["swept"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

/// A temp file appears in the folder only already locked: the empty temp of a run killed right
/// after creating it is swept by the very next run (no grace period), and the temp of a run
/// that is alive in another process is never swept.
#[test]
fn an_empty_temp_of_a_killed_run_is_swept_at_once_and_a_live_runs_never() {
    let sb = Sandbox::new();
    make_db(&sb.join("backup.db"), 300, "new");
    make_db(&sb.join("app.db"), 200, "old");
    sb.write("r.rhai", RESTORE);
    let (mut live, _stderr) = paused_run(&sb, "r.rhai", "temp-created");
    let held = leftovers(sb.path());
    assert_eq!(held.len(), 1, "the paused run's temp: {held:?}");
    assert_eq!(
        std::fs::metadata(sb.join(&held[0])).expect("temp").len(),
        0,
        "the temp is empty: the case the old grace period was for"
    );

    // Another process restores beside it while it lives (another runbook: the first one's run
    // lock is held): its temp stays.
    sb.write("other.rhai", RESTORE);
    let out = sb.test().args(["run", "other.rhai", "--json"]).run();
    assert_eq!(swept_by(&out), Vec::<String>::new());
    assert_eq!(leftovers(sb.path()), held, "a live run's temp was swept");

    // Killed: the next run, at once, removes it and says so.
    let _ = live.kill();
    let _ = live.wait();
    let out = sb.test().args(["run", "r.rhai", "--json"]).run();
    let swept = swept_by(&out);
    assert!(
        swept.len() == 1 && swept[0].ends_with(&held[0]),
        "swept {swept:?}, expected {held:?}"
    );
    assert_eq!(leftovers(sb.path()), Vec::<String>::new());
    assert_eq!(tags(&sb.join("app.db")), ["new"]);
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
    let out = sb.test().args(["run", "q.rhai", "--json"]).run();
    let r = &out.json()["result"];
    assert_eq!(r["changes"], 2);
    assert_eq!(
        r["rows"],
        serde_json::json!([{ "id": 2, "tag": "b" }, { "id": 3, "tag": "b" }])
    );
    assert_eq!(r["busy"], false);
    assert_eq!(r["integrity"], "ok");
    assert_eq!(r["version"], 7);

    let write = r#"db::query("app.db", "DELETE FROM items")"#;
    let out = sb.runbook("w.rhai", write).arg("--json").status(1).run();
    assert!(
        ["readonly", "read-only", "query_only"]
            .iter()
            .any(|word| out.stderr.contains(word)),
        "{}",
        out.stderr
    );
    assert_eq!(ids(&sb.join("app.db")).len(), 3);
}

// ---- a WAL database without its -wal -----------------------------------------------------------

#[test]
fn a_wal_database_with_a_shm_but_no_wal_warns_in_verify_and_is_refused_by_restore() {
    let setup = |sb: &Sandbox| {
        make_db(&sb.join("app.db"), 5, "old");
        let backup = sb.join("backup.db");
        make_db(&backup, 30, "backup");
        // A writer killed with commits in its WAL, then the WAL lost (copied without it).
        let conn = Connection::open(&backup).expect("open");
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; UPDATE items SET tag = 'late';")
            .expect("update");
        std::fs::copy(&backup, sb.join("lost.db")).expect("copy");
        std::fs::copy(sb.join("backup.db-shm"), sb.join("lost.db-shm")).expect("copy shm");
        drop(conn);
    };
    let sb = Sandbox::new();
    setup(&sb);
    let out = sb
        .runbook("v.rhai", r#"db::verify("lost.db")"#)
        .arg("--json")
        .stderr_contains("but no -wal")
        .run();
    let warnings = &out.json()["result"]["warnings"];
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("lost.db-shm")),
        "{warnings}"
    );
    refused(
        setup,
        "db::restore(\"lost.db\", \"app.db\", #{ force: true })",
        "allow_missing_wal: true",
    );
    let allow = r#"db::restore("lost.db", "app.db", #{ force: true, allow_missing_wal: true })"#;
    sb.runbook("r.rhai", allow).arg("--json").run();
    assert_eq!(tags(&sb.join("app.db")), ["backup"]);
}

// ---- disk full ---------------------------------------------------------------------------------

/// A folder on a filesystem with `bytes` of space: a tmpfs mounted for the test (as root), else
/// `None` and the caller limits the file size of the process instead (RLIMIT_FSIZE).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(sb: &Sandbox, bytes: u64) -> Option<SmallDisk> {
        let dir = sb.join("small");
        std::fs::create_dir(&dir).expect("mkdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// Run `call` with too little space for its copy: on a small tmpfs where this may mount one,
/// else under a file-size limit. It must fail naming the destination, and leave nothing.
pub(crate) fn out_of_space(call: &str, expected: &[&str]) {
    let sb = Sandbox::new();
    make_db(&sb.join("app.db"), 20_000, "seed");
    let disk = SmallDisk::mount(&sb, 1 << 20);
    let folder = match &disk {
        Some(d) => d.dir.clone(),
        None => sb.join("small"),
    };
    sb.write(
        "t.rhai",
        &call.replace("SMALL", &folder.display().to_string()),
    );
    let mut cmd = sb.command(&["run", "t.rhai"]);
    if disk.is_none() {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: 1 << 20,
                    rlim_max: 1 << 20,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
                Ok(())
            });
        }
    }
    let out = cmd.output().expect("run ripcord");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{call}\n{stderr}");
    let wanted: &[&str] = if disk.is_some() {
        expected
    } else {
        &["larger than this process may write"]
    };
    for text in wanted {
        assert!(
            stderr.contains(text),
            "{call}: expected `{text}` in:\n{stderr}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&folder)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{call} left {left:?}");
}

#[test]
fn disk_full_names_the_destination_says_how_much_is_needed_and_leaves_nothing() {
    // Every copy checks the destination's free space first (sys::ensure_free).
    let expected = ["not enough space in", "copy.db", "needed", "available"];
    out_of_space("db::backup(\"app.db\", \"SMALL/copy.db\")", &expected);
    out_of_space(
        "db::backup(\"app.db\", \"SMALL/copy.db\", #{ compact: true })",
        &expected,
    );
    out_of_space(
        "db::backup(\"app.db\", \"SMALL/copy.db\", #{ verify: \"none\" })",
        &expected,
    );
    out_of_space(
        "db::restore(\"app.db\", \"SMALL/target.db\")",
        &[
            "not enough space in",
            "the restore of app.db into",
            "needed",
        ],
    );
}

// ---- damaged sources -------------------------------------------------------------------------

/// A database with a two-level b-tree (`items`, 3000 rows), an index and free pages; WAL mode
/// with commits left in its WAL (`wal`), else rollback-journal mode.
fn make_damageable(path: &Path, wal: bool) {
    make_db(path, 3000, "seed");
    let conn = Connection::open(path).expect("open");
    conn.execute_batch(
        "DELETE FROM items WHERE id BETWEEN 1000 AND 1600; PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .expect("free pages");
    if wal {
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint = 0; UPDATE items SET tag = 'wal' WHERE id < 500;",
        )
        .expect("wal frames");
        // Leave the WAL behind as a killed process would.
        std::mem::forget(conn);
    } else {
        conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        })
        .expect("rollback");
    }
}

pub(crate) fn page_size_and_count(path: &Path) -> (u64, u64) {
    let bytes = std::fs::read(path).expect("read");
    let raw = u16::from_be_bytes([bytes[16], bytes[17]]) as u64;
    let size = if raw == 1 { 65536 } else { raw };
    (size, bytes.len() as u64 / size)
}

/// Overwrite page `page` (1-based) of `path`, from `skip` bytes into it, with `fill`.
pub(crate) fn overwrite_page(path: &Path, page: u64, skip: u64, fill: &[u8]) {
    use std::os::unix::fs::FileExt;
    let (size, _) = page_size_and_count(path);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    let len = (size - skip) as usize;
    let bytes: Vec<u8> = fill.iter().cycle().take(len).copied().collect();
    file.write_all_at(&bytes, (page - 1) * size + skip)
        .expect("write");
}

/// The page numbers to damage, read from the file's own structures: the `items` root (an
/// interior page), a leaf below it, the first freelist trunk page.
pub(crate) fn pages_of(path: &Path) -> (u64, u64, u64) {
    let bytes = std::fs::read(path).expect("read");
    let (size, _) = page_size_and_count(path);
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open");
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'items'",
            [],
            |r| r.get(0),
        )
        .expect("root");
    let root = root as u64;
    let at = ((root - 1) * size) as usize;
    assert_eq!(bytes[at], 0x05, "the items root is not an interior page");
    let cell = u16::from_be_bytes([bytes[at + 12], bytes[at + 13]]) as usize;
    let leaf = u32::from_be_bytes([
        bytes[at + cell],
        bytes[at + cell + 1],
        bytes[at + cell + 2],
        bytes[at + cell + 3],
    ]) as u64;
    let trunk = u32::from_be_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]) as u64;
    assert!(trunk > 0, "no free pages");
    (root, leaf, trunk)
}

/// Hold a database open as a service would (reading it if it can), until killed.
pub(crate) fn hold_open(db: &Path) -> Helper {
    let code = "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1])\ntry:\n    c.execute('SELECT count(*) FROM items').fetchall()\nexcept Exception:\n    pass\nprint('ready', flush=True)\ntime.sleep(600)\n";
    let mut child = Command::new("python3")
        .args(["-c", code])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    Helper(child)
}

#[test]
fn a_damaged_database_is_copied_byte_for_byte_and_the_damage_reported() {
    let kinds = ["leaf", "interior", "page1", "freelist", "wal"];
    let fills: [&[u8]; 2] = [&[0x5a, 0x13, 0xc7, 0x01, 0xee, 0x42, 0x99], &[0]];
    for kind in kinds {
        for fill in fills {
            for running in [false, true] {
                let sb = Sandbox::new();
                let db = sb.join("app.db");
                make_damageable(&db, kind == "wal");
                let (root, leaf, trunk) = pages_of(&db);
                match kind {
                    "leaf" => overwrite_page(&db, leaf, 0, fill),
                    "interior" => overwrite_page(&db, root, 0, fill),
                    "page1" => overwrite_page(&db, 1, 0, fill),
                    "freelist" => overwrite_page(&db, trunk, 0, fill),
                    _ => {
                        use std::os::unix::fs::FileExt;
                        let wal = std::fs::OpenOptions::new()
                            .write(true)
                            .open(sb.join("app.db-wal"))
                            .expect("wal");
                        let junk: Vec<u8> = fill.iter().cycle().take(3000).copied().collect();
                        wal.write_all_at(&junk, 5000).expect("write wal");
                    }
                }
                let holder = running.then(|| hold_open(&db));
                let before = std::fs::read(&db).expect("read");
                let wal_before = std::fs::read(sb.join("app.db-wal")).ok();
                let case = format!("{kind}, fill {fill:?}, service running: {running}");
                let backup = r#"db::backup("app.db", "copy.db", #{ verify: "none" })"#;
                let test = sb.runbook("b.rhai", backup).arg("--json");
                let out = test.context(&case).run();
                drop(holder);
                let copy = std::fs::read(sb.join("copy.db")).expect("copy");
                assert!(copy == before, "{case}: the copy is not byte-exact");
                assert_eq!(
                    std::fs::read(&db).expect("read"),
                    before,
                    "{case}: the source changed"
                );
                let result = &out.json()["result"];
                assert_eq!(result["sha256"], sha256_hex(&sb.join("copy.db")), "{case}");
                if let Some(wal) = wal_before.filter(|w| !w.is_empty()) {
                    assert_eq!(
                        std::fs::read(sb.join("copy.db-wal")).ok(),
                        Some(wal),
                        "{case}: the -wal copy"
                    );
                }
                if kind != "wal" {
                    assert!(
                        result["readable"] == false || result["integrity"] != "ok",
                        "{case}: the damage is not reported: {result}"
                    );
                }
                assert_eq!(leftovers(sb.path()), Vec::<String>::new(), "{case}");
            }
        }
    }
}
