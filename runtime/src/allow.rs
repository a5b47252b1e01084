//! `@allow`: what values a param accepts, declared in the header and checked before anything
//! runs (a value outside it is a usage error, exit 2).
//!
//! ```text
//! //! @param option = "git": git, binary or full
//! //! @allow option in git | binary | full
//! //! @param keep = 10: how many stored releases to keep
//! //! @allow keep in 1..1000
//! //! @param release: the release folder's name
//! //! @allow release is name
//! ```
//!
//! `in a | b | c` lists the allowed values; `in LOW..HIGH` (either end may be left out) is an
//! inclusive integer range; `is name` is one path component: not empty, not `.` or `..`, no `/`,
//! no control characters, not starting with `-`.

use std::fmt;

use rhai::Dynamic;

/// What a param accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// One of these values, compared as text.
    Values(Vec<String>),
    /// An integer in `low..=high`.
    Range { low: Option<i64>, high: Option<i64> },
    /// One file or folder name, safe to join under a folder.
    Name,
}

impl Allow {
    /// Parse what follows `@allow NAME`: `in a | b`, `in 1..10`, `is name`.
    pub fn parse(text: &str) -> Result<Allow, String> {
        let text = text.trim();
        if let Some(kind) = text.strip_prefix("is ") {
            return match kind.trim() {
                "name" => Ok(Allow::Name),
                other => Err(format!("unknown kind `{other}`; the kind is `name`")),
            };
        }
        let Some(list) = text.strip_prefix("in ") else {
            return Err(format!(
                "expected `in a | b`, `in 1..10` or `is name`, got `{text}`"
            ));
        };
        let list = list.trim();
        if let Some((low, high)) = list.split_once("..") {
            return parse_range(low, high);
        }
        let values: Vec<String> = list.split('|').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(format!(
                "an empty value in `{list}`; separate values with `|`"
            ));
        }
        Ok(Allow::Values(values))
    }

    /// Why `value` is not allowed, or `None` when it is.
    pub fn refuse(&self, value: &Dynamic) -> Option<String> {
        match self {
            Allow::Values(values) => {
                let text = value.to_string();
                (!values.contains(&text)).then(|| format!("must be one of {}", values.join(", ")))
            }
            Allow::Range { .. } => match value.as_int() {
                Ok(n) if self.contains(n) => None,
                _ => Some(format!("must be an integer {self}")),
            },
            Allow::Name => refuse_name(&value.to_string()),
        }
    }

    fn contains(&self, n: i64) -> bool {
        match self {
            Allow::Range { low, high } => low.is_none_or(|l| n >= l) && high.is_none_or(|h| n <= h),
            _ => false,
        }
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allow::Values(v) => write!(f, "one of {}", v.join(" | ")),
            Allow::Range {
                low: Some(l),
                high: Some(h),
            } => write!(f, "from {l} to {h}"),
            Allow::Range {
                low: Some(l),
                high: None,
            } => write!(f, "of at least {l}"),
            Allow::Range {
                low: None,
                high: Some(h),
            } => write!(f, "of at most {h}"),
            Allow::Range {
                low: None,
                high: None,
            } => write!(f, "(any)"),
            Allow::Name => write!(f, "a name (no `/`, not `.` or `..`)"),
        }
    }
}

fn parse_range(low: &str, high: &str) -> Result<Allow, String> {
    let bound = |s: &str| -> Result<Option<i64>, String> {
        let s = s.trim().trim_start_matches('=');
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<i64>()
            .map(Some)
            .map_err(|_| format!("`{s}` is not an integer bound"))
    };
    let (low, high) = (bound(low)?, bound(high)?);
    if let (Some(l), Some(h)) = (low, high)
        && l > h
    {
        return Err(format!("the range {l}..{h} is empty"));
    }
    Ok(Allow::Range { low, high })
}

/// A value used as one path component must not climb out of its folder, name the folder itself,
/// forge lines or look like an option to a command.
fn refuse_name(text: &str) -> Option<String> {
    let why = if text.is_empty() {
        "must not be empty"
    } else if text == "." || text == ".." {
        "must not be `.` or `..`"
    } else if text.contains('/') {
        "must be a name, not a path (no `/`)"
    } else if text.chars().any(char::is_control) {
        "must not contain control characters (newlines, tabs)"
    } else if text.starts_with('-') {
        "must not start with `-`"
    } else {
        return None;
    };
    Some(why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_parse() {
        assert_eq!(
            Allow::parse("in git | binary|full").unwrap(),
            Allow::Values(vec!["git".into(), "binary".into(), "full".into()])
        );
        assert_eq!(
            Allow::parse("in 1..").unwrap(),
            Allow::Range {
                low: Some(1),
                high: None
            }
        );
        assert_eq!(
            Allow::parse("in -5..=10").unwrap(),
            Allow::Range {
                low: Some(-5),
                high: Some(10)
            }
        );
        assert_eq!(Allow::parse("is name").unwrap(), Allow::Name);
        assert!(Allow::parse("in 10..1").unwrap_err().contains("empty"));
        assert!(
            Allow::parse("is path")
                .unwrap_err()
                .contains("unknown kind")
        );
        assert!(Allow::parse("git|binary").unwrap_err().contains("expected"));
        assert!(Allow::parse("in a||b").unwrap_err().contains("empty value"));
    }

    #[test]
    fn values_outside_are_refused_with_the_reason() {
        let keep = Allow::parse("in 1..").unwrap();
        assert_eq!(
            keep.refuse(&Dynamic::from(-1_i64)).as_deref(),
            Some("must be an integer of at least 1")
        );
        assert!(keep.refuse(&Dynamic::from(0_i64)).is_some());
        assert_eq!(keep.refuse(&Dynamic::from(1_i64)), None);
        let name = Allow::Name;
        for bad in ["", ".", "..", "../../evil", "/etc", "a\nb", "-rf"] {
            assert!(
                name.refuse(&Dynamic::from(bad.to_string())).is_some(),
                "{bad:?}"
            );
        }
        assert_eq!(name.refuse(&Dynamic::from("v1.4.2".to_string())), None);
        let option = Allow::parse("in git | binary").unwrap();
        assert_eq!(
            option
                .refuse(&Dynamic::from("git;rm".to_string()))
                .as_deref(),
            Some("must be one of git, binary")
        );
    }

    #[test]
    fn the_header_attaches_it_and_binding_checks_it_before_anything_runs() {
        let text = "//! s\n//! @param keep = 10: k\n//! @allow keep in 1..\n//! @param secret pin = 0: p\n//! @allow pin in 1000..9999\n";
        let err = crate::header::parse("//! s\n//! @param keep = 0: k\n//! @allow keep in 1..\n")
            .unwrap_err();
        assert_eq!(
            err.message,
            "`@allow keep`: the default of `keep` must be an integer of at least 1"
        );
        let err = crate::header::parse("//! s\n//! @allow keep in 1..\n").unwrap_err();
        assert!(
            err.message.contains("no param `keep` is declared above it"),
            "{}",
            err.message
        );
        let header = crate::header::parse(&text.replace("pin = 0", "pin = 1234")).unwrap();
        let bind = |k: &str, v: &str| {
            crate::params::bind(&header.params, &[(k.to_string(), v.to_string())], "s")
        };
        assert!(
            bind("keep", "-1")
                .unwrap_err()
                .starts_with("`keep`: must be an integer of at least 1, got \"-1\"")
        );
        assert!(bind("keep", "3").is_ok());
        let secret = bind("pin", "12x45").unwrap_err();
        assert!(
            secret.starts_with("`pin`: expected an integer (the secret value is not shown)"),
            "{secret}"
        );
        assert!(!secret.contains("12x45"));
        let secret = bind("pin", "99999").unwrap_err();
        assert!(!secret.contains("99999"), "{secret}");
    }
}
