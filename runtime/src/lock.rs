//! Run locks: two runs that take the same lock cannot run at once.
//!
//! An OS file lock (released by the kernel when the holder dies, so a lock left by a killed run
//! is simply taken over) on `<state>/locks/NAME.lock`; the file also says who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// A held lock; dropped (and released) when the run ends.
#[derive(Debug)]
pub struct RunLock {
    pub name: String,
    _file: File,
}

pub fn lock_dir() -> PathBuf {
    crate::dirs::state_dir().join("locks")
}

/// Take lock `name`, or say who holds it.
pub fn acquire(name: &str) -> Result<RunLock, String> {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = lock_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the lock folder {}: {e}", dir.display()))?;
    let path = dir.join(format!("{safe}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            let holder = format!(
                "pid {} (operator {} on {}) since {}",
                std::process::id(),
                crate::who::operator(),
                crate::who::hostname(),
                crate::time::now_rfc3339()
            );
            let _ = file.set_len(0);
            let _ = file.seek(SeekFrom::Start(0));
            let _ = file.write_all(holder.as_bytes());
            let _ = file.sync_data();
            Ok(RunLock {
                name: name.to_string(),
                _file: file,
            })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() {
                "another process".to_string()
            } else {
                holder.trim().to_string()
            };
            Err(format!(
                "another run holds the lock `{name}`: {holder}\nhelp: wait for it to finish (`ripcord history` shows it); a lock held by a dead process is released automatically"
            ))
        }
        Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}
