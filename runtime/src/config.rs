//! `--config F` (default `./ripcord.toml` if present): environment-specific values, visible to
//! scripts as the map `cfg`. A leading `~/` in any string value expands to the home directory.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The config a run sees, and where it came from.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub value: Value,
}

impl Config {
    pub fn empty() -> Config {
        Config {
            path: None,
            value: Value::Object(Default::default()),
        }
    }

    /// Load `explicit`, or `./ripcord.toml` when it exists; an explicit file must exist.
    pub fn load(explicit: Option<&Path>) -> Result<Config, String> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from("ripcord.toml");
                if !p.exists() {
                    return Ok(Config::empty());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("cannot read the config {}: {e}\nhelp: pass an existing file with --config, or omit it", path.display())
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            format!(
                "the config {} is not valid TOML: {}",
                path.display(),
                e.to_string().trim_end()
            )
        })?;
        let value = serde_json::to_value(table)
            .map_err(|e| format!("the config {}: {e}", path.display()))?;
        Ok(Config {
            path: Some(path),
            value: expand(value),
        })
    }

    /// The `cfg` map for scripts.
    pub fn to_dynamic(&self) -> rhai::Dynamic {
        rhai::serde::to_dynamic(&self.value).unwrap_or(rhai::Dynamic::UNIT)
    }
}

fn expand(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(crate::dirs::expand_tilde(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(expand).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, expand(v))).collect()),
        other => other,
    }
}
