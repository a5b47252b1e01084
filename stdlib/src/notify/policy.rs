//! The options every notification takes: whether it is required, and how hard to try.

use std::collections::BTreeMap;
use std::time::Duration;

use ripcord_runtime::rhai::{Dynamic, Map};
use ripcord_runtime::time::parse_duration;
use ripcord_runtime::{Failure, NativeResult};
use serde::Deserialize;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The options map of one notification, as a script writes it.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    required: Option<bool>,
    timeout: Option<String>,
    retries: Option<i64>,
    backoff: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    method: Option<String>,
    url: Option<String>,
}

/// Parsed options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub policy: Policy,
    pub headers: Vec<(String, String)>,
    pub method: Option<String>,
    pub url: Option<String>,
}

/// Whether a failed notification fails the run, and how it is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub required: bool,
    /// Per attempt.
    pub timeout: Duration,
    pub retries: u32,
    /// Before the second attempt; doubled before each later one, up to 30 s.
    pub backoff: Duration,
}

impl Policy {
    pub fn attempts(&self) -> u32 {
        self.retries + 1
    }

    pub fn backoff_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(16);
        (self.backoff * 2u32.pow(doublings)).min(MAX_BACKOFF)
    }
}

impl Options {
    /// Parse `opts` for `function`, which accepts the option names in `known`.
    pub fn parse(function: &str, opts: &Map, known: &[&str]) -> NativeResult<Options> {
        for key in opts.keys() {
            if !known.contains(&key.as_str()) {
                return Err(Failure::new(format!("{function}: unknown option `{key}`"))
                    .hint(format!("known options: {}", known.join(", "))));
            }
        }
        let raw: Raw = ripcord_runtime::rhai::serde::from_dynamic(&Dynamic::from_map(opts.clone()))
            .map_err(|e| Failure::new(format!("{function}: {e}")))?;
        let duration = |key: &str, text: Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(t) => parse_duration(&t)
                .map_err(|e| Failure::new(format!("{function}: option `{key}`: {e}"))),
        };
        let retries = match raw.retries {
            None => DEFAULT_RETRIES,
            Some(n) => u32::try_from(n).ok().filter(|n| *n <= 20).ok_or_else(|| {
                Failure::new(format!("{function}: option `retries` is {n}"))
                    .hint("pass 0 to 20 retries")
            })?,
        };
        Ok(Options {
            policy: Policy {
                required: raw.required.unwrap_or(false),
                timeout: duration("timeout", raw.timeout, DEFAULT_TIMEOUT)?,
                retries,
                backoff: duration("backoff", raw.backoff, DEFAULT_BACKOFF)?,
            },
            headers: raw.headers.unwrap_or_default().into_iter().collect(),
            method: raw.method,
            url: raw.url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = Policy {
            required: false,
            timeout: DEFAULT_TIMEOUT,
            retries: 8,
            backoff: Duration::from_millis(500),
        };
        let waits: Vec<u64> = (2..=9)
            .map(|a| p.backoff_before(a).as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(p.attempts(), 9);
    }
}
