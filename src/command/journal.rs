//! `ripcord journal export`: a snapshot of the journal for an orchestrator to fetch;
//! `ripcord journal merge`: the fetched journals in one fleet journal.

use std::path::{Path, PathBuf};

use ripcord_runtime::fleet::check_id;
use ripcord_runtime::journal::{Journal, MergeError};

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

/// Merge `files` into `out`: exit 2 for a file that is not a journal (or an `out` that is not a
/// merged journal), 1 for a source whose chain does not verify; nothing is merged then.
pub fn merge(out: &Path, files: &[PathBuf]) -> Result {
    let merged = ripcord_runtime::journal::merge(out, files).map_err(|e| match e {
        MergeError::Refused(m) => Error::usage(m),
        MergeError::Broken(m) | MergeError::Failed(m) => Error::failed(m),
    })?;
    let (mut runs, mut events) = (0, 0);
    for m in &merged {
        let mut line = format!(
            "{}: {} runs added ({} events)",
            m.file.display(),
            m.added,
            m.events
        );
        if m.present > 0 {
            line.push_str(&format!(", {} already merged", m.present));
        }
        println!("{line}");
        if m.without_identity > 0 {
            eprintln!(
                "warning: {}: {} runs were recorded before runs had a host id and UUID; left out (they cannot be keyed)",
                m.file.display(),
                m.without_identity
            );
        }
        for run in &m.differing {
            eprintln!(
                "warning: {}: {run} (exported while it was still going?); kept the merged copy\nhelp: merge into a new file to take this one",
                m.file.display()
            );
        }
        runs += m.added;
        events += m.events;
    }
    println!(
        "merged {runs} runs, {events} events into {}; `ripcord --journal {} journal verify` checks it",
        out.display(),
        out.display()
    );
    Ok(())
}
