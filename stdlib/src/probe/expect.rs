//! What `probe::wait` waits for: a status, JSON field values, a latency bound, and how many of
//! the last attempts must pass (N of M), with the overall timeout and the retry interval.

use std::collections::VecDeque;
use std::time::Duration;

use ripcord_runtime::rhai::{Dynamic, Map};
use ripcord_runtime::{Failure, NativeResult};
use serde_json::Value;

use super::observation::Observation;
use super::request::{REQUEST_OPTIONS, duration_option};
use crate::options::check_known;

const F: &str = "probe::wait";

pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

const OPTIONS: &[&str] = &[
    "status",
    "json",
    "max_ms",
    "successes",
    "timeout",
    "interval",
    "request_timeout",
    "method",
    "headers",
    "body",
];

#[derive(Debug, Clone)]
pub struct Expect {
    /// Accepted statuses; empty means any 2xx.
    pub status: Vec<u16>,
    /// Field values the JSON body must have (a nested map matches a nested object).
    pub json: Option<Value>,
    pub max_ms: Option<u64>,
    /// Pass when `need` of the last `of` attempts passed.
    pub need: usize,
    pub of: usize,
    pub timeout: Duration,
    pub interval: Duration,
}

impl Expect {
    /// The expectation, and the options for each request (`timeout` there is
    /// `request_timeout` here).
    pub fn parse(expect: &Map) -> NativeResult<(Expect, Map)> {
        check_known(F, expect, OPTIONS)?;
        let get = |key: &str| expect.get(key).filter(|v| !v.is_unit());
        let status = get("status").map(statuses).transpose()?;
        let json = get("json").map(json_fields).transpose()?;
        let max_ms = get("max_ms").map(max_ms).transpose()?;
        let (need, of) = match get("successes") {
            None => (1, 1),
            Some(v) => successes(v)?,
        };
        let duration = |key: &str, default: Duration| {
            get(key)
                .map(|v| duration_option(F, key, v))
                .transpose()
                .map(|d| d.unwrap_or(default))
        };
        let parsed = Expect {
            status: status.unwrap_or_default(),
            json,
            max_ms,
            need,
            of,
            timeout: duration("timeout", DEFAULT_WAIT)?,
            interval: duration("interval", DEFAULT_INTERVAL)?,
        };
        Ok((parsed, request_options(expect)))
    }

    /// Why `obs` does not meet the expectation; empty when it does.
    pub fn misses(&self, obs: &Observation) -> Vec<String> {
        if let Some((_, message)) = &obs.failure {
            return vec![message.clone()];
        }
        let mut misses = Vec::new();
        let status_ok = if self.status.is_empty() {
            (200..300).contains(&obs.status)
        } else {
            self.status.contains(&obs.status)
        };
        if !status_ok {
            let wanted = match self.status.as_slice() {
                [] => "2xx".to_string(),
                [one] => one.to_string(),
                many => many
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            misses.push(format!("status {} (expected {wanted})", obs.status));
        }
        if let Some(expected) = &self.json {
            match (&obs.json, &obs.json_error) {
                (Some(actual), _) => compare("json", expected, actual, &mut misses),
                (None, Some(why)) => misses.push(why.clone()),
                (None, None) => misses.push("body is not JSON".to_string()),
            }
        }
        if let Some(max) = self.max_ms.filter(|max| obs.ms > *max) {
            misses.push(format!("took {}ms (max_ms {max})", obs.ms));
        }
        misses
    }

    /// `need` of the last `of` attempts passed.
    pub fn satisfied(&self, window: &VecDeque<bool>) -> bool {
        window.iter().filter(|p| **p).count() >= self.need
    }
}

/// `status`: one code or a list of them.
fn statuses(v: &Dynamic) -> NativeResult<Vec<u16>> {
    if v.is_array() {
        v.clone()
            .into_array()
            .unwrap_or_default()
            .iter()
            .map(status_code)
            .collect()
    } else {
        Ok(vec![status_code(v)?])
    }
}

/// `json`: a map of the fields the body must hold.
fn json_fields(v: &Dynamic) -> NativeResult<Value> {
    if v.is_map() {
        return Ok(ripcord_runtime::host::dynamic_to_json(v));
    }
    Err(Failure::new(format!(
        "{F}: `json` must be a map of expected fields, not {}",
        v.type_name()
    ))
    .hint("e.g. json: #{ status: \"healthy\" }"))
}

fn max_ms(v: &Dynamic) -> NativeResult<u64> {
    v.as_int()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            Failure::new(format!(
                "{F}: `max_ms` must be a number of milliseconds, not {v}"
            ))
        })
}

/// The options passed on to each request, `request_timeout` as `timeout`.
fn request_options(expect: &Map) -> Map {
    let mut request = Map::new();
    for key in REQUEST_OPTIONS {
        let from = if *key == "timeout" {
            "request_timeout"
        } else {
            key
        };
        if let Some(v) = expect.get(from) {
            request.insert((*key).into(), v.clone());
        }
    }
    request
}

fn status_code(v: &Dynamic) -> NativeResult<u16> {
    v.as_int()
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| (100..600).contains(n))
        .ok_or_else(|| {
            Failure::new(format!(
                "probe::wait: `status` must be an HTTP status like 200, not {v}"
            ))
        })
}

/// `3` (3 in a row), `"3/5"` or `"3 of 5"` (3 of the last 5 attempts).
fn successes(v: &Dynamic) -> NativeResult<(usize, usize)> {
    let bad = || {
        Failure::new(format!(
            "probe::wait: `successes` must be N or \"N/M\" (N of the last M attempts), not {v}"
        ))
        .hint("e.g. successes: 3 (three in a row) or successes: \"3/5\"")
    };
    let (need, of) = if let Ok(n) = v.as_int() {
        (n, n)
    } else if v.is_string() {
        let text = v.to_string();
        let (a, b) = text
            .split_once('/')
            .or_else(|| text.split_once(" of "))
            .ok_or_else(bad)?;
        (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        )
    } else {
        return Err(bad());
    };
    match (usize::try_from(need), usize::try_from(of)) {
        (Ok(need), Ok(of)) if need >= 1 && need <= of => Ok((need, of)),
        _ => Err(bad()),
    }
}

/// Compare an expected JSON value with the actual one: objects match as subsets, numbers by
/// value (1 equals 1.0), everything else exactly.
fn compare(path: &str, expected: &Value, actual: &Value, misses: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, want) in want {
                let path = format!("{path}.{key}");
                match have.get(key) {
                    Some(have) => compare(&path, want, have, misses),
                    None => misses.push(format!("{path} is missing (expected {want})")),
                }
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (want, have) if want == have => {}
        (want, have) => misses.push(format!("{path} = {have} (expected {want})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn successes_read_n_of_m() {
        assert_eq!(successes(&Dynamic::from_int(3)).unwrap(), (3, 3));
        assert_eq!(successes(&Dynamic::from("2/5")).unwrap(), (2, 5));
        assert_eq!(successes(&Dynamic::from("2 of 5")).unwrap(), (2, 5));
        assert!(successes(&Dynamic::from("6/5")).is_err());
        assert!(successes(&Dynamic::from_int(0)).is_err());
    }

    #[test]
    fn json_matches_as_a_subset() {
        let mut misses = Vec::new();
        let have = json!({ "status": "healthy", "db": { "ok": true, "ms": 3 }, "n": 1.0 });
        compare(
            "json",
            &json!({ "status": "healthy", "db": { "ok": true }, "n": 1 }),
            &have,
            &mut misses,
        );
        assert!(misses.is_empty(), "{misses:?}");
        compare(
            "json",
            &json!({ "status": "ok", "db": { "up": true } }),
            &have,
            &mut misses,
        );
        // Key order depends on serde_json's `preserve_order` feature: compare as a set.
        misses.sort();
        assert_eq!(
            misses,
            vec![
                "json.db.up is missing (expected true)".to_string(),
                "json.status = \"healthy\" (expected \"ok\")".to_string(),
            ]
        );
    }
}
