//! File plumbing for crash-safe replacement: temp files beside the destination, fsync of files
//! and folders, the `-wal`/`-shm`/`-journal` files beside a database, and which processes hold a
//! database open.

use std::fs::File;
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

/// An empty temp file in the folder of `beside`, removed on drop unless persisted. Temp files
/// are hidden and named after the database so a leftover one is easy to recognise.
pub fn temp_beside(beside: &Path, purpose: &str) -> Result<TempPath, Failure> {
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
    tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name(beside)))
        .suffix(&format!(".{purpose}.tmp"))
        .tempfile_in(&dir)
        .map(|f| f.into_temp_path())
        .map_err(|e| {
            Failure::new(format!(
                "cannot create a temp file in {}: {e}",
                dir.display()
            ))
            .hint("the folder must be writable and have free space for a full copy")
        })
}

pub fn fsync_file(path: &Path) -> Result<(), Failure> {
    File::open(path).and_then(|f| f.sync_all()).map_err(|e| {
        Failure::new(format!("cannot fsync {}: {e}", path.display())).hint("check the disk")
    })
}

/// Make a rename or unlink in `folder` durable.
pub fn fsync_folder(folder: &Path) -> Result<(), Failure> {
    File::open(folder).and_then(|f| f.sync_all()).map_err(|e| {
        Failure::new(format!("cannot fsync folder {}: {e}", folder.display()))
            .hint("check the disk")
    })
}

/// Rename a finished temp file onto `dst`; with `replace: false` an existing `dst` is refused
/// atomically (no window between the check and the rename).
pub fn persist(temp: TempPath, dst: &Path, replace: bool) -> Result<(), Failure> {
    let result = if replace {
        temp.persist(dst)
    } else {
        temp.persist_noclobber(dst)
    };
    result.map_err(|e| {
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

/// A test hook: in debug builds only, `RIPCORD_TEST_PAUSE_AT=<point>` stops here for a minute
/// so a test can SIGKILL the process at a known point of a restore. Release builds ignore it.
pub fn test_pause(point: &str) {
    if cfg!(debug_assertions) && std::env::var("RIPCORD_TEST_PAUSE_AT").is_ok_and(|p| p == point) {
        eprintln!("ripcord: test hook: paused at {point}");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}
