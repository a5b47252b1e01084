//! Finding a runbook: a path, or a name on the script path (`--scripts DIR`, `RIPCORD_PATH`,
//! `./scripts`).

use std::path::{Path, PathBuf};

/// A runbook's text and where it came from.
#[derive(Debug, Clone)]
pub struct Script {
    pub path: PathBuf,
    /// The name runs are listed under: the file stem (`rollback`).
    pub name: String,
    pub text: String,
    pub sha256: String,
}

/// The folders searched for a script name, in order.
pub fn search_path(explicit: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = explicit.to_vec();
    if let Some(p) = std::env::var_os("RIPCORD_PATH") {
        dirs.extend(std::env::split_paths(&p).filter(|d| !d.as_os_str().is_empty()));
    }
    dirs.push(PathBuf::from("scripts"));
    dirs
}

impl Script {
    /// Find and read `spec`: an existing path, or `NAME` / `NAME.rhai` on the script path.
    pub fn find(spec: &str, dirs: &[PathBuf]) -> Result<Script, String> {
        let direct = Path::new(spec);
        if direct.is_file() {
            return Script::read(direct);
        }
        let looks_like_path = spec.contains('/') || spec.ends_with(".rhai");
        if !looks_like_path {
            for dir in dirs {
                for candidate in [dir.join(format!("{spec}.rhai")), dir.join(spec)] {
                    if candidate.is_file() {
                        return Script::read(&candidate);
                    }
                }
            }
        }
        let looked: Vec<String> = if looks_like_path {
            vec![spec.to_string()]
        } else {
            dirs.iter()
                .map(|d| d.join(format!("{spec}.rhai")).display().to_string())
                .collect()
        };
        let why = if direct.is_dir() {
            "is a directory"
        } else {
            "not found"
        };
        Err(format!(
            "runbook `{spec}` {why} (looked at {})\nhelp: `ripcord list` shows the runbooks on the script path; set --scripts DIR or RIPCORD_PATH",
            looked.join(", ")
        ))
    }

    pub fn read(path: &Path) -> Result<Script, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read runbook {}: {e}", path.display()))?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| format!("runbook {} is not UTF-8 text", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script".into());
        Ok(Script {
            path: path.to_path_buf(),
            name,
            text,
            sha256: sha256_hex(&bytes),
        })
    }

    pub fn display_path(&self) -> String {
        self.path.display().to_string()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

/// The `.rhai` files directly in `dir`, sorted (for `ripcord list` and `ripcord check`).
pub fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "rhai"))
        .collect();
    files.sort();
    files
}
