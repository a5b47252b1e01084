//! Run locks: two runs that take the same lock cannot run at once.
//!
//! An OS file lock (released by the kernel when the holder dies, so a lock left by a killed run
//! is simply taken over) on `<state>/locks/NAME.lock`; the file also says who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
    let holder_path = dir.join(format!("{safe}.holder"));
    let file = OpenOptions::new()
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
            // Written beside the lock and renamed into place, so a reader never sees half of it.
            let tmp = dir.join(format!(".{safe}.holder.{}", std::process::id()));
            if std::fs::write(&tmp, holder.as_bytes()).is_ok() {
                let _ = std::fs::rename(&tmp, &holder_path);
            }
            Ok(RunLock {
                name: name.to_string(),
                _file: file,
            })
        }
        Err(TryLockError::WouldBlock) => {
            let holder = read_holder(&holder_path);
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

/// Who holds a lock. The holder writes this just after taking the lock, so a reader that finds
/// the previous (dead) holder's note waits a moment and reads again.
fn read_holder(path: &Path) -> String {
    let mut text = String::new();
    for _ in 0..20 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        let pid = text
            .strip_prefix("pid ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse::<i64>().ok());
        if pid.is_some_and(crate::who::pid_alive) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    text
}
