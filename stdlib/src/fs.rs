//! The `fs` module: read, write, copy, move and find files.
//!
//! Writes and copies are durable: the new content goes to a temp file in the destination folder,
//! is fsynced, renamed over the target, and the folder is fsynced, so a crash leaves either the
//! old file or the new one, never half of each. Copies and moves refuse to replace an existing
//! file unless `#{ force: true }`: an operator taking a safety copy must not overwrite an
//! earlier one by accident.
//!
//! Shared folders are hostile ground (see `guard`): every change acts on the resolved path and
//! shows it, files are created new with their final mode, and a symlink another user planted is
//! refused rather than followed.

mod guard;

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ripcord_runtime::dirs::expand_tilde;
use ripcord_runtime::native::called;
use ripcord_runtime::rhai::{Array, Dynamic, Map, NativeCallContext};
use ripcord_runtime::{
    At, Change, Decl, Effect, Failure, Host, NativeModule, NativeResult, RhaiResult,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::options;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("fs", "Files: read, write, copy, move, glob, hash");

    declare_read_write(&mut m);
    declare_copy_move_remove(&mut m);
    declare_find(&mut m);
    declare_mkdir_and_facts(&mut m);
    m
}

/// `fs::read`, `fs::write`, `fs::append`.
fn declare_read_write(m: &mut NativeModule) {
    let read = Decl {
        name: "read",
        effect: Effect::Read,
        params: &["path: String", "String"],
        doc: "Read a UTF-8 text file.\n\nFails naming the path if it is missing, unreadable or not text.",
        example: r#"let log = fs::read("rollback-log.txt");
print(log);"#,
    };
    m.function(read, fs_read);

    let write = Decl {
        name: "write",
        effect: Effect::Change,
        params: &["path: String", "content: String", "()"],
        doc: "Write `content` to `path`, replacing the file durably.\n\nThe content goes to a temp file \
              in the same folder, is fsynced and renamed over `path`; the folder is fsynced too. An \
              existing file keeps its permissions; a new one is private (0600) from its first byte. \
              A symlink is followed only when the runner owns it (one planted by another user is \
              refused). The folder must exist (see `fs::mkdir`).",
        example: r#"// Backtick strings keep `\n` as two characters: add newlines with "\n".
fs::write("maintenance.flag", `rollback started at ${time::now()}` + "\n");"#,
    };
    m.function(write, fs_write);

    let append = Decl {
        name: "append",
        effect: Effect::Change,
        params: &["path: String", "content: String", "()"],
        doc: "Append `content` to `path`, creating the file if needed, and fsync it.\n\n\
              Rhai's backtick strings keep `\\n` as two characters: end a line with `+ \"\\n\"`.",
        example: r#"fs::append("rollback-log.txt", `${time::now()}: rollback to abc123` + "\n");"#,
    };
    m.function(append, fs_append);
}

/// `fs::copy`, `fs::move`, `fs::remove`, each also with options.
fn declare_copy_move_remove(m: &mut NativeModule) {
    let copy = Decl {
        name: "copy",
        effect: Effect::Change,
        params: &["src: String", "dst: String", "String"],
        doc: "Copy a file durably and return the path written.\n\nIf `dst` is an existing folder the \
              file is copied into it under its own name. An existing destination file is refused \
              unless `#{ force: true }`, so a safety copy never silently replaces another. \
              Permissions are copied from `src`.",
        example: r#"let saved = fs::copy("cortex.toml", `cortex-rollback-safety-${time::stamp()}.toml`);
fs::copy("cortex.toml", "cortex.toml.bak", #{ force: true });"#,
    };
    m.function(copy, fs_copy);
    m.function(
        Decl {
            params: &["src: String", "dst: String", "opts: Map", "String"],
            ..copy
        },
        fs_copy_opts,
    );

    let mv = Decl {
        name: "move",
        effect: Effect::Change,
        params: &["src: String", "dst: String", "String"],
        doc: "Move (rename) a file or folder and return the new path.\n\nIf `dst` is an existing folder \
              the source moves into it. An existing destination is refused unless `#{ force: true }`. \
              Across file systems a file is copied durably and the source removed.",
        example: r#"fs::move("cortex.db-wal.broken", "quarantine/");
fs::move("next.toml", "cortex.toml", #{ force: true });"#,
    };
    m.function(mv, fs_move);
    m.function(
        Decl {
            params: &["src: String", "dst: String", "opts: Map", "String"],
            ..mv
        },
        fs_move_opts,
    );

    let remove = Decl {
        name: "remove",
        effect: Effect::Change,
        params: &["path: String", "()"],
        doc: "Remove a file.\n\nA folder is removed only with `#{ recursive: true }` (with everything \
              in it). A missing path fails unless `#{ missing_ok: true }`.",
        example: r#"fs::remove("cortex.pid", #{ missing_ok: true });
fs::remove("build-cache", #{ recursive: true });"#,
    };
    m.function(remove, fs_remove);
    m.function(
        Decl {
            params: &["path: String", "opts: Map", "()"],
            ..remove
        },
        fs_remove_opts,
    );
}

/// `fs::exists`, `fs::glob`, `fs::latest`.
fn declare_find(m: &mut NativeModule) {
    let exists = Decl {
        name: "exists",
        effect: Effect::Read,
        params: &["path: String", "bool"],
        doc: "True if a file or folder exists at `path`.",
        example: r#"if fs::exists("maintenance.flag") { log::warn("maintenance flag is set"); }"#,
    };
    m.function(exists, fs_exists);

    let glob = Decl {
        name: "glob",
        effect: Effect::Read,
        params: &["pattern: String", "Array"],
        doc: "Paths matching a glob pattern (`*`, `?`, `[a-z]`, `**`), sorted by name.\n\nAn empty \
              array when nothing matches.",
        example: r#"for backup in fs::glob("backups/cortex-*.db") { print(backup); }"#,
    };
    m.function(glob, fs_glob);
    m.function(
        Decl {
            params: &["pattern: String", "opts: Map", "Array"],
            doc: "Paths matching a glob pattern; `#{ by: \"modified\" }` sorts them oldest first \
                  (by modification time, equal times by name), `#{ by: \"name\" }` by name.\n\n\
                  Prune by age, not by name: names with commit hashes do not sort by time.",
            example: r#"let stored = fs::glob("assets/bin/cortex-*", #{ by: "modified" });"#,
            ..glob
        },
        fs_glob_opts,
    );

    let latest = Decl {
        name: "latest",
        effect: Effect::Read,
        params: &["pattern: String", "String"],
        doc: "The newest path (by modification time) matching a glob pattern.\n\nFails when nothing \
              matches, naming the pattern: a runbook that restores \"the latest backup\" must not go on \
              without one. Check `fs::glob(pattern).len()` first if none is a normal case. Equal \
              times are broken by name (the later name wins).",
        example: r#"let backup = fs::latest("backups/cortex-*.db");
print(`restoring ${backup}`);"#,
    };
    m.function(latest, fs_latest);
}

/// `fs::mkdir`, `fs::sha256`, `fs::size`.
fn declare_mkdir_and_facts(m: &mut NativeModule) {
    let mkdir = Decl {
        name: "mkdir",
        effect: Effect::Change,
        params: &["path: String", "()"],
        doc: "Create a folder and any missing parents; an existing folder is fine.\n\n\
              With `#{ fresh: true }` the folder itself must be new (mode 0700): anything already \
              at that path fails the call. Use it for evidence and backup folders in a shared \
              place, where another user could have made the folder (or a symlink) in advance.",
        example: r#"fs::mkdir(`backups/${time::stamp()}`);
fs::mkdir(`backups/evidence-${time::stamp()}`, #{ fresh: true });"#,
    };
    m.function(mkdir, fs_mkdir);
    m.function(
        Decl {
            params: &["path: String", "opts: Map", "()"],
            ..mkdir
        },
        fs_mkdir_opts,
    );

    let sha256 = Decl {
        name: "sha256",
        effect: Effect::Read,
        params: &["path: String", "String"],
        doc: "The SHA-256 of a file's content, as lowercase hex.",
        example: r#"let before = fs::sha256("cortex.toml");
print(`config sha256 ${before}`);"#,
    };
    m.function(sha256, fs_sha256);

    let size = Decl {
        name: "size",
        effect: Effect::Read,
        params: &["path: String", "int"],
        doc: "The size of a file in bytes.",
        example: r#"if fs::size("cortex.db") == 0 { fail("cortex.db is empty"); }"#,
    };
    m.function(size, fs_size);
}

// ---- reads ----------------------------------------------------------------------------------

fn fs_read(ctx: NativeCallContext, path: &str) -> RhaiResult<String> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "fs::read", || {
        let bytes =
            std::fs::read(expand_tilde(path)).map_err(|e| io_failure("cannot read", path, &e))?;
        String::from_utf8(bytes).map_err(|e| {
            Failure::new(format!(
                "cannot read {path}: not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
            .hint("fs::read is for text files; use fs::sha256 or fs::size for binary files")
        })
    })
}

fn fs_exists(ctx: NativeCallContext, path: &str) -> RhaiResult<bool> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "fs::exists", || {
        Ok(Path::new(&expand_tilde(path)).exists())
    })
}

fn fs_glob(ctx: NativeCallContext, pattern: &str) -> RhaiResult<Array> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "fs::glob", || {
        let paths = glob_paths(pattern)?;
        Ok(paths
            .into_iter()
            .map(|p| Dynamic::from(p.display().to_string()))
            .collect())
    })
}

fn fs_glob_opts(ctx: NativeCallContext, pattern: &str, opts: Map) -> RhaiResult<Array> {
    let host = Host::of(&ctx)?;
    let function = called(&ctx);
    let by = options::read::<GlobOptions>(&function, &opts)
        .at(&ctx)?
        .by
        .unwrap_or_else(|| "name".to_string());
    if by != "name" && by != "modified" {
        return Err(Failure::new(format!(
            "{function}: option `by` must be \"name\" or \"modified\", not \"{by}\""
        ))
        .at(&ctx));
    }
    host.read(&ctx, &function, || {
        let mut paths = glob_paths(pattern)?;
        if by == "modified" {
            // Stable sort over the name order: equal times stay by name.
            paths.sort_by_key(|p| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            });
        }
        Ok(paths
            .into_iter()
            .map(|p| Dynamic::from(p.display().to_string()))
            .collect())
    })
}

fn fs_latest(ctx: NativeCallContext, pattern: &str) -> RhaiResult<String> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "fs::latest", || {
        let mut newest: Option<(SystemTime, PathBuf)> = None;
        for path in glob_paths(pattern)? {
            // An entry that vanished between the listing and the stat is simply not a candidate.
            let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) else {
                continue;
            };
            // Paths come sorted, so `>=` lets the later name win a tie.
            if newest.as_ref().is_none_or(|(t, _)| modified >= *t) {
                newest = Some((modified, path));
            }
        }
        newest.map(|(_, p)| p.display().to_string()).ok_or_else(|| {
            Failure::new(format!("nothing matches {pattern}")).hint(
                "check the pattern and the folder; use fs::glob(pattern).len() to test for none",
            )
        })
    })
}

fn fs_sha256(ctx: NativeCallContext, path: &str) -> RhaiResult<String> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "fs::sha256", || {
        sha256_file(Path::new(&expand_tilde(path))).map_err(|e| io_failure("cannot hash", path, &e))
    })
}

fn fs_size(ctx: NativeCallContext, path: &str) -> RhaiResult<i64> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "fs::size", || {
        let meta = std::fs::metadata(expand_tilde(path))
            .map_err(|e| io_failure("cannot stat", path, &e))?;
        if meta.is_dir() {
            return Err(Failure::new(format!("cannot size {path}: it is a folder"))
                .hint("fs::size measures files"));
        }
        Ok(i64::try_from(meta.len()).unwrap_or(i64::MAX))
    })
}

// ---- changes --------------------------------------------------------------------------------

fn fs_write(ctx: NativeCallContext, path: &str, content: &str) -> RhaiResult<()> {
    let host = Host::of(&ctx)?;
    let resolved = guard::resolve(path);
    let change = Change::new(
        "fs::write",
        format!(
            "write {} to {}",
            bytes_text(content.len() as u64),
            guard::shown(path, &resolved)
        ),
    )
    .arg("path", path)
    .arg("bytes", content.len());
    host.change(&ctx, change, || {
        let target = guard::follow_own_symlink(&resolved, "write")?;
        write_durably(&target, None, |f| f.write_all(content.as_bytes()))
            .map_err(|e| io_failure("cannot write", path, &e))?;
        Ok(())
    })
}

fn fs_append(ctx: NativeCallContext, path: &str, content: &str) -> RhaiResult<()> {
    let what = format!("append {}", bytes_text(content.len() as u64));
    append(&ctx, "fs::append", &what, path, content)
}

/// Append `content` to `path` durably as one change of `function`, summarised as `what to PATH`:
/// shared by `fs::append` and `log::line`.
pub(crate) fn append(
    ctx: &NativeCallContext,
    function: &str,
    what: &str,
    path: &str,
    content: &str,
) -> RhaiResult<()> {
    let host = Host::of(ctx)?;
    let resolved = guard::resolve(path);
    let change = Change::new(
        function,
        format!("{what} to {}", guard::shown(path, &resolved)),
    )
    .arg("path", path)
    .arg("bytes", content.len());
    host.change(ctx, change, || {
        let target = guard::follow_own_symlink(&resolved, "append to")?;
        append_durably(&target, content.as_bytes())
            .map_err(|e| io_failure("cannot append to", path, &e))?;
        Ok(())
    })
}

/// Append to `target`, creating it new (private, never through a symlink) when it is missing.
fn append_durably(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let (mut file, created) = match guard::create_new(target, guard::NEW_FILE_MODE) {
        Ok(file) => (file, true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (guard::open_append(target)?, false),
        Err(e) => return Err(e),
    };
    file.write_all(bytes)?;
    file.sync_all()?;
    if created {
        sync_dir(target)?;
    }
    Ok(())
}

fn fs_copy(ctx: NativeCallContext, src: &str, dst: &str) -> RhaiResult<String> {
    fs_copy_opts(ctx, src, dst, Map::new())
}

fn fs_copy_opts(ctx: NativeCallContext, src: &str, dst: &str, opts: Map) -> RhaiResult<String> {
    let host = Host::of(&ctx)?;
    let function = called(&ctx);
    let Force { force } = options::read(&function, &opts).at(&ctx)?;
    let target = into_folder(src, dst);
    let shown = target.display().to_string();
    let size = std::fs::metadata(expand_tilde(src)).map(|m| m.len()).ok();
    let from = guard::shown(src, &guard::resolve(src));
    let summary = match size {
        Some(n) => format!("copy {from} -> {shown} ({})", bytes_text(n)),
        None => format!("copy {from} -> {shown}"),
    };
    warn_if_refused(&host, &function, &target, force);
    let change = Change::new(&function, summary)
        .arg("src", src)
        .arg("dst", shown.as_str())
        .arg("force", force)
        .simulated(shown.clone());
    let copied = host.change(&ctx, change, || {
        refuse_existing(&target, &shown, force)?;
        copy_durably(Path::new(&expand_tilde(src)), &target, src, &shown)?;
        Ok(Dynamic::from(shown.clone()))
    })?;
    Ok(copied.into_string().unwrap_or(shown))
}

fn fs_move(ctx: NativeCallContext, src: &str, dst: &str) -> RhaiResult<String> {
    fs_move_opts(ctx, src, dst, Map::new())
}

fn fs_move_opts(ctx: NativeCallContext, src: &str, dst: &str, opts: Map) -> RhaiResult<String> {
    let host = Host::of(&ctx)?;
    let function = called(&ctx);
    let Force { force } = options::read(&function, &opts).at(&ctx)?;
    let target = into_folder(src, dst);
    let shown = target.display().to_string();
    warn_if_refused(&host, &function, &target, force);
    let from = guard::shown(src, &guard::resolve(src));
    let change = Change::new(&function, format!("move {from} -> {shown}"))
        .arg("src", src)
        .arg("dst", shown.as_str())
        .arg("force", force)
        .simulated(shown.clone());
    let moved = host.change(&ctx, change, || {
        let from = PathBuf::from(expand_tilde(src));
        std::fs::symlink_metadata(&from).map_err(|e| io_failure("cannot move", src, &e))?;
        refuse_existing(&target, &shown, force)?;
        match std::fs::rename(&from, &target) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) && from.is_file() => {
                copy_durably(&from, &target, src, &shown)?;
                std::fs::remove_file(&from)
                    .map_err(|e| io_failure("copied but cannot remove", src, &e))?;
            }
            Err(e) => return Err(io_failure(&format!("cannot move {src} to"), &shown, &e)),
        }
        sync_dir(&target)
            .and_then(|()| sync_dir(&from))
            .map_err(|e| io_failure("moved but cannot sync the folder of", &shown, &e))?;
        Ok(Dynamic::from(shown.clone()))
    })?;
    Ok(moved.into_string().unwrap_or(shown))
}

fn fs_remove(ctx: NativeCallContext, path: &str) -> RhaiResult<()> {
    fs_remove_opts(ctx, path, Map::new())
}

fn fs_remove_opts(ctx: NativeCallContext, path: &str, opts: Map) -> RhaiResult<()> {
    let host = Host::of(&ctx)?;
    let function = called(&ctx);
    let RemoveOptions {
        recursive,
        missing_ok,
    } = options::read(&function, &opts).at(&ctx)?;
    let target = guard::resolve(path);
    let shown = guard::shown(path, &target);
    let is_dir = std::fs::symlink_metadata(&target)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if is_dir && recursive {
        // Refused before the change is journaled or simulated: a dry run says so too.
        guard::refuse_precious(&target, &host.config).at(&ctx)?;
    }
    let summary = if is_dir {
        format!("remove folder {shown} and everything in it")
    } else {
        format!("remove {shown}")
    };
    let change = Change::new(&function, summary)
        .arg("path", path)
        .arg("resolved", target.display().to_string())
        .arg("recursive", recursive);
    host.change(&ctx, change, || {
        remove_path(&target, path, recursive, missing_ok)?;
        Ok(())
    })
}

fn remove_path(target: &Path, path: &str, recursive: bool, missing_ok: bool) -> NativeResult<()> {
    let meta = match std::fs::symlink_metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound && missing_ok => return Ok(()),
        Err(e) => {
            return Err(io_failure("cannot remove", path, &e)
                .hint("pass #{ missing_ok: true } if it may already be gone"));
        }
    };
    let removed = if meta.is_dir() {
        if !recursive {
            return Err(
                Failure::new(format!("cannot remove {path}: it is a folder"))
                    .hint("pass #{ recursive: true } to remove the folder and everything in it"),
            );
        }
        std::fs::remove_dir_all(target)
    } else {
        std::fs::remove_file(target)
    };
    removed.map_err(|e| io_failure("cannot remove", path, &e))?;
    sync_dir(target).map_err(|e| io_failure("removed but cannot sync the folder of", path, &e))
}

fn fs_mkdir(ctx: NativeCallContext, path: &str) -> RhaiResult<()> {
    fs_mkdir_opts(ctx, path, Map::new())
}

fn fs_mkdir_opts(ctx: NativeCallContext, path: &str, opts: Map) -> RhaiResult<()> {
    let host = Host::of(&ctx)?;
    let function = called(&ctx);
    let MkdirOptions { fresh } = options::read(&function, &opts).at(&ctx)?;
    let target = guard::resolve(path);
    let shown = guard::shown(path, &target);
    if fresh && host.mode.simulates_changes() && std::fs::symlink_metadata(&target).is_ok() {
        host.out.warn(&format!(
            "{function}: {shown} exists; a real run refuses it (a fresh folder was asked for)"
        ));
    }
    let summary = if fresh {
        format!("create fresh folder {shown} (mode 0700)")
    } else {
        format!("create folder {shown}")
    };
    let change = Change::new(&function, summary)
        .arg("path", path)
        .arg("fresh", fresh);
    host.change(&ctx, change, || {
        if fresh {
            mkdir_fresh(&target, path)?;
        } else {
            std::fs::create_dir_all(&target)
                .map_err(|e| io_failure("cannot create folder", path, &e))?;
        }
        Ok(())
    })
}

/// Create `target` itself (its parents as needed) and fail if anything is already there: a
/// folder another user made in advance would let them read or replace what goes into it.
fn mkdir_fresh(target: &Path, path: &str) -> NativeResult<()> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = parent_dir(target);
    std::fs::create_dir_all(parent).map_err(|e| io_failure("cannot create folder", path, &e))?;
    match std::fs::DirBuilder::new()
        .mode(guard::FRESH_DIR_MODE)
        .create(target)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Failure::new(format!(
                "cannot create fresh folder {path}: something is already there"
            ))
            .hint("a fresh folder must be new: check who created it, and use a new name (time::stamp() with a run-unique suffix)"));
        }
        Err(e) => return Err(io_failure("cannot create folder", path, &e)),
    }
    std::fs::set_permissions(target, Permissions::from_mode(guard::FRESH_DIR_MODE))
        .and_then(|()| sync_dir(target))
        .map_err(|e| io_failure("created but cannot secure folder", path, &e))
}

// ---- helpers --------------------------------------------------------------------------------

/// A failure for an I/O error on `path`, in words an operator can act on.
fn io_failure(action: &str, path: &str, e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::NotFound => Failure::new(format!("{action} {path}: no such file or folder"))
            .hint("check the path; relative paths start in the folder ripcord runs in"),
        io::ErrorKind::PermissionDenied => {
            Failure::new(format!("{action} {path}: permission denied"))
                .hint("check the file's owner and mode, or run as a user who may change it")
        }
        io::ErrorKind::IsADirectory => Failure::new(format!("{action} {path}: it is a folder")),
        io::ErrorKind::NotADirectory => Failure::new(format!(
            "{action} {path}: a part of the path is a file, not a folder"
        )),
        _ => Failure::new(format!("{action} {path}: {e}")),
    }
}

/// `fs::copy`'s and `fs::move`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Force {
    force: bool,
}

/// `fs::remove`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RemoveOptions {
    recursive: bool,
    missing_ok: bool,
}

/// `fs::mkdir`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct MkdirOptions {
    fresh: bool,
}

/// `fs::glob`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct GlobOptions {
    by: Option<String>,
}

fn glob_paths(pattern: &str) -> NativeResult<Vec<PathBuf>> {
    let expanded = expand_tilde(pattern);
    let entries = glob::glob(&expanded).map_err(|e| {
        Failure::new(format!(
            "bad glob pattern {pattern}: {} at character {}",
            e.msg,
            e.pos + 1
        ))
        .hint("patterns use *, ?, [abc] and **; escape a literal [ as [[]")
    })?;
    // Entries in folders we may not read are skipped, as a shell's glob would.
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).collect();
    paths.sort();
    Ok(paths)
}

/// `dst`, or `dst/<name of src>` when `dst` is an existing folder (as `cp` and `mv` do).
fn into_folder(src: &str, dst: &str) -> PathBuf {
    let target = guard::resolve(dst);
    match Path::new(src).file_name() {
        Some(name) if target.is_dir() => target.join(name),
        _ => target,
    }
}

fn refuse_existing(target: &Path, shown: &str, force: bool) -> NativeResult<()> {
    if !force && std::fs::symlink_metadata(target).is_ok() {
        return Err(Failure::new(format!("{shown} already exists; refusing to replace it"))
            .hint("choose a new name (e.g. with time::stamp()), or pass #{ force: true } to replace it"));
    }
    Ok(())
}

/// In a dry run, say now that the real run would refuse to replace an existing destination.
fn warn_if_refused(host: &Host, function: &str, target: &Path, force: bool) {
    if host.mode.simulates_changes() && !force && std::fs::symlink_metadata(target).is_ok() {
        host.out.warn(&format!(
            "{function}: {} exists; a real run refuses to replace it without #{{ force: true }}",
            target.display()
        ));
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

/// Fill a temp file beside `target`, fsync it, rename it over `target`, fsync the folder.
/// `perms` defaults to the existing file's mode, or private (0600) for a new file; the temp file
/// has that mode from its creation, so nobody can open it in between.
fn write_durably(
    target: &Path,
    perms: Option<Permissions>,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let existing = std::fs::metadata(target).ok().map(|m| m.permissions());
    let mode = perms
        .or(existing)
        .map_or(guard::NEW_FILE_MODE, |p| p.mode() & 0o7777);
    let temp = TempFile::create(target, mode)?;
    let mut file = temp.file()?;
    fill(&mut file)?;
    file.sync_all()?;
    drop(file);
    temp.persist(target)?;
    sync_dir(target)
}

/// A temp file beside its target, removed unless it is persisted.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    fn create(target: &Path, mode: u32) -> io::Result<TempFile> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut last = None;
        for attempt in 0..16u32 {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let tmp = parent_dir(target).join(format!(
                ".{name}.{}-{nanos:09}-{attempt}.tmp",
                std::process::id()
            ));
            match guard::create_new(&tmp, mode) {
                Ok(file) => {
                    return Ok(TempFile {
                        path: tmp,
                        file: Some(file),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temp name")))
    }

    fn file(&self) -> io::Result<File> {
        match &self.file {
            Some(f) => f.try_clone(),
            None => Err(io::Error::other("temp file already persisted")),
        }
    }

    fn persist(mut self, target: &Path) -> io::Result<()> {
        self.file = None;
        std::fs::rename(&self.path, target)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn copy_durably(from: &Path, target: &Path, src: &str, shown: &str) -> NativeResult<()> {
    let meta = std::fs::metadata(from).map_err(|e| io_failure("cannot copy", src, &e))?;
    if meta.is_dir() {
        return Err(Failure::new(format!("cannot copy {src}: it is a folder"))
            .hint("fs::copy copies files; use sh(\"cp -a ...\") for folders"));
    }
    let mut input = File::open(from).map_err(|e| io_failure("cannot copy", src, &e))?;
    write_durably(target, Some(meta.permissions()), |out| {
        io::copy(&mut input, out).map(drop)
    })
    .map_err(|e| io_failure(&format!("cannot copy {src} to"), shown, &e))
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// `12 bytes`, `2.1 KB`, `3.4 MB`: sizes for change summaries.
pub(crate) fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use ripcord_runtime::Mode;
    use ripcord_runtime::engine::standalone;
    use ripcord_runtime::rhai::{Dynamic, Engine};

    use super::module;

    fn engine(mode: Mode) -> Engine {
        standalone(vec![module()], mode).0
    }

    fn error(engine: &Engine, script: &str) -> String {
        engine
            .eval::<Dynamic>(script)
            .expect_err(script)
            .to_string()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_is_durable_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let e = engine(Mode::Run);
        e.run(&format!(r#"fs::write("{}", "first\n");"#, path.display()))
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        e.run(&format!(
            r#"fs::write("{}", "rolled back\n");"#,
            path.display()
        ))
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "rolled back\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "mode kept"
        );
        assert_eq!(names(dir.path()), ["out.txt"]);
        let read: String = e
            .eval(&format!(r#"fs::read("{}")"#, path.display()))
            .unwrap();
        assert_eq!(read, "rolled back\n");
    }

    #[test]
    fn write_into_a_missing_folder_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/out.txt");
        let err = error(
            &engine(Mode::Run),
            &format!(r#"fs::write("{}", "x")"#, path.display()),
        );
        assert!(
            err.contains(&format!(
                "cannot write {}: no such file or folder",
                path.display()
            )),
            "{err}"
        );
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn append_creates_then_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollback-log.txt");
        let e = engine(Mode::Run);
        let script = format!(
            r#"fs::append("{0}", "one\n"); fs::append("{0}", "two\n");"#,
            path.display()
        );
        e.run(&script).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    }

    #[test]
    fn dry_run_changes_nothing_but_reads_for_real() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::write(dir.path().join("a.toml"), "port = 1\n").unwrap();
        std::fs::create_dir(dir.path().join("old")).unwrap();
        let e = engine(Mode::DryRun);
        let script = format!(
            r#"fs::write("{d}/out.txt", "hello");
               fs::append("{d}/log.txt", "line\n");
               let copied = fs::copy("{d}/a.toml", "{d}/b.toml");
               fs::move("{d}/a.toml", "{d}/c.toml");
               fs::mkdir("{d}/new/deeper");
               fs::remove("{d}/old", #{{ recursive: true }});
               [copied, fs::read("{d}/a.toml"), fs::exists("{d}/a.toml"), fs::size("{d}/a.toml")]"#
        );
        let result: Vec<Dynamic> = e.eval::<ripcord_runtime::rhai::Array>(&script).unwrap();
        assert_eq!(result[0].to_string(), format!("{d}/b.toml"));
        assert_eq!(result[1].to_string(), "port = 1\n");
        assert!(result[2].as_bool().unwrap());
        assert_eq!(result[3].as_int().unwrap(), 9);
        assert_eq!(names(dir.path()), ["a.toml", "old"]);
    }

    #[test]
    fn dry_run_summaries_say_what_would_happen() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::write(dir.path().join("a.toml"), vec![b'x'; 2150]).unwrap();
        std::fs::create_dir(dir.path().join("old")).unwrap();
        let (e, host) = standalone(vec![module()], Mode::DryRun);
        let script = format!(
            r#"step "Safety" {{
                   fs::write("{d}/out.txt", "rolled back\n");
                   fs::copy("{d}/a.toml", "{d}/b.toml");
                   fs::append("{d}/rollback-log.txt", "0123456789012345678901234567890123456789");
                   fs::remove("{d}/old", #{{ recursive: true }});
               }}"#
        );
        e.run(&script).unwrap();
        let summaries: Vec<(String, String)> = host.steps()[0]
            .changes
            .iter()
            .map(|c| (c.summary.clone(), c.outcome.to_string()))
            .collect();
        let simulated = |s: String| (s, "simulated".to_string());
        assert_eq!(
            summaries,
            [
                simulated(format!("write 12 bytes to {d}/out.txt")),
                simulated(format!("copy {d}/a.toml -> {d}/b.toml (2.1 KB)")),
                simulated(format!("append 40 bytes to {d}/rollback-log.txt")),
                simulated(format!("remove folder {d}/old and everything in it")),
            ]
        );
    }

    #[test]
    fn copy_refuses_an_existing_file_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::write(dir.path().join("a.toml"), "new").unwrap();
        std::fs::write(dir.path().join("b.toml"), "old").unwrap();
        std::fs::set_permissions(
            dir.path().join("a.toml"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        let e = engine(Mode::Run);
        let err = error(&e, &format!(r#"fs::copy("{d}/a.toml", "{d}/b.toml")"#));
        assert!(
            err.contains(&format!(
                "{d}/b.toml already exists; refusing to replace it"
            )),
            "{err}"
        );
        assert!(err.contains("#{ force: true }"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.toml")).unwrap(),
            "old"
        );

        e.run(&format!(
            r#"fs::copy("{d}/a.toml", "{d}/b.toml", #{{ force: true }});"#
        ))
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.toml")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("b.toml"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );

        std::fs::create_dir(dir.path().join("safety")).unwrap();
        let into: String = e
            .eval(&format!(r#"fs::copy("{d}/a.toml", "{d}/safety")"#))
            .unwrap();
        assert_eq!(into, format!("{d}/safety/a.toml"));
        assert_eq!(names(&dir.path().join("safety")), ["a.toml"]);
        assert_eq!(names(dir.path()), ["a.toml", "b.toml", "safety"]);
    }

    #[test]
    fn missing_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let e = engine(Mode::Run);
        for (script, expected) in [
            (
                format!(r#"fs::read("{d}/cortex.toml")"#),
                format!("cannot read {d}/cortex.toml: no such file or folder"),
            ),
            (
                format!(r#"fs::sha256("{d}/x.db")"#),
                format!("cannot hash {d}/x.db: no such file or folder"),
            ),
            (
                format!(r#"fs::size("{d}/x.db")"#),
                format!("cannot stat {d}/x.db: no such file or folder"),
            ),
            (
                format!(r#"fs::copy("{d}/x.db", "{d}/y.db")"#),
                format!("cannot copy {d}/x.db: no such file or folder"),
            ),
            (
                format!(r#"fs::move("{d}/x.db", "{d}/y.db")"#),
                format!("cannot move {d}/x.db: no such file or folder"),
            ),
            (
                format!(r#"fs::remove("{d}/x.db")"#),
                format!("cannot remove {d}/x.db: no such file or folder"),
            ),
        ] {
            let err = error(&e, &script);
            assert!(err.contains(&expected), "{script}: {err}");
        }
        e.run(&format!(
            r#"fs::remove("{d}/x.db", #{{ missing_ok: true }});"#
        ))
        .unwrap();
        let err = error(&e, &format!(r#"fs::read("{d}")"#));
        assert!(
            err.contains(&format!("cannot read {d}: it is a folder")),
            "{err}"
        );
    }

    #[test]
    fn glob_sorts_by_name_and_latest_picks_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let now = SystemTime::now();
        // Names and ages disagree on purpose: b is the newest.
        for (name, age) in [
            ("c.db", 300),
            ("a.db", 200),
            ("b.db", 100),
            ("notes.txt", 0),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, name).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(now - Duration::from_secs(age))
                .unwrap();
        }
        let e = engine(Mode::Run);
        let all: Vec<String> = e
            .eval::<ripcord_runtime::rhai::Array>(&format!(r#"fs::glob("{d}/*.db")"#))
            .unwrap()
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            all,
            [
                format!("{d}/a.db"),
                format!("{d}/b.db"),
                format!("{d}/c.db")
            ]
        );
        let newest: String = e.eval(&format!(r#"fs::latest("{d}/*.db")"#)).unwrap();
        assert_eq!(newest, format!("{d}/b.db"));
        let none: i64 = e.eval(&format!(r#"fs::glob("{d}/*.sql").len()"#)).unwrap();
        assert_eq!(none, 0);
        let err = error(&e, &format!(r#"fs::latest("{d}/*.sql")"#));
        assert!(err.contains(&format!("nothing matches {d}/*.sql")), "{err}");
        let err = error(&e, r#"fs::glob("backups/[")"#);
        assert!(err.contains("bad glob pattern backups/["), "{err}");
    }

    #[test]
    fn remove_needs_recursive_for_a_folder_and_move_refuses_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("cache/sub")).unwrap();
        std::fs::write(dir.path().join("cache/sub/f"), "x").unwrap();
        std::fs::write(dir.path().join("a"), "a").unwrap();
        std::fs::write(dir.path().join("b"), "b").unwrap();
        let e = engine(Mode::Run);
        let err = error(&e, &format!(r#"fs::remove("{d}/cache")"#));
        assert!(
            err.contains(&format!("cannot remove {d}/cache: it is a folder")),
            "{err}"
        );
        assert!(err.contains("#{ recursive: true }"), "{err}");
        let err = error(&e, &format!(r#"fs::move("{d}/a", "{d}/b")"#));
        assert!(err.contains(&format!("{d}/b already exists")), "{err}");
        let err = error(
            &e,
            &format!(r#"fs::remove("{d}/cache", #{{ recursive: "yes" }})"#),
        );
        assert!(
            err.contains("option `recursive` must be true or false, not string"),
            "{err}"
        );
        let err = error(
            &e,
            &format!(r#"fs::copy("{d}/a", "{d}/z", #{{ forse: true }})"#),
        );
        assert!(err.contains("fs::copy: unknown option `forse`"), "{err}");

        e.run(&format!(r#"fs::remove("{d}/cache", #{{ recursive: true }}); fs::move("{d}/a", "{d}/b", #{{ force: true }}); fs::mkdir("{d}/x/y/z"); fs::mkdir("{d}/x");"#))
            .unwrap();
        assert_eq!(names(dir.path()), ["b", "x"]);
        assert_eq!(std::fs::read_to_string(dir.path().join("b")).unwrap(), "a");
        assert!(dir.path().join("x/y/z").is_dir());
    }

    #[test]
    fn sha256_and_size_describe_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc.txt");
        std::fs::write(&path, "abc").unwrap();
        let e = engine(Mode::Run);
        let sum: String = e
            .eval(&format!(r#"fs::sha256("{}")"#, path.display()))
            .unwrap();
        assert_eq!(
            sum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let size: i64 = e
            .eval(&format!(r#"fs::size("{}")"#, path.display()))
            .unwrap();
        assert_eq!(size, 3);
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = error(&e, &format!(r#"fs::read("{}")"#, path.display()));
        assert!(err.contains("not UTF-8 text"), "{err}");
    }

    #[test]
    fn fresh_folders_must_be_new_and_new_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::create_dir(dir.path().join("planted")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("linked")).unwrap();
        let e = engine(Mode::Run);
        for name in ["planted", "linked"] {
            let err = error(
                &e,
                &format!(r#"fs::mkdir("{d}/{name}", #{{ fresh: true }})"#),
            );
            assert!(
                err.contains(&format!(
                    "cannot create fresh folder {d}/{name}: something is already there"
                )),
                "{err}"
            );
        }
        e.run(&format!(
            r#"fs::mkdir("{d}/new/evidence", #{{ fresh: true }}); fs::write("{d}/new/evidence/a", "x"); fs::append("{d}/new/evidence/b", "y");"#
        ))
        .unwrap();
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("new/evidence"), 0o700);
        assert_eq!(mode("new/evidence/a"), 0o600);
        assert_eq!(mode("new/evidence/b"), 0o600);
        assert_eq!(names(&dir.path().join("new/evidence")), ["a", "b"]);
    }

    #[test]
    fn remove_shows_the_resolved_path_and_refuses_roots() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let d = real.display();
        std::fs::create_dir_all(real.join("keep/a")).unwrap();
        let (e, host) = standalone(vec![module()], Mode::DryRun);
        e.run(&format!(
            r#"step "s" {{ fs::remove("{d}/keep/a/..", #{{ recursive: true }}); }}"#
        ))
        .unwrap();
        assert_eq!(
            host.steps()[0].changes[0].summary,
            format!("remove folder {d}/keep (given as {d}/keep/a/..) and everything in it")
        );
        for path in ["/", "/tmp/..", "~"] {
            let err = error(
                &e,
                &format!(r#"fs::remove("{path}", #{{ recursive: true }})"#),
            );
            assert!(err.contains("refusing to remove"), "{path}: {err}");
        }
    }

    #[test]
    fn sizes_read_like_an_operator_writes_them() {
        assert_eq!(super::bytes_text(12), "12 bytes");
        assert_eq!(super::bytes_text(2150), "2.1 KB");
        assert_eq!(super::bytes_text(5 * 1024 * 1024), "5.0 MB");
    }
}

#[cfg(test)]
mod example_tests {
    use ripcord_runtime::Mode;
    use ripcord_runtime::engine::standalone;

    /// Every example of the basic modules compiles with those modules registered.
    #[test]
    fn every_example_compiles() {
        let modules = || {
            vec![
                crate::fs::module(),
                crate::sh::module(),
                crate::time::module(),
                crate::log::module(),
                crate::json::module(),
                crate::toml::module(),
            ]
        };
        let (engine, _host) = standalone(modules(), Mode::DryRun);
        for module in modules() {
            for doc in &module.docs {
                assert!(
                    !doc.summary().is_empty(),
                    "{} has no summary",
                    doc.qualified()
                );
                if let Err(e) = engine.compile(doc.example) {
                    panic!(
                        "the example of {} does not compile: {e}\n{}",
                        doc.qualified(),
                        doc.example
                    );
                }
            }
        }
    }
}
