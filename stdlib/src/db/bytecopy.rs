//! `db::backup(..., #{ verify: "none" })`: a byte-exact copy of a database and its `-wal` (or
//! hot `-journal`), a consistent set of files taken under SQLite's locks without SQLite, so a
//! database SQLite cannot read at all can still be copied. The damage is reported in the result
//! (`readable`, `integrity`), never a reason to refuse: this is the copy an operator takes
//! before touching a corrupted database.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ripcord_runtime::Failure;
use rusqlite::{Connection, OpenFlags};

use super::backup::BackupOpts;
use super::copy::Deadline;
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
    let snap = snapshot(src, &temp, &deadline, &what)?;
    let (sha256, bytes, side) = (snap.sha256, snap.bytes, snap.side);
    let side_temp = side_file(&temp, side.unwrap_or("-wal"));
    persist_set(temp, &side_temp, side, dst, opts.force)?;
    let mut facts = assess(dst, sha256, bytes);
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
pub fn snapshot(
    src: &Path,
    temp: &Temp,
    deadline: &Deadline,
    what: &str,
) -> Result<Snapshot, Failure> {
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
    let (sha256, bytes) = copy_into(&main, src, temp.file(), temp, what)?;
    let side_src = side_file(src, side);
    let side_copied = if files::len_of(&side_src).is_some_and(|n| n > 0) {
        let from = File::open(&side_src).map_err(|e| unreadable(&side_src, e))?;
        let to = create_new(&side_temp)?;
        copy_into(&from, &side_src, &to, &side_temp, what)?;
        to.sync_all()
            .map_err(|e| files::write_failure(e, &side_temp, what, 0))?;
        true
    } else {
        false
    };
    drop(main);
    drop(guard);
    temp.file()
        .sync_all()
        .map_err(|e| files::write_failure(e, temp, what, bytes))?;
    Ok(Snapshot {
        sha256,
        bytes,
        side: side_copied.then_some(side),
    })
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

/// Copy all of `from` into `to` from offset 0, hashing it on the way.
fn copy_into(
    from: &File,
    from_path: &Path,
    to: &File,
    to_path: &Path,
    what: &str,
) -> Result<(String, u64), Failure> {
    let needed = from.metadata().map(|m| m.len()).unwrap_or(0);
    let (summed, copied) = std::thread::scope(|s| {
        let summed = s.spawn(|| facts::sha256_at(from, u64::MAX, from_path));
        let copied = (|| {
            let mut reader = from;
            reader.seek(SeekFrom::Start(0))?;
            std::io::copy(&mut reader, &mut &*to)
        })();
        (summed.join(), copied)
    });
    let copied = copied.map_err(|e| files::write_failure(e, to_path, what, needed))?;
    let summed =
        summed.map_err(|_| Failure::new("internal error: the checksum thread panicked"))??;
    if summed.1 != copied {
        return Err(Failure::new(format!(
            "{what}: {} changed while it was copied ({} bytes read, {copied} copied)",
            from_path.display(),
            summed.1
        ))
        .hint("something wrote to it without SQLite's locks; stop that process and copy again"));
    }
    Ok(summed)
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
        for suffix in files::SIDE_SUFFIXES {
            files::remove_if_exists(&side_file(dst, suffix))?;
        }
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

/// What SQLite can still tell about the copy, through a read-only connection that can neither
/// checkpoint nor remove its `-wal` (the copy stays byte-exact). A file SQLite cannot read gives
/// `readable: false` and the error as `integrity`.
pub fn assess(dst: &Path, sha256: String, bytes: u64) -> Facts {
    let shm = side_file(dst, "-shm");
    let shm_was_there = shm.exists();
    let measured = (|| -> Result<Facts, Failure> {
        facts::check_file(dst)?;
        let conn = Connection::open_with_flags(
            dst,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| facts::cannot_read(dst, e))?;
        let mut f = facts::describe_conn(&conn, dst)?;
        let mut stmt = conn
            .prepare("PRAGMA quick_check(20)")
            .map_err(|e| facts::cannot_read(dst, e))?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| facts::cannot_read(dst, e))?;
        f.integrity = lines.join("; ");
        Ok(f)
    })();
    if !shm_was_there {
        let _ = std::fs::remove_file(&shm);
    }
    let mut facts = match measured {
        Ok(f) => f,
        Err(failure) => Facts {
            path: dst.to_path_buf(),
            integrity: failure.message.clone(),
            damage: Some(failure.message),
            ..Facts::default()
        },
    };
    if facts.damage.is_none() && facts.integrity != "ok" {
        facts.damage = Some(facts.integrity.clone());
    }
    facts.path = dst.to_path_buf();
    facts.sha256 = sha256;
    facts.bytes = bytes;
    facts
}
