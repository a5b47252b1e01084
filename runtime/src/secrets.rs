//! Secret values (`@param secret`, Authorization headers) never reach the journal, the
//! terminal, an error or a report: every text that leaves the run is passed through here.

use std::sync::{Arc, RwLock};

use serde_json::Value;

/// The secret values known to a run. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Arc<RwLock<Vec<String>>>,
}

pub const MASK: &str = "***";

impl Secrets {
    /// Add a value to hide (values shorter than 3 characters would mask ordinary text and are
    /// hidden only where they appear whole, e.g. as a param value).
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|p| p.into_inner());
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            // Longest first, so a secret that contains another is masked whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
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
        out
    }

    pub fn redact_json(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.redact_json(v)).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (k, self.redact_json(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// Header names whose values are secrets wherever they appear.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization"
            | "cookie"
            | "set-cookie"
            | "proxy-authorization"
            | "x-api-key"
            | "x-auth-token"
    )
}
