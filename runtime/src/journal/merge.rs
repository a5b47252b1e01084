//! `journal merge`: many hosts' journals (exports or whole journals) in one fleet journal.
//!
//! Each source is opened read-only and checked first: a file that is not a ripcord journal, or
//! whose hash chain does not verify, stops the merge before anything is written. Then, in one
//! transaction, each run is added unless a run with the same (host id, run UUID) is already there
//! (so merging the same files again adds nothing), its parent remapped, and its events appended
//! to the merged file's own chain with their original time and text. `merged_events` keeps each
//! event's place in its host's chain (source event id, run id, predecessor's hash and hash), so
//! `journal verify` on the merged file re-checks every event against the chain it came from. A
//! merged journal can be a source too: its events keep the links it recorded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{BrokenLink, Found, Journal, RawEvent, append_raw, identify, link_hash};
use crate::time::now_rfc3339;

const MERGE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS merged_sources (
    id              INTEGER PRIMARY KEY,
    file            TEXT NOT NULL,
    chain_head      TEXT,
    correlation_id  TEXT,
    merged_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS merged_events (
    event         INTEGER PRIMARY KEY,
    source        INTEGER NOT NULL,
    source_event  INTEGER NOT NULL,
    source_run    INTEGER NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
";

/// Why a merge wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// A file given is not something merge can read or write (exit 2).
    Refused(String),
    /// A source's chain does not verify, or it contradicts the merged file (exit 1).
    Broken(String),
    /// Reading or writing failed (exit 1).
    Failed(String),
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Refused(m) | MergeError::Broken(m) | MergeError::Failed(m) => {
                f.write_str(m)
            }
        }
    }
}

/// What one source added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMerged {
    pub file: PathBuf,
    pub added: usize,
    pub events: usize,
    /// Runs already in the merged file (same host id and run UUID).
    pub present: usize,
    /// Runs recorded before runs had identities: they cannot be keyed, so they are left out.
    pub without_identity: usize,
    /// Runs already merged whose events differ in number here (one exported while it was
    /// still going, then again): the merged copy is kept; each says which and how.
    pub differing: Vec<String>,
}

/// A run of a source, its columns as stored.
struct SourceRun {
    id: i64,
    /// script, path, sha256, params, operator, host, mode, pid, started, ended, status,
    /// exit_code, step, error.
    columns: Vec<rusqlite::types::Value>,
    parent: Option<i64>,
    identity: Option<(String, String, Option<String>)>,
}

/// An event of a source with its place in the source's chain.
struct SourceEvent {
    id: i64,
    run: i64,
    ts: String,
    kind: String,
    step: Option<String>,
    data: String,
    /// Its place in its host's chain: the host journal's event and run id, its predecessor's
    /// hash and its hash. In a whole journal or an export these are its own; in a merged
    /// journal, what that file recorded.
    link: Link,
    /// In a merged journal, the `merged_sources` row it came from.
    origin: Option<i64>,
}

struct Link {
    event: i64,
    run: i64,
    prev_hash: String,
    hash: String,
}

/// Merge `sources` into `out` (a new file, an empty one, or a file an earlier merge wrote).
pub fn merge(out: &Path, sources: &[PathBuf]) -> Result<Vec<SourceMerged>, MergeError> {
    if sources.is_empty() {
        return Err(MergeError::Refused(
            "nothing to merge: no source files given".to_string(),
        ));
    }
    let out_real = std::fs::canonicalize(out).ok();
    let mut opened = Vec::new();
    for path in sources {
        if out_real.is_some() && std::fs::canonicalize(path).ok() == out_real {
            return Err(MergeError::Refused(format!(
                "{} is the merged file itself: nothing was merged",
                path.display()
            )));
        }
        opened.push(open_source(path)?);
    }
    let mut target = open_target(out)?;
    let failed = |e: rusqlite::Error| {
        MergeError::Failed(format!(
            "cannot write the merged journal {}: {e}",
            out.display()
        ))
    };
    let tx = target
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(failed)?;
    tx.execute_batch(MERGE_SCHEMA).map_err(failed)?;
    let mut merged = Vec::new();
    for (path, source) in sources.iter().zip(&opened) {
        merged.push(merge_one(&tx, path, source)?);
    }
    tx.commit().map_err(failed)?;
    Ok(merged)
}

/// A source opened read-only, after checking it is a journal whose chain verifies.
fn open_source(path: &Path) -> Result<Journal, MergeError> {
    let shown = path.display();
    let refuse = |why: &str| {
        MergeError::Refused(format!(
            "{shown} is not a ripcord journal: {why}; nothing was merged\nhelp: pass journals or `ripcord journal export` files"
        ))
    };
    match identify(path) {
        Ok(Found::Ours | Found::Legacy) => {}
        Ok(Found::Missing) => {
            return Err(MergeError::Refused(format!(
                "{shown}: no such file; nothing was merged"
            )));
        }
        Ok(Found::Empty) => return Err(refuse("it is empty")),
        Err(message) => return Err(refuse(reason(&message))),
    }
    // Without a `-wal` file everything is in the main file: read it without locks or side
    // files. With one (a journal being written), through SQLite's read-only WAL reader.
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let conn = if Path::new(&wal).exists() {
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    } else {
        super::peek(path)
    }
    .map_err(|e| MergeError::Failed(format!("cannot open {shown}: {e}")))?;
    let journal = Journal {
        conn,
        path: path.to_path_buf(),
    };
    match journal.verify() {
        Ok(Ok(_)) => Ok(journal),
        Ok(Err(broken)) => Err(MergeError::Broken(format!(
            "{shown} does not verify: event {} (run {}): {}; nothing was merged\nhelp: `ripcord journal verify --journal {shown}` shows the same; fetch the journal again from its host",
            broken.event, broken.run, broken.reason
        ))),
        Err(e) => Err(MergeError::Failed(format!("cannot read {shown}: {e}"))),
    }
}

/// The merged file: created owner-only if missing; an existing one must be a merged journal.
fn open_target(out: &Path) -> Result<Journal, MergeError> {
    let existed = std::fs::metadata(out).map(|m| m.len() > 0).unwrap_or(false);
    if existed {
        identify(out).map_err(|message| {
            MergeError::Refused(format!(
                "{} is not a ripcord journal: {}; nothing was merged\nhelp: merge into a new file",
                out.display(),
                reason(&message)
            ))
        })?;
        let peek = super::peek(out)
            .map_err(|e| MergeError::Failed(format!("cannot open {}: {e}", out.display())))?;
        let runs: i64 = peek
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
            .unwrap_or(0);
        if runs > 0 && !is_merged(&peek).unwrap_or(false) {
            return Err(MergeError::Refused(format!(
                "{} is a journal runs were recorded in, not a merged journal: nothing was merged\nhelp: merge into a new file (the journal can be one of the sources)",
                out.display()
            )));
        }
    }
    Journal::open(out).map_err(MergeError::Refused)
}

/// The reason in one of `identify`'s refusals ("F is not a ripcord journal: REASON; ...").
fn reason(message: &str) -> &str {
    let first = message.lines().next().unwrap_or(message);
    first
        .split_once(" is not a ripcord journal: ")
        .or_else(|| first.split_once(": "))
        .map_or(first, |(_, r)| r)
        .trim_end_matches("; nothing was changed")
}

pub(super) fn is_merged(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'merged_sources')",
        [],
        |r| r.get(0),
    )
}

fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )
}

fn merge_one(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    source: &Journal,
) -> Result<SourceMerged, MergeError> {
    let shown = path.display().to_string();
    let read = |e: rusqlite::Error| MergeError::Failed(format!("cannot read {shown}: {e}"));
    let runs = source_runs(&source.conn).map_err(read)?;
    let events = source_events(&source.conn).map_err(read)?;
    let meta = export_meta(&source.conn).map_err(read)?;
    let origins = origins(&source.conn).map_err(read)?;
    let mut done = SourceMerged {
        file: path.to_path_buf(),
        added: 0,
        events: 0,
        present: 0,
        without_identity: 0,
        differing: Vec::new(),
    };
    let added = merge_runs(tx, &shown, &runs, &events, &mut done)?;
    let from = EventsFrom {
        shown: &shown,
        meta: &meta,
        origins: &origins,
    };
    done.events = merge_events(tx, &from, &events, &added)?;
    Ok(done)
}

fn write_failed(e: rusqlite::Error) -> MergeError {
    MergeError::Failed(format!("cannot write the merged journal: {e}"))
}

/// Add each of the source's runs with an identity unless the merged file has it; returns the
/// runs added now, source run id -> run id in the merged file.
fn merge_runs(
    tx: &rusqlite::Transaction<'_>,
    shown: &str,
    runs: &[SourceRun],
    events: &[SourceEvent],
    done: &mut SourceMerged,
) -> Result<HashMap<i64, i64>, MergeError> {
    // Source run id -> run id in the merged file, for runs added now or merged before.
    let mut ids: HashMap<i64, i64> = HashMap::new();
    let mut added: HashMap<i64, i64> = HashMap::new();
    for run in runs {
        let Some((uuid, host, correlation)) = &run.identity else {
            done.without_identity += 1;
            continue;
        };
        if let Some(id) = merged_before(tx, shown, run, events, done)? {
            ids.insert(run.id, id);
            done.present += 1;
            continue;
        }
        let parent = run.parent.and_then(|p| ids.get(&p).copied());
        let mut values: Vec<&dyn rusqlite::ToSql> = run
            .columns
            .iter()
            .map(|v| v as &dyn rusqlite::ToSql)
            .collect();
        values.push(&parent);
        tx.execute(
            "INSERT INTO runs (script, path, sha256, params, operator, host, mode, pid, started, ended,
                               status, exit_code, step, error, parent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            values.as_slice(),
        )
        .map_err(write_failed)?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO run_identity (run, run_uuid, host_id, correlation_id) VALUES (?1, ?2, ?3, ?4)",
            params![id, uuid, host, correlation],
        )
        .map_err(write_failed)?;
        ids.insert(run.id, id);
        added.insert(run.id, id);
        done.added += 1;
    }
    Ok(added)
}

/// The merged file's id of `run` when it was merged before (noting a different number of
/// events in `done`); an error when its UUID is another host's there.
fn merged_before(
    tx: &rusqlite::Transaction<'_>,
    shown: &str,
    run: &SourceRun,
    events: &[SourceEvent],
    done: &mut SourceMerged,
) -> Result<Option<i64>, MergeError> {
    let Some((uuid, host, _)) = &run.identity else {
        return Ok(None);
    };
    let existing: Option<(i64, String)> = tx
        .query_row(
            "SELECT run, host_id FROM run_identity WHERE run_uuid = ?1",
            [uuid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(write_failed)?;
    match existing {
        Some((id, known)) if &known == host => {
            let merged: i64 = tx
                .query_row("SELECT COUNT(*) FROM events WHERE run = ?1", [id], |r| {
                    r.get(0)
                })
                .map_err(write_failed)?;
            let here = events.iter().filter(|e| e.run == run.id).count();
            if usize::try_from(merged).ok() != Some(here) {
                done.differing.push(format!(
                    "run {uuid} of host {host}: merged with {merged} events, this file has {here}"
                ));
            }
            Ok(Some(id))
        }
        Some((_, known)) => Err(MergeError::Broken(format!(
            "run {uuid} is host {known}'s in the merged journal but host {host}'s in {shown}: one of the files was edited; nothing was merged"
        ))),
        None => Ok(None),
    }
}

/// Where a source's events came from: its name, its export metadata and, for a merged
/// journal, the files it was made from.
struct EventsFrom<'a> {
    shown: &'a str,
    meta: &'a (Option<String>, Option<String>),
    origins: &'a HashMap<i64, Origin>,
}

/// Append the events of the runs `added` to the merged chain, each with its place in its
/// host's chain; returns how many.
fn merge_events(
    tx: &rusqlite::Transaction<'_>,
    from: &EventsFrom<'_>,
    events: &[SourceEvent],
    added: &HashMap<i64, i64>,
) -> Result<usize, MergeError> {
    // The `merged_sources` row in OUT of each origin (one for a journal or an export; one per
    // file it was made from for a merged journal), made when its first event is added.
    let mut rows: HashMap<Option<i64>, i64> = HashMap::new();
    let mut count = 0;
    for e in events {
        let Some(&run) = added.get(&e.run) else {
            continue;
        };
        let source_id = match rows.get(&e.origin) {
            Some(&id) => id,
            None => {
                let id = source_row(tx, from, e.origin)?;
                rows.insert(e.origin, id);
                id
            }
        };
        let raw = RawEvent {
            ts: &e.ts,
            kind: &e.kind,
            step: e.step.as_deref(),
            data: &e.data,
        };
        let (id, _) = append_raw(tx, run, &raw).map_err(write_failed)?;
        let link = &e.link;
        tx.execute(
            "INSERT INTO merged_events (event, source, source_event, source_run, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                source_id,
                link.event,
                link.run,
                link.prev_hash,
                link.hash
            ],
        )
        .map_err(write_failed)?;
        count += 1;
    }
    Ok(count)
}

/// The `merged_sources` row of an event's origin, added to the merged file.
fn source_row(
    tx: &rusqlite::Transaction<'_>,
    from: &EventsFrom<'_>,
    origin: Option<i64>,
) -> Result<i64, MergeError> {
    let (file, chain_head, correlation) = match origin.and_then(|o| from.origins.get(&o)) {
        Some(origin) => origin.clone(),
        None => (
            from.shown.to_string(),
            from.meta.0.clone(),
            from.meta.1.clone(),
        ),
    };
    tx.execute(
        "INSERT INTO merged_sources (file, chain_head, correlation_id, merged_at) VALUES (?1, ?2, ?3, ?4)",
        params![file, chain_head, correlation, now_rfc3339()],
    )
    .map_err(write_failed)?;
    Ok(tx.last_insert_rowid())
}

fn source_runs(conn: &Connection) -> rusqlite::Result<Vec<SourceRun>> {
    let identity = has_table(conn, "run_identity")?;
    let sql = format!(
        "SELECT r.id, r.script, r.path, r.sha256, r.params, r.operator, r.host, r.mode, r.pid,
                r.started, r.ended, r.status, r.exit_code, r.step, r.error, r.parent, {}
         FROM runs r {} ORDER BY r.id",
        if identity {
            "i.run_uuid, i.host_id, i.correlation_id"
        } else {
            "NULL, NULL, NULL"
        },
        if identity {
            "LEFT JOIN run_identity i ON i.run = r.id"
        } else {
            ""
        }
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |r| {
        let columns = (1..=14)
            .map(|i| r.get(i))
            .collect::<rusqlite::Result<Vec<rusqlite::types::Value>>>()?;
        let uuid: Option<String> = r.get(16)?;
        let host: Option<String> = r.get(17)?;
        Ok(SourceRun {
            id: r.get(0)?,
            parent: r.get(15)?,
            columns,
            identity: match (uuid, host) {
                (Some(u), Some(h)) => Some((u, h, r.get(18)?)),
                _ => None,
            },
        })
    })?;
    rows.collect()
}

/// Every event of a source in order, with its place in its host's chain: for a journal, its
/// predecessor's hash is the previous event's; for an export, the one the export recorded; for
/// a merged journal, the link that file recorded.
fn source_events(conn: &Connection) -> rusqlite::Result<Vec<SourceEvent>> {
    if is_merged(conn)? {
        let mut stmt = conn.prepare(
            "SELECT e.id, e.run, e.ts, e.kind, e.step, e.data,
                    m.source_event, m.source_run, m.prev_hash, m.hash, m.source
             FROM events e JOIN merged_events m ON m.event = e.id ORDER BY e.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SourceEvent {
                id: r.get(0)?,
                run: r.get(1)?,
                ts: r.get(2)?,
                kind: r.get(3)?,
                step: r.get(4)?,
                data: r.get(5)?,
                link: Link {
                    event: r.get(6)?,
                    run: r.get(7)?,
                    prev_hash: r.get(8)?,
                    hash: r.get(9)?,
                },
                origin: Some(r.get(10)?),
            })
        })?;
        return rows.collect();
    }
    let links: Option<HashMap<i64, String>> =
        super::export::links(conn)?.map(|l| l.into_iter().collect());
    let mut stmt =
        conn.prepare("SELECT id, run, ts, kind, step, data, hash FROM events ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        let (id, run) = (r.get(0)?, r.get(1)?);
        Ok(SourceEvent {
            id,
            run,
            ts: r.get(2)?,
            kind: r.get(3)?,
            step: r.get(4)?,
            data: r.get(5)?,
            link: Link {
                event: id,
                run,
                prev_hash: String::new(),
                hash: r.get(6)?,
            },
            origin: None,
        })
    })?;
    let mut events = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut prev = String::new();
    for e in &mut events {
        e.link.prev_hash = match &links {
            Some(links) => links.get(&e.id).cloned().unwrap_or_default(),
            None => prev.clone(),
        };
        prev = e.link.hash.clone();
    }
    Ok(events)
}

/// Where events came from, as `merged_sources` records it: file, chain head, correlation id.
type Origin = (String, Option<String>, Option<String>);

/// A merged journal's sources by id; none for other files.
fn origins(conn: &Connection) -> rusqlite::Result<HashMap<i64, Origin>> {
    if !is_merged(conn)? {
        return Ok(HashMap::new());
    }
    let mut stmt =
        conn.prepare("SELECT id, file, chain_head, correlation_id FROM merged_sources")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?;
    rows.collect()
}

/// An export's chain head and correlation id (none for a whole journal).
fn export_meta(conn: &Connection) -> rusqlite::Result<(Option<String>, Option<String>)> {
    if !has_table(conn, "export_meta")? {
        return Ok((None, None));
    }
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM export_meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()
        .map(Option::flatten)
    };
    Ok((get("chain_head")?, get("correlation_id")?))
}

/// For a merged journal: every event checked against its host's chain (its hash recomputed
/// from its source id, source run and recorded predecessor, and neighbours in one source linked).
pub(super) fn check_sources(conn: &Connection) -> rusqlite::Result<Result<(), BrokenLink>> {
    if !is_merged(conn)? {
        return Ok(Ok(()));
    }
    let mut stmt = conn.prepare(
        "SELECT e.id, e.run, e.ts, e.kind, e.step, e.data, m.source, m.source_event, m.source_run,
                m.prev_hash, m.hash, s.file
         FROM events e LEFT JOIN merged_events m ON m.event = e.id
         LEFT JOIN merged_sources s ON s.id = m.source
         ORDER BY m.source, m.source_event",
    )?;
    let mut rows = stmt.query([])?;
    let mut last: Option<(i64, i64, String)> = None;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let run: i64 = r.get(1)?;
        let kind: String = r.get(3)?;
        let broken = |reason: String| {
            Ok(Err(BrokenLink {
                event: id,
                run,
                reason,
            }))
        };
        let Some(source) = r.get::<_, Option<i64>>(6)? else {
            return broken(format!(
                "event {id} ({kind}) came from no merged source: it was added after the merge"
            ));
        };
        let ts: String = r.get(2)?;
        let step: Option<String> = r.get(4)?;
        let data: String = r.get(5)?;
        let source_event: i64 = r.get(7)?;
        let source_run: i64 = r.get(8)?;
        let prev_hash: String = r.get(9)?;
        let hash: String = r.get(10)?;
        let file: Option<String> = r.get(11)?;
        let file = file.unwrap_or_else(|| format!("source {source}"));
        let expected = link_hash(
            &prev_hash,
            source_event,
            source_run,
            &ts,
            &kind,
            step.as_deref(),
            &data,
        );
        if expected != hash {
            return broken(format!(
                "event {id} ({kind}) does not match its host's chain (event {source_event} of {file}): it was edited after it was written"
            ));
        }
        if let Some((last_source, last_event, last_hash)) = &last
            && *last_source == source
            && *last_event + 1 == source_event
            && *last_hash != prev_hash
        {
            return broken(format!(
                "event {id} ({kind}) does not follow event {last_event} of {file} in its host's chain: one of them was edited"
            ));
        }
        last = Some((source, source_event, hash));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::RunIdentity;
    use crate::journal::RunStart;

    fn start(journal: &mut Journal, host: &str, parent: Option<i64>) -> i64 {
        let run = RunStart {
            script: "rollback".into(),
            path: "/rollback.rhai".into(),
            sha256: String::new(),
            params: serde_json::json!({ "target": "v1" }),
            operator: "root".into(),
            host: host.into(),
            mode: "run".into(),
            parent,
            identity: RunIdentity::new(Some(host.into()), Some("F1".into())),
        };
        journal.start_run(&run).expect("start")
    }

    /// A host's journal: a run with a sub-run, each with a step and a change.
    fn host_journal(dir: &Path, host: &str) -> PathBuf {
        let path = dir.join(format!("{host}.db"));
        let mut j = Journal::open(&path).expect("open");
        let run = start(&mut j, host, None);
        let sub = start(&mut j, host, Some(run));
        for r in [run, sub] {
            let step = serde_json::json!({ "name": "switch", "ordinal": 1 });
            j.event(r, "step.start", Some("switch"), &step)
                .expect("event");
            let change = serde_json::json!({ "summary": format!("{host} switched") });
            j.event(r, "change.start", Some("switch"), &change)
                .expect("event");
        }
        j.finish_run(sub, "ok", 0, None).expect("finish");
        j.finish_run(run, "ok", 0, None).expect("finish");
        path
    }

    fn count(path: &Path, sql: &str) -> i64 {
        Connection::open(path)
            .expect("open")
            .query_row(sql, [], |r| r.get(0))
            .expect("count")
    }

    #[test]
    fn merging_twice_adds_nothing_and_the_result_verifies() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let b = host_journal(dir.path(), "web-02");
        let out = dir.path().join("fleet.db");
        let done = merge(&out, &[a.clone(), b.clone()]).expect("merge");
        assert_eq!(
            done.iter()
                .map(|m| (m.added, m.present))
                .collect::<Vec<_>>(),
            [(2, 0), (2, 0)]
        );
        let events = count(&out, "SELECT COUNT(*) FROM events");
        assert_eq!(events, 2 * 8, "every event of both hosts");
        for side in ["web-01.db-wal", "web-01.db-shm"] {
            assert!(
                !dir.path().join(side).exists(),
                "a source is read without side files"
            );
        }
        let merged = Journal::open(&out).expect("open");
        assert_eq!(merged.verify().expect("verify"), Ok(16));
        // Sub-runs point at their parent's id in the merged file.
        let parents = count(
            &out,
            "SELECT COUNT(*) FROM runs c JOIN runs p ON p.id = c.parent
             JOIN run_identity ci ON ci.run = c.id JOIN run_identity pi ON pi.run = p.id
             WHERE ci.host_id = pi.host_id",
        );
        assert_eq!(parents, 2);

        let again = merge(&out, &[b, a]).expect("merge again");
        assert_eq!(
            again
                .iter()
                .map(|m| (m.added, m.present))
                .collect::<Vec<_>>(),
            [(0, 2), (0, 2)]
        );
        assert_eq!(count(&out, "SELECT COUNT(*) FROM events"), events);
        assert_eq!(count(&out, "SELECT COUNT(*) FROM runs"), 4);
    }

    #[test]
    fn an_edited_event_in_the_merged_journal_breaks_verify() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let out = dir.path().join("fleet.db");
        merge(&out, &[a]).expect("merge");
        let conn = Connection::open(&out).expect("open");
        conn.execute(
            "UPDATE events SET data = replace(data, 'switched', 'SWITCHED') WHERE id = 4",
            [],
        )
        .expect("edit");
        drop(conn);
        let broken = Journal::open(&out)
            .expect("open")
            .verify()
            .expect("verify")
            .expect_err("edited");
        assert_eq!(broken.event, 4);
        assert!(broken.reason.contains("edited"), "{}", broken.reason);
    }

    #[test]
    fn an_event_rehashed_in_the_merged_chain_still_fails_its_hosts_chain() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let out = dir.path().join("fleet.db");
        merge(&out, &[a]).expect("merge");
        // Edit the last event and recompute its hash in the merged chain: only the host's
        // chain, recorded at merge time, can tell.
        let conn = Connection::open(&out).expect("open");
        let (id, run, ts, kind, step, data, prev): (
            i64,
            i64,
            String,
            String,
            Option<String>,
            String,
            String,
        ) = conn
            .query_row(
                "SELECT e.id, e.run, e.ts, e.kind, e.step, e.data, p.hash FROM events e
                 JOIN events p ON p.id = e.id - 1 ORDER BY e.id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .expect("last");
        let data = data.replace("\"ok\"", "\"failed\"");
        let hash = link_hash(&prev, id, run, &ts, &kind, step.as_deref(), &data);
        conn.execute(
            "UPDATE events SET data = ?1, hash = ?2 WHERE id = ?3",
            params![data, hash, id],
        )
        .expect("edit");
        drop(conn);
        let broken = Journal::open(&out)
            .expect("open")
            .verify()
            .expect("verify")
            .expect_err("edited");
        assert!(broken.reason.contains("host's chain"), "{}", broken.reason);
    }

    #[test]
    fn a_foreign_sqlite_file_is_refused_untouched_and_nothing_is_merged() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let foreign = dir.path().join("app.db");
        Connection::open(&foreign)
            .expect("open")
            .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);")
            .expect("create");
        let before = std::fs::read(&foreign).expect("read");
        let out = dir.path().join("fleet.db");
        let err = merge(&out, &[a, foreign.clone()]).expect_err("refused");
        let MergeError::Refused(message) = err else {
            panic!("{err:?}");
        };
        assert!(
            message.contains("app.db is not a ripcord journal"),
            "{message}"
        );
        assert!(message.contains("tables: users"), "{message}");
        assert_eq!(std::fs::read(&foreign).expect("read"), before);
        assert!(!out.exists(), "nothing is written when a source is refused");
        let side: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("app.db-"))
            .collect();
        assert!(side.is_empty(), "{side:?}");
    }

    #[test]
    fn a_source_whose_chain_is_broken_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let b = host_journal(dir.path(), "web-02");
        let conn = Connection::open(&b).expect("open");
        conn.execute("DELETE FROM events WHERE id = 2", [])
            .expect("delete");
        drop(conn);
        let out = dir.path().join("fleet.db");
        let err = merge(&out, &[a, b]).expect_err("refused");
        let MergeError::Broken(message) = err else {
            panic!("{err:?}");
        };
        assert!(message.contains("web-02.db does not verify"), "{message}");
        assert!(message.contains("missing"), "{message}");
        assert!(!out.exists());
    }

    #[test]
    fn a_journal_with_runs_of_its_own_is_not_a_merge_target() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let b = host_journal(dir.path(), "web-02");
        let before = count(&b, "SELECT COUNT(*) FROM events");
        let err = merge(&b, &[a]).expect_err("refused");
        assert!(
            matches!(&err, MergeError::Refused(m) if m.contains("not a merged journal")),
            "{err:?}"
        );
        assert_eq!(count(&b, "SELECT COUNT(*) FROM events"), before);
    }

    #[test]
    fn a_run_merged_while_it_was_going_is_kept_and_the_fuller_copy_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("web-01.db");
        let mut j = Journal::open(&path).expect("open");
        let run = start(&mut j, "web-01", None);
        let early = dir.path().join("early.db");
        j.export(&early, None).expect("export");
        j.finish_run(run, "ok", 0, None).expect("finish");
        let late = dir.path().join("late.db");
        j.export(&late, None).expect("export");
        let out = dir.path().join("fleet.db");
        merge(&out, &[early]).expect("merge");
        let done = merge(&out, &[late]).expect("merge");
        assert_eq!(done[0].present, 1);
        assert_eq!(done[0].differing.len(), 1, "{done:?}");
        assert!(
            done[0].differing[0].contains("merged with 1 events, this file has 2"),
            "{:?}",
            done[0].differing
        );
    }

    #[test]
    fn a_merged_journal_merges_into_another_keeping_each_hosts_chain() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let b = host_journal(dir.path(), "web-02");
        let c = host_journal(dir.path(), "web-03");
        let first = dir.path().join("first.db");
        merge(&first, &[a.clone(), b]).expect("merge");
        let all = dir.path().join("all.db");
        let done = merge(&all, &[c, first.clone()]).expect("merge a merged journal");
        assert_eq!(done[1].added, 4);
        let merged = Journal::open(&all).expect("open");
        assert_eq!(merged.verify().expect("verify"), Ok(24));
        let sources = count(&all, "SELECT COUNT(*) FROM merged_sources");
        assert_eq!(sources, 3, "one per host journal the events came from");
        let again = merge(&all, &[first, a]).expect("merge again");
        assert_eq!((again[0].added, again[1].added), (0, 0));
        // An edit to an event that came through the first merge is still caught.
        let conn = Connection::open(&all).expect("open");
        conn.execute(
            "UPDATE events SET data = replace(data, 'web-02 switched', 'web-02 SWITCHED')",
            [],
        )
        .expect("edit");
        drop(conn);
        let broken = Journal::open(&all)
            .expect("open")
            .verify()
            .expect("verify")
            .expect_err("edited");
        assert!(broken.reason.contains("edited"), "{}", broken.reason);
    }

    #[test]
    fn a_running_run_in_a_merged_journal_is_never_reaped() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("web-01.db");
        let mut j = Journal::open(&path).expect("open");
        start(&mut j, &crate::who::hostname(), None);
        drop(j);
        let out = dir.path().join("fleet.db");
        merge(&out, &[path]).expect("merge");
        // The run's process, as far as this machine can tell, is gone.
        Connection::open(&out)
            .expect("open")
            .execute("UPDATE runs SET pid = 999999999", [])
            .expect("edit");
        let merged = Journal::open_reaped(&out).expect("open");
        let runs = merged.runs(10).expect("runs");
        assert_eq!(runs[0].status, "running");
    }

    #[test]
    fn an_export_merges_with_its_links() {
        let dir = tempfile::tempdir().expect("dir");
        let a = host_journal(dir.path(), "web-01");
        let export = dir.path().join("web-01.export.db");
        Journal::open(&a)
            .expect("open")
            .export(&export, Some("F1"))
            .expect("export");
        let out = dir.path().join("fleet.db");
        let done = merge(&out, &[export]).expect("merge");
        assert_eq!(done[0].added, 2);
        let merged = Journal::open(&out).expect("open");
        assert_eq!(merged.verify().expect("verify"), Ok(8));
    }
}
