//! The fleet identity of each run (host id, run UUID, correlation id), in its own table.
//!
//! Added to journals after the first schema: `migrate` creates the table if it is missing, so a
//! journal written by an older ripcord opens and keeps working, and an older ripcord ignores the
//! table. Runs recorded before it have no row; readers fall back to the run's hostname.

use rusqlite::{Connection, OptionalExtension, params};

use super::Journal;
use crate::fleet::RunIdentity;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS run_identity (
    run             INTEGER PRIMARY KEY,
    run_uuid        TEXT NOT NULL UNIQUE,
    host_id         TEXT NOT NULL,
    correlation_id  TEXT
);
CREATE INDEX IF NOT EXISTS run_identity_correlation ON run_identity(correlation_id);
";

/// Add the identity table to a journal that does not have it yet (idempotent).
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_identity')",
        [],
        |r| r.get(0),
    )?;
    // Checked first so a journal that has the table needs no write lock to open.
    if !present {
        conn.execute_batch(SCHEMA)?;
    }
    Ok(())
}

/// A read-only connection to a journal from before identities: an empty temporary
/// `run_identity` stands in, so the queries that join it still read the runs.
pub(super) fn migrate_read_only(conn: &Connection) -> rusqlite::Result<()> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_identity')",
        [],
        |r| r.get(0),
    )?;
    if !present {
        conn.execute_batch(
            "CREATE TEMP TABLE run_identity (run INTEGER PRIMARY KEY, run_uuid TEXT, host_id TEXT, correlation_id TEXT);",
        )?;
    }
    Ok(())
}

/// Record a new run's identity, in the transaction that records the run.
pub(super) fn record(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    identity: &RunIdentity,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO run_identity (run, run_uuid, host_id, correlation_id) VALUES (?1, ?2, ?3, ?4)",
        params![
            run,
            identity.run_uuid,
            identity.host_id,
            identity.correlation_id
        ],
    )?;
    Ok(())
}

impl Journal {
    /// A run's fleet identity; `None` for runs recorded before identities were.
    pub fn identity(&self, run: i64) -> rusqlite::Result<Option<RunIdentity>> {
        self.conn
            .query_row(
                "SELECT run_uuid, host_id, correlation_id FROM run_identity WHERE run = ?1",
                [run],
                |r| {
                    Ok(RunIdentity {
                        run_uuid: r.get(0)?,
                        host_id: r.get(1)?,
                        correlation_id: r.get(2)?,
                        // Recorded in the run's `run.start` event, not in this table.
                        fleet_batch: None,
                        fleet_play: None,
                    })
                },
            )
            .optional()
    }
}
