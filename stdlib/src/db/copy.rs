//! Copying a database: a pinned snapshot copied as a file, SQLite's online backup in one step,
//! `VACUUM INTO`, and a plain byte copy.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ripcord_runtime::Failure;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::facts::{Check, Facts};
use super::writelock::WriteGuard;

/// When to give up waiting for a lock, and whether the run was asked to stop.
pub struct Deadline<'a> {
    pub at: Instant,
    pub timeout: Duration,
    pub stop: &'a dyn Fn() -> bool,
}

impl Deadline<'_> {
    pub fn wait(&self, what: &str) -> Result<(), Failure> {
        if (self.stop)() {
            return Err(Failure::new(format!(
                "{what}: stopped while waiting for a lock"
            )));
        }
        if Instant::now() >= self.at {
            return Err(Failure::new(format!(
                "{what}: the database stayed locked for {}",
                ripcord_runtime::time::human(self.timeout)
            ))
            .hint("another process holds a write lock (a long transaction?); retry, or raise #{ timeout: \"30m\" }"));
        }
        std::thread::sleep(Duration::from_millis(20));
        Ok(())
    }
}

/// Copy the whole of `src` into `dst` in ONE backup step: one read transaction, so the copy is a
/// consistent snapshot, and in WAL mode writers go on while it runs. (Copying a few pages per
/// step, as `sqlite3 .backup` does, restarts whenever another process commits.) BUSY and LOCKED
/// are retried until the deadline; rusqlite's `run_to_completion` would retry forever.
pub fn online(
    src: &Connection,
    dst: &mut Connection,
    dst_path: &Path,
    what: &str,
    deadline: &Deadline,
) -> Result<(), Failure> {
    let needed = size_of(src);
    let fail = |e: rusqlite::Error| super::files::sqlite_write_failure(e, dst_path, what, needed);
    let backup = Backup::new(src, dst).map_err(fail)?;
    loop {
        match backup.step(-1).map_err(fail)? {
            StepResult::Done => return Ok(()),
            StepResult::More => continue,
            _ => deadline.wait(what)?,
        }
    }
}

/// The size of a connection's main database (pages x page size), 0 if it cannot say.
pub fn size_of(conn: &Connection) -> u64 {
    let pragma = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
    match (pragma("page_count"), pragma("page_size")) {
        (Ok(pages), Ok(size)) => (pages.max(0) as u64) * (size.max(0) as u64),
        _ => 0,
    }
}

/// Copy the database file byte for byte, at the speed of `cp`, when that is a consistent snapshot.
/// A read transaction on `src` pins the snapshot. In WAL mode every frame must be in the main
/// file when the snapshot is taken: a checkpoint moves them while other processes' writers are
/// held off for a moment (`lock`, see [`pin_backfilled`]); from then until the read ends no
/// checkpoint may write the main file (none can pass a reader's snapshot), while writers go on
/// appending to the WAL. In rollback-journal mode the read transaction's SHARED lock keeps
/// every writer out until it ends.
///
/// While the kernel copies the file (copy_file_range, each slice's writeback started at once)
/// and another thread hashes the same bytes (memory maps), a third runs the integrity check and
/// the row counts on a second connection whose read transaction has the same snapshot: they
/// describe exactly the bytes being copied. The check yields to the checksum (the one job that
/// cannot be split), so on two cores the checksum has one to itself.
///
/// `raw` is a descriptor of the source opened BEFORE `src` and closed only after it (and so is
/// the descriptor `lock` keeps): on Linux, closing any descriptor of a file drops every POSIX
/// lock the process holds on it, SQLite's read lock included, so the copy and the checksum both
/// read through `raw` and nothing opens or closes the source while the read transaction holds
/// its lock. `None`, with `dst` left empty, when the snapshot still needs the WAL (a reader
/// pinned on an older snapshot, a source this user cannot write, a lock): the caller then takes
/// SQLite's online backup.
pub fn file_snapshot(
    path: &Path,
    raw: &File,
    src: &Connection,
    lock: &mut Option<WriteGuard>,
    (dst, check): (&Path, Check),
    (what, deadline): (&str, &Deadline),
) -> Result<Option<Facts>, Failure> {
    // The integrity check and the row counts run on a connection of their own, on a thread of
    // their own, in a read transaction started on the same snapshot as `src`'s.
    let checker = super::facts::open_reader(path)?;
    let Some(read) = pin_backfilled(path, (src, &checker), lock, what, deadline)? else {
        return Ok(None);
    };
    let Ok(bytes) = snapshot_size(&read) else {
        return Ok(None);
    };
    let fail = |e: std::io::Error| {
        Failure::new(format!("{what}: cannot copy into {}: {e}", dst.display()))
            .hint("check free space and permissions in the destination folder")
    };
    let to = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dst)
        .map_err(fail)?;
    let (summed, measured) = std::thread::scope(|s| {
        let measured = s.spawn(move || {
            super::facts::behind_the_checksum();
            let measured = super::facts::measure_snapshot(&checker, dst, check);
            // Closed here, so its map of the whole file is undone on this thread.
            drop(checker);
            measured
        });
        // Made durable here, while the check still reads the source: the fsync after it then
        // has nothing left to write.
        let summed = copy_summed(raw, &to, bytes, (path, dst, what));
        (summed, measured.join())
    });
    drop(read);
    // A source that cannot be mapped is copied by SQLite.
    let Some((sha256, copied)) = summed? else {
        return Ok(None);
    };
    let mut facts = measured
        .map_err(|_| Failure::new("internal error: a copy thread panicked"))?
        .map_err(|f| {
            Failure::new(format!("the copy of {} did not verify: {}", path.display(), f.message))
                .hint("nothing was written to the destination; check the source with db::verify and the disk for errors")
        })?;
    if copied != bytes {
        // The main file is shorter than the snapshot says; let SQLite sort it out.
        to.set_len(0).map_err(fail)?;
        return Ok(None);
    }
    facts.sha256 = sha256;
    facts.bytes = bytes;
    Ok(Some(facts))
}

/// The size of the snapshot a read transaction sees: its page count times the page size.
fn snapshot_size(read: &Connection) -> rusqlite::Result<u64> {
    let pages = read.query_row("PRAGMA page_count", [], |r| r.get::<_, u32>(0))?;
    let size = read.query_row("PRAGMA page_size", [], |r| r.get::<_, u32>(0))?;
    Ok(u64::from(pages) * u64::from(size))
}

/// Open a read transaction on `src` whose snapshot is entirely in the main file, and one on
/// `checker` on the same snapshot (left open; it ends when `checker` is closed). In WAL mode:
/// a checkpoint moves the WAL's frames while writers go on; then, with other processes'
/// writers held off (the WAL write lock, a few milliseconds), a second checkpoint moves the
/// last ones and both read transactions start, so their snapshot is exactly what the main file
/// holds. The lock's descriptor stays open in `lock` (see [`WriteGuard::let_writers_in`]).
/// `None` when that cannot be had; the caller copies through SQLite instead.
fn pin_backfilled<'c>(
    path: &Path,
    (src, checker): (&'c Connection, &Connection),
    lock: &mut Option<WriteGuard>,
    what: &str,
    deadline: &Deadline,
) -> Result<Option<rusqlite::Transaction<'c>>, Failure> {
    let wal = src
        .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
        .is_ok_and(|mode| mode.eq_ignore_ascii_case("wal"));
    let mut backfilled = true;
    if wal {
        wal_is_backfilled(path);
        let Ok(guard) = WriteGuard::take(path, true, deadline, what) else {
            return Ok(None);
        };
        // Another process's checkpoint may hold the checkpoint lock for a moment: a few short
        // tries while writers wait, before falling back.
        backfilled = (0..5).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            wal_is_backfilled(path)
        });
        *lock = Some(guard);
    }
    let reads = |conn: &Connection| {
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .is_ok()
    };
    let read = src.unchecked_transaction().ok().filter(|read| reads(read));
    let checked = checker.execute_batch("BEGIN").is_ok() && reads(checker);
    if let Some(guard) = lock {
        guard.let_writers_in();
    }
    Ok(read.filter(|_| backfilled && checked))
}

/// A passive checkpoint of the database at `path` from a connection of its own (a connection
/// inside a transaction cannot checkpoint): true when every frame in the WAL is in the main file.
fn wal_is_backfilled(path: &Path) -> bool {
    let Ok(conn) = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return false;
    };
    let _ = conn.busy_timeout(Duration::from_millis(200));
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })
    .is_ok_and(|(busy, frames, moved)| busy == 0 && frames >= 0 && frames == moved)
}

/// A connection to write a fresh copy into. The copy is fsynced by the caller once complete, so
/// SQLite's own journal and syncs would only cost time.
pub fn open_writer(path: &Path) -> Result<Connection, Failure> {
    let fail = |e: rusqlite::Error| {
        Failure::new(format!("cannot open {} for writing: {e}", path.display()))
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;",
    )
    .map_err(fail)?;
    Ok(conn)
}

/// `VACUUM INTO`: a compacted copy, as one read transaction of the source.
pub fn vacuum_into(
    src: &Connection,
    dst: &Path,
    what: &str,
    deadline: &Deadline,
) -> Result<(), Failure> {
    let target = dst
        .to_str()
        .ok_or_else(|| Failure::new(format!("{what}: the path {} is not UTF-8", dst.display())))?;
    loop {
        match src.execute("VACUUM INTO ?1", [target]) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                deadline.wait(what)?
            }
            Err(e) => {
                return Err(super::files::sqlite_write_failure(
                    e,
                    dst,
                    what,
                    size_of(src),
                ));
            }
        }
    }
}

/// Copy a file byte for byte into the temp file `dst` (in the kernel where it can) and fsync it.
pub fn plain(src: &Path, dst: &super::files::Temp, what: &str) -> Result<(), Failure> {
    let from = File::open(src).map_err(|e| {
        Failure::new(format!("{what}: cannot read {}: {e}", src.display()))
            .hint("check the file's permissions")
    })?;
    let needed = from.metadata().map(|m| m.len()).unwrap_or(0);
    copy_slices(&from, dst.file(), u64::MAX)
        .and_then(|_| dst.file().sync_all())
        .map_err(|e| super::files::write_failure(e, dst, what, needed))?;
    Ok(())
}

/// How far a map is filled, for a reader that follows it (the checksum of a copy).
#[derive(Default)]
pub struct Copied {
    /// Bytes copied so far, and whether the copy has ended (done or failed).
    state: std::sync::Mutex<(u64, bool)>,
    moved: std::sync::Condvar,
}

impl Copied {
    fn advance(&self, to: u64) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = to;
        self.moved.notify_all();
    }

    fn finish(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.moved.notify_all();
    }

    /// Marks the copy ended when dropped, however it ends, so a follower never waits forever.
    fn finish_on_drop(&self) -> impl Drop + '_ {
        struct Finish<'a>(&'a Copied);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.finish();
            }
        }
        Finish(self)
    }

    /// Wait until more than `seen` bytes are copied: how many, or `None` once the copy has
    /// ended with no more.
    pub fn beyond(&self, seen: u64) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match *state {
                (copied, _) if copied > seen => return Some(copied),
                (_, true) => return None,
                _ => {
                    state = self.moved.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }
}

/// Copy the first `limit` bytes of `from` into `to`, make them durable, and return their sha256 and
/// number. A file truncated under a map kills the process that reads past its end: a backup's
/// source is kept from shrinking by SQLite's locks; a restore's backup, which nothing locks, is
/// read the same way by SQLite's own map for its integrity check (the target is only touched after
/// the copy, so a killed restore loses nothing). The source is read once: one read-only map of it,
/// filled slice by slice on this thread, which then writes each slice while the checksum thread
/// hashes it from the same map. The checksum (sha256 is one core's work, the longest job of a
/// backup) so does nothing but hash: filling the map and writing are this thread's. The writes use
/// direct I/O (`O_DIRECT`) where the filesystem takes it: from the source's cached pages straight
/// to the disk, neither copying them into new cached pages nor leaving a file's worth of them to
/// write back (a 1 GiB copy: 0.17 s of system CPU against 0.4 s through the cache and fsync, and 3
/// s whenever the host had to find the memory for a new file's cache). `(path, dst, what)` name the
/// files in messages. `Ok(None)`, with nothing written, where the source cannot be mapped (some
/// network and FUSE filesystems).
pub fn copy_summed(
    from: &File,
    to: &File,
    limit: u64,
    (path, dst, what): (&Path, &Path, &str),
) -> Result<Option<(String, u64)>, Failure> {
    let len = from
        .metadata()
        .map_err(|e| {
            Failure::new(format!("{what}: cannot read {}: {e}", path.display()))
                .hint("check the file's permissions and the disk it is on")
        })?
        .len()
        .min(limit);
    let Ok(source) = SharedMap::new(from, len) else {
        return Ok(None);
    };
    let mut writer = SliceWriter::new(to);
    std::thread::scope(|s| {
        let summed = s.spawn(|| source.sha256());
        let written = (|| {
            let _finished = source.filled.finish_on_drop();
            // Slice `k + 1` is filled before slice `k` is written, so the checksum hashes one
            // while the other is on its way to the disk, and neither waits for the other.
            source.fill(0);
            for k in 0..source.slices.len() {
                source.fill(k + 1);
                let (start, end) = source.slices[k];
                writer.write(&source.bytes()[start..end], start as u64, len)?;
                source.done_with(k);
            }
            to.sync_all()
        })();
        let summed = summed
            .join()
            .map_err(|_| Failure::new("internal error: the checksum thread panicked"))?;
        written.map_err(|e| super::files::write_failure(e, dst, what, len))?;
        Ok(Some((summed, len)))
    })
}

/// A read-only map of a source that one thread fills slice by slice and another follows: each
/// slice's page-table entries are dropped as soon as both are done with it, so no thread has a
/// file's worth of them to undo at the end (38 ms for 1 GiB, measured).
struct SharedMap {
    map: Option<memmap2::Mmap>,
    slices: Vec<(usize, usize)>,
    /// How far the map is filled, for the follower.
    filled: Copied,
    /// How many of the two threads are done with each slice.
    users_done: Vec<AtomicU8>,
}

impl SharedMap {
    const SLICE: usize = 8 << 20;

    fn new(file: &File, len: u64) -> std::io::Result<Self> {
        if super::files::test_hook("no-map") {
            return Err(std::io::Error::from_raw_os_error(libc::ENODEV));
        }
        let size = usize::try_from(len).map_err(std::io::Error::other)?;
        let map = match size {
            0 => None,
            // SAFETY: a read-only map, read only as bytes to hash and to write. A backup's
            // source is under SQLite's locks; a restore's backup is not, and a process writing
            // it meanwhile would change bytes under the map: the restore then finds the backup
            // changed after the copy (its size and mtime) and refuses it (see copy_summed).
            _ => Some(unsafe { memmap2::MmapOptions::new().len(size).map(file)? }),
        };
        let slices: Vec<_> = (0..size)
            .step_by(Self::SLICE)
            .map(|start| (start, (start + Self::SLICE).min(size)))
            .collect();
        let users_done = slices.iter().map(|_| AtomicU8::new(0)).collect();
        Ok(SharedMap {
            map,
            slices,
            filled: Copied::default(),
            users_done,
        })
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or_default()
    }

    /// Fill slice `k` (if there is one) in one call, and tell the follower.
    fn fill(&self, k: usize) {
        let (Some(map), Some(&(start, end))) = (&self.map, self.slices.get(k)) else {
            return;
        };
        // Where that is refused, the pages fault in when read.
        let _ = map.advise_range(memmap2::Advice::PopulateRead, start, end - start);
        self.filled.advance(end as u64);
    }

    /// One of the two threads is done with slice `k`; the second one drops its page-table
    /// entries.
    fn done_with(&self, k: usize) {
        let (Some(map), Some(&(start, end))) = (&self.map, self.slices.get(k)) else {
            return;
        };
        if self.users_done[k].fetch_add(1, Ordering::AcqRel) == 1 {
            // SAFETY: a shared read-only map of a file: dropping its entries loses nothing (a
            // later read faults the same bytes back in), and no thread reads the slice again.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }

    /// The sha256 of the whole map, hashed slice by slice as it is filled.
    fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        let mut next = 0;
        while let Some(&(from, _)) = self.slices.get(next) {
            // Ends early (a hash of less than the map) only when the copy failed.
            let Some(filled) = self.filled.beyond(from as u64) else {
                break;
            };
            while let Some(&(start, end)) = self.slices.get(next).filter(|s| s.1 as u64 <= filled) {
                hasher.update(&self.bytes()[start..end]);
                self.done_with(next);
                next += 1;
            }
        }
        format!("{:x}", hasher.finalize())
    }
}

/// Where [`copy_summed`] writes: a second open file description of the destination with
/// `O_DIRECT` while the filesystem takes it, else the destination itself through the cache,
/// each slice's writeback started as soon as it is written.
struct SliceWriter<'a> {
    to: &'a File,
    direct: Option<File>,
    preallocated: bool,
}

impl<'a> SliceWriter<'a> {
    fn new(to: &'a File) -> Self {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let direct = (!super::files::test_hook("no-direct-io"))
            .then(|| {
                OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(format!("/proc/self/fd/{}", to.as_raw_fd()))
                    .ok()
            })
            .flatten();
        SliceWriter {
            to,
            direct,
            preallocated: false,
        }
    }

    /// Write `slice` at `offset` of a copy `len` bytes long. Direct I/O takes whole disk blocks
    /// from block-aligned memory: a tail shorter than a block goes through the cache.
    fn write(&mut self, mut slice: &[u8], mut offset: u64, len: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        const BLOCK: usize = 4096;
        if let Some(direct) = &self.direct {
            let whole = slice.len() - slice.len() % BLOCK;
            match direct.write_all_at(&slice[..whole], offset) {
                Ok(()) => {
                    slice = &slice[whole..];
                    offset += whole as u64;
                }
                // The filesystem takes O_DIRECT opens but not these writes: nothing is
                // written yet, the copy goes through the cache.
                Err(e) if offset == 0 && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.direct = None;
                }
                Err(e) => return Err(e),
            }
        }
        if slice.is_empty() {
            return Ok(());
        }
        if !self.preallocated {
            preallocate(self.to, len)?;
            self.preallocated = true;
        }
        self.to.write_all_at(slice, offset)?;
        start_writeback(self.to, offset, slice.len() as u64);
        Ok(())
    }
}

/// Copy the first `limit` bytes of `from` (from its start) to `to` in slices (in the kernel where
/// it can), each slice's writeback started as soon as it is copied, so the disk writes while the
/// next one is copied and the fsync that follows has little left to wait for; none is waited
/// for here (for a caller that must release a lock before it waits for the disk).
pub fn copy_slices(from: &File, to: &File, limit: u64) -> std::io::Result<u64> {
    const SLICE: u64 = 8 << 20;
    preallocate(to, from.metadata()?.len().min(limit))?;
    let mut reader = from;
    reader.seek(SeekFrom::Start(0))?;
    let mut done = 0;
    while done < limit {
        let n = std::io::copy(&mut reader.take(SLICE.min(limit - done)), &mut &*to)?;
        if n == 0 {
            break;
        }
        start_writeback(to, done, n);
        done += n;
    }
    Ok(done)
}

/// Reserve the disk blocks for the first `len` bytes of `file` before a copy writes them,
/// leaving its size alone: the filesystem allocates them in one go instead of page by page as
/// the copy is written back (on ext4, a fifth of a 1 GiB copy's system CPU), and a disk too
/// full for the copy says so before anything is written. Where the filesystem cannot, the copy
/// goes on without it.
fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let Ok(len) = i64::try_from(len) else {
        return Ok(());
    };
    if len == 0 {
        return Ok(());
    }
    // SAFETY: fallocate on a descriptor `file` owns; no memory is passed.
    if unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) } == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => Err(e),
        _ => Ok(()),
    }
}

/// Ask the kernel to start writing a range of `file` to disk now, without waiting for it. Only
/// a head start for the fsync that follows, which is what makes the bytes durable.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range on a descriptor `file` owns; no memory is passed. A failure
    // (a filesystem that does not support it) only loses the head start.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

/// A progress bar for a long copy, shown only where lines are redrawn (`live::enabled`): it
/// watches the destination grow, because one backup step reports nothing until it is done. It
/// shows the time so far: one step gives no rate to estimate the time left from.
pub fn with_progress<T>(dst: &Path, total: u64, label: &str, work: impl FnOnce() -> T) -> T {
    if !draws_a_bar(total) {
        return work();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("  {msg} [{bar:30}] {bytes}/{total_bytes} ({elapsed})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_string());
            while !done.load(Ordering::Relaxed) {
                bar.set_position(
                    std::fs::metadata(dst)
                        .map(|m| m.len())
                        .unwrap_or(0)
                        .min(total),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        let result = work();
        done.store(true, Ordering::Relaxed);
        result
    })
}

/// True when [`with_progress`] draws a bar for a copy of `total` bytes: a long copy, where
/// lines are redrawn.
pub fn draws_a_bar(total: u64) -> bool {
    const WORTH_A_BAR: u64 = 64 << 20;
    total >= WORTH_A_BAR && ripcord_runtime::live::enabled()
}

/// A spinner line while a copy is verified, where lines are redrawn; cleared when dropped.
pub fn verifying(path: &Path) -> Option<ripcord_runtime::live::Spinner> {
    ripcord_runtime::live::enabled().then(|| {
        ripcord_runtime::live::Spinner::start(format!("verify {}", super::files::file_name(path)))
    })
}
