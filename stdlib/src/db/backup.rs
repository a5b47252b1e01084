//! `db::backup`: a consistent copy of a live database, written where a crash cannot leave a
//! half-written file under the destination's name.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ripcord_runtime::Failure;

use super::copy::{self, Deadline};
use super::facts::{self, Check, Facts};
use super::files::{self, Holder};

pub struct BackupOpts {
    pub force: bool,
    pub compact: bool,
    pub check: Check,
    pub timeout: Duration,
}

/// Everything that makes a backup impossible, checked before anything is written (also in a dry
/// run). Returns the source's header page count and page size for the progress bar.
pub fn preflight(src: &Path, dst: &Path, force: bool) -> Result<facts::Header, Failure> {
    let header = facts::check_file(src)?;
    check_destination(src, dst, force)?;
    Ok(header)
}

/// Refuse a destination that is a folder, the source itself, an existing file (without
/// `force`), or a database some process has open.
pub fn check_destination(src: &Path, dst: &Path, force: bool) -> Result<(), Failure> {
    if dst.is_dir() {
        return Err(
            Failure::new(format!("{} is a directory", dst.display())).hint(format!(
                "give a file path, e.g. {}/{}",
                dst.display(),
                files::file_name(src)
            )),
        );
    }
    if same_file(src, dst) {
        return Err(
            Failure::new(format!("{} is the source itself", dst.display()))
                .hint("back up to another file name"),
        );
    }
    if dst.exists() && !force {
        return Err(Failure::new(format!("{} already exists", dst.display()))
            .hint("pass #{ force: true } to replace it, or choose another name"));
    }
    let holders = files::holders(dst);
    if !holders.is_empty() {
        return Err(Failure::new(format!(
            "{} is open in {}: it is a live database, not a backup file",
            dst.display(),
            Holder::describe(&holders)
        ))
        .hint("back up to a new file name; to replace a live database use db::restore"));
    }
    Ok(())
}

/// Refuse before writing when the destination's filesystem cannot hold `needed` bytes (the
/// copy, at most the source and its WAL): a clear message now instead of a full disk later.
pub fn ensure_space(src: &Path, dst: &Path, needed: u64) -> Result<(), Failure> {
    let what = format!("the backup of {} to {}", src.display(), dst.display());
    crate::sys::ensure_free(&files::folder_of(dst), needed, &what).map(|_| ())
}

pub fn same_file(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| -> Option<PathBuf> {
        let dir = std::fs::canonicalize(files::folder_of(p)).ok()?;
        Some(dir.join(p.file_name()?))
    };
    matches!((canonical(a), canonical(b)), (Some(x), Some(y)) if x == y)
}

/// Copy `src` to a temp file beside `dst`, fsync it, verify it, then rename it onto `dst` and
/// fsync the folder: `dst` never names an unverified or partial file. A byte copy of a pinned
/// snapshot is verified on that snapshot while it is copied (integrity check and row counts in
/// the same read transaction, the sha256 of the same bytes); a copy SQLite made is verified by
/// reading the copy back.
pub fn run(
    src: &Path,
    dst: &Path,
    opts: &BackupOpts,
    stop: &dyn Fn() -> bool,
) -> Result<Facts, Failure> {
    let header = preflight(src, dst, opts.force)?;
    let swept = files::sweep_dead_temps(dst);
    let temp = files::temp_beside(dst, "backup")?;
    let total = header.pages * header.page_size;
    let needed = total + files::len_of(&files::side_file(src, "-wal")).unwrap_or(0);
    ensure_space(src, dst, needed)?;
    let deadline = Deadline {
        at: std::time::Instant::now() + opts.timeout,
        timeout: opts.timeout,
        stop,
    };
    let what = format!("backup of {}", src.display());
    let measured = copy_to_temp(src, dst, &temp, total, opts, &deadline, &what)?;
    let mut facts = match measured {
        Some(facts) => {
            temp.file()
                .sync_all()
                .map_err(|e| files::write_failure(e, &temp, &what, facts.bytes))?;
            facts
        }
        None => settle_copy(src, &temp, opts.check, &what)?,
    };
    files::install(temp, dst, opts.force)?;
    facts.path = dst.to_path_buf();
    facts.swept = swept;
    Ok(facts)
}

/// Copy `src` into `temp`: `VACUUM INTO` when compacting, else the pinned snapshot as a file
/// (checked while it is copied: its facts are returned), else SQLite's online backup in one
/// step. `total` is the source's size, for the progress bar.
fn copy_to_temp(
    src: &Path,
    dst: &Path,
    temp: &files::Temp,
    total: u64,
    opts: &BackupOpts,
    deadline: &Deadline,
    what: &str,
) -> Result<Option<Facts>, Failure> {
    // Opened before SQLite's connection and closed after it (declaration order), as is the WAL
    // lock's descriptor: closing a descriptor of the source while SQLite holds a lock on it
    // would drop that lock.
    let raw = File::open(src).map_err(|e| {
        Failure::new(format!("{what}: cannot read {}: {e}", src.display()))
            .hint("check the file's permissions")
    })?;
    let mut lock = None;
    let source = facts::open_reader(src)?;
    // Short waits inside SQLite; the deadline loop decides when to give up.
    let _ = source.busy_timeout(Duration::from_millis(200));
    let label = format!("backup {}", files::file_name(src));
    copy::with_progress(temp, total, &label, || {
        if opts.compact {
            // VACUUM INTO writes a new database, which `query_only` forbids.
            source
                .pragma_update(None, "query_only", false)
                .map_err(|e| facts::cannot_read(src, e))?;
            return copy::vacuum_into(&source, temp, what, deadline).map(|()| None);
        }
        // The snapshot is checked while it is copied: where no bar is drawn, a spinner shows
        // the wait (the copy and the check together).
        let verifying = (!copy::draws_a_bar(total))
            .then(|| copy::verifying(dst))
            .flatten();
        let checked = (temp.as_ref(), opts.check);
        let measured =
            copy::file_snapshot(src, &raw, &source, &mut lock, checked, (what, deadline))?;
        drop(verifying);
        if measured.is_some() {
            return Ok(measured);
        }
        let mut dest = copy::open_writer(temp)?;
        copy::online(&source, &mut dest, temp, what, deadline).map(|()| None)
    })
}

/// A copy made through SQLite: fsync it while it is verified (integrity, row counts, sha256)
/// from the page cache.
fn settle_copy(src: &Path, temp: &files::Temp, check: Check, what: &str) -> Result<Facts, Failure> {
    let verifying = copy::verifying(temp);
    let (synced, measured) = std::thread::scope(|s| {
        let synced = s.spawn(|| temp.file().sync_all());
        let measured = facts::measure(temp, check, true);
        (synced.join(), measured)
    });
    drop(verifying);
    let needed = files::len_of(temp).unwrap_or(0);
    synced
        .map_err(|_| Failure::new("internal error: the fsync thread panicked"))?
        .map_err(|e| files::write_failure(e, temp, what, needed))?;
    measured.map_err(|f| {
        Failure::new(format!("the copy of {} did not verify: {}", src.display(), f.message)).hint(
            "nothing was written to the destination; check the source with db::verify and the disk for errors",
        )
    })
}
