//! `db::restore`: put a verified backup in place of a database so that a crash at any moment
//! leaves either the old or the new database under the target's name, and no stale `-wal` or
//! `-journal` from the old one can be applied to the new one.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ripcord_runtime::Failure;
use ripcord_runtime::rhai::{Array, Dynamic, Map};

use super::copy::{self, Deadline};
use super::facts::{self, Check, Facts};
use super::files::{self, Holder, side_file};
use super::writelock::WriteGuard;

pub struct RestoreOpts {
    pub force: bool,
    pub keep_safety: bool,
    pub live: bool,
    pub check: Check,
    pub timeout: Duration,
    /// Restore a WAL backup whose `-wal` is missing (a `-shm` is there) as it is.
    pub allow_missing_wal: bool,
}

/// What a restore will do, worked out without changing anything.
pub struct Plan {
    pub target_exists: bool,
    pub safety: Option<PathBuf>,
    pub holders: Vec<Holder>,
    /// Why a real run would refuse (only conditions an earlier step may still change).
    pub blockers: Vec<String>,
    pub steps: Vec<String>,
}

/// Refusals that hold in every mode, then the plan.
pub fn plan(backup: &Path, target: &Path, opts: &RestoreOpts) -> Result<Plan, Failure> {
    let target_exists = refuse_unusable(backup, target, opts)?;
    let holders = files::holders(target);
    let mut blockers = Vec::new();
    if !holders.is_empty() && !opts.live {
        blockers.push(format!(
            "{} is open in {}",
            target.display(),
            Holder::describe(&holders)
        ));
    }
    let safety = (target_exists && opts.keep_safety).then(|| safety_path(target));
    let live = !holders.is_empty() && opts.live;
    let steps = planned_steps(backup, target, opts.check, live, target_exists, &safety);
    Ok(Plan {
        target_exists,
        safety,
        holders,
        blockers,
        steps,
    })
}

/// Refuse a backup or target no restore may use; returns whether the target exists.
fn refuse_unusable(backup: &Path, target: &Path, opts: &RestoreOpts) -> Result<bool, Failure> {
    facts::check_file(backup)?;
    if target.is_dir() {
        return Err(Failure::new(format!(
            "restore target {} is a directory",
            target.display()
        ))
        .hint("give the path of the database file inside it"));
    }
    if super::backup::same_file(backup, target) {
        return Err(Failure::new(format!(
            "{} is both the backup and the restore target",
            target.display()
        )));
    }
    let target_exists = target.exists();
    if target_exists && !opts.force {
        return Err(Failure::new(format!(
            "restore target {} already exists",
            target.display()
        ))
        .hint("pass #{ force: true } to replace it (the current file is kept as a safety copy)"));
    }
    let journal = side_file(backup, "-journal");
    if files::len_of(&journal).is_some_and(|n| n > 0) {
        return Err(Failure::new(format!(
            "backup {} has a hot rollback journal beside it ({}): it was copied mid-transaction",
            backup.display(),
            journal.display()
        ))
        .hint(
            "use a backup made with db::backup, or open this one once with sqlite3 to roll it back",
        ));
    }
    if let Some(missing) = facts::missing_wal(backup).filter(|_| !opts.allow_missing_wal) {
        return Err(Failure::new(format!("backup {missing}")).hint(
            "find the backup's -wal and put it beside it; to restore this older state anyway, pass #{ allow_missing_wal: true }",
        ));
    }
    Ok(target_exists)
}

/// What the restore will do, step by step, for the dry run's plan.
fn planned_steps(
    backup: &Path,
    target: &Path,
    check: Check,
    live: bool,
    target_exists: bool,
    safety: &Option<PathBuf>,
) -> Vec<String> {
    let (b, t) = (backup.display(), target.display());
    let mut steps = vec![format!("verify {b} ({})", check_name(check))];
    if live {
        if let Some(s) = safety {
            steps.push(format!(
                "copy the live {t} to {} (online backup)",
                s.display()
            ));
        }
        steps.push(format!(
            "write the backup into the open {t} through SQLite's locking"
        ));
    } else {
        steps.push(format!("copy {b} to a temp file beside {t} and fsync it"));
        if target_exists {
            steps.push(format!(
                "fold any -wal/-journal of {t} into it, so nothing stale stays beside it"
            ));
            if let Some(s) = safety {
                steps.push(format!("keep the current {t} as {}", s.display()));
            }
        }
        steps.push(format!(
            "rename the temp file onto {t} and fsync the folder"
        ));
    }
    if live || hot_side_file(backup).is_some() {
        steps.push(format!("check the row counts of {t} equal the backup's"));
    } else {
        steps.push(format!(
            "check {t} is the file written and reads as the backup (pages, tables)"
        ));
    }
    steps
}

fn check_name(check: Check) -> &'static str {
    match check {
        Check::Quick => "quick_check, row counts, sha256",
        Check::Full => "integrity_check, row counts, sha256",
        Check::None => "row counts, sha256",
    }
}

impl Plan {
    pub fn to_map(&self, backup: &Facts, target: &Path) -> Map {
        let mut m = Map::new();
        m.insert("dry_run".into(), true.into());
        m.insert("target".into(), target.display().to_string().into());
        m.insert("target_exists".into(), self.target_exists.into());
        m.insert("backup".into(), backup.to_map(0).into());
        m.insert(
            "safety".into(),
            self.safety
                .as_ref()
                .map(|p| Dynamic::from(p.display().to_string()))
                .unwrap_or(Dynamic::UNIT),
        );
        let held: Array = self
            .holders
            .iter()
            .map(|h| {
                let mut m = Map::new();
                m.insert("pid".into(), Dynamic::from(h.pid as i64));
                m.insert("name".into(), h.name.clone().into());
                Dynamic::from(m)
            })
            .collect();
        m.insert("held_by".into(), held.into());
        m.insert(
            "blockers".into(),
            self.blockers
                .iter()
                .map(|b| Dynamic::from(b.clone()))
                .collect::<Array>()
                .into(),
        );
        m.insert(
            "steps".into(),
            self.steps
                .iter()
                .map(|s| Dynamic::from(s.clone()))
                .collect::<Array>()
                .into(),
        );
        m
    }
}

/// A `-wal` or `-journal` with content beside `db`: SQLite would apply it on the next open.
fn hot_side_file(db: &Path) -> Option<String> {
    ["-wal", "-journal"]
        .iter()
        .map(|s| side_file(db, s))
        .find(|p| files::len_of(p).is_some_and(|n| n > 0))
        .map(|p| p.display().to_string())
}

/// `<target>.pre-restore-<stamp>`, with a counter if two restores share a second.
fn safety_path(target: &Path) -> PathBuf {
    let base = format!(
        "{}.pre-restore-{}",
        target.display(),
        ripcord_runtime::time::stamp()
    );
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = PathBuf::from(format!("{base}-{n}"));
    }
    candidate
}

/// What a finished restore reports.
pub struct Restored {
    pub facts: Facts,
    pub safety: Option<PathBuf>,
    pub backup: Facts,
    pub live: bool,
    pub notes: Vec<String>,
}

pub fn run(
    backup: &Path,
    target: &Path,
    opts: &RestoreOpts,
    stop: &dyn Fn() -> bool,
) -> Result<Restored, Failure> {
    let plan = plan(backup, target, opts)?;
    let swept = files::sweep_dead_temps(target);
    ensure_space(backup, target, !plan.holders.is_empty())?;
    let mut restored = if plan.holders.is_empty() {
        offline(backup, target, plan, opts, stop)?
    } else {
        if !opts.live {
            return Err(Failure::new(format!(
                "restore target {} is open in {}; replacing the file under it would lose data",
                target.display(),
                Holder::describe(&plan.holders)
            ))
            .hint("stop that process first (e.g. service::stop), or pass #{ live: true } to restore through SQLite's locking"));
        }
        live(backup, target, plan.safety, opts, stop)?
    };
    restored.facts.swept = swept;
    Ok(restored)
}

/// Refuse before touching anything when the target's filesystem cannot hold what the restore
/// writes: the backup (and its WAL) as a temp file, or, live, written into the database while
/// a safety copy of the target is kept (a hard link when offline, so no space).
fn ensure_space(backup: &Path, target: &Path, live: bool) -> Result<(), Failure> {
    let size = |p: &Path| {
        files::len_of(p).unwrap_or(0) + files::len_of(&side_file(p, "-wal")).unwrap_or(0)
    };
    let needed = size(backup) + if live { size(target) } else { 0 };
    let what = format!(
        "the restore of {} into {}",
        backup.display(),
        target.display()
    );
    crate::sys::ensure_free(&files::folder_of(target), needed, &what).map(|_| ())
}

/// Restore into a database no process holds open: a temp copy renamed onto it.
fn offline(
    backup: &Path,
    target: &Path,
    plan: Plan,
    opts: &RestoreOpts,
    stop: &dyn Fn() -> bool,
) -> Result<Restored, Failure> {
    let deadline = Deadline {
        at: Instant::now() + opts.timeout,
        timeout: opts.timeout,
        stop,
    };
    let temp = files::temp_beside(target, "restore")?;
    let before = stat(backup);
    let (mut backup_facts, copied) = copy_verified(backup, &temp, opts.check, &deadline)?;
    if stat(backup) != before {
        return Err(Failure::new(format!("backup {} changed while it was being restored", backup.display()))
            .hint("nothing was replaced; make sure nothing writes to the backup file, then run the restore again"));
    }
    let sha = copied.sha256().to_string();
    backup_facts.sha256 = sha.clone();
    files::copy_ownership(if plan.target_exists { target } else { backup }, &temp);
    let written = file_id(temp.file().metadata().ok());
    files::test_pause("after-temp");
    let notes = if plan.target_exists {
        set_old_aside(target, &plan.safety)?
    } else {
        Vec::new()
    };
    files::test_pause("after-safety");
    files::persist(temp, target, true)?;
    files::test_pause("after-rename");
    files::fsync_folder(&files::folder_of(target))?;
    let mut restored = match copied {
        Copy::Bytes(_) => check_in_place(target, written, &backup_facts, &plan.safety)?,
        Copy::Sqlite(_) => recount(target, &backup_facts, &plan.safety)?,
    };
    restored.sha256 = sha;
    Ok(Restored {
        facts: restored,
        safety: plan.safety,
        backup: backup_facts,
        live: false,
        notes,
    })
}

/// How the backup went into the temp file, and the sha256 of what was written.
enum Copy {
    /// Byte for byte: the temp file holds exactly the bytes of the backup that were verified.
    Bytes(String),
    /// Through SQLite (the backup's state includes its `-wal`): the same pages, in another file.
    Sqlite(String),
}

impl Copy {
    fn sha256(&self) -> &str {
        match self {
            Copy::Bytes(sha) | Copy::Sqlite(sha) => sha,
        }
    }
}

/// Copy the backup into `temp` (fsynced) and verify it; returns the backup's facts and how it
/// was copied.
fn copy_verified(
    backup: &Path,
    temp: &files::Temp,
    check: Check,
    deadline: &Deadline,
) -> Result<(Facts, Copy), Failure> {
    if hot_side_file(backup).is_some() {
        // The backup's committed state includes its WAL: copy it through SQLite.
        let backup_facts = facts::measure(backup, check, false)?;
        {
            let source = facts::open_reader(backup)?;
            let mut dest = copy::open_writer(temp)?;
            let what = format!("copy of {}", backup.display());
            copy::online(&source, &mut dest, temp, &what, deadline)?;
        }
        temp.file()
            .sync_all()
            .map_err(|e| files::write_failure(e, temp, "restore", 0))?;
        return Ok((backup_facts, Copy::Sqlite(facts::sha256_file(temp)?.0)));
    }
    // Verify and copy at once: the target is touched only after both succeed, and the caller
    // checks the backup unchanged afterwards, so the copy has the bytes that were verified.
    let total = files::len_of(backup).unwrap_or(0);
    let label = format!("restore {}", files::file_name(backup));
    std::thread::scope(|s| {
        let verified = s.spawn(|| facts::measure(backup, check, false));
        let copied = copy::with_progress(temp, total, &label, || copy_hashed(backup, temp));
        let mut verified = verified
            .join()
            .map_err(|_| Failure::new("internal error: a restore thread panicked"))??;
        let (sha, bytes) = copied?;
        // The caller sets the sha256, whichever way the backup was copied.
        verified.bytes = bytes;
        Ok((verified, Copy::Bytes(sha)))
    })
}

/// Copy the backup's bytes into `temp` and fsync it; returns the sha256 of the bytes written
/// and their number. The backup is read once, through a map the checksum hashes while the copy
/// writes it with direct I/O ([`copy::copy_summed`]): the restore takes no page cache for the
/// new file, so it neither waits for a file's worth of new memory (seconds, on a virtual
/// machine whose host has to find it) nor leaves a file's worth of dirty pages for the fsync.
/// A backup that cannot be mapped is read and copied the ordinary way.
fn copy_hashed(backup: &Path, temp: &files::Temp) -> Result<(String, u64), Failure> {
    let what = format!("restore of {}", backup.display());
    let from = File::open(backup).map_err(|e| {
        Failure::new(format!("{what}: cannot read {}: {e}", backup.display()))
            .hint("check the backup's permissions")
    })?;
    if let Some(summed) = copy::copy_summed(&from, temp.file(), u64::MAX, (backup, temp, &what))? {
        return Ok(summed);
    }
    let summed = super::bytecopy::copy_into(&from, backup, temp.file(), temp, &what)?;
    temp.file()
        .sync_all()
        .map_err(|e| files::write_failure(e, temp, &what, summed.1))?;
    Ok(summed)
}

/// Before the new file takes the target's name: fold the old database's own `-wal`/`-journal`
/// into it, keep it as the safety copy, and move its side files aside (a stale `-wal` beside
/// the new file would be replayed onto it). Returns what the operator should know.
fn set_old_aside(target: &Path, safety: &Option<PathBuf>) -> Result<Vec<String>, Failure> {
    let mut notes = Vec::new();
    if hot_side_file(target).is_some()
        && let Err(reason) = fold(target)
    {
        if reason.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return Err(files::no_space(
                target,
                &format!("fold of {}'s -wal", target.display()),
                files::len_of(&side_file(target, "-wal")).unwrap_or(0),
            )
            .hint("nothing was replaced; free some space beside the database and run the restore again"));
        }
        notes.push(format!(
            "{} has a -wal/-journal that SQLite could not fold into it (the file is damaged?); it was moved aside{}",
            target.display(),
            if safety.is_some() { " with the safety copy" } else { " and deleted" }
        ));
    }
    if let Some(safety) = safety {
        keep_safety(target, safety)?;
    }
    for suffix in files::SIDE_SUFFIXES {
        let side = side_file(target, suffix);
        match safety {
            Some(safety) if suffix != "-shm" && files::len_of(&side).is_some_and(|n| n > 0) => {
                std::fs::rename(&side, side_file(safety, suffix)).map_err(|e| {
                    Failure::new(format!("cannot move {} aside: {e}", side.display()))
                        .hint("nothing was replaced")
                })?;
            }
            _ => {
                files::remove_if_exists(&side)?;
            }
        }
    }
    files::fsync_folder(&files::folder_of(target))?;
    Ok(notes)
}

/// Where a file lives: its device and inode.
fn file_id(meta: Option<std::fs::Metadata>) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    meta.map(|m| (m.dev(), m.ino()))
}

/// After a byte-for-byte restore: the file under the target's name must be the one written
/// (same device and inode), and SQLite must read it as the backup (same page size, pages, free
/// pages, user_version and tables) with no journal to apply. Its bytes are the ones
/// checksummed as they were written, from a backup verified and found unchanged, so its row
/// counts are the backup's: counting them again would only read the same bytes once more (for
/// a table without an index, every page of it).
fn check_in_place(
    target: &Path,
    written: Option<(u64, u64)>,
    backup: &Facts,
    safety: &Option<PathBuf>,
) -> Result<Facts, Failure> {
    let t = target.display();
    if written.is_none() || file_id(std::fs::metadata(target).ok()) != written {
        return Err(after_swap(
            Failure::new(format!(
                "{t} is not the file the restore wrote: something replaced it meanwhile"
            )),
            safety,
        ));
    }
    // Before SQLite opens it: it would apply such a journal.
    if let Some(side) = hot_side_file(target) {
        return Err(after_swap(
            Failure::new(format!(
                "restored {t} has a journal beside it that SQLite would apply: {side}"
            )),
            safety,
        ));
    }
    let (mut restored, names) = facts::describe_shape(target).map_err(|f| after_swap(f, safety))?;
    let shape = |f: &Facts| (f.page_size, f.pages, f.free_pages, f.user_version);
    let backup_names: Vec<&String> = backup.tables.iter().map(|(name, _)| name).collect();
    if shape(&restored) != shape(backup) || names.iter().collect::<Vec<_>>() != backup_names {
        return Err(after_swap(
            Failure::new(format!(
                "restored {t} does not read as the backup: page size, pages, free pages and user_version {:?}, tables {names:?}; the backup's {:?}, tables {backup_names:?}",
                shape(&restored),
                shape(backup),
            )),
            safety,
        ));
    }
    restored.tables = backup.tables.clone();
    restored.integrity = backup.integrity.clone();
    Ok(restored)
}

/// The restored target must hold the backup's rows, table by table.
fn recount(target: &Path, backup: &Facts, safety: &Option<PathBuf>) -> Result<Facts, Failure> {
    let mut restored = facts::describe(target).map_err(|f| after_swap(f, safety))?;
    if restored.tables != backup.tables {
        return Err(after_swap(
            Failure::new(format!(
                "restored {} does not hold the backup's rows: {} rows against {}",
                target.display(),
                restored.rows(),
                backup.rows()
            )),
            safety,
        ));
    }
    restored.integrity = backup.integrity.clone();
    Ok(restored)
}

fn after_swap(failure: Failure, safety: &Option<PathBuf>) -> Failure {
    let back = match safety {
        Some(s) => format!(
            "the previous database is kept at {}; db::restore it with #{{ force: true }} to go back",
            s.display()
        ),
        None => "no safety copy was kept".to_string(),
    };
    Failure::new(failure.message).hint(back)
}

fn stat(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.len(), m.modified().ok()?)))
}

/// Let SQLite apply the old database's own hot `-wal` or `-journal` and empty it, so the safety
/// copy is the whole old database and nothing stale is left beside the target. Only done when no
/// process holds the target open, so this checkpoint blocks no one.
fn fold(target: &Path) -> rusqlite::Result<()> {
    let conn =
        rusqlite::Connection::open_with_flags(target, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    if mode.eq_ignore_ascii_case("wal") {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(rusqlite::Error::InvalidQuery);
        }
    } else {
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })?;
    }
    conn.close().map_err(|(_, e)| e)?;
    match hot_side_file(target) {
        None => Ok(()),
        Some(_) => Err(rusqlite::Error::InvalidQuery),
    }
}

/// The old database under a second name: a hard link (instant, the very same bytes), or a
/// copy where the filesystem has no links.
fn keep_safety(target: &Path, safety: &Path) -> Result<(), Failure> {
    if std::fs::hard_link(target, safety).is_ok() {
        return Ok(());
    }
    let what = format!("safety copy of {}", target.display());
    let temp = files::temp_beside(safety, "safety")?;
    copy::plain(target, &temp, &what).map_err(|f| {
        Failure::new(f.message)
            .hint("nothing was replaced; free some space or pass #{ keep_safety: false }")
    })?;
    files::copy_ownership(target, &temp);
    files::persist(temp, safety, false)
}

/// A live target: our connection to it and the write lock we hold on it. The connection is
/// declared first so it closes first: closing the lock's descriptor drops every POSIX lock this
/// process holds on the file, the connection's included.
struct LiveTarget {
    conn: rusqlite::Connection,
    guard: WriteGuard,
}

impl LiveTarget {
    /// Connect to the live `target` and take its write lock; also returns whether it is in WAL
    /// mode. Refuses a rollback-journal target with a journal beside it once no one may write.
    fn open(target: &Path, deadline: &Deadline, what: &str) -> Result<(Self, bool), Failure> {
        let fail =
            |e: rusqlite::Error| Failure::new(format!("cannot open {}: {e}", target.display()));
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE;
        let conn = rusqlite::Connection::open_with_flags(target, flags).map_err(fail)?;
        conn.busy_timeout(Duration::from_millis(200))
            .map_err(fail)?;
        // A read first: it rolls back a crashed writer's hot journal and maps the WAL index.
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(fail)?;
        let wal = mode.eq_ignore_ascii_case("wal");
        let guard = WriteGuard::take(target, wal, deadline, what)?;
        let live = LiveTarget { conn, guard };
        if !wal && files::len_of(&side_file(target, "-journal")).is_some_and(|n| n > 0) {
            return Err(Failure::new(format!(
                "{what}: {} has a journal beside it although no one may write now (a writer crashed, or it keeps a persistent journal)",
                target.display()
            ))
            .hint("nothing was changed; open the database once with sqlite3 to roll it back, or stop its service and restore without live"));
        }
        Ok((live, wal))
    }
}

/// Restore into a database other processes hold open: the database's write lock is taken first
/// and held until the restore commits, so no commit can land between the safety copy and the
/// restore (it would be in neither). SQLite's backup API then writes the backup into it as one
/// transaction under SQLite's own locks, so readers see the old or the new content, never a
/// mixture.
fn live(
    backup: &Path,
    target: &Path,
    safety: Option<PathBuf>,
    opts: &RestoreOpts,
    stop: &dyn Fn() -> bool,
) -> Result<Restored, Failure> {
    let backup_facts = facts::measure(backup, opts.check, true)?;
    let deadline = Deadline {
        at: Instant::now() + opts.timeout,
        timeout: opts.timeout,
        stop,
    };
    let what = format!("live restore into {}", target.display());
    let (mut live, wal) = LiveTarget::open(target, &deadline, &what)?;
    if let Some(safety) = &safety {
        safety_copy_locked(&live.conn, &live.guard, wal, target, safety, &deadline)?;
    }
    files::test_pause("live-after-safety");
    {
        let source = facts::open_reader(backup)?;
        copy::online(&source, &mut live.conn, target, &what, &deadline)
            .map_err(|f| after_swap(f, &safety))?;
    }
    files::fsync_folder(&files::folder_of(target))?;
    let mut restored =
        facts::describe_conn(&live.conn, target).map_err(|f| after_swap(f, &safety))?;
    let mut notes = Vec::new();
    if restored.tables != backup_facts.tables {
        notes.push(format!(
            "{} changed right after the live restore ({} rows, the backup has {}): the processes holding it open are writing",
            target.display(),
            restored.rows(),
            backup_facts.rows()
        ));
    }
    drop(live);
    restored.integrity = backup_facts.integrity.clone();
    restored.sha256 = String::new();
    Ok(Restored {
        facts: restored,
        safety,
        backup: backup_facts,
        live: true,
        notes,
    })
}

/// The safety copy of a live target while we hold its write lock. A WAL database is read
/// through SQLite (its readers' locks are separate bytes of the `-shm`); a rollback-journal one
/// is copied through the lock's own descriptor, because ending a SQLite read transaction on it
/// would release every lock this process holds on the file, ours included. Under our SHARED +
/// RESERVED locks no one can be writing its main file, so that file is the committed state.
fn safety_copy_locked(
    conn: &rusqlite::Connection,
    guard: &WriteGuard,
    wal: bool,
    target: &Path,
    safety: &Path,
    deadline: &Deadline,
) -> Result<(), Failure> {
    let what = format!("safety copy of {}", target.display());
    let temp = files::temp_beside(safety, "safety")?;
    if wal {
        let mut dest = copy::open_writer(&temp)?;
        copy::online(conn, &mut dest, &temp, &what, deadline)?;
    } else {
        let bytes = copy::size_of(conn);
        let mut from = guard.file();
        std::io::Seek::seek(&mut from, std::io::SeekFrom::Start(0))
            .and_then(|_| std::io::copy(&mut std::io::Read::take(from, bytes), &mut temp.file()))
            .map_err(|e| files::write_failure(e, &temp, &what, bytes))?;
    }
    temp.file()
        .sync_all()
        .map_err(|e| files::write_failure(e, &temp, &what, 0))?;
    files::copy_ownership(target, &temp);
    files::persist(temp, safety, false)
}
