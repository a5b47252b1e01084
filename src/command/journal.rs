//! `ripcord journal export`: a snapshot of the journal for an orchestrator to fetch.

use std::path::Path;

use ripcord_runtime::fleet::check_id;
use ripcord_runtime::journal::Journal;

use crate::app::Context;
use crate::command::history::open;
use crate::error::{Error, Result};

/// Write the journal (or one fleet run of it) to `out`; exit 2 when `out` already exists.
pub fn export(ctx: &Context, out: &Path, correlation: Option<&str>) -> Result {
    let correlation = correlation
        .map(|c| check_id("--correlation-id", c))
        .transpose()
        .map_err(Error::usage)?;
    if out.exists() || out.is_symlink() {
        return Err(Error::usage(format!(
            "{} already exists: an export never overwrites a file",
            out.display()
        ))
        .help("remove it or pick another --out path"));
    }
    let journal = open(ctx, Journal::open)?;
    let done = journal
        .export(out, correlation.as_deref())
        .map_err(Error::failed)?;
    println!(
        "exported {} runs, {} events from {} to {} (chain head {})",
        done.runs,
        done.events,
        ctx.journal.display(),
        out.display(),
        if done.chain_head.is_empty() {
            "none"
        } else {
            &done.chain_head
        }
    );
    Ok(())
}
