//! The `cfg` value scripts see: the config file's tables, read like a map, where a missing key is
//! an error naming the key and the file.
//!
//! Plain Rhai maps return `()` for a missing property, as stock Rhai does, so `if m.x == ()`
//! works. `cfg` is different on purpose: a misspelt `cfg.dbb` must not become a backup of `()`.
//! A key that may be absent is read with `cfg.get("key") ?? default` or tested with
//! `"key" in cfg`.

use std::path::Path;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Position};

use crate::Failure;

/// One table of the config: its values, where it sits (`service.` for `[service]`) and the file.
#[derive(Debug, Clone)]
pub struct Cfg {
    map: Map,
    prefix: String,
    file: Arc<str>,
}

/// The `cfg` value for a config loaded from `path` (`None`: no config file was found).
pub fn wrap(value: &serde_json::Value, path: Option<&Path>) -> Dynamic {
    let file: Arc<str> = match path {
        Some(p) => p.display().to_string().into(),
        None => "".into(),
    };
    let map = rhai::serde::to_dynamic(value)
        .ok()
        .and_then(|d| d.try_cast::<Map>())
        .unwrap_or_default();
    Dynamic::from(Cfg {
        map,
        prefix: String::new(),
        file,
    })
}

impl Cfg {
    /// A nested table is a `Cfg` too, so `cfg.service.scope` names `service.scope` when missing.
    fn child(&self, key: &str, value: &Dynamic) -> Dynamic {
        match value.read_lock::<Map>() {
            Some(map) => Dynamic::from(Cfg {
                map: map.clone(),
                prefix: format!("{}{key}.", self.prefix),
                file: self.file.clone(),
            }),
            None => value.clone(),
        }
    }

    fn get(&mut self, key: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        match self.map.get(key) {
            Some(value) => Ok(self.child(key, value)),
            None => Err(self.missing(key)),
        }
    }

    fn missing(&self, key: &str) -> Box<EvalAltResult> {
        let name = format!("{}{key}", self.prefix);
        let (section, entry) = match name.rsplit_once('.') {
            Some((section, entry)) => (format!("[{section}] "), entry.to_string()),
            None => (String::new(), name.clone()),
        };
        let failure = if self.file.is_empty() {
            Failure::new(format!("`cfg.{name}` is not set: no config file was loaded")).hint(format!(
                "pass --config FILE (or create ./ripcord.toml) with {section}`{entry} = ...`; for an optional key use `cfg.get(\"{key}\") ?? default`"
            ))
        } else {
            Failure::new(format!(
                "`cfg.{name}` is not set: the config {} has no key `{name}`",
                self.file
            ))
            .hint(format!(
                "add {section}`{entry} = ...` to it; for an optional key use `cfg.get(\"{key}\") ?? default`"
            ))
        };
        failure.at_position(Position::NONE)
    }

    /// The plain map, nested tables included (for `json::to_string(cfg.to_map())` and the like).
    fn plain(&mut self) -> Map {
        self.map.clone()
    }
}

/// Register `cfg`'s type: property and index access, `in`, and the read-only map functions.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Cfg>("Config")
        .register_indexer_get(Cfg::get)
        .register_indexer_set(|c: &mut Cfg, key: &str, value: Dynamic| {
            c.map.insert(key.into(), value);
        })
        .register_fn("get", |c: &mut Cfg, key: &str| {
            c.map
                .get(key)
                .map(|v| c.child(key, v))
                .unwrap_or(Dynamic::UNIT)
        })
        .register_fn("contains", |c: &mut Cfg, key: &str| c.map.contains_key(key))
        .register_fn("keys", |c: &mut Cfg| -> Array {
            c.map.keys().map(|k| Dynamic::from(k.to_string())).collect()
        })
        .register_fn("len", |c: &mut Cfg| c.map.len() as rhai::INT)
        .register_fn("is_empty", |c: &mut Cfg| c.map.is_empty())
        .register_fn("to_map", Cfg::plain)
        .register_fn("to_string", |c: &mut Cfg| {
            format!("{:?}", Dynamic::from(c.plain()))
        })
        .register_fn("to_debug", |c: &mut Cfg| {
            format!("{:?}", Dynamic::from(c.plain()))
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine_with(cfg: Dynamic) -> (Engine, rhai::Scope<'static>) {
        let mut engine = Engine::new();
        register(&mut engine);
        let mut scope = rhai::Scope::new();
        scope.push_dynamic("cfg", cfg);
        (engine, scope)
    }

    #[test]
    fn present_keys_read_like_a_map_and_missing_ones_name_key_and_file() {
        let value = serde_json::json!({ "db": "/srv/a.db", "service": { "scope": "user" } });
        let (engine, mut scope) = engine_with(wrap(&value, Some(Path::new("/etc/r.toml"))));
        let eval =
            |scope: &mut rhai::Scope, code: &str| engine.eval_with_scope::<Dynamic>(scope, code);
        assert_eq!(eval(&mut scope, "cfg.db").unwrap().to_string(), "/srv/a.db");
        assert_eq!(
            eval(&mut scope, "cfg.service.scope").unwrap().to_string(),
            "user"
        );
        assert_eq!(
            eval(&mut scope, r#"cfg["db"]"#).unwrap().to_string(),
            "/srv/a.db"
        );
        assert!(
            eval(&mut scope, r#""db" in cfg && !("x" in cfg)"#)
                .unwrap()
                .as_bool()
                .unwrap()
        );
        assert_eq!(
            eval(&mut scope, r#"cfg.get("x") ?? 7"#)
                .unwrap()
                .as_int()
                .unwrap(),
            7
        );
        assert_eq!(
            eval(&mut scope, "cfg.keys().len()")
                .unwrap()
                .as_int()
                .unwrap(),
            2
        );
        let err = eval(&mut scope, "cfg.dbb").unwrap_err();
        assert_eq!(
            crate::error::message_of(&err),
            "`cfg.dbb` is not set: the config /etc/r.toml has no key `dbb`\nhelp: add `dbb = ...` to it; for an optional key use `cfg.get(\"dbb\") ?? default`"
        );
        let err = eval(&mut scope, "cfg.service.unit").unwrap_err();
        assert!(
            crate::error::message_of(&err).starts_with(
                "`cfg.service.unit` is not set: the config /etc/r.toml has no key `service.unit`\nhelp: add [service] `unit = ...`"
            ),
            "{err}"
        );
    }

    #[test]
    fn without_a_config_file_the_error_says_so() {
        let (engine, mut scope) = engine_with(wrap(&serde_json::json!({}), None));
        let err = engine
            .eval_with_scope::<Dynamic>(&mut scope, "cfg.db")
            .unwrap_err();
        assert!(
            crate::error::message_of(&err)
                .starts_with("`cfg.db` is not set: no config file was loaded"),
            "{err}"
        );
    }
}
