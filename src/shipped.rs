//! The shipped runbooks, embedded in the binary: what `ripcord init` writes, what `ripcord demo`
//! runs, and the built-in runbooks found by name when no folder on the script path has them.
//!
//! A built-in runbook runs from a private copy of the whole shipped set under
//! `$XDG_CACHE_HOME/ripcord/builtin-<digest>/`, so `import "lib/..."`, `runbook::run` and
//! `ripcord resume` see real files, exactly as they would in an operator's folder.

use std::path::PathBuf;

use ripcord_runtime::script::{Script, sha256_hex};

use crate::files;

/// `(path under scripts/, contents)` of every shipped runbook and library, sorted by path.
pub const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/shipped.rs"));

/// The commented config template `ripcord init` writes as `ripcord.toml`.
pub const CONFIG_TEMPLATE: &str = include_str!("shipped/ripcord.toml");

/// The shipped text of `rel` (a path under `scripts/`, e.g. `rollback.rhai`, `lib/health.rhai`).
pub fn file(rel: &str) -> Option<&'static str> {
    FILES.iter().find(|(p, _)| *p == rel).map(|(_, text)| *text)
}

/// The runbooks an operator runs by name: the top-level files, without `lib/`.
pub fn runbooks() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES.iter().filter_map(|(path, text)| {
        let name = path.strip_suffix(".rhai")?;
        (!name.contains('/')).then_some((name, *text))
    })
}

/// Is `name` (a runbook name, as `ripcord run NAME` takes it) a shipped runbook?
pub fn is_runbook(name: &str) -> bool {
    let name = name.strip_suffix(".rhai").unwrap_or(name);
    runbooks().any(|(n, _)| n == name)
}

/// How a runbook in an operator's folder relates to the shipped one of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Only in the binary: no folder on the script path has it.
    BuiltIn,
    /// In a folder, identical to the shipped one.
    Shipped,
    /// In a folder, changed from the shipped one.
    Edited,
    /// In a folder, not a shipped name: the operator's own.
    Local,
}

impl Origin {
    pub fn of(name: &str, text: &str) -> Origin {
        match file(&format!("{name}.rhai")) {
            Some(shipped) if shipped == text => Origin::Shipped,
            Some(_) => Origin::Edited,
            None => Origin::Local,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Origin::BuiltIn => "built-in",
            Origin::Shipped => "shipped",
            Origin::Edited => "edited",
            Origin::Local => "local",
        }
    }
}

/// Find `spec` on the script path, then among the built-in runbooks. The second value is the
/// folder `runbook::run` should also search (the built-in copy) when the built-in was used.
pub fn find(spec: &str, dirs: &[PathBuf]) -> Result<(Script, Option<PathBuf>), String> {
    match Script::find(spec, dirs) {
        Ok(script) => Ok((script, None)),
        Err(not_found) if is_runbook(spec) && !spec.contains('/') => {
            let dir = builtin_dir().map_err(|e| format!("{not_found}\nnote: {e}"))?;
            let name = spec.strip_suffix(".rhai").unwrap_or(spec);
            let script = Script::read(&dir.join(format!("{name}.rhai")))?;
            Ok((script, Some(dir)))
        }
        Err(not_found) => Err(not_found),
    }
}

/// The private copy of the shipped set, written (or repaired) on first use. Its name carries a
/// digest of the contents, so two ripcord versions never share one.
pub fn builtin_dir() -> Result<PathBuf, String> {
    let dir = cache_root().join(format!("builtin-{}", &digest()[..16]));
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if std::fs::read(&path).is_ok_and(|bytes| bytes == text.as_bytes()) {
            continue;
        }
        files::write_atomic(&path, text.as_bytes(), 0o644)
            .map_err(|e| format!("cannot write the built-in runbook {}: {e}", path.display()))?;
    }
    Ok(dir)
}

fn cache_root() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| ripcord_runtime::dirs::home().join(".cache"))
        .join("ripcord")
}

/// One digest over every shipped path and text.
fn digest() -> String {
    let mut all = Vec::new();
    for (rel, text) in FILES {
        all.extend_from_slice(rel.as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        all.push(0);
    }
    sha256_hex(&all)
}

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn every_shipped_runbook_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
        let mut on_disk = Vec::new();
        for dir in [root.clone(), root.join("lib")] {
            for entry in std::fs::read_dir(&dir).expect("scripts") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|e| e == "rhai") {
                    let rel = path.strip_prefix(&root).expect("prefix");
                    on_disk.push(rel.display().to_string());
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(embedded, on_disk);
        assert!(super::file("lib/health.rhai").is_some());
        assert!(super::is_runbook("rollback") && !super::is_runbook("lib/health"));
    }
}
