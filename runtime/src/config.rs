//! The config: environment-specific values, visible to scripts as the map `cfg`. Looked up as
//! `--config F` > `$RIPCORD_CONFIG` > `./ripcord.toml` > `$XDG_CONFIG_HOME/ripcord/config.toml`
//! (the first two must exist when given). A leading `~/` in any string value expands to the
//! home directory.

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

    /// Load `explicit`, or the first config on the lookup order ([`lookup`]); none is an
    /// empty `cfg`.
    pub fn load(explicit: Option<&Path>) -> Result<Config, String> {
        let Some((path, source)) = lookup(explicit) else {
            return Ok(Config::empty());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read the config {} ({}): {e}\nhelp: {}",
                path.display(),
                source.describe(),
                source.help()
            )
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

    /// String values under keys that name a credential (`password`, `token`, `secret`,
    /// `webhook`, `routing_key`, `api_key`, or ending in `_password`, `_token`, `_secret`):
    /// a run that loads the config treats them as secrets, so `print(cfg)` shows `***`.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_secrets(&self.value, false, &mut out);
        out
    }

    /// The `cfg` value for scripts: read like a map; a missing key is an error naming the file.
    pub fn to_dynamic(&self) -> rhai::Dynamic {
        crate::cfg::wrap(&self.value, self.path.as_deref())
    }
}

/// Where the config came from, for errors that say which setting to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Flag,
    Env,
    WorkingDir,
    Xdg,
}

impl ConfigSource {
    fn describe(self) -> &'static str {
        match self {
            ConfigSource::Flag => "from --config",
            ConfigSource::Env => "from RIPCORD_CONFIG",
            ConfigSource::WorkingDir => "./ripcord.toml",
            ConfigSource::Xdg => "the user config",
        }
    }

    fn help(self) -> &'static str {
        match self {
            ConfigSource::Flag => "pass an existing file with --config, or omit it",
            ConfigSource::Env => "point RIPCORD_CONFIG at an existing file, or unset it",
            ConfigSource::WorkingDir | ConfigSource::Xdg => {
                "make the file readable, or pass another one with --config"
            }
        }
    }
}

/// The config file a run reads: `--config`, else `$RIPCORD_CONFIG` (both taken as given, even
/// if missing, so a typo is an error rather than a silent empty `cfg`), else `./ripcord.toml`,
/// else `$XDG_CONFIG_HOME/ripcord/config.toml` (`~/.config/...`) when they exist.
pub fn lookup(explicit: Option<&Path>) -> Option<(PathBuf, ConfigSource)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), ConfigSource::Flag));
    }
    if let Some(p) = std::env::var_os("RIPCORD_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), ConfigSource::Env));
    }
    let local = PathBuf::from("ripcord.toml");
    if local.exists() {
        return Some((local, ConfigSource::WorkingDir));
    }
    let user = crate::dirs::config_dir().join("config.toml");
    user.exists().then_some((user, ConfigSource::Xdg))
}

fn expand(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(crate::dirs::expand_tilde(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(expand).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, expand(v))).collect()),
        other => other,
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    matches!(
        key.as_str(),
        "password" | "token" | "secret" | "webhook" | "routing_key" | "api_key"
    ) || ["_password", "_token", "_secret"]
        .iter()
        .any(|suffix| key.ends_with(suffix))
}

fn collect_secrets(value: &Value, secret: bool, out: &mut Vec<String>) {
    match value {
        Value::String(s) if secret => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| collect_secrets(v, secret, out)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, v)| collect_secrets(v, secret || is_secret_key(k), out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_config_are_found_at_any_depth() {
        let config = Config {
            path: None,
            value: serde_json::json!({
                "db": "cortex.db",
                "notify": {
                    "slack": { "webhook": "https://hooks.example/T1/B2/x" },
                    "pagerduty": { "routing_key": "R0UT1NG", "url": "http://127.0.0.1:1/enqueue" },
                    "email": { "server": "smtp", "password": "hunter22" },
                },
                "api_token": "tok",
                "tokens": ["not-a-secret-by-name"],
            }),
        };
        let mut found = config.secret_values();
        found.sort();
        assert_eq!(
            found,
            [
                "R0UT1NG",
                "https://hooks.example/T1/B2/x",
                "hunter22",
                "tok"
            ]
        );
    }
}
