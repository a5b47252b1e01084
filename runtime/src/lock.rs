//! Run locks: two runs that take the same lock cannot run at once.
//!
//! An OS file lock (released by the kernel when the holder dies, so a lock left by a killed run
//! is simply taken over) on a file in `<state>/locks/`; the holder writes who it is into that
//! same file. The folder must be the runner's own and private, and the file is opened without
//! following symlinks. A lock file deleted or replaced under a running holder does not let a
//! second run in: every holder also holds a shared lock on the folder itself, on a byte named
//! by the lock's file name, which the newcomer tests (a few microseconds); where that byte is
//! held, or the lock file was new (no holder's note in it), it looks for the live process that
//! holds a lock on a deleted file of the same path (reading `/proc/locks` costs 10-30 ms, so
//! only then).
//! Locks are re-entrant within a process, so a sub-run (`runbook::run`) may take a lock its
//! caller holds.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use sha2::{Digest, Sha256};

/// A held lock; dropped (and released, when no other run of this process holds it) when the run
/// ends.
#[derive(Debug)]
pub struct RunLock {
    pub name: String,
    _held: Arc<Holding>,
}

/// What a held lock keeps open: the locked file, and the folder with its claim on the lock's byte.
#[derive(Debug)]
struct Holding {
    _file: File,
    _folder: File,
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
static HELD: Mutex<Vec<(PathBuf, Weak<Holding>)>> = Mutex::new(Vec::new());

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
    if let Some(holding) = held
        .iter()
        .find(|(p, _)| *p == path)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(RunLock {
            name: name.to_string(),
            _held: holding,
        });
    }
    let holding = Arc::new(lock_file(&dir, &path, name)?);
    held.push((path, Arc::downgrade(&holding)));
    Ok(RunLock {
        name: name.to_string(),
        _held: holding,
    })
}

/// Open, lock and stamp the lock file at `path` (in the folder `dir`), and claim its byte of
/// the folder.
fn lock_file(dir: &Path, path: &Path, name: &str) -> Result<Holding, LockError> {
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
        let folder = File::open(dir).map_err(|e| {
            LockError::Failed(format!(
                "cannot open the lock folder {}: {e}",
                dir.display()
            ))
        })?;
        let byte = folder_byte(path);
        let unstamped = file.metadata().is_ok_and(|m| m.len() == 0);
        let byte_held = folder_byte_held(&folder, byte);
        if unstamped || byte_held {
            let holder = holder_of_deleted(path)
                .map(|pid| format!("pid {pid}"))
                // The folder says someone holds it, and /proc does not say who.
                .or_else(|| byte_held.then(|| "another process".to_string()));
            if let Some(holder) = holder {
                return Err(LockError::Held(format!(
                    "another run holds the lock `{name}`: {holder} (its lock file was deleted while it ran)\nhelp: wait for it to finish; do not delete lock files by hand"
                )));
            }
        }
        // Best effort: where the folder takes no OFD locks (some network filesystems) a deleted
        // lock file is still found through the new file it leaves to the next run (unstamped).
        let _ = claim_folder_byte(&folder, byte);
        stamp(&mut file);
        return Ok(Holding {
            _file: file,
            _folder: folder,
        });
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

/// The byte of the lock folder that stands for the lock file `path`: a hash of its name, so
/// two locks share one only by a 1 in 2^62 chance.
fn folder_byte(path: &Path) -> i64 {
    let name = path
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or_default();
    let digest = Sha256::digest(name);
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(head) >> 2) as i64
}

/// A shared lock on `byte` of the folder, on its own open file description (an OFD lock: it
/// lasts while `folder` is open, and closing another descriptor of the folder does not drop it).
fn claim_folder_byte(folder: &File, byte: i64) -> std::io::Result<()> {
    let mut lock = folder_lock(libc::F_RDLCK as libc::c_short, byte);
    // SAFETY: fcntl on a descriptor `folder` owns, with a flock struct we own.
    if unsafe { libc::fcntl(folder.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether another holder claims `byte` of the folder: a run whose lock file is no longer the
/// one at the path (deleted, or replaced by a copy).
fn folder_byte_held(folder: &File, byte: i64) -> bool {
    let mut probe = folder_lock(libc::F_WRLCK as libc::c_short, byte);
    // SAFETY: as in claim_folder_byte; F_OFD_GETLK only fills `probe`.
    let asked = unsafe { libc::fcntl(folder.as_raw_fd(), libc::F_OFD_GETLK, &mut probe) };
    asked == 0 && probe.l_type != libc::F_UNLCK as libc::c_short
}

fn folder_lock(kind: libc::c_short, byte: i64) -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value (l_pid must be 0 for OFD locks).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = byte;
    lock.l_len = 1;
    lock
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
