//! Run locks: two runs that take the same lock cannot run at once.
//!
//! An OS file lock (released by the kernel when the holder dies, so a lock left by a killed run
//! is simply taken over) on a file in `<state>/locks/`; the holder writes who it is into that
//! same file. The folder must be the runner's own and private, and the file is opened without
//! following symlinks. A lock file deleted under a running holder does not let a second run in:
//! the newcomer looks for a live process that holds a lock on a deleted file of the same path.
//! Locks are re-entrant within a process, so a sub-run (`runbook::run`) may take a lock its
//! caller holds.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use sha2::{Digest, Sha256};

/// A held lock; dropped (and released, when no other run of this process holds it) when the run
/// ends.
#[derive(Debug)]
pub struct RunLock {
    pub name: String,
    _file: Arc<File>,
}

/// Why a lock was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockError {
    /// Another run holds it (exit 4): the message says who.
    Held(String),
    /// The lock could not be taken for another reason (a bad lock folder, I/O): the cause.
    Failed(String),
}

impl LockError {
    pub fn message(&self) -> &str {
        match self {
            LockError::Held(m) | LockError::Failed(m) => m,
        }
    }
}

/// Locks this process holds, by file: a sub-run taking its caller's lock shares it.
static HELD: Mutex<Vec<(PathBuf, Weak<File>)>> = Mutex::new(Vec::new());

pub fn lock_dir() -> PathBuf {
    crate::dirs::state_dir().join("locks")
}

/// The lock a script takes by default: keyed by its resolved path, so two scripts that share a
/// file name in different folders do not exclude each other, and shown by its name.
pub fn script_key(path: &Path) -> String {
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!("script {}", resolved.display())
}

/// Take lock `key` (shown to operators as `name`), or say who holds it.
pub fn acquire(key: &str, name: &str) -> Result<RunLock, LockError> {
    let dir = lock_dir();
    ensure_private_dir(&dir)?;
    // Resolved, so the path matches what /proc shows for a holder's open file.
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let path = dir.join(file_name(key));
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    held.retain(|(_, w)| w.strong_count() > 0);
    if let Some(file) = held
        .iter()
        .find(|(p, _)| *p == path)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(RunLock {
            name: name.to_string(),
            _file: file,
        });
    }
    let file = Arc::new(lock_file(&path, name)?);
    held.push((path, Arc::downgrade(&file)));
    Ok(RunLock {
        name: name.to_string(),
        _file: file,
    })
}

/// Open, lock and stamp the lock file at `path`.
fn lock_file(path: &Path, name: &str) -> Result<File, LockError> {
    // A holder may replace the file between our open and our lock (it never does, but an
    // operator's cleanup may): lock until the path names the file we locked.
    for _ in 0..10 {
        let mut file = open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(held_by(path, name, &mut file)),
            Err(TryLockError::Error(e)) => {
                return Err(LockError::Failed(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
        if !same_file(path, &file) {
            continue;
        }
        if let Some(pid) = holder_of_deleted(path) {
            return Err(LockError::Held(format!(
                "another run holds the lock `{name}`: pid {pid} (its lock file was deleted while it ran)\nhelp: wait for it to finish; do not delete lock files by hand"
            )));
        }
        stamp(&mut file);
        return Ok(file);
    }
    Err(LockError::Failed(format!(
        "cannot lock {}: the file keeps being replaced",
        path.display()
    )))
}

fn open(path: &Path) -> Result<File, LockError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            LockError::Failed(format!(
                "cannot open the lock file {}: {e}\nhelp: the lock folder holds only lock files; remove what is at that path",
                path.display()
            ))
        })?;
    let meta = file
        .metadata()
        .map_err(|e| LockError::Failed(format!("cannot stat {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(LockError::Failed(format!(
            "the lock file {} is not a regular file\nhelp: remove it; ripcord creates it",
            path.display()
        )));
    }
    Ok(file)
}

/// The lock folder is created private (0700); an existing one must be the runner's and not
/// writable by others, or another user could swap lock files under a run.
fn ensure_private_dir(dir: &Path) -> Result<(), LockError> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |why: String| {
        LockError::Failed(format!(
            "cannot use the lock folder {}: {why}",
            dir.display()
        ))
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(e.to_string()))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| fail(e.to_string()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_dir() {
        return Err(fail("it is not a folder".to_string()));
    }
    if meta.uid() != euid {
        return Err(fail(format!(
            "it belongs to uid {}, not to the runner (uid {euid})\nhelp: remove it, or set XDG_STATE_HOME to a folder you own",
            meta.uid()
        )));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(fail(format!(
            "others may write to it (mode {:o})\nhelp: chmod 700 it",
            meta.permissions().mode() & 0o777
        )));
    }
    Ok(())
}

/// A file name for a lock key: the key itself when it is short and plain, otherwise a readable
/// prefix and a hash of the whole key (paths and names with any characters stay distinct).
fn file_name(key: &str) -> String {
    let plain = key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !key.starts_with('.');
    if plain {
        return format!("{key}.lock");
    }
    let readable: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .take(40)
        .collect();
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{readable}-{hash}.lock")
}

fn same_file(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Who we are, written into the locked file for the next run to read.
fn stamp(file: &mut File) {
    let holder = format!(
        "pid {} (operator {} on {}) since {}\n",
        std::process::id(),
        crate::who::operator(),
        crate::who::hostname(),
        crate::time::now_rfc3339()
    );
    // Best effort: the lock is what matters; the note only names the holder.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder.as_bytes()));
}

/// The contention error, naming the holder from its note. The holder writes the note just after
/// taking the lock, so an empty note is read again a moment later.
fn held_by(path: &Path, name: &str, file: &mut File) -> LockError {
    let mut text = String::new();
    for _ in 0..20 {
        text.clear();
        let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
        if !text.trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let holder = match text.trim() {
        "" => format!("another process (lock file {})", path.display()),
        t => t.to_string(),
    };
    LockError::Held(format!(
        "another run holds the lock `{name}`: {holder}\nhelp: wait for it to finish (`ripcord history` shows it); a lock held by a dead process is released automatically"
    ))
}

/// A live process holding a flock on a deleted file that had `path`: a run whose lock file was
/// removed under it. Found through /proc/locks and the holder's open files.
fn holder_of_deleted(path: &Path) -> Option<u32> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let me = std::process::id();
    let deleted = format!("{} (deleted)", path.display());
    locks
        .lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(1) == Some(&"FLOCK")).then(|| fields.get(4)?.parse::<u32>().ok())?
        })
        .filter(|pid| *pid != me)
        .find(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|target| target.as_os_str() == deleted.as_str())
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_plain_keys_and_hash_the_rest() {
        assert_eq!(file_name("cortex"), "cortex.lock");
        let a = file_name("script /srv/a/rollback.rhai");
        let b = file_name("script /srv/b/rollback.rhai");
        assert_ne!(a, b);
        assert!(a.starts_with("scriptsrvarollbackrhai-"), "{a}");
        assert_ne!(file_name("../x"), "../x.lock");
        assert!(!file_name("../x").contains('/'));
    }
}
