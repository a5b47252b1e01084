//! File plumbing for crash-safe replacement: temp files beside the destination, fsync of files
//! and folders, the `-wal`/`-shm`/`-journal` files beside a database, and which processes hold a
//! database open.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ripcord_runtime::Failure;
use tempfile::TempPath;

/// `db.sqlite` + `-wal` -> `db.sqlite-wal`.
pub fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The files SQLite keeps beside a database. A hot `-wal` or `-journal` left beside a replaced
/// file is applied to the new one on the next open and corrupts it.
pub const SIDE_SUFFIXES: [&str; 3] = ["-wal", "-journal", "-shm"];

/// The folder a path lives in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".to_string())
}

/// What a temp file is for; its name ends `.<purpose>.tmp`, a pattern only ripcord uses, which
/// is how a later run finds the leftovers of a killed one.
pub const TEMP_PURPOSES: [&str; 4] = ["backup", "restore", "safety", "salvage"];

/// A temp file beside a destination: created new (O_CREAT | O_EXCL, so never through a symlink
/// an attacker planted) with mode 0600 from its first byte, and `flock`ed for as long as this
/// run holds it, which is how [`sweep_dead_temps`] tells a dead run's leftover from a live
/// run's file. Dropped without being persisted, it is removed together with any
/// `-journal`/`-wal`/`-shm` SQLite made beside it.
pub struct Temp {
    path: Option<TempPath>,
    file: File,
}

impl Temp {
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or_else(|| Path::new(""))
    }

    /// The open, locked file, for writing the copy through it.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl std::ops::Deref for Temp {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            for suffix in SIDE_SUFFIXES {
                let _ = std::fs::remove_file(side_file(&path, suffix));
            }
            drop(path);
        }
    }
}

/// An empty temp file in the folder of `beside`, removed on drop unless persisted. Temp files
/// are hidden and named after the database so a leftover one is easy to recognise.
pub fn temp_beside(beside: &Path, purpose: &str) -> Result<Temp, Failure> {
    debug_assert!(TEMP_PURPOSES.contains(&purpose));
    let dir = folder_of(beside);
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Failure::new(format!("{} is not a folder", dir.display()))),
        Err(_) => {
            return Err(
                Failure::new(format!("folder {} does not exist", dir.display()))
                    .hint(format!("create it first: fs::mkdir(\"{}\")", dir.display())),
            );
        }
    }
    let cannot = |e: std::io::Error| {
        Failure::new(format!(
            "cannot create a temp file in {}: {e}",
            dir.display()
        ))
        .hint("the folder must be writable and have free space for a full copy")
    };
    let prefix = format!(".{}.", file_name(beside));
    let suffix = format!(".{purpose}.tmp");
    let mut name = tempfile::Builder::new();
    name.prefix(&prefix)
        .suffix(&suffix)
        .permissions(std::fs::Permissions::from_mode(0o600));
    let dir = std::path::absolute(&dir).map_err(cannot)?;
    let (file, path) = match born_locked(&dir, &name).map_err(cannot)? {
        Some(made) => made,
        None => named_then_locked(&dir, &name).map_err(cannot)?,
    };
    test_pause("temp-created");
    Ok(Temp {
        path: Some(path),
        file,
    })
}

/// The temp file made without a name (`O_TMPFILE`), `flock`ed, and only then linked into the
/// folder: it never appears there unlocked, so a sweep can take any unlocked temp for a dead
/// run's. `None` where the filesystem (or a missing `/proc`) does not allow it.
fn born_locked(
    dir: &Path,
    builder: &tempfile::Builder,
) -> std::io::Result<Option<(File, TempPath)>> {
    let Some(file) = unnamed_file(dir)? else {
        return Ok(None);
    };
    flock(&file, libc::LOCK_EX | libc::LOCK_NB)?;
    let linked = builder.make_in(dir, |path| link_unnamed(&file, path));
    match linked {
        Ok(named) => Ok(Some((file, named.into_temp_path()))),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !proc_fds_visible() => Ok(None),
        Err(e) => Err(e),
    }
}

/// An unnamed file in `dir` (`O_TMPFILE`, mode 0600), or `None` where the filesystem has none.
fn unnamed_file(dir: &Path) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match opened {
        Ok(file) => Ok(Some(file)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOSYS)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn proc_fds_visible() -> bool {
    Path::new("/proc/self/fd").is_dir()
}

/// Give the unnamed `file` the name `path` (`linkat` through `/proc/self/fd`, which needs no
/// privilege, unlike `AT_EMPTY_PATH`). Fails with `AlreadyExists` if the name is taken.
fn link_unnamed(file: &File, path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let invalid = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let from =
        std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(invalid)?;
    let to = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(invalid)?;
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if linked == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Where no unnamed file can be made: create the named file, then lock it. A run killed in
/// between leaves an empty unlocked temp, which [`sweep_dead_temps`] gives a grace period.
fn named_then_locked(dir: &Path, builder: &tempfile::Builder) -> std::io::Result<(File, TempPath)> {
    let (file, path) = builder.tempfile_in(dir)?.into_parts();
    flock(&file, libc::LOCK_EX | libc::LOCK_NB)?;
    Ok((file, path))
}

/// True when a temp file made in `dir` now is born locked (see [`born_locked`]).
fn temps_born_locked(dir: &Path) -> bool {
    proc_fds_visible() && unnamed_file(dir).is_ok_and(|f| f.is_some())
}

fn flock(file: &File, how: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor this File owns; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Remove the temp files that killed runs left beside `beside` (`.<name>.XXXXXX.<purpose>.tmp`
/// and SQLite's side files of them): a file is a dead run's only if no process holds its
/// `flock`. A file this user does not own or a symlink is left alone. Where temps are born
/// locked (see [`born_locked`]) an unlocked one is always a dead run's; elsewhere an empty one
/// younger than ten seconds (a live run between creating its temp and locking it) is left
/// alone too. Returns what was removed.
pub fn sweep_dead_temps(beside: &Path) -> Vec<PathBuf> {
    let dir = folder_of(beside);
    let prefix = format!(".{}.", file_name(beside));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let grace = !temps_born_locked(&dir);
    let mut swept = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        if !TEMP_PURPOSES
            .iter()
            .any(|p| rest.ends_with(&format!(".{p}.tmp")))
        {
            continue;
        }
        let path = entry.path();
        if sweep_one(&path, grace) {
            for suffix in SIDE_SUFFIXES {
                if std::fs::remove_file(side_file(&path, suffix)).is_ok() {
                    swept.push(side_file(&path, suffix));
                }
            }
            swept.push(path);
        }
    }
    if !swept.is_empty() {
        let _ = fsync_folder(&dir);
    }
    swept
}

/// Remove one leftover temp file if it is ours and no live process holds it; with `grace`, an
/// empty one only once it is ten seconds old.
fn sweep_one(path: &Path, grace: bool) -> bool {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let young = meta
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_none_or(|age| age < std::time::Duration::from_secs(10));
    if !meta.is_file() || meta.uid() != me || (grace && meta.len() == 0 && young) {
        return false;
    }
    // Held by a live run: its flock is still there.
    if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err() {
        return false;
    }
    std::fs::remove_file(path).is_ok()
}

/// Free bytes in the filesystem holding `folder`, for a disk-full message.
pub fn free_bytes(folder: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(folder.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct we own from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The failure for a destination that ran out of space: it names the destination (not the
/// source), how much the copy needs and how much is free.
pub fn no_space(dst: &Path, what: &str, needed: u64) -> Failure {
    let folder = folder_of(dst);
    let free = free_bytes(&folder)
        .map(|f| format!(", {} free", human_bytes(f)))
        .unwrap_or_default();
    Failure::new(format!(
        "{what}: no space left in {} for {} (needs about {}{free})",
        folder.display(),
        dst.display(),
        human_bytes(needed)
    ))
    .hint("nothing was left behind; free some space there, or write to a folder on another disk")
}

/// An I/O error while writing `dst`: disk full gets [`no_space`], others name `dst`.
pub fn write_failure(e: std::io::Error, dst: &Path, what: &str, needed: u64) -> Failure {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        return no_space(dst, what, needed);
    }
    if e.raw_os_error() == Some(libc::EFBIG) {
        return Failure::new(format!(
            "{what}: {} would be larger than this process may write (needs about {})",
            dst.display(),
            human_bytes(needed)
        ))
        .hint("raise the file size limit (ulimit -f), or write somewhere else");
    }
    Failure::new(format!("{what}: cannot write {}: {e}", dst.display()))
        .hint("check free space and permissions in the destination folder")
}

/// A SQLite error while writing `dst`: disk full gets [`no_space`].
pub fn sqlite_write_failure(e: rusqlite::Error, dst: &Path, what: &str, needed: u64) -> Failure {
    match &e {
        rusqlite::Error::SqliteFailure(err, _) if err.code == rusqlite::ErrorCode::DiskFull => {
            no_space(dst, what, needed)
        }
        _ => Failure::new(format!("{what}: {e}")),
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Make a rename or unlink in `folder` durable.
pub fn fsync_folder(folder: &Path) -> Result<(), Failure> {
    File::open(folder).and_then(|f| f.sync_all()).map_err(|e| {
        Failure::new(format!("cannot fsync folder {}: {e}", folder.display()))
            .hint("check the disk")
    })
}

/// Put a finished, fsynced copy in place as `dst` and fsync the folder. With `force`, the
/// side files of the file it replaces go first: a stale `-wal` beside the new file would be
/// applied to it.
pub fn install(temp: Temp, dst: &Path, force: bool) -> Result<(), Failure> {
    if force {
        remove_side_files(dst)?;
    }
    persist(temp, dst, force)?;
    fsync_folder(&folder_of(dst))
}

/// Remove `db`'s `-wal`, `-journal` and `-shm`, where there are any.
pub fn remove_side_files(db: &Path) -> Result<(), Failure> {
    for suffix in SIDE_SUFFIXES {
        remove_if_exists(&side_file(db, suffix))?;
    }
    Ok(())
}

/// Rename a finished temp file onto `dst`; with `replace: false` an existing `dst` is refused
/// atomically (no window between the check and the rename).
pub fn persist(mut temp: Temp, dst: &Path, replace: bool) -> Result<(), Failure> {
    let Some(path) = temp.path.take() else {
        return Err(Failure::new(
            "internal error: the temp file was already persisted",
        ));
    };
    let result = if replace {
        path.persist(dst)
    } else {
        path.persist_noclobber(dst)
    };
    result.map_err(|e| {
        // Put it back so dropping `temp` removes it.
        temp.path = Some(e.path);
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::new(format!("{} already exists", dst.display()))
                .hint("pass #{ force: true } to replace it, or choose another name")
        } else {
            Failure::new(format!(
                "cannot rename the temp file onto {}: {}",
                dst.display(),
                e.error
            ))
        }
    })
}

pub fn remove_if_exists(path: &Path) -> Result<bool, Failure> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure::new(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}

pub fn len_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// A process that has a database (or its `-wal`/`-shm`) open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub name: String,
}

impl Holder {
    pub fn describe(holders: &[Holder]) -> String {
        holders
            .iter()
            .map(|h| format!("pid {} ({})", h.pid, h.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Processes other than this one that hold `db` or its side files open, from `/proc/*/fd`.
/// Only processes this user may inspect are seen (all of them as root).
#[cfg(target_os = "linux")]
pub fn holders(db: &Path) -> Vec<Holder> {
    let Ok(canonical) = std::fs::canonicalize(db) else {
        return Vec::new();
    };
    let mut wanted = vec![canonical.clone()];
    wanted.extend(SIDE_SUFFIXES.iter().map(|s| side_file(&canonical, s)));
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let open = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| wanted.contains(&target)));
        if open {
            let name = std::fs::read_to_string(entry.path().join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            found.push(Holder { pid, name });
        }
    }
    found.sort_by_key(|h| h.pid);
    found
}

#[cfg(not(target_os = "linux"))]
pub fn holders(_db: &Path) -> Vec<Holder> {
    Vec::new()
}

/// Copy the permissions (and, as root, the owner) of `from` onto `to`, so a restored database
/// stays readable by the service that owns it.
pub fn copy_ownership(from: &Path, to: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(from) else {
        return;
    };
    let _ = std::fs::set_permissions(to, meta.permissions());
    let _ = std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()));
}

/// A debug build's test hook that changes behaviour: set in `RIPCORD_TEST_HOOKS` (a comma list).
pub fn test_hook(name: &str) -> bool {
    cfg!(debug_assertions)
        && std::env::var("RIPCORD_TEST_HOOKS").is_ok_and(|v| v.split(',').any(|h| h == name))
}

/// A test hook: in debug builds only, `RIPCORD_TEST_PAUSE_AT=<point>` stops here for a minute,
/// or until the file `RIPCORD_TEST_RESUME` names exists, so a test can SIGKILL the process at a
/// known point of a restore, or change the world under it and let it go on. Release builds
/// ignore it.
pub fn test_pause(point: &str) {
    if cfg!(debug_assertions) && std::env::var("RIPCORD_TEST_PAUSE_AT").is_ok_and(|p| p == point) {
        eprintln!("ripcord: test hook: paused at {point}");
        let resume = std::env::var_os("RIPCORD_TEST_RESUME").map(PathBuf::from);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < until && !resume.as_ref().is_some_and(|r| r.exists()) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
