//! Holding a live database's write lock ourselves, across several SQLite calls.
//!
//! A live restore must let no commit land between the safety copy and the restore. SQLite
//! releases its locks between calls, so this takes the same POSIX byte-range locks a SQLite
//! writer takes (the byte layout is SQLite's documented file-locking protocol) on a descriptor
//! of our own: other processes then cannot begin a write, while our own connection, in the same
//! process, still can (POSIX locks belong to the process). SQLite's release of its write lock at
//! the restore's commit releases ours too, which is exactly when it may go.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ripcord_runtime::Failure;

use super::copy::Deadline;
use super::files::side_file;

/// Rollback-journal databases: the lock bytes in the main file (see SQLite's os.h).
const PENDING_BYTE: i64 = 0x4000_0000;
const RESERVED_BYTE: i64 = PENDING_BYTE + 1;
const SHARED_FIRST: i64 = PENDING_BYTE + 2;
const SHARED_SIZE: i64 = 510;
/// WAL databases: the writer's lock byte in the `-shm` file (WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK);
/// the checkpointer's is the next one.
const WAL_WRITE_LOCK: i64 = 120;

/// The database's write lock, held by this process until dropped (or until SQLite, in this
/// process, commits a write and releases it). Close the SQLite connections on the file first:
/// closing this descriptor drops every POSIX lock the process holds on the file.
pub struct WriteGuard {
    file: File,
}

impl WriteGuard {
    /// Wait (until the deadline) for no other process to be writing, then keep them out.
    /// `wal`: the database is in WAL mode (readers go on; writers wait). Otherwise readers go
    /// on too (we hold SHARED + RESERVED, as a SQLite writer does before it commits).
    pub fn take(db: &Path, wal: bool, deadline: &Deadline, what: &str) -> Result<Self, Failure> {
        let hint = "the restore needs write access to the database and its -shm";
        Self::lock(&lock_target(db, wal), deadline, what, hint, |file| {
            if wal {
                return set_lock(file, libc::F_WRLCK, WAL_WRITE_LOCK, 1);
            }
            set_lock(file, libc::F_RDLCK, SHARED_FIRST, SHARED_SIZE).and_then(|()| {
                set_lock(file, libc::F_WRLCK, RESERVED_BYTE, 1).inspect_err(|_| {
                    let _ = set_lock(file, libc::F_UNLCK, SHARED_FIRST, SHARED_SIZE);
                })
            })
        })
    }

    /// Freeze the files of a database for a byte copy, SQLite's way, without SQLite (which may
    /// not be able to read a damaged file): in WAL mode the writer and checkpointer locks of
    /// the `-shm` (nothing appends to the WAL or writes the main file; readers go on); in
    /// rollback-journal mode a reader's SHARED lock (no writer can commit). `None` when there
    /// is no `-shm` to lock: then no SQLite process has the WAL database open.
    pub fn freeze(
        db: &Path,
        wal: bool,
        deadline: &Deadline,
        what: &str,
    ) -> Result<Option<Self>, Failure> {
        let locked = lock_target(db, wal);
        if wal && !locked.exists() {
            return Ok(None);
        }
        let hint =
            "a byte copy under SQLite's locks needs write access to the database and its -shm";
        Self::lock(&locked, deadline, what, hint, |file| {
            if wal {
                set_lock(file, libc::F_WRLCK, WAL_WRITE_LOCK, 2)
            } else {
                set_lock(file, libc::F_RDLCK, SHARED_FIRST, SHARED_SIZE)
            }
        })
        .map(Some)
    }

    /// Open `locked` and try `take_locks` on it until it succeeds, another process keeps it
    /// busy past the deadline, or it fails for another reason.
    fn lock(
        locked: &Path,
        deadline: &Deadline,
        what: &str,
        hint: &str,
        take_locks: impl Fn(&File) -> std::io::Result<()>,
    ) -> Result<Self, Failure> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(locked)
            .map_err(|e| {
                Failure::new(format!("{what}: cannot open {}: {e}", locked.display())).hint(hint)
            })?;
        loop {
            match take_locks(&file) {
                Ok(()) => return Ok(WriteGuard { file }),
                Err(e) if is_busy(&e) => deadline.wait(what)?,
                Err(e) => {
                    return Err(Failure::new(format!(
                        "{what}: cannot lock {}: {e}",
                        locked.display()
                    )));
                }
            }
        }
    }

    /// Let writers in again but keep the descriptor open: closing it would drop every POSIX
    /// lock this process holds on the file, SQLite's own read locks included. Only for a WAL
    /// guard taken by [`WriteGuard::take`].
    pub fn let_writers_in(&self) {
        let _ = set_lock(&self.file, libc::F_UNLCK, WAL_WRITE_LOCK, 1);
    }

    /// The descriptor the lock is held through: read the database through it, never through a
    /// descriptor that is closed while the lock must hold.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// The file whose bytes carry the locks: the `-shm` in WAL mode, the database itself otherwise.
fn lock_target(db: &Path, wal: bool) -> PathBuf {
    if wal {
        side_file(db, "-shm")
    } else {
        db.to_path_buf()
    }
}

fn is_busy(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES))
}

fn set_lock(file: &File, kind: libc::c_int, start: i64, len: i64) -> std::io::Result<()> {
    // SAFETY: a zeroed flock is valid; the fields set below are all F_SETLK reads.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = start as libc::off_t;
    lock.l_len = len as libc::off_t;
    // SAFETY: F_SETLK with a pointer to a flock we own, on a descriptor this File owns.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
