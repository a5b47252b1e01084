//! What keeps `fs::*` safe in folders other users share: paths are resolved (`..`, symlinked
//! folders) before anything acts on them, a symlink another user planted is never written
//! through, files are created new (`O_EXCL | O_NOFOLLOW`) with their final mode before the first
//! byte, and a recursive removal of `/`, `$HOME` or a folder the config names is refused.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use ripcord_runtime::Failure;
use ripcord_runtime::dirs::{expand_tilde, home};
use serde_json::Value;

/// The mode of a file ripcord creates when nothing else says: private to the runner. Runbooks
/// run as root during incidents and write evidence, safety copies and notes; another user must
/// not read them in the moment before anyone could chmod them.
pub(super) const NEW_FILE_MODE: u32 = 0o600;

/// The mode of a fresh folder (`fs::mkdir(p, #{ fresh: true })`): it holds copies of data.
pub(super) const FRESH_DIR_MODE: u32 = 0o700;

/// `path` made absolute with `..` and symlinked folders resolved; the last component itself is
/// not followed (a symlink is acted on as the link, never as what it points at).
pub(super) fn resolve(path: &str) -> PathBuf {
    let given = PathBuf::from(expand_tilde(path));
    let absolute = std::path::absolute(&given).unwrap_or(given);
    let lexical = normalize(&absolute);
    match (lexical.parent(), lexical.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .map(|p| p.join(name))
            .unwrap_or(lexical.clone()),
        _ => lexical,
    }
}

/// Drop `.` and fold `..` without touching the disk (`/a/b/..` is `/a`; `/..` is `/`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// How a path is shown in a change summary: as written when that is plainly the path acted on,
/// and otherwise (`..`, a symlinked folder on the way) the resolved path and what the script
/// wrote, so an operator reads what will really be touched.
pub(super) fn shown(given: &str, resolved: &Path) -> String {
    let plain = PathBuf::from(expand_tilde(given));
    let plain = std::path::absolute(&plain).unwrap_or(plain);
    let has_dots = Path::new(given)
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
    if plain == resolved && !has_dots {
        given.to_string()
    } else {
        format!("{} (given as {given})", resolved.display())
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuse a symlink at `path` that the runner does not own: another user planted it, and
/// following it would let them choose which file the runner writes.
pub(super) fn refuse_foreign_symlink(path: &Path, action: &str) -> Result<(), Failure> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() && meta.uid() != euid() => Err(Failure::new(
            format!(
                "refusing to {action} {}: it is a symlink owned by another user (uid {})",
                path.display(),
                meta.uid()
            ),
        )
        .hint("remove the link and check who created it; write into a folder only you can change")),
        _ => Ok(()),
    }
}

/// Follow a symlink the runner owns to the file it names (an operator's `current.toml ->
/// releases/...`); a symlink owned by anyone else is refused.
pub(super) fn follow_own_symlink(path: &Path, action: &str) -> Result<PathBuf, Failure> {
    refuse_foreign_symlink(path, action)?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            Ok(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// Create `path` new: fails if anything (a file, a symlink, a dangling symlink) is there, and
/// has `mode` before the first byte is written (the umask cannot widen it; the explicit
/// `fchmod` sets it exactly).
pub(super) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(mode & 0o7777)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(mode & 0o7777))?;
    Ok(file)
}

/// Open an existing file to append to it, never through a symlink.
pub(super) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Refuse a recursive removal that would take `/`, the home folder, or a path the config names
/// (the DB, the repo, the backups folder) or one of their ancestors.
pub(super) fn refuse_precious(target: &Path, config: &Value) -> Result<(), Failure> {
    let home = std::fs::canonicalize(home()).unwrap_or_else(|_| home());
    let why = if target == Path::new("/") {
        Some("it is the root folder".to_string())
    } else if target == home {
        Some("it is the home folder".to_string())
    } else {
        config_paths(config)
            .into_iter()
            .find(|p| p.starts_with(target))
            .map(|p| format!("the config names {} inside it", p.display()))
    };
    match why {
        Some(why) => Err(Failure::new(format!(
            "refusing to remove {} recursively: {why}",
            target.display()
        ))
        .hint("name the folder to remove below it, e.g. one backup folder, not the backups root")),
        None => Ok(()),
    }
}

/// Every string in the config that names an existing path, resolved.
fn config_paths(config: &Value) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect_paths(config, &mut out);
    out
}

fn collect_paths(value: &Value, out: &mut Vec<PathBuf>) {
    match value {
        Value::String(s) if s.contains('/') => {
            if let Ok(p) = std::fs::canonicalize(expand_tilde(s)) {
                out.push(p);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_paths(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_paths(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_folds_dots_and_keeps_the_last_component() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(real.join("a")).unwrap();
        std::os::unix::fs::symlink(real.join("a"), real.join("link")).unwrap();
        let d = real.display();
        assert_eq!(resolve(&format!("{d}/a/..")), real);
        assert_eq!(resolve(&format!("{d}/a/../a/./f")), real.join("a/f"));
        assert_eq!(resolve(&format!("{d}/link/f")), real.join("a/f"));
        // The link itself, not its target.
        assert_eq!(resolve(&format!("{d}/link")), real.join("link"));
        assert_eq!(resolve("/.."), PathBuf::from("/"));
    }

    #[test]
    fn created_files_have_their_mode_and_refuse_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = create_new(&path, 0o600).unwrap();
        assert_eq!(file.metadata().unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            create_new(&path, 0o600).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let link = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        assert!(create_new(&link, 0o600).is_err());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn precious_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(real.join("srv/db")).unwrap();
        let config =
            serde_json::json!({ "db": format!("{}/srv/db", real.display()), "api": "http://x" });
        assert!(refuse_precious(Path::new("/"), &config).is_err());
        assert!(refuse_precious(&real.join("srv"), &config).is_err());
        assert!(refuse_precious(&real.join("srv/db"), &config).is_err());
        assert!(refuse_precious(&real.join("srv/db/old"), &config).is_ok());
        let err = refuse_precious(&real, &config).unwrap_err();
        assert!(err.message.contains("the config names"), "{}", err.message);
    }
}
