//! Build-time facts the binary carries: the shipped runbooks (every `.rhai` under `scripts/`,
//! embedded so `ripcord init` and built-in lookup work outside a checkout) and the commit the
//! binary was built from (for `--version`; absent when building from a tarball without git).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    write_shipped(&root, &out);
    emit_commit(&root);
}

/// `shipped.rs`: `(path relative to scripts/, contents)` for every shipped runbook, sorted.
fn write_shipped(root: &Path, out: &Path) {
    let scripts = root.join("scripts");
    println!("cargo:rerun-if-changed={}", scripts.display());
    let mut files = Vec::new();
    collect(&scripts, &scripts, &mut files);
    files.sort();
    let mut code = String::from("&[\n");
    for rel in &files {
        let abs = scripts.join(rel);
        println!("cargo:rerun-if-changed={}", abs.display());
        let _ = writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("]\n");
    if let Err(e) = std::fs::write(out.join("shipped.rs"), code) {
        panic!("cannot write shipped.rs: {e}");
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "rhai")
            && let Ok(rel) = path.strip_prefix(root)
        {
            // Forward slashes whatever the host: these are the names `import` uses.
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
}

/// `RIPCORD_VERSION`: the package version and the short commit of HEAD (`0.1.0 (1a2b3c4d5e6f)`),
/// or the package version alone without git. A packager building from a tarball can set
/// `RIPCORD_COMMIT` in the environment to stamp it.
fn emit_commit(root: &Path) {
    println!("cargo:rerun-if-env-changed=RIPCORD_COMMIT");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = std::env::var("RIPCORD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git_commit(root));
    match commit {
        Some(commit) => println!("cargo:rustc-env=RIPCORD_VERSION={version} ({commit})"),
        None => println!("cargo:rustc-env=RIPCORD_VERSION={version}"),
    }
}

fn git_commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // A tarball unpacked inside some other checkout must not take that checkout's commit.
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves; in a worktree the git dir is not `.git/`.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
                .map(PathBuf::from)
                .unwrap_or(git_dir);
            let path = common.join(reference);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(commit)
}
