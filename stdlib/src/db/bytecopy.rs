//! `db::backup(..., #{ verify: "none" })`: a byte-exact copy of a database and its `-wal` (or
//! hot `-journal`), a consistent set of files taken under SQLite's locks without SQLite, so a
//! database SQLite cannot read at all can still be copied. The damage is reported in the result
//! (`readable`, `integrity`), never a reason to refuse: this is the copy an operator takes
//! before touching a corrupted database.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ripcord_runtime::Failure;
use rusqlite::{Connection, OpenFlags};

use super::backup::BackupOpts;
use super::copy::{self, Deadline};
use super::facts::{self, Facts};
use super::files::{self, Temp, side_file};
use super::writelock::WriteGuard;

/// Copy `src` (and its `-wal` or hot `-journal`) byte for byte to `dst`.
pub fn run(
    src: &Path,
    dst: &Path,
    opts: &BackupOpts,
    stop: &dyn Fn() -> bool,
) -> Result<Facts, Failure> {
    exists(src)?;
    super::backup::check_destination(src, dst, opts.force)?;
    let swept = files::sweep_dead_temps(dst);
    let what = format!("backup of {}", src.display());
    let deadline = Deadline {
        at: std::time::Instant::now() + opts.timeout,
        timeout: opts.timeout,
        stop,
    };
    let temp = files::temp_beside(dst, "backup")?;
    let needed = ["", "-wal", "-journal"]
        .iter()
        .map(|suffix| files::len_of(&side_file(src, suffix)).unwrap_or(0))
        .sum();
    super::backup::ensure_space(src, dst, needed)?;
    let temp_path = temp.to_path_buf();
    // What SQLite can tell of the copy is found out while the checksum finishes.
    let (snap, mut facts) = snapshot(src, &temp, &deadline, &what, || {
        assess(&temp_path, dst, true)
    })?;
    let side = snap.side;
    let side_temp = side_file(&temp, side.unwrap_or("-wal"));
    persist_set(temp, &side_temp, side, dst, opts.force)?;
    facts.sha256 = snap.sha256;
    facts.bytes = snap.bytes;
    facts.swept = swept;
    if let Some(side) = side {
        facts.warnings.push(format!(
            "the copy is {} with its {} ({}): keep them together",
            dst.display(),
            side,
            side_file(dst, side).display()
        ));
    }
    Ok(facts)
}

/// A consistent byte copy of a database's files, as [`snapshot`] took it.
pub struct Snapshot {
    /// The sha256 and length of the main file's copy.
    pub sha256: String,
    pub bytes: u64,
    /// The side file copied beside the temp file (`-wal` or `-journal`), if any.
    pub side: Option<&'static str>,
}

/// Copy `src` into `temp` (already created, locked) and its non-empty `-wal` or `-journal` to
/// the same side file of `temp`, under SQLite's locks taken without SQLite; both fsynced.
/// `while_hashing` runs once both are copied, while the main file's checksum is finished.
pub fn snapshot<T>(
    src: &Path,
    temp: &Temp,
    deadline: &Deadline,
    what: &str,
    while_hashing: impl FnOnce() -> T,
) -> Result<(Snapshot, T), Failure> {
    let wal = is_wal(src);
    let side = if wal { "-wal" } else { "-journal" };
    let side_temp = side_file(temp, side);
    let guard = WriteGuard::freeze(src, wal, deadline, what)?;
    // Rollback-journal mode: read the main file through the lock's own descriptor (closing
    // another would drop the lock). WAL mode: the lock is on the -shm.
    let main = match (&guard, wal) {
        (Some(g), false) => g.file().try_clone().map_err(|e| unreadable(src, e))?,
        _ => File::open(src).map_err(|e| unreadable(src, e))?,
    };
    let needed = main.metadata().map(|m| m.len()).unwrap_or(0);
    let (summed, copied) = std::thread::scope(|s| {
        let summed = s.spawn(|| facts::sha256_at(&main, u64::MAX, src));
        let copied = (|| {
            let copied = copy::copy_slices(&main, temp.file(), u64::MAX)
                .map_err(|e| files::write_failure(e, temp, what, needed))?;
            let side_copied = copy_side(&side_file(src, side), &side_temp, what)?;
            Ok::<_, Failure>((copied, side_copied, while_hashing()))
        })();
        (summed.join(), copied)
    });
    let (copied, side_copied, extra) = copied?;
    let (sha256, bytes) =
        summed.map_err(|_| Failure::new("internal error: the checksum thread panicked"))??;
    if bytes != copied {
        return Err(changed_while_copied(what, src, bytes, copied));
    }
    drop(main);
    drop(guard);
    temp.file()
        .sync_all()
        .map_err(|e| files::write_failure(e, temp, what, bytes))?;
    let snap = Snapshot {
        sha256,
        bytes,
        side: side_copied.then_some(side),
    };
    Ok((snap, extra))
}

/// Copy a non-empty side file (`-wal`, `-journal`) to `to` and fsync it; false when there is none.
fn copy_side(from_path: &Path, to_path: &Path, what: &str) -> Result<bool, Failure> {
    if files::len_of(from_path).unwrap_or(0) == 0 {
        return Ok(false);
    }
    let from = File::open(from_path).map_err(|e| unreadable(from_path, e))?;
    let to = create_new(to_path)?;
    copy_into(&from, from_path, &to, to_path, what)?;
    to.sync_all()
        .map_err(|e| files::write_failure(e, to_path, what, 0))?;
    Ok(true)
}

/// A source that is missing or not a file is refused; a damaged one is not.
pub fn exists(src: &Path) -> Result<(), Failure> {
    match std::fs::metadata(src) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(
            Failure::new(format!("{} is not a regular file", src.display()))
                .hint("give the path of a SQLite database file"),
        ),
        Err(_) => Err(Failure::new(format!("{}: no such file", src.display()))
            .hint("check the path (relative paths start at the current folder)")),
    }
}

/// WAL mode by the header's version bytes, or by a `-wal` beside it when the header is damaged.
pub fn is_wal(src: &Path) -> bool {
    let mut head = [0u8; 20];
    let header_says = File::open(src)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && head.starts_with(b"SQLite format 3\0");
    if header_says {
        head[18] == 2 && head[19] == 2
    } else {
        side_file(src, "-wal").exists()
    }
}

fn unreadable(path: &Path, e: std::io::Error) -> Failure {
    Failure::new(format!("{}: cannot read it: {e}", path.display()))
        .hint("check the file's permissions; a damaged disk may need ddrescue first")
}

fn create_new(path: &Path) -> Result<File, Failure> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", path.display())))
}

/// Copy all of `from` into `to` from offset 0, hashing it on the way (the disk writes start at
/// once; the caller fsyncs).
pub fn copy_into(
    from: &File,
    from_path: &Path,
    to: &File,
    to_path: &Path,
    what: &str,
) -> Result<(String, u64), Failure> {
    let needed = from.metadata().map(|m| m.len()).unwrap_or(0);
    let (summed, copied) = std::thread::scope(|s| {
        let summed = s.spawn(|| facts::sha256_at(from, u64::MAX, from_path));
        let copied = super::copy::copy_slices(from, to, u64::MAX);
        (summed.join(), copied)
    });
    let copied = copied.map_err(|e| files::write_failure(e, to_path, what, needed))?;
    let summed =
        summed.map_err(|_| Failure::new("internal error: the checksum thread panicked"))??;
    if summed.1 != copied {
        return Err(changed_while_copied(what, from_path, summed.1, copied));
    }
    Ok(summed)
}

fn changed_while_copied(what: &str, path: &Path, read: u64, copied: u64) -> Failure {
    Failure::new(format!(
        "{what}: {} changed while it was copied ({read} bytes read, {copied} copied)",
        path.display()
    ))
    .hint("something wrote to it without SQLite's locks; stop that process and copy again")
}

/// Rename the side file (if any) and then the main file onto `dst`: the main file's rename is
/// the commit point, so `dst` never names a copy without its `-wal`.
fn persist_set(
    temp: Temp,
    side_temp: &Path,
    side: Option<&str>,
    dst: &Path,
    force: bool,
) -> Result<(), Failure> {
    if force {
        files::remove_side_files(dst)?;
    }
    if let Some(side) = side {
        let target = side_file(dst, side);
        std::fs::rename(side_temp, &target).map_err(|e| {
            Failure::new(format!(
                "cannot rename the temp file onto {}: {e}",
                target.display()
            ))
        })?;
    }
    files::persist(temp, dst, force)?;
    files::fsync_folder(&files::folder_of(dst))
}

/// What SQLite can still tell about the copy at `path`, through a read-only connection that can
/// neither checkpoint nor remove its `-wal` (the copy stays byte-exact). A file SQLite cannot
/// read gives `readable: false` and the error as `integrity`. Messages name `dst`, the name the
/// copy is about to take. No checksum. `ours`: nobody else opens `path` (a temp copy), so the
/// side files SQLite makes to read it are removed after; never for a live database, whose
/// `-wal` another process may have just opened.
pub fn assess(path: &Path, dst: &Path, ours: bool) -> Facts {
    let measured = assess_at(path, ours).map_err(|f| Failure {
        message: f
            .message
            .replace(&path.display().to_string(), &dst.display().to_string()),
        ..f
    });
    let mut facts = match measured {
        Ok(f) => f,
        Err(failure) => Facts {
            integrity: failure.message.clone(),
            damage: Some(failure.message),
            ..Facts::default()
        },
    };
    if facts.damage.is_none() && facts.integrity != "ok" {
        facts.damage = Some(facts.integrity.clone());
    }
    facts.path = dst.to_path_buf();
    facts
}

fn assess_at(path: &Path, ours: bool) -> Result<Facts, Failure> {
    // The side files SQLite creates to read a WAL database (an empty -wal, a -shm) go when it
    // is done; the copy's own -wal stays.
    let made: Vec<PathBuf> = ["-wal", "-shm"]
        .iter()
        .map(|suffix| side_file(path, suffix))
        .filter(|side| ours && !side.exists())
        .collect();
    let measured = (|| -> Result<Facts, Failure> {
        facts::check_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| facts::cannot_read(path, e))?;
        if ours {
            // Read through a memory map (no copy of every page): nobody else writes a copy of
            // ours, so nobody truncates it under the map.
            let _ = conn.pragma_update(None, "mmap_size", 1_i64 << 40);
        }
        let mut f = facts::describe_conn(&conn, path)?;
        let mut stmt = conn
            .prepare("PRAGMA quick_check(20)")
            .map_err(|e| facts::cannot_read(path, e))?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| facts::cannot_read(path, e))?;
        f.integrity = lines.join("; ");
        Ok(f)
    })();
    for side in made {
        let _ = std::fs::remove_file(side);
    }
    measured
}
