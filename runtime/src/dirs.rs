//! XDG locations for the journal, locks, REPL history and the user config.

use std::path::PathBuf;

/// `$XDG_STATE_HOME/ripcord`, falling back to `~/.local/state/ripcord`.
pub fn state_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("ripcord");
    }
    home().join(".local/state/ripcord")
}

/// `$XDG_CONFIG_HOME/ripcord`, falling back to `~/.config/ripcord`.
pub fn config_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("ripcord");
    }
    home().join(".config/ripcord")
}

pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Expand a leading `~/` to the home directory.
pub fn expand_tilde(path: &str) -> String {
    if path == "~" {
        return home().display().to_string();
    }
    match path.strip_prefix("~/") {
        Some(rest) => home().join(rest).display().to_string(),
        None => path.to_string(),
    }
}
