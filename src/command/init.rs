//! `ripcord init [DIR]`: write the shipped runbooks and a commented config template into a
//! folder the operator owns, and `init --diff`: how the operator's copies differ from the
//! shipped ones (after an upgrade, say).
//!
//! `DIR/.ripcord-shipped` records the sha256 of every file init wrote. A later `init` replaces
//! a file only while it still has that recorded digest (an older shipped version nobody
//! edited); an edited file is kept and named, never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ripcord_runtime::script::sha256_hex;

use crate::error::Error;
use crate::{files, shipped};

const MANIFEST: &str = ".ripcord-shipped";

/// One file init owns: where it goes under DIR, what it holds, its mode.
struct Entry {
    rel: String,
    text: &'static str,
    mode: u32,
}

fn entries() -> Vec<Entry> {
    let mut all: Vec<Entry> = shipped::FILES
        .iter()
        .map(|(rel, text)| Entry {
            rel: format!("scripts/{rel}"),
            text,
            mode: 0o644,
        })
        .collect();
    // The config may come to hold tokens: only its owner reads it.
    all.push(Entry {
        rel: "ripcord.toml".into(),
        text: shipped::CONFIG_TEMPLATE,
        mode: 0o600,
    });
    all
}

/// What init did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Wrote,
    Unchanged,
    /// An older shipped version nobody edited, replaced by this version's.
    Updated,
    /// Edited by the operator: left as it is.
    Kept,
}

impl Action {
    fn label(self) -> &'static str {
        match self {
            Action::Wrote => "wrote",
            Action::Unchanged => "unchanged",
            Action::Updated => "updated",
            Action::Kept => "kept (edited)",
        }
    }
}

pub fn init(dir: &Path, diff: bool) -> crate::error::Result {
    if dir.exists() && !dir.is_dir() {
        return Err(
            Error::usage(format!("{} is not a folder", dir.display())).help(
                "`ripcord init DIR` writes the runbooks into a folder DIR (created if missing)",
            ),
        );
    }
    if diff {
        show_diff(dir);
        return Ok(());
    }
    write_all(dir).map_err(Error::failed)
}

fn write_all(dir: &Path) -> Result<(), String> {
    let recorded = read_manifest(dir);
    let mut manifest = recorded.clone();
    let mut kept = 0;
    for entry in entries() {
        let path = dir.join(&entry.rel);
        let action = decide(&path, &entry, recorded.get(&entry.rel))?;
        if matches!(action, Action::Wrote | Action::Updated) {
            files::write_atomic(&path, entry.text.as_bytes(), entry.mode)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        if action == Action::Kept {
            kept += 1;
        } else {
            manifest.insert(entry.rel.clone(), sha256_hex(entry.text.as_bytes()));
        }
        if action != Action::Unchanged {
            eprintln!("  {:<14} {}", action.label(), path.display());
        }
    }
    write_manifest(dir, &manifest)?;
    eprintln!(
        "runbooks in {}; try `cd {} && ripcord list`, then edit ripcord.toml for this host",
        dir.join("scripts").display(),
        dir.display()
    );
    if kept > 0 {
        eprintln!(
            "{kept} edited file(s) kept as they are; `ripcord init --diff {}` shows how they differ from the shipped ones",
            dir.display()
        );
    }
    Ok(())
}

fn decide(path: &Path, entry: &Entry, recorded: Option<&String>) -> Result<Action, String> {
    let current = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Action::Wrote),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if current == entry.text.as_bytes() {
        return Ok(Action::Unchanged);
    }
    Ok(match recorded {
        Some(sha) if *sha == sha256_hex(&current) => Action::Updated,
        _ => Action::Kept,
    })
}

/// `rel -> sha256` from `DIR/.ripcord-shipped` (`sha256  rel` lines); empty when absent.
fn read_manifest(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(sha, rel)| (rel.to_string(), sha.to_string()))
        .collect()
}

fn write_manifest(dir: &Path, manifest: &BTreeMap<String, String>) -> Result<(), String> {
    let mut text = String::from(
        "# Written by `ripcord init`: the shipped files as it wrote them. A file that still has\n\
         # this digest is replaced by the next version's on `ripcord init`; an edited one is kept.\n",
    );
    for (rel, sha) in manifest {
        text.push_str(&format!("{sha}  {rel}\n"));
    }
    let path = dir.join(MANIFEST);
    files::write_atomic(&path, text.as_bytes(), 0o644)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A unified diff per file that differs (shipped as `a/`, the operator's as `b/`) on stdout;
/// files the folder lacks are named on stderr.
fn show_diff(dir: &Path) {
    let mut differing = 0;
    let mut missing: Vec<PathBuf> = Vec::new();
    for entry in entries() {
        let path = dir.join(&entry.rel);
        let Ok(current) = std::fs::read_to_string(&path) else {
            missing.push(path);
            continue;
        };
        if current == entry.text {
            continue;
        }
        differing += 1;
        let diff = similar::TextDiff::from_lines(entry.text, current.as_str());
        print!(
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&format!("a/{}", entry.rel), &format!("b/{}", entry.rel))
        );
    }
    for path in &missing {
        eprintln!("not in the folder: {}", path.display());
    }
    if !missing.is_empty() {
        eprintln!(
            "help: `ripcord init {}` writes the missing files (edited ones are kept)",
            dir.display()
        );
    }
    eprintln!(
        "{differing} file(s) differ from the shipped ones, {} missing",
        missing.len()
    );
}
