//! Secret values (`@param secret`, config values declared secret or read from a secrets file,
//! values under keys such as `authorization` or `token`) never reach the journal, the terminal,
//! an error or a report: every text that leaves the run is passed through here.
//!
//! A secret is matched raw and in the escaped forms it takes on the way out (JSON, Rust/Rhai
//! debug, shell single quotes), and a value written after a secret-named key (`"token": "..."`,
//! `authorization: ...`) is masked even before anything told us it was a secret.

use std::sync::{Arc, RwLock};

use rhai::Dynamic;
use serde_json::Value;

/// The secret values known to a run. Cloning shares the set (a sub-run shares its caller's).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Arc<RwLock<Vec<String>>>,
    /// Param values with control characters, and how they are shown: escaped, so a newline in a
    /// param cannot forge a line of progress, an error or a log.
    escaped: Arc<RwLock<Vec<(String, String)>>>,
}

pub const MASK: &str = "***";

impl Secrets {
    /// Add a value to hide, with its escaped forms (values shorter than 3 characters would mask
    /// ordinary text and are hidden only where they appear whole, e.g. as a param value).
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|p| p.into_inner());
        for form in escaped_forms(value) {
            if !form.is_empty() && !values.contains(&form) {
                values.push(form);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// Show `value` escaped (`\n`, `\t`) wherever it appears, if it has control characters.
    pub fn escape(&self, value: &str) {
        if !value.chars().any(char::is_control) {
            return;
        }
        let shown = format!("{value:?}");
        let shown = shown[1..shown.len() - 1].to_string();
        let mut escaped = self.escaped.write().unwrap_or_else(|p| p.into_inner());
        if !escaped.iter().any(|(raw, _)| raw == value) {
            escaped.push((value.to_string(), shown));
            escaped.sort_by_key(|(raw, _)| std::cmp::Reverse(raw.len()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.read().map(|v| v.is_empty()).unwrap_or(true)
    }

    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        for v in values.iter() {
            if v.len() >= 3 || out == *v {
                out = out.replace(v.as_str(), MASK);
            }
        }
        let escaped = self.escaped.read().unwrap_or_else(|p| p.into_inner());
        for (raw, shown) in escaped.iter() {
            out = out.replace(raw.as_str(), shown);
        }
        mask_after_secret_keys(&out)
    }

    /// Redact every string of a JSON value, its keys too; a value under a secret-named key is
    /// masked whole and remembered as a secret.
    pub fn redact_json(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.redact_json(v)).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| {
                        if is_secret_key(&k) {
                            self.learn_json(&v);
                            (self.redact(&k), mask_json(v))
                        } else {
                            (self.redact(&k), self.redact_json(v))
                        }
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    fn learn_json(&self, value: &Value) {
        match value {
            Value::String(s) => self.add(s),
            Value::Number(n) => self.add(&n.to_string()),
            Value::Array(a) => a.iter().for_each(|v| self.learn_json(v)),
            Value::Object(o) => o.values().for_each(|v| self.learn_json(v)),
            _ => {}
        }
    }

    /// Remember the values a script value holds under secret-named keys (a headers map with an
    /// `Authorization` entry): called before a value is shown, logged or encoded.
    pub fn learn(&self, value: &Dynamic) {
        if let Some(map) = value.read_lock::<rhai::Map>() {
            for (k, v) in map.iter() {
                if is_secret_key(k) {
                    self.learn_json(&crate::host::dynamic_to_json(v));
                } else {
                    self.learn(v);
                }
            }
        } else if let Some(items) = value.read_lock::<rhai::Array>() {
            items.iter().for_each(|v| self.learn(v));
        }
    }

    /// Every string value of a config under a secret-named key, the values at the dotted paths
    /// listed in `[ripcord] secrets`, and every value in the files `[ripcord] secrets_files`
    /// names.
    pub fn learn_config(&self, config: &Value) -> Result<(), String> {
        self.learn_secret_keys(config);
        let section = config.get("ripcord");
        for path in strings(section.and_then(|s| s.get("secrets"))) {
            match lookup(config, &path) {
                Some(v) => self.learn_json(v),
                None => {
                    return Err(format!(
                        "the config declares `{path}` secret ([ripcord] secrets), but has no such value\nhelp: write the dotted path of a config value, e.g. \"api.token\""
                    ));
                }
            }
        }
        for file in strings(section.and_then(|s| s.get("secrets_files"))) {
            let text = std::fs::read_to_string(crate::dirs::expand_tilde(&file)).map_err(|e| {
                format!("cannot read the secrets file {file} ([ripcord] secrets_files): {e}")
            })?;
            self.learn_file(&text);
        }
        Ok(())
    }

    fn learn_secret_keys(&self, value: &Value) {
        match value {
            Value::Object(o) => o.iter().for_each(|(k, v)| {
                if is_secret_key(k) {
                    self.learn_json(v);
                } else {
                    self.learn_secret_keys(v);
                }
            }),
            Value::Array(a) => a.iter().for_each(|v| self.learn_secret_keys(v)),
            _ => {}
        }
    }

    /// A secrets file is TOML, or `KEY=value` lines: every value in it is a secret.
    fn learn_file(&self, text: &str) {
        if let Ok(table) = toml::from_str::<toml::Table>(text)
            && let Ok(value) = serde_json::to_value(table)
        {
            self.learn_json(&value);
            return;
        }
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let value = line.split_once('=').map_or(line, |(_, v)| v.trim());
            self.add(value.trim_matches(|c| c == '"' || c == '\''));
        }
    }
}

/// The forms a secret takes in output: raw, JSON string escaping, Rust/Rhai debug escaping,
/// shell single quoting (without the surrounding quotes, which are not part of the secret).
fn escaped_forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap_or_default();
    let debug = format!("{value:?}");
    let strip = |s: &str| s[1..s.len().saturating_sub(1).max(1)].to_string();
    vec![
        value.to_string(),
        strip(&json),
        strip(&debug),
        value.replace('\'', r"'\''"),
    ]
}

fn mask_json(value: Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) if s.is_empty() => Value::String(s),
        _ => Value::String(MASK.to_string()),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn lookup<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(value, |v, key| v.get(key))
}

/// Header names and map keys whose values are secrets wherever they appear: the credential
/// headers, and any key that says token, password or secret.
pub fn is_secret_key(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "token", "password", "passwd", "secret", "api-key", "api_key", "apikey",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Header names whose values are secrets wherever they appear.
pub fn is_secret_header(name: &str) -> bool {
    is_secret_key(name) || name.eq_ignore_ascii_case("x-auth-token")
}

/// In text, mask the value written after a secret-named key: `"token": "v"`, `token = "v"`,
/// `Authorization: Bearer v` (to the end of the line). Catches a map printed before any of its
/// values was known to be secret.
fn mask_after_secret_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(key_end) = next_secret_key(rest) {
        out.push_str(&rest[..key_end]);
        let after = &rest[key_end..];
        let header = is_credential_header(rest[..key_end].trim_end_matches('"'));
        let (kept, value_len) = value_after_key(after, header);
        out.push_str(&after[..kept]);
        if value_len > 0 {
            out.push_str(MASK);
        }
        rest = &after[kept + value_len..];
    }
    out.push_str(rest);
    out
}

/// The end of the next key that names a secret (after its closing quote, if quoted).
fn next_secret_key(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut i = 0;
    while i < bytes.len() {
        if !is_word(bytes[i]) || (i > 0 && is_word(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word(bytes[i]) {
            i += 1;
        }
        let word = &text[start..i];
        let end = if bytes.get(i) == Some(&b'"') {
            i + 1
        } else {
            i
        };
        let next = text[end..].trim_start_matches([' ', '\t']);
        if is_secret_key(word) && (next.starts_with(':') || next.starts_with('=')) {
            return Some(end);
        }
    }
    None
}

/// `Authorization: Bearer x` carries its value unquoted to the end of the line; other keys
/// (`token`, `password`) are masked in text only when their value is quoted, so prose such as
/// `-p new_token=<the new token>` stays readable.
fn is_credential_header(text: &str) -> bool {
    let word_start = text
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map_or(0, |i| i + 1);
    matches!(
        text[word_start..].to_ascii_lowercase().as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    )
}

/// After a key: how many bytes to keep (`: "`), and how long the value is (0: not masked).
fn value_after_key(after: &str, header: bool) -> (usize, usize) {
    let sep = after.len() - after.trim_start_matches([' ', '\t']).len();
    let after_sep = &after[sep + 1..];
    let gap = after_sep.len() - after_sep.trim_start_matches([' ', '\t']).len();
    let kept = sep + 1 + gap;
    let value = &after[kept..];
    if let Some(quoted) = value.strip_prefix('"') {
        // A quoted value ends at the first unescaped quote.
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return (kept + 1, i),
                _ => escaped = false,
            }
        }
        return (kept + 1, quoted.len());
    }
    if !header {
        return (kept, 0);
    }
    // Unquoted: to the end of the line, or a separator of a map or list.
    let len = value
        .find(['\n', '\r', ',', '}', ']'])
        .unwrap_or(value.len());
    (kept, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_forms_are_masked() {
        let s = Secrets::default();
        let secret = "p\"a\\s's\nwörd";
        s.add(secret);
        for shown in [
            secret.to_string(),
            serde_json::to_string(secret).unwrap(),
            format!("{secret:?}"),
            format!("'{}'", secret.replace('\'', r"'\''")),
        ] {
            let out = s.redact(&format!("x {shown} y"));
            assert!(!out.contains("wörd"), "{shown}: {out}");
        }
    }

    #[test]
    fn values_after_secret_keys_are_masked_and_learned_from_json() {
        let plain = Secrets::default();
        assert_eq!(
            plain.redact(r#"#{"authorization": "Bearer abc", "url": "x"}"#),
            r#"#{"authorization": "***", "url": "x"}"#
        );
        assert_eq!(plain.redact("Cookie: sid=42\nok"), "Cookie: ***\nok");
        assert_eq!(
            plain.redact(r#"{"api_token":"v\"1"}"#),
            r#"{"api_token":"***"}"#
        );
        assert_eq!(
            plain.redact("the token was rotated"),
            "the token was rotated"
        );
        let v =
            plain.redact_json(serde_json::json!({ "headers": { "Authorization": "Bearer zzz9" } }));
        assert_eq!(v["headers"]["Authorization"], "***");
        assert_eq!(plain.redact("sent Bearer zzz9"), "sent ***");
        let k = Secrets::default();
        k.add("hunter22");
        let v = k.redact_json(serde_json::json!({ "hunter22": 1 }));
        assert!(v.get("***").is_some(), "{v}");
    }
}
