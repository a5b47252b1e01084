//! The run journal: a SQLite file recording every run, step, change, prompt and error.
//!
//! A change's event is committed before the change starts and its outcome after, so a killed
//! run shows exactly where it stopped. Events form one hash chain across the whole file so an
//! edited or deleted event is detectable (`ripcord journal verify`).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fleet::RunIdentity;
use crate::status::{EventKind, StepStatus};
use crate::time::now_rfc3339;

mod export;
mod identity;
mod merge;

pub use export::Exported;
pub use merge::{MergeError, SourceMerged, merge};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    script      TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    params      TEXT NOT NULL,
    operator    TEXT NOT NULL,
    host        TEXT NOT NULL,
    mode        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started     TEXT NOT NULL,
    ended       TEXT,
    status      TEXT NOT NULL,
    exit_code   INTEGER,
    step        TEXT,
    error       TEXT,
    parent      INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,
    run     INTEGER NOT NULL,
    ts      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    step    TEXT,
    data    TEXT NOT NULL,
    hash    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run);
";

/// Indexes added after the first schema: created on every open, so older journals get them.
const LATER_INDEXES: &str = "CREATE INDEX IF NOT EXISTS runs_script ON runs(script, id);";

/// The journal's `PRAGMA application_id` ("RPCJ"): how ripcord knows a SQLite file is its
/// journal and not some other application's database.
pub const APPLICATION_ID: i32 = 0x5250_434A;

/// What a path given as the journal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Missing,
    /// An empty file: nothing to lose, it becomes a journal.
    Empty,
    Ours,
    /// A journal written before the application id was set: ripcord's tables, id 0.
    Legacy,
}

/// Tell what `path` is, reading only: a refusal leaves the file exactly as it was (no mode
/// change, no `-wal`/`-shm`, no tables).
fn identify(path: &Path) -> Result<Found, String> {
    let shown = path.display();
    let refuse = |what: String| {
        format!(
            "{shown} is not a ripcord journal: {what}; nothing was changed\nhelp: point --journal (or RIPCORD_JOURNAL) at a new file, or at a journal ripcord wrote"
        )
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(format!("cannot open the journal {shown}: {e}")),
    };
    if !meta.is_file() {
        return Err(refuse("it is not a regular file".to_string()));
    }
    if meta.len() == 0 {
        return Ok(Found::Empty);
    }
    let id = match application_id(path) {
        Ok(id) => id,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(refuse("it is not a SQLite database".to_string()));
        }
        Err(e) => return Err(format!("cannot open the journal {shown}: {e}")),
    };
    if id == APPLICATION_ID {
        return Ok(Found::Ours);
    }
    if id != 0 {
        return Err(refuse(format!(
            "it is another application's SQLite database (application_id {id:#x})"
        )));
    }
    let tables = table_names(path).map_err(|e| refuse(format!("SQLite cannot read it ({e})")))?;
    if tables.iter().any(|t| t == "runs") && tables.iter().any(|t| t == "events") {
        Ok(Found::Legacy)
    } else {
        Err(refuse(format!(
            "it is another application's SQLite database (tables: {})",
            if tables.is_empty() {
                "none".to_string()
            } else {
                tables.join(", ")
            }
        )))
    }
}

/// The table names of a SQLite file, read without locks or side files (`immutable=1`).
/// The header's application_id, read through SQLite and never through a plain file handle:
/// closing any handle on the journal drops every POSIX lock this process's connections hold on
/// it (SQLite keeps its own handles open while a connection lives), and another process closing
/// its last connection would then delete the WAL those connections still write to.
fn application_id(path: &Path) -> rusqlite::Result<i32> {
    peek(path)?.query_row("PRAGMA application_id", [], |r| r.get(0))
}

/// A read-only look at the main file that takes no lock and ignores the WAL.
fn peek(path: &Path) -> rusqlite::Result<Connection> {
    let uri = format!(
        "file:{}?mode=ro&immutable=1",
        path.display()
            .to_string()
            .replace('%', "%25")
            .replace('?', "%3f")
            .replace('#', "%23")
    );
    Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
}

fn table_names(path: &Path) -> rusqlite::Result<Vec<String>> {
    let conn = peek(path)?;
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// Where the journal lives unless `--journal` or `RIPCORD_JOURNAL` says otherwise.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("RIPCORD_JOURNAL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    crate::dirs::state_dir().join("journal.db")
}

/// An open journal.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

/// What is recorded about a run when it starts.
#[derive(Debug, Clone, Serialize)]
pub struct RunStart {
    pub script: String,
    pub path: String,
    pub sha256: String,
    /// Params with secrets already redacted.
    pub params: Value,
    pub operator: String,
    pub host: String,
    pub mode: String,
    pub parent: Option<i64>,
    /// Host id, run UUID and fleet run id: in the hashed `run.start` event and indexed.
    #[serde(flatten)]
    pub identity: RunIdentity,
}

/// The columns [`run_row`] reads, from [`RUN_TABLES`].
const RUN_COLUMNS: &str =
    "r.id, r.script, r.path, r.sha256, r.params, r.operator, r.host, r.mode, r.pid,
     r.started, r.ended, r.status, r.exit_code, r.step, r.error, r.parent,
     i.host_id, i.run_uuid, i.correlation_id";
/// A run and its fleet identity (none for runs recorded before identities were).
const RUN_TABLES: &str = "runs r LEFT JOIN run_identity i ON i.run = r.id";

/// One row of `ripcord history`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub script: String,
    pub path: String,
    pub sha256: String,
    pub params: Value,
    pub operator: String,
    pub host: String,
    pub mode: String,
    pub pid: i64,
    pub started: String,
    pub ended: Option<String>,
    pub status: String,
    pub exit_code: Option<i64>,
    pub step: Option<String>,
    pub error: Option<String>,
    pub parent: Option<i64>,
    /// `--host-id` of the run (`None` for runs recorded before identities were).
    pub host_id: Option<String>,
    pub run_uuid: Option<String>,
    /// The fleet run it belongs to (`--correlation-id`).
    pub correlation_id: Option<String>,
}

/// One event of a run.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub run: i64,
    pub ts: String,
    pub kind: String,
    pub step: Option<String>,
    pub data: Value,
}

impl EventRow {
    /// The kind, if it is one the runtime writes (other commands journal kinds of their own).
    pub fn known_kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }

    pub fn is(&self, kind: EventKind) -> bool {
        self.kind == kind.as_str()
    }

    /// A `step.end` of a step that passed.
    pub fn ends_step_ok(&self) -> bool {
        self.is(EventKind::StepEnd) && self.data["status"] == StepStatus::Ok.as_str()
    }
}

/// A broken link found by [`Journal::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub event: i64,
    pub run: i64,
    pub reason: String,
}

impl Journal {
    /// Open (creating if needed) the journal, owner-only (0600) in an owner-only folder.
    ///
    /// A file that is not a ripcord journal (not SQLite, or another application's database) is
    /// refused before anything is written to it, its mode included.
    pub fn open(path: &Path) -> Result<Journal, String> {
        let describe =
            |e: &dyn std::fmt::Display| format!("cannot open the journal {}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| describe(&e))?;
        }
        let found = identify(path)?;
        match found {
            Found::Missing => {
                // Created new, owner-only from its first byte.
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Journal::open(path);
                    }
                    Err(e) => return Err(describe(&e)),
                }
            }
            Found::Empty | Found::Ours | Found::Legacy => {
                // Tighten a journal created by an older version or by hand.
                let meta = fs::metadata(path).map_err(|e| describe(&e))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
                }
            }
        }
        let conn = Connection::open(path).map_err(|e| describe(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| describe(&e))?;
        if found != Found::Ours {
            // First, so the file's first page already says it is a journal: another ripcord
            // opening it at the same moment sees an empty file or ours, never a stranger.
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(|e| describe(&e))?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| describe(&e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| describe(&e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| describe(&e))?;
        if version == 0 {
            conn.execute_batch(SCHEMA).map_err(|e| describe(&e))?;
            conn.pragma_update(None, "user_version", 1)
                .map_err(|e| describe(&e))?;
        }
        identity::migrate(&conn).map_err(|e| describe(&e))?;
        conn.execute_batch(LATER_INDEXES)
            .map_err(|e| describe(&e))?;
        Ok(Journal {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Open a journal only to read it (a merged journal, a fetched export): nothing is created
    /// or migrated. A file that is not a ripcord journal is refused untouched.
    pub fn open_read_only(path: &Path) -> Result<Journal, String> {
        match identify(path)? {
            Found::Ours | Found::Legacy => {}
            Found::Missing => return Err(format!("{}: no such file", path.display())),
            Found::Empty => {
                return Err(format!(
                    "{} is not a ripcord journal: it is empty",
                    path.display()
                ));
            }
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        identity::migrate_read_only(&conn)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Journal {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record the start of a run and return its id.
    pub fn start_run(&mut self, run: &RunStart) -> rusqlite::Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO runs (script, path, sha256, params, operator, host, mode, pid, started, status, parent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running', ?10)",
            params![
                run.script,
                run.path,
                run.sha256,
                run.params.to_string(),
                run.operator,
                run.host,
                run.mode,
                std::process::id(),
                now_rfc3339(),
                run.parent
            ],
        )?;
        let id = tx.last_insert_rowid();
        identity::record(&tx, id, &run.identity)?;
        let data = serde_json::to_value(run).unwrap_or(Value::Null);
        append(&tx, id, "run.start", None, &data)?;
        tx.commit()?;
        Ok(id)
    }

    /// Append one event; committed (and synced) before this returns.
    pub fn event(
        &mut self,
        run: i64,
        kind: impl AsRef<str>,
        step: Option<&str>,
        data: &Value,
    ) -> rusqlite::Result<i64> {
        let kind = kind.as_ref();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id = append(&tx, run, kind, step, data)?;
        if EventKind::parse(kind) == Some(EventKind::StepStart) {
            tx.execute(
                "UPDATE runs SET step = ?1 WHERE id = ?2",
                params![step, run],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Record how a run ended.
    pub fn finish_run(
        &mut self,
        run: i64,
        status: &str,
        exit_code: i32,
        error: Option<&str>,
    ) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let data = serde_json::json!({ "status": status, "exit_code": exit_code, "error": error });
        append(&tx, run, "run.end", None, &data)?;
        tx.execute(
            "UPDATE runs SET ended = ?1, status = ?2, exit_code = ?3, error = ?4 WHERE id = ?5",
            params![now_rfc3339(), status, exit_code, error, run],
        )?;
        tx.commit()
    }

    /// Runs, newest first.
    pub fn runs(&self, limit: usize) -> rusqlite::Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_TABLES} ORDER BY r.id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit as i64], run_row)?;
        rows.collect()
    }

    /// Runs of one script, newest first: a long-lived caller (the watch) finds its own runs
    /// through the `runs_script` index instead of reading the whole journal.
    pub fn runs_of(&self, script: &str, limit: usize) -> rusqlite::Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM {RUN_TABLES} WHERE r.script = ?1 ORDER BY r.id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![script, limit as i64], run_row)?;
        rows.collect()
    }

    /// The events of kinds `kinds` of every run of one script, in journal order.
    pub fn script_events(&self, script: &str, kinds: &[&str]) -> rusqlite::Result<Vec<EventRow>> {
        let marks = vec!["?"; kinds.len()].join(", ");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT e.id, e.run, e.ts, e.kind, e.step, e.data FROM events e JOIN runs r ON r.id = e.run
             WHERE r.script = ? AND e.kind IN ({marks}) ORDER BY e.id"
        ))?;
        let values = std::iter::once(script).chain(kinds.iter().copied());
        let rows = stmt.query_map(rusqlite::params_from_iter(values), event_row)?;
        rows.collect()
    }

    pub fn run(&self, id: i64) -> rusqlite::Result<Option<RunRow>> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM {RUN_TABLES} WHERE r.id = ?1"),
                [id],
                run_row,
            )
            .optional()
    }

    pub fn events(&self, run: i64) -> rusqlite::Result<Vec<EventRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, run, ts, kind, step, data FROM events WHERE run = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([run], event_row)?;
        rows.collect()
    }

    /// Steps a run finished (or skipped as done by the run it resumed), as (ordinal, name).
    pub fn completed_steps(&self, run: i64) -> rusqlite::Result<Vec<(usize, String)>> {
        let mut done = Vec::new();
        for e in self.events(run)? {
            let finished = e.ends_step_ok() || e.is(EventKind::StepResumed);
            if let (true, Some(ordinal), Some(name)) = (
                finished,
                e.data["ordinal"].as_u64(),
                e.data["name"].as_str(),
            ) {
                done.push((ordinal as usize, name.to_string()));
            }
        }
        Ok(done)
    }

    /// The last change a run started, and whether its outcome was recorded.
    pub fn last_change(&self, run: i64) -> rusqlite::Result<Option<(String, bool)>> {
        let events = self.events(run)?;
        let Some(i) = events.iter().rposition(|e| e.is(EventKind::ChangeStart)) else {
            return Ok(None);
        };
        let summary = events[i].data["summary"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let completed = events[i + 1..].iter().any(|e| e.is(EventKind::ChangeEnd));
        Ok(Some((summary, completed)))
    }

    /// Walk the hash chain; the first event whose hash does not match is returned.
    ///
    /// An export (`journal export`) holds only some runs' events: each kept event is checked
    /// against its predecessor's hash as recorded at export time, and where two kept events are
    /// neighbours in the source, against each other.
    pub fn verify(&self) -> rusqlite::Result<Result<usize, BrokenLink>> {
        let links: Option<std::collections::HashMap<i64, String>> =
            export::links(&self.conn)?.map(|l| l.into_iter().collect());
        let mut stmt = self
            .conn
            .prepare("SELECT id, run, ts, kind, step, data, hash FROM events ORDER BY id")?;
        let mut rows = stmt.query([])?;
        let mut prev = String::new();
        let mut prev_id = 0i64;
        let mut count = 0usize;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let run: i64 = r.get(1)?;
            let ts: String = r.get(2)?;
            let kind: String = r.get(3)?;
            let step: Option<String> = r.get(4)?;
            let data: String = r.get(5)?;
            let hash: String = r.get(6)?;
            let broken = |reason: String| {
                Ok(Err(BrokenLink {
                    event: id,
                    run,
                    reason,
                }))
            };
            let linked = match &links {
                None if id != prev_id + 1 => {
                    return Ok(Err(BrokenLink {
                        event: prev_id + 1,
                        run,
                        reason: format!(
                            "event {} is missing (deleted?): the chain jumps from {} to {id}",
                            prev_id + 1,
                            prev_id
                        ),
                    }));
                }
                None => prev.clone(),
                Some(links) => match links.get(&id) {
                    None => return broken(format!("event {id} has no link in the export")),
                    Some(link) if id == prev_id + 1 && *link != prev => {
                        return broken(format!(
                            "event {id} ({kind}) does not follow event {prev_id}: one of them was edited after the export"
                        ));
                    }
                    Some(link) => link.clone(),
                },
            };
            let expected = link_hash(&linked, id, run, &ts, &kind, step.as_deref(), &data);
            if expected != hash {
                return broken(format!(
                    "event {id} ({kind}) does not match its hash: it was edited after it was written"
                ));
            }
            prev = hash;
            prev_id = id;
            count += 1;
        }
        drop(rows);
        // A merged journal: each event against its host's chain too.
        Ok(merge::check_sources(&self.conn)?.map(|()| count))
    }

    /// The journal with runs whose process is gone marked interrupted (they were killed
    /// mid-run): what a new run, a resume and a listing of runs must see, so a dead run is
    /// never shown as running nor refused as still running.
    pub fn open_reaped(path: &Path) -> Result<Journal, String> {
        let mut journal = Journal::open(path)?;
        // A journal this user cannot update still reads; its dead runs stay `running` there.
        let _ = journal.reap_dead_runs();
        Ok(journal)
    }

    fn reap_dead_runs(&mut self) -> rusqlite::Result<()> {
        // A merged journal's runs are other processes', often on other hosts: never reaped.
        if merge::is_merged(&self.conn)? {
            return Ok(());
        }
        let running: Vec<(i64, i64, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, pid, host FROM runs WHERE status = 'running'")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let here = crate::who::hostname();
        for (id, pid, host) in running {
            if host == here && !crate::who::pid_alive(pid) {
                self.conn.execute(
                    "UPDATE runs SET status = 'interrupted' WHERE id = ?1 AND status = 'running'",
                    [id],
                )?;
            }
        }
        Ok(())
    }
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    let data: String = r.get(5)?;
    Ok(EventRow {
        id: r.get(0)?,
        run: r.get(1)?,
        ts: r.get(2)?,
        kind: r.get(3)?,
        step: r.get(4)?,
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
    })
}

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let params: String = r.get(4)?;
    Ok(RunRow {
        id: r.get(0)?,
        script: r.get(1)?,
        path: r.get(2)?,
        sha256: r.get(3)?,
        params: serde_json::from_str(&params).unwrap_or(Value::Null),
        operator: r.get(5)?,
        host: r.get(6)?,
        mode: r.get(7)?,
        pid: r.get(8)?,
        started: r.get(9)?,
        ended: r.get(10)?,
        status: r.get(11)?,
        exit_code: r.get(12)?,
        step: r.get(13)?,
        error: r.get(14)?,
        parent: r.get(15)?,
        host_id: r.get(16)?,
        run_uuid: r.get(17)?,
        correlation_id: r.get(18)?,
    })
}

fn append(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    kind: &str,
    step: Option<&str>,
    data: &Value,
) -> rusqlite::Result<i64> {
    let event = RawEvent {
        ts: &now_rfc3339(),
        kind,
        step,
        data: &data.to_string(),
    };
    append_raw(tx, run, &event).map(|(id, _)| id)
}

/// An event as stored: its time and JSON text exactly as written.
pub(crate) struct RawEvent<'a> {
    pub ts: &'a str,
    pub kind: &'a str,
    pub step: Option<&'a str>,
    pub data: &'a str,
}

/// Append `event` to the chain as it is (a merge keeps each event's original time and text);
/// returns its id and hash.
fn append_raw(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    event: &RawEvent<'_>,
) -> rusqlite::Result<(i64, String)> {
    let (prev_id, prev): (i64, String) = tx
        .query_row(
            "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, String::new()));
    let id = prev_id + 1;
    let RawEvent {
        ts,
        kind,
        step,
        data,
    } = *event;
    let hash = link_hash(&prev, id, run, ts, kind, step, data);
    tx.execute(
        "INSERT INTO events (id, run, ts, kind, step, data, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, run, ts, kind, step, data, hash],
    )?;
    Ok((id, hash))
}

fn link_hash(
    prev: &str,
    id: i64,
    run: i64,
    ts: &str,
    kind: &str,
    step: Option<&str>,
    data: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &id.to_string(),
        &run.to_string(),
        ts,
        kind,
        step.unwrap_or(""),
        data,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("{:x}", h.finalize())
}
