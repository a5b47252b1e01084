//! Faults a drill injects (`--inject module::fn=fail@N`).

use super::Host;
use crate::failure::Failure;

/// A fault a drill injects: `module::fn=fail`, or `=fail@N` for the Nth call only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub function: String,
    pub nth: Option<u32>,
}

impl Injection {
    pub fn parse(text: &str) -> Result<Injection, String> {
        let (function, what) = text.split_once('=').ok_or_else(|| {
            format!("--inject `{text}`: expected `module::fn=fail` or `module::fn=fail@N`")
        })?;
        let nth = match what.trim() {
            "fail" => None,
            other => match other.strip_prefix("fail@").map(str::parse::<u32>) {
                Some(Ok(n)) if n > 0 => Some(n),
                _ => {
                    return Err(format!(
                        "--inject `{text}`: expected `fail` or `fail@N` (N >= 1) after `=`"
                    ));
                }
            },
        };
        Ok(Injection {
            function: function.trim().to_string(),
            nth,
        })
    }
}

impl Host {
    /// The injection that applies to this call of `function`, if any (counting every call).
    pub(super) fn injected(&self, function: &str) -> Option<Failure> {
        let mut state = self.state();
        let n = match state.calls.iter_mut().find(|(f, _)| f == function) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                state.calls.push((function.to_string(), 1));
                1
            }
        };
        let hit = self
            .injections
            .iter()
            .find(|i| i.function == function && i.nth.is_none_or(|k| k == n))?;
        let spec = match hit.nth {
            Some(k) => format!("{function}=fail@{k}"),
            None => format!("{function}=fail"),
        };
        Some(Failure::new(format!(
            "{function} failed: fault injected by the drill (--inject {spec})"
        )))
    }
}
