//! `journal export`: a consistent, self-contained snapshot of a journal (optionally only the runs
//! of one fleet run), for an orchestrator to fetch from each host.
//!
//! The snapshot is one `VACUUM INTO` (a single read transaction, so a run writing at the same
//! moment is either wholly before it or after it). Filtering by correlation id deletes the other
//! runs and then vacuums again with `secure_delete`, so no other run's data stays behind in free
//! pages. Each kept event keeps its hash and its predecessor's hash (`export_links`), so the
//! kept events can still be checked against the source's chain (`journal verify` does).

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::Journal;
use crate::time::now_rfc3339;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub runs: usize,
    pub events: usize,
    /// The hash of the source's last event when the snapshot was taken.
    pub chain_head: String,
}

const EXPORT_SCHEMA: &str = "
CREATE TABLE export_links (
    event      INTEGER PRIMARY KEY,
    prev_hash  TEXT NOT NULL
);
CREATE TABLE export_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT
);
";

impl Journal {
    /// Write a snapshot of this journal to `out` (which must not exist yet): every run, or only
    /// the runs recorded with `correlation` and the sub-runs they started.
    pub fn export(&self, out: &Path, correlation: Option<&str>) -> Result<Exported, String> {
        let tmp = temp_beside(out)?;
        let result = self.export_to(&tmp, correlation).and_then(|exported| {
            publish(&tmp, out)?;
            Ok(exported)
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn export_to(&self, tmp: &Path, correlation: Option<&str>) -> Result<Exported, String> {
        let describe = |e: rusqlite::Error| format!("cannot export the journal: {e}");
        let target = tmp.to_str().ok_or_else(|| {
            format!(
                "cannot export to {}: the path is not valid UTF-8",
                tmp.display()
            )
        })?;
        self.conn
            .execute("VACUUM INTO ?1", [target])
            .map_err(describe)?;
        let conn = Connection::open(tmp).map_err(describe)?;
        // One file, no `-wal`/`-shm` beside it: the export is copied around as it is.
        conn.pragma_update(None, "journal_mode", "DELETE")
            .map_err(describe)?;
        let exported = shape(&conn, correlation).map_err(describe)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(describe)?;
        conn.execute_batch("VACUUM").map_err(describe)?;
        drop(conn);
        fs::File::open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
        Ok(exported)
    }
}

/// Keep only the exported runs and record the links and the chain head they hang from.
fn shape(conn: &Connection, correlation: Option<&str>) -> rusqlite::Result<Exported> {
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(EXPORT_SCHEMA)?;
    let chain_head: String = tx
        .query_row(
            "SELECT hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_default();
    tx.execute(
        "INSERT INTO export_links (event, prev_hash)
         SELECT e.id, COALESCE((SELECT p.hash FROM events p WHERE p.id = e.id - 1), '')
         FROM events e",
        [],
    )?;
    if let Some(id) = correlation {
        keep_only(&tx, id)?;
    }
    let meta = [
        ("exported_at", Some(now_rfc3339())),
        ("correlation_id", correlation.map(str::to_string)),
        ("chain_head", Some(chain_head.clone())),
    ];
    for (key, value) in meta {
        tx.execute(
            "INSERT INTO export_meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
    }
    let runs: i64 = tx.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))?;
    let events: i64 = tx.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(Exported {
        runs: usize::try_from(runs).unwrap_or(0),
        events: usize::try_from(events).unwrap_or(0),
        chain_head,
    })
}

/// Delete every run that is not part of fleet run `correlation` (sub-runs follow their parent).
fn keep_only(tx: &rusqlite::Transaction<'_>, correlation: &str) -> rusqlite::Result<()> {
    tx.execute_batch("CREATE TEMP TABLE keep (run INTEGER PRIMARY KEY)")?;
    tx.execute(
        "WITH RECURSIVE kept(id) AS (
             SELECT run FROM run_identity WHERE correlation_id = ?1
             UNION SELECT r.id FROM runs r JOIN kept k ON r.parent = k.id
         )
         INSERT INTO temp.keep (run) SELECT id FROM kept",
        [correlation],
    )?;
    tx.execute_batch(
        "DELETE FROM events WHERE run NOT IN (SELECT run FROM temp.keep);
         DELETE FROM runs WHERE id NOT IN (SELECT run FROM temp.keep);
         DELETE FROM run_identity WHERE run NOT IN (SELECT run FROM temp.keep);
         DELETE FROM export_links WHERE event NOT IN (SELECT id FROM events);
         DROP TABLE temp.keep;",
    )
}

/// An owner-only empty file next to `out` (same filesystem, so the rename is atomic).
fn temp_beside(out: &Path) -> Result<PathBuf, String> {
    if out.exists() || out.is_symlink() {
        return Err(format!(
            "{} already exists: an export never overwrites a file\nhelp: remove it or pick another --out path",
            out.display()
        ));
    }
    let name = out
        .file_name()
        .ok_or_else(|| format!("--out {} names no file", out.display()))?;
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    // `VACUUM INTO` accepts an empty file: creating it first gives it its final mode.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    Ok(tmp)
}

/// Move the finished snapshot into place without replacing anything, then sync the folder.
fn publish(tmp: &Path, out: &Path) -> Result<(), String> {
    // A hard link fails if `out` appeared meanwhile, where a rename would replace it.
    fs::hard_link(tmp, out).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => format!(
            "{} appeared during the export: left as it was\nhelp: remove it or pick another --out path",
            out.display()
        ),
        _ => format!("cannot write {}: {e}", out.display()),
    })?;
    let _ = fs::remove_file(tmp);
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

/// The links an export recorded, by event id; empty for a journal that is not an export.
pub(super) fn links(conn: &Connection) -> rusqlite::Result<Option<Vec<(i64, String)>>> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'export_links')",
        [],
        |r| r.get(0),
    )?;
    if !present {
        return Ok(None);
    }
    let mut stmt = conn.prepare("SELECT event, prev_hash FROM export_links ORDER BY event")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::RunIdentity;
    use crate::journal::RunStart;

    fn start(journal: &mut Journal, correlation: Option<&str>, parent: Option<i64>) -> i64 {
        let run = RunStart {
            script: "s".into(),
            path: "/s.rhai".into(),
            sha256: String::new(),
            params: serde_json::json!({}),
            operator: "root".into(),
            host: "h".into(),
            mode: "run".into(),
            parent,
            identity: RunIdentity::new(Some("web-01".into()), correlation.map(str::to_string)),
        };
        journal.start_run(&run).expect("start")
    }

    /// Runs of fleet runs A and B interleaved, B's with a secret-looking marker; A has a sub-run.
    fn journal(dir: &Path) -> Journal {
        let mut j = Journal::open(&dir.join("journal.db")).expect("open");
        let a = start(&mut j, Some("A"), None);
        let b = start(&mut j, Some("B"), None);
        let sub = start(&mut j, None, Some(a));
        for (run, text) in [
            (a, "a-step"),
            (b, "B-ONLY-MARKER"),
            (sub, "sub-step"),
            (a, "a-end"),
        ] {
            let data = serde_json::json!({ "text": text });
            j.event(run, "log", Some("x"), &data).expect("event");
        }
        for run in [a, b, sub] {
            j.finish_run(run, "ok", 0, None).expect("finish");
        }
        j
    }

    #[test]
    fn an_export_of_one_fleet_run_keeps_its_runs_and_no_trace_of_others() {
        let dir = tempfile::tempdir().expect("dir");
        let source = journal(dir.path());
        let out = dir.path().join("a.db");
        let done = source.export(&out, Some("A")).expect("export");
        assert_eq!(done.runs, 2, "the run and its sub-run");
        let bytes = fs::read(&out).expect("read");
        let needle = b"B-ONLY-MARKER";
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        let exported = Journal::open(&out).expect("open export");
        assert_eq!(exported.verify().expect("verify"), Ok(done.events));
        let mode = fs::metadata(&out).expect("meta").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn an_edited_event_in_an_export_breaks_verify() {
        let dir = tempfile::tempdir().expect("dir");
        let source = journal(dir.path());
        let out = dir.path().join("a.db");
        source.export(&out, Some("A")).expect("export");
        let conn = Connection::open(&out).expect("open");
        conn.execute(
            "UPDATE events SET data = replace(data, 'a-end', 'a-END') WHERE data LIKE '%a-end%'",
            [],
        )
        .expect("edit");
        drop(conn);
        let exported = Journal::open(&out).expect("open export");
        let broken = exported.verify().expect("verify").expect_err("edited");
        assert!(broken.reason.contains("edited"), "{}", broken.reason);
    }

    #[test]
    fn an_export_never_replaces_a_file() {
        let dir = tempfile::tempdir().expect("dir");
        let source = journal(dir.path());
        let out = dir.path().join("taken.db");
        fs::write(&out, "keep me").expect("write");
        let err = source.export(&out, None).expect_err("refused");
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(fs::read_to_string(&out).expect("read"), "keep me");
    }

    #[test]
    fn a_whole_export_verifies_like_the_source() {
        let dir = tempfile::tempdir().expect("dir");
        let source = journal(dir.path());
        let out = dir.path().join("all.db");
        let done = source.export(&out, None).expect("export");
        assert_eq!(done.runs, 3);
        let exported = Journal::open(&out).expect("open export");
        assert_eq!(
            exported.verify().expect("verify"),
            source.verify().expect("verify")
        );
    }
}
