//! `db::salvage` on real SQLite files damaged in every way the fault matrix names (a leaf page,
//! the table's interior root, the schema page, the freelist, the WAL, random bytes across the
//! file, a cut file), in WAL and rollback-journal mode, with and without a process holding the database
//! open. What a salvage returns is checked against what was committed: only true rows, every
//! row of what was not damaged, honest evidence (never `complete` when rows are missing).
//!
//! The `sqlite3` shell's `.recover` is not used as an oracle: the Debian build here lacks the
//! `sqlite_dbpage` table it needs ("SQL logic error"); the committed rows are the oracle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::Connection;

use crate::db::{
    hold_open, kill, leftovers, make_db, out_of_space, overwrite_page, page_size_and_count,
    pages_of,
};
use crate::support::Sandbox;

/// The damaged database: `items` (ids 1..3000 less 1000..1600, tag "seed", then ids < 500
/// tagged "wal" and a row 3001 "late" in WAL mode, left in the WAL), `other` (500 rows, no
/// rowid alias), an AUTOINCREMENT table; a copy taken before the last changes is `good.db`.
fn make_source(sb: &Sandbox, wal: bool) {
    let db = sb.join("app.db");
    make_db(&db, 3000, "seed");
    let conn = Connection::open(&db).expect("open");
    conn.execute_batch(
        "CREATE TABLE other (a, b TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
         INSERT INTO other SELECT i, printf('%0100d', i) FROM n;
         CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
         INSERT INTO counted (v) VALUES (1), (2), (3); DELETE FROM counted WHERE id = 3;
         DELETE FROM items WHERE id BETWEEN 1000 AND 1600;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .expect("fill");
    std::fs::copy(&db, sb.join("good.db")).expect("good copy");
    if wal {
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint = 0; UPDATE items SET tag = 'wal' WHERE id < 500;
             INSERT INTO items (id, tag) VALUES (3001, 'late');",
        )
        .expect("wal frames");
        // Leave the WAL behind as a killed service would.
        std::mem::forget(conn);
    } else {
        conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        })
        .expect("rollback mode");
    }
}

/// What `items` may truly hold, by id: the tags a committed state gave that id.
fn committed(wal: bool) -> BTreeMap<i64, BTreeSet<&'static str>> {
    let mut rows = BTreeMap::new();
    for id in (1..=3000).filter(|id| !(1000..=1600).contains(id)) {
        let mut tags = BTreeSet::from(["seed"]);
        if wal && id < 500 {
            tags.insert("wal");
        }
        rows.insert(id, tags);
    }
    if wal {
        rows.insert(3001, BTreeSet::from(["late"]));
    }
    rows
}

fn items_of(path: &Path) -> BTreeMap<i64, String> {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT id, tag, length(payload) FROM items")
        .expect("prepare");
    stmt.query_map([], |r| {
        let len: Option<i64> = r.get(2)?;
        let tag: String = r.get(1)?;
        Ok((r.get(0)?, format!("{tag}:{}", len.unwrap_or(0))))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn scalar(path: &Path, sql: &str) -> String {
    let conn = Connection::open(path).expect("open");
    conn.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
        .map(|v| format!("{v:?}"))
        .expect(sql)
}

fn damage(sb: &Sandbox, kind: &str, fill: &[u8]) {
    let db = sb.join("app.db");
    let (root, leaf, trunk) = pages_of(&db);
    match kind {
        "leaf" => overwrite_page(&db, leaf, 0, fill),
        "interior" => overwrite_page(&db, root, 0, fill),
        "page1" => overwrite_page(&db, 1, 0, fill),
        "freelist" => overwrite_page(&db, trunk, 0, fill),
        "truncate" => {
            // Cut between 40 % and 80 % of the pages, by the fill's first byte.
            let (size, count) = page_size_and_count(&db);
            let kept = count * (40 + u64::from(fill[0]) % 41) / 100;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&db)
                .expect("open")
                .set_len(kept * size)
                .expect("truncate");
        }
        "wal" => {
            use std::os::unix::fs::FileExt;
            let wal = std::fs::OpenOptions::new()
                .write(true)
                .open(sb.join("app.db-wal"))
                .expect("wal");
            let junk: Vec<u8> = fill.iter().cycle().take(3000).copied().collect();
            wal.write_all_at(&junk, 5000).expect("write wal");
        }
        _ => {
            // Random bytes: five 64-byte runs at spread offsets past page 1.
            use std::os::unix::fs::FileExt;
            let (size, count) = page_size_and_count(&db);
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&db)
                .expect("open");
            for k in 1..=5u64 {
                let at = size + (size * (count - 1) - 64) * k / 6;
                let junk: Vec<u8> = fill
                    .iter()
                    .cycle()
                    .skip(k as usize)
                    .take(64)
                    .copied()
                    .collect();
                file.write_all_at(&junk, at).expect("write");
            }
        }
    }
}

/// One salvage of one damaged database; returns why it is wrong, if it is.
fn trial(kind: &str, wal: bool, fill: &[u8], running: bool) -> Result<(), String> {
    let sb = Sandbox::new();
    make_source(&sb, wal);
    damage(&sb, kind, fill);
    let db = sb.join("app.db");
    let holder = running.then(|| hold_open(&db));
    let before = (
        std::fs::read(&db).ok(),
        std::fs::read(sb.join("app.db-wal")).ok(),
    );
    sb.write(
        "s.rhai",
        "db::salvage(\"app.db\", \"out.db\", #{ backup: \"good.db\" })",
    );
    let out = sb.run(&["run", "s.rhai", "--json"]);
    if let Some(h) = holder {
        kill(h);
    }
    if out.code != 0 {
        return Err(format!("exit {}: {}", out.code, out.stderr.trim()));
    }
    let after = (
        std::fs::read(&db).ok(),
        std::fs::read(sb.join("app.db-wal")).ok(),
    );
    if before != after {
        return Err("the source changed".into());
    }
    if !leftovers(sb.path()).is_empty() {
        return Err(format!("left {:?}", leftovers(sb.path())));
    }
    check_result(&sb, kind, wal, &out.json()["result"])
}

fn check_result(sb: &Sandbox, kind: &str, wal: bool, r: &serde_json::Value) -> Result<(), String> {
    let out = sb.join("out.db");
    if scalar(&out, "PRAGMA integrity_check") != "Text(\"ok\")" {
        return Err("the salvaged database fails integrity_check".into());
    }
    let truth = committed(wal);
    let got = items_of(&out);
    // Only true rows: every salvaged row is one a committed state held, payload intact.
    for (id, tag) in &got {
        let (name, len) = tag.split_once(':').unwrap_or_default();
        let ok = truth.get(id).is_some_and(|tags| tags.contains(name))
            && (len == "200" || name == "late");
        if !ok {
            return Err(format!("a false row: id {id}, {tag}"));
        }
    }
    let items = &r["tables"]["items"];
    if items["recovered"] != got.len() {
        return Err(format!(
            "recovered {} but the file has {}",
            items["recovered"],
            got.len()
        ));
    }
    let missing = truth.len() - got.len();
    if r["complete"] == true && missing > 0 {
        return Err(format!("complete, yet {missing} rows are missing"));
    }
    if let Some(bound) = items["lost_at_most"].as_u64()
        && (bound as usize) < missing
    {
        return Err(format!("lost_at_most {bound} < {missing} missing"));
    }
    // With the header whole and no commit lost in the WAL, the loss is always bounded.
    if !matches!(kind, "wal" | "page1") && items["lost_at_most"].is_null() {
        return Err(format!("no bound on the rows lost: {items}"));
    }
    // Damage confined to one table leaves the others whole.
    let whole_other = !matches!(kind, "random" | "truncate");
    if whole_other && scalar(&out, "SELECT count(*) FROM other") != "Integer(500)" {
        return Err("`other` lost rows".into());
    }
    let floor = match kind {
        // One leaf holds ~17 rows; the rest must be there.
        "leaf" => truth.len() - 40,
        // Random runs can hit five pages, of either table.
        "random" => truth.len() - 120,
        // The WAL damage loses the commits after it, never the rows before.
        "wal" => truth.len() - 1,
        // A cut can take most of the table: only the bound is checked.
        "truncate" => 0,
        // Interior, schema page, freelist: every leaf is intact.
        _ => truth.len(),
    };
    if got.len() < floor {
        return Err(format!(
            "only {} of {} rows (floor {floor})",
            got.len(),
            truth.len()
        ));
    }
    if kind != "truncate"
        && scalar(
            &out,
            "SELECT seq FROM sqlite_sequence WHERE name = 'counted'",
        ) != "Integer(3)"
    {
        return Err("the AUTOINCREMENT mark was not kept".into());
    }
    let mode = if wal {
        "Text(\"wal\")"
    } else {
        "Text(\"delete\")"
    };
    if scalar(&out, "PRAGMA journal_mode") != mode {
        return Err("the journal mode was not kept".into());
    }
    Ok(())
}

#[test]
fn salvage_of_every_damage_kind_in_both_journal_modes_keeps_only_true_rows_with_honest_evidence() {
    let pattern: &[u8] = &[0x5a, 0x13, 0xc7, 0x01, 0xee, 0x42, 0x99];
    let mut table = vec![format!(
        "{:44} {:>6} {:>6} {:>6}",
        "cell", "trials", "ok", "failed"
    )];
    let mut failures = Vec::new();
    for wal in [false, true] {
        for kind in [
            "leaf", "interior", "page1", "freelist", "wal", "random", "truncate",
        ] {
            // A WAL is damaged only in WAL mode; a cut file only in rollback mode (in WAL
            // mode SQLite reads the cut pages from the WAL).
            if (kind == "wal" && !wal) || (kind == "truncate" && wal) {
                continue;
            }
            let mut cell = (0, 0);
            for (fill, running) in [(pattern, false), (&[0u8][..], false), (&[0xff][..], true)] {
                cell.0 += 1;
                match trial(kind, wal, fill, running) {
                    Ok(()) => cell.1 += 1,
                    Err(why) => failures.push(format!(
                        "{kind} wal={wal} fill={fill:?} running={running}: {why}"
                    )),
                }
            }
            let name = format!("salvage {} {kind}", if wal { "wal" } else { "delete" });
            table.push(format!(
                "{name:44} {:>6} {:>6} {:>6}",
                cell.0,
                cell.1,
                cell.0 - cell.1
            ));
        }
    }
    println!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\n{}",
        table.join("\n"),
        failures.join("\n")
    );
}

#[test]
fn salvage_of_a_healthy_database_is_complete_and_keeps_schema_versions_and_mode() {
    let sb = Sandbox::new();
    make_source(&sb, true);
    sb.write("s.rhai", "db::salvage(\"app.db\", \"out.db\")");
    let out = sb.run(&["run", "s.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r["complete"], true, "{r}");
    assert_eq!(r["tables"]["items"]["recovered"], 2400);
    assert_eq!(r["tables"]["items"]["lost"], 0);
    assert_eq!(r["tables"]["items"]["expected"], serde_json::Value::Null);
    assert_eq!(r["tables"]["other"]["recovered"], 500);
    assert_eq!(r["lost_and_found"], 0);
    let copy = sb.join("out.db");
    assert_eq!(items_of(&copy).len(), 2400);
    assert_eq!(scalar(&copy, "PRAGMA user_version"), "Integer(7)");
    assert_eq!(
        scalar(
            &copy,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'items_tag'"
        ),
        "Integer(1)"
    );
    assert_eq!(
        scalar(
            &copy,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'ripcord_lost_and_found'"
        ),
        "Integer(0)"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&copy).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "created private from its first byte");
    for side in ["-wal", "-shm", "-journal"] {
        assert!(
            !sb.join(&format!("out.db{side}")).exists(),
            "a stale out.db{side}"
        );
    }
    assert_eq!(r["sha256"], crate::db::sha256_hex(&copy));
}

#[test]
fn salvage_compares_with_the_last_good_backup_row_by_row() {
    let sb = Sandbox::new();
    make_source(&sb, false);
    // Since the backup: 3 rows deleted, 2 added.
    let conn = Connection::open(sb.join("app.db")).expect("open");
    conn.execute_batch(
        "DELETE FROM items WHERE id IN (1, 2, 3); INSERT INTO items (id, tag) VALUES (5000, 'new'), (5001, 'new');",
    )
    .expect("change");
    drop(conn);
    sb.write(
        "s.rhai",
        "db::salvage(\"app.db\", \"out.db\", #{ backup: \"good.db\" })",
    );
    let out = sb.run(&["run", "s.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let items = &out.json()["result"]["tables"]["items"];
    assert_eq!(items["expected"], 2399, "{items}");
    assert_eq!(items["missing"], 3, "{items}");
    assert_eq!(items["new_since_backup"], 2, "{items}");
    assert_eq!(items["recovered"], 2398, "{items}");
}

#[test]
fn salvage_refuses_bad_input_clearly_and_leaves_nothing() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "db::salvage(\"nope.db\", \"out.db\")",
            "",
            &["nope.db: no such file"],
        ),
        (
            "db::salvage(\"app.db\", \"good.db\")",
            "",
            &["good.db already exists", "force: true"],
        ),
        (
            "db::salvage(\"app.db\", \"out.db\", #{ bakup: \"good.db\" })",
            "",
            &["unknown option `bakup`", "backup, "],
        ),
        (
            "db::salvage(\"app.db\", \"out.db\")",
            "page1",
            &[
                "the schema (page 1) of the damaged database cannot be read",
                "#{ backup:",
            ],
        ),
        (
            "db::salvage(\"app.db\", \"missing/out.db\")",
            "",
            &["missing", "does not exist"],
        ),
    ];
    for (call, damaged, expected) in cases {
        let sb = Sandbox::new();
        make_source(&sb, false);
        if !damaged.is_empty() {
            damage(&sb, damaged, &[0]);
        }
        let before: Vec<_> = std::fs::read_dir(sb.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        sb.write("s.rhai", call);
        let out = sb.run(&["run", "s.rhai"]);
        assert_eq!(out.code, 1, "{call}: {}", out.stderr);
        for text in expected {
            assert!(
                out.stderr.contains(text),
                "{call}: `{text}` not in\n{}",
                out.stderr
            );
        }
        assert!(!sb.join("out.db").exists(), "{call}: out.db was written");
        assert_eq!(leftovers(sb.path()), Vec::<String>::new(), "{call}");
        let mut after: Vec<_> = std::fs::read_dir(sb.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "s.rhai" && n != ".state")
            .collect();
        after.sort();
        let mut before = before;
        before.sort();
        assert_eq!(before, after, "{call}: files appeared or vanished");
    }
}

/// Beside `items` (an INTEGER PRIMARY KEY alias): `kv`, a WITHOUT ROWID table over many pages
/// (text keys, some values long enough to overflow), `pair`, a WITHOUT ROWID table with a
/// two-column key in another order than its columns, an FTS5 and an R*Tree virtual table.
fn make_keyed_source(sb: &Sandbox) {
    make_source(sb, false);
    let conn = Connection::open(sb.join("app.db")).expect("open");
    conn.execute_batch(
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO kv SELECT printf('key-%05d', i), CASE WHEN i % 500 = 0 THEN zeroblob(9000) ELSE printf('%0150d', i) END FROM n;
         CREATE TABLE pair (a INTEGER, b TEXT, c REAL, PRIMARY KEY (b, a DESC)) WITHOUT ROWID;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
         INSERT INTO pair SELECT i % 7, printf('b%03d', i), i / 4.0 FROM n;
         CREATE VIRTUAL TABLE notes USING fts5(body);
         INSERT INTO notes (body) VALUES ('disk full on db-1'), ('restore drill passed');
         CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1);
         INSERT INTO boxes VALUES (1, 0, 10);",
    )
    .expect("keyed tables");
    std::fs::copy(sb.join("app.db"), sb.join("good.db")).expect("good copy");
}

/// A table's rows, in key order, as text (so two files can be compared).
fn rows_of(path: &Path, table: &str) -> Vec<String> {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
        .expect("prepare");
    let width = stmt.column_count();
    stmt.query_map([], |r| {
        (0..width)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i)
                    .map(|v| format!("{v:?}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join("|"))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// A leaf page of `table`'s b-tree, from SQLite's own page map.
fn leaf_page_of(path: &Path, table: &str) -> u64 {
    let conn = Connection::open(path).expect("open");
    conn.query_row(
        "SELECT pageno FROM dbstat WHERE name = ?1 AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 3",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .expect("a leaf of the table") as u64
}

#[test]
fn salvage_reads_without_rowid_tables_key_first_and_skips_virtual_tables_with_a_reason() {
    let sb = Sandbox::new();
    make_keyed_source(&sb);
    sb.write(
        "s.rhai",
        "db::salvage(\"app.db\", \"out.db\", #{ backup: \"good.db\" })",
    );
    let out = sb.run(&["run", "s.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    let (src, copy) = (sb.join("app.db"), sb.join("out.db"));
    for table in ["kv", "pair", "items"] {
        assert_eq!(rows_of(&copy, table), rows_of(&src, table), "{table}");
        let t = &r["tables"][table];
        assert_eq!(t["complete"], true, "{table}: {t}");
        assert_eq!(t["lost"], 0, "{table}: {t}");
        assert_eq!(t["missing"], 0, "{table}: {t}");
        assert_eq!(t["new_since_backup"], 0, "{table}: {t}");
    }
    assert_eq!(r["tables"]["kv"]["recovered"], 3000);
    assert_eq!(r["tables"]["kv"]["expected"], 3000);
    assert_eq!(r["tables"]["pair"]["recovered"], 200);
    // The virtual tables are skipped with the reason; their shadow tables are plain tables.
    for vtab in ["notes", "boxes"] {
        let why = r["unreadable"][vtab].as_str().unwrap_or_default();
        assert!(
            why.contains("a virtual table") && why.contains(&format!("{vtab}_")),
            "{vtab}: {r}"
        );
    }
    assert_eq!(r["tables"]["notes_content"]["recovered"], 2, "{r}");
    assert_eq!(
        r["tables"]["notes_config"]["complete"], true,
        "a WITHOUT ROWID shadow table: {r}"
    );
    assert_eq!(r["complete"], false, "virtual tables were skipped: {r}");
    assert_eq!(scalar(&copy, "PRAGMA integrity_check"), "Text(\"ok\")");
    assert_eq!(
        scalar(
            &copy,
            "SELECT count(*) FROM sqlite_schema WHERE name IN ('kv', 'pair') AND sql LIKE '%WITHOUT ROWID'"
        ),
        "Integer(2)",
        "kv and pair are still WITHOUT ROWID tables"
    );
}

#[test]
fn salvage_of_a_damaged_without_rowid_table_keeps_only_true_rows_and_bounds_the_loss_by_room() {
    for fill in [&[0x5a_u8, 0x13, 0xc7, 0x01, 0xee][..], &[0], &[0xff]] {
        let sb = Sandbox::new();
        make_keyed_source(&sb);
        let src = sb.join("app.db");
        let truth: BTreeSet<String> = rows_of(&src, "kv").into_iter().collect();
        let other = rows_of(&src, "pair");
        let page = leaf_page_of(&src, "kv");
        overwrite_page(&src, page, 0, fill);
        sb.write("s.rhai", "db::salvage(\"app.db\", \"out.db\")");
        let out = sb.run(&["run", "s.rhai", "--json"]);
        assert_eq!(out.code, 0, "fill {fill:?}: {}", out.stderr);
        let r = &out.json()["result"];
        let kv = &r["tables"]["kv"];
        let copy = sb.join("out.db");
        let got = rows_of(&copy, "kv");
        assert!(
            got.iter().all(|row| truth.contains(row)),
            "fill {fill:?}: a row that was never committed"
        );
        assert!(
            got.len() < 3000 && got.len() >= 2900,
            "fill {fill:?}: {} rows",
            got.len()
        );
        assert_eq!(kv["recovered"], got.len(), "fill {fill:?}: {kv}");
        assert_eq!(kv["complete"], false, "fill {fill:?}: {kv}");
        assert_eq!(kv["lost"], serde_json::Value::Null, "fill {fill:?}: {kv}");
        // No rowid range, but the damaged page is at the depth of the tree's leaves: one
        // leaf's room bounds the loss.
        let lost = (truth.len() - got.len()) as i64;
        assert!(
            kv["lost_at_most"].as_i64().is_some_and(
                |most| most >= lost && most <= 681 + kv["lost_at_least"].as_i64().unwrap_or(0)
            ),
            "fill {fill:?}: {lost} lost: {kv}"
        );
        assert_eq!(
            kv["damaged_pages"],
            serde_json::json!([page]),
            "fill {fill:?}: {kv}"
        );
        assert_eq!(
            rows_of(&copy, "pair"),
            other,
            "fill {fill:?}: the undamaged table"
        );
        assert_eq!(r["tables"]["items"]["recovered"], 2399, "fill {fill:?}");
        assert_eq!(scalar(&copy, "PRAGMA integrity_check"), "Text(\"ok\")");
        assert_eq!(leftovers(sb.path()), Vec::<String>::new());
    }
}

/// A salvage SIGKILLed while it writes rows (at a test hook, and at random moments) leaves no
/// destination and only temp files the very next run removes and reports.
#[test]
fn a_salvage_killed_midway_leaves_no_destination_and_the_next_run_sweeps_its_temps() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for (i, point) in ["salvage-rows", "temp-created", "", "", ""]
        .iter()
        .enumerate()
    {
        let sb = Sandbox::new();
        make_source(&sb, true);
        damage(&sb, "leaf", &[0]);
        sb.write("s.rhai", "db::salvage(\"app.db\", \"out.db\")");
        let mut cmd = sb.command(&["run", "s.rhai"]);
        cmd.stderr(Stdio::piped()).stdout(Stdio::null());
        if !point.is_empty() {
            cmd.env("RIPCORD_TEST_PAUSE_AT", point);
        }
        let mut child = cmd.spawn().expect("spawn ripcord");
        if point.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(60 * i as u64));
        } else {
            let stderr = child.stderr.take().expect("stderr");
            let paused = BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .any(|l| l.contains(&format!("paused at {point}")));
            assert!(paused, "the salvage never reached {point}");
            assert!(!leftovers(sb.path()).is_empty(), "no temp at {point}");
        }
        let _ = child.kill();
        let _ = child.wait();
        let finished = sb.join("out.db").exists();
        assert!(
            point.is_empty() || !finished,
            "killed at `{point}`, the destination exists"
        );
        let left = leftovers(sb.path());
        // The next run, at once: the killed run's temps are swept and reported.
        let out = sb.run(&["run", "s.rhai", "--json"]);
        if finished {
            assert_eq!(out.code, 1, "out.db exists: the next run refuses it");
            assert!(left.is_empty(), "finished, yet temps were left: {left:?}");
            continue;
        }
        assert_eq!(
            out.code, 0,
            "after a kill at `{point}` (#{i}): {}",
            out.stderr
        );
        let swept: Vec<String> = out.json()["result"]["swept"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        for name in &left {
            assert!(
                swept.iter().any(|p| p.ends_with(name.as_str())),
                "after a kill at `{point}` (#{i}): {name} was not swept ({swept:?})"
            );
        }
        assert_eq!(
            leftovers(sb.path()),
            Vec::<String>::new(),
            "after a kill at `{point}` (#{i})"
        );
        assert_eq!(
            scalar(&sb.join("out.db"), "PRAGMA integrity_check"),
            "Text(\"ok\")"
        );
    }
}

#[test]
fn salvage_into_a_full_disk_fails_naming_the_destination_and_leaves_nothing() {
    out_of_space(
        "db::salvage(\"app.db\", \"SMALL/out.db\")",
        &["not enough space in", "salvage of app.db"],
    );
}

#[test]
fn a_salvage_in_a_drill_is_simulated_and_writes_nothing() {
    let sb = Sandbox::new();
    make_source(&sb, false);
    sb.write("s.rhai", "db::salvage(\"app.db\", \"out.db\")");
    let out = sb.run(&["drill", "s.rhai"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!sb.join("out.db").exists());
    assert_eq!(leftovers(sb.path()), Vec::<String>::new());
}

/// A rollback-journal database: `items` (3000 rows, ~17 a leaf page), its index, and `kv`, a
/// WITHOUT ROWID table of 1000 rows, and free pages; `good.db` is a copy of it.
fn make_bounded(sb: &Sandbox) -> std::path::PathBuf {
    let db = sb.join("app.db");
    make_db(&db, 3000, "seed");
    let conn = Connection::open(&db).expect("open");
    conn.execute_batch(
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO kv SELECT printf('key%05d', i), i FROM n;
         CREATE TABLE scratch AS SELECT zeroblob(40000) AS b; DROP TABLE scratch;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .expect("kv");
    conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })
    .expect("rollback mode");
    drop(conn);
    std::fs::copy(&db, sb.join("good.db")).expect("good copy");
    db
}

fn one_count(db: &Path, table: &str) -> i64 {
    Connection::open(db)
        .and_then(|c| c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)))
        .expect("count")
}

/// Salvage app.db against good.db; the result and the rows of `items` truly lost.
fn salvage_bounded(sb: &Sandbox) -> (serde_json::Value, i64) {
    sb.write(
        "s.rhai",
        "db::salvage(\"app.db\", \"out.db\", #{ backup: \"good.db\" })",
    );
    let out = sb.run(&["run", "s.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = items_of(&sb.join("out.db")).len() as i64;
    (out.json()["result"].clone(), 3000 - got)
}

#[test]
fn salvage_bounds_the_rows_lost_under_a_damaged_leaf_a_truncation_and_in_a_without_rowid_table() {
    // The first leaf of `items`: its range (none, hi] is open-ended, so only the room on the
    // one dark page bounds it: at most (4096 - 8) / 6 rows.
    let sb = Sandbox::new();
    let db = make_bounded(&sb);
    let (_, leaf, _) = pages_of(&db);
    overwrite_page(&db, leaf, 0, &[0xa5]);
    let (r, lost) = salvage_bounded(&sb);
    let items = &r["tables"]["items"];
    assert!(lost > 0, "the damage lost nothing: {r}");
    assert_eq!(items["lost"], serde_json::Value::Null, "{r}");
    assert_eq!(items["lost_at_most"], 681, "{r}");
    assert!(items["lost_at_most"].as_i64() >= Some(lost), "{lost}: {r}");
    assert_eq!(items["lost_at_least"], 0, "{r}");
    assert_eq!(items["lost_unknown"], serde_json::Value::Null, "{r}");
    assert_eq!(items["missing"], lost, "{r}");
    assert_eq!(r["tables"]["kv"]["lost"], 0, "{r}");

    // Cut to 60 %: the header still counts the pages cut off, so the root still reads and
    // names each cut-off leaf with its rowid range; the last one's range is open-ended, and
    // its room bounds it.
    let sb = Sandbox::new();
    let db = make_bounded(&sb);
    let (size, count) = page_size_and_count(&db);
    let kept = count * 6 / 10;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open")
        .set_len(kept * size)
        .expect("truncate");
    let (r, lost) = salvage_bounded(&sb);
    let items = &r["tables"]["items"];
    let most = items["lost_at_most"]
        .as_i64()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(lost > 0, "the cut lost nothing: {r}");
    assert!(most >= lost, "{lost}: {r}");
    assert!(most <= lost + 681, "{r}");
    println!("truncated to {kept} of {count} pages: {lost} rows lost, at most {most}");
    assert_eq!(items["lost_unknown"], serde_json::Value::Null, "{r}");

    // The right-most leaf of the WITHOUT ROWID table: no rowid range, but the room on the
    // one dark page (that leaf) bounds its loss.
    let sb = Sandbox::new();
    let db = make_bounded(&sb);
    let conn =
        Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'kv'",
            [],
            |r| r.get(0),
        )
        .expect("root");
    drop(conn);
    let bytes = std::fs::read(&db).expect("read");
    let at = (root as u64 - 1) * size;
    assert_eq!(
        bytes[at as usize], 0x02,
        "kv's root is not an interior page"
    );
    overwrite_page(
        &db,
        u64::from(u32::from_be_bytes(
            bytes[at as usize + 8..at as usize + 12]
                .try_into()
                .expect("4 bytes"),
        )),
        0,
        &[0xa5],
    );
    let (r, lost) = salvage_bounded(&sb);
    assert_eq!(lost, 0, "{r}");
    let kv = &r["tables"]["kv"];
    let kv_lost = 1000 - one_count(&sb.join("out.db"), "kv");
    assert!(kv_lost > 0, "{r}");
    assert_eq!(kv["lost"], serde_json::Value::Null, "{r}");
    assert_eq!(kv["lost_at_most"], 681, "{kv_lost} lost: {r}");
    assert_eq!(kv["missing"], kv_lost, "{r}");
    assert_eq!(r["tables"]["items"]["lost"], 0, "{r}");

    // A header whose page count was overwritten with a huge (still "valid") one: the pages it
    // claims past the file are counted, not read; the damaged page is at the depth of the
    // leaves, so one leaf's room still bounds it.
    let sb = Sandbox::new();
    let db = make_bounded(&sb);
    let (_, leaf, _) = pages_of(&db);
    overwrite_page(&db, leaf, 0, &[0xa5]);
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .expect("open");
        file.write_all_at(&0x7fff_ffffu32.to_be_bytes(), 28)
            .expect("count");
    }
    let (r, lost) = salvage_bounded(&sb);
    let most = r["tables"]["items"]["lost_at_most"]
        .as_i64()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(most >= lost, "{lost}: {r}");
    assert_eq!(most, 681, "{r}");
    assert_eq!(r["tables"]["items"]["missing"], lost, "{r}");

    // The interior root of `items` and the header damaged: no leaf is reachable (the depth of
    // the leaves is not known), the range is open-ended and the page count is not known.
    let sb = Sandbox::new();
    let db = make_bounded(&sb);
    let (root, _, _) = pages_of(&db);
    overwrite_page(&db, root, 0, &[0xa5]);
    overwrite_page(&db, 1, 0, &[0x5a]);
    let (r, _) = salvage_bounded(&sb);
    let items = &r["tables"]["items"];
    assert_eq!(items["lost_at_most"], serde_json::Value::Null, "{r}");
    assert!(
        items["lost_unknown"]
            .as_str()
            .unwrap_or_default()
            .contains("the damaged header does not say how many pages the file had"),
        "{r}"
    );
}
