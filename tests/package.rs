//! The Debian package's contents, without building the package (the release build takes long):
//! `dist/deb/stage` lays out the tree from the test binary, and each file is checked where the
//! README's install table says it lands — both ways, so neither the README nor the staging can
//! drift — and that it works there: the man page renders, the completions load, the runbooks are
//! the shipped ones, the watch unit passes `systemd-analyze verify`. The same checks run against
//! a built package: `dist/deb/build && dpkg -x target/debian/ripcord_*.deb DIR &&
//! RIPCORD_PACKAGE_ROOT=DIR cargo test --test tests package::`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The absolute paths in the README's "Debian package" table (`| `/usr/...` | ... |`).
fn readme_paths() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("### Debian package")
        .nth(1)
        .expect("a Debian package section in the README");
    let table = section.split("\n#").next().unwrap_or(section);
    let mut paths = vec![];
    for line in table.lines().filter(|l| l.starts_with("| `/")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        for path in cell.split('`').filter(|p| p.starts_with('/')) {
            paths.push(path.to_string());
        }
    }
    assert!(paths.len() >= 8, "too few paths in the README: {paths:?}");
    paths
}

/// The tree to check: staged from the test binary, or, when `RIPCORD_PACKAGE_ROOT` names one,
/// a built package unpacked there (`dpkg -x target/debian/ripcord_*.deb DIR`), so the same
/// checks run against the real `.deb`.
fn stage() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp");
    if let Some(root) = std::env::var_os("RIPCORD_PACKAGE_ROOT") {
        return (dir, PathBuf::from(root));
    }
    let root = dir.path().join("root");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(repo.join("dist/deb/stage"))
        .arg(&root)
        .arg(env!("CARGO_BIN_EXE_ripcord"))
        .output()
        .expect("run dist/deb/stage");
    assert!(
        out.status.success(),
        "dist/deb/stage failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, root)
}

/// Every file under `dir`, relative to `root`, as `/path`.
fn files(root: &Path, dir: &Path, into: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(root, &path, into);
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            into.push(format!("/{}", rel.display()));
        }
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn the_package_tree_holds_what_the_readme_says_where_it_says() {
    let (_dir, root) = stage();
    let listed = readme_paths();
    let mut staged = vec![];
    files(&root, &root, &mut staged);

    for path in &listed {
        let at = root.join(path.trim_start_matches('/'));
        assert!(at.exists(), "the README lists {path}, the package lacks it");
    }
    for path in &staged {
        assert!(
            listed
                .iter()
                .any(|l| l == path || (l.ends_with('/') && path.starts_with(l.as_str()))),
            "the package installs {path}, the README does not say so"
        );
        let expected = if path == "/usr/bin/ripcord" {
            0o755
        } else {
            0o644
        };
        assert_eq!(mode(&root.join(&path[1..])), expected, "{path}");
    }

    // The binary is the one built, and runs from there.
    let out = Command::new(root.join("usr/bin/ripcord"))
        .arg("--version")
        .output()
        .expect("run the staged binary");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ripcord "));

    // The runbooks are exactly the shipped ones.
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut shipped = vec![];
    files(&scripts, &scripts, &mut shipped);
    shipped.retain(|p| p.ends_with(".rhai"));
    let mut packaged = vec![];
    let packaged_dir = root.join("usr/share/ripcord/scripts");
    files(&packaged_dir, &packaged_dir, &mut packaged);
    shipped.sort();
    packaged.sort();
    assert_eq!(packaged, shipped);
    for rel in &shipped {
        assert_eq!(
            std::fs::read(packaged_dir.join(&rel[1..])).expect("packaged"),
            std::fs::read(scripts.join(&rel[1..])).expect("shipped"),
            "{rel}"
        );
    }
}

#[test]
fn the_packaged_man_page_completions_and_watch_unit_work_where_they_land() {
    let (dir, root) = stage();
    let man = Command::new("man")
        .arg("-l")
        .arg(root.join("usr/share/man/man1/ripcord.1.gz"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db) is installed by .ci/run");
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.status.success() && text.contains("completions"),
        "{text}"
    );

    let bash = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && complete -p ripcord")
        .arg("bash")
        .arg(root.join("usr/share/bash-completion/completions/ripcord"))
        .output()
        .expect("bash");
    assert!(
        String::from_utf8_lossy(&bash.stdout).contains("ripcord"),
        "{}",
        String::from_utf8_lossy(&bash.stderr)
    );

    // systemd reads the unit without a complaint, with ExecStart pointed at a binary that
    // exists here (a template is verified through an instance of it).
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/ripcord-watch@.service"))
        .expect("unit");
    assert!(
        unit.contains("ExecStart=/usr/bin/ripcord watch %i --config /etc/ripcord/ripcord.toml")
    );
    let instance = dir.path().join("ripcord-watch@triggers.service");
    std::fs::write(
        &instance,
        unit.replace(
            "/usr/bin/ripcord",
            &root.join("usr/bin/ripcord").display().to_string(),
        ),
    )
    .expect("write");
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&instance)
        .output()
        .expect("systemd-analyze");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );
}
