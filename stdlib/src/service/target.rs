//! What one call is about: its options, and the backend that the options and the config pick
//! for the unit.

use std::time::Duration;

use ripcord_runtime::rhai::{Dynamic, Map};
use ripcord_runtime::{Failure, Host};
use serde::Deserialize;
use serde_json::Value;

use super::process::ProcessUnit;
use super::status::Status;
use super::systemd::Systemd;
use super::{Verb, Waits};
use crate::options;

/// The options map of one call.
#[derive(Debug, Default, Clone)]
pub(crate) struct Options {
    pub user: Option<bool>,
    pub host: Option<String>,
    pub timeout: Option<Duration>,
    pub settle: Option<Duration>,
    pub backend: Option<String>,
    pub lines: Option<usize>,
    pub since: Option<String>,
}

/// The options map as given; a duration may be seconds or text like "30s".
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Given {
    user: Option<bool>,
    host: Option<String>,
    timeout: Option<Dynamic>,
    settle: Option<Dynamic>,
    backend: Option<String>,
    lines: Option<i64>,
    since: Option<String>,
}

impl Options {
    pub fn parse(function: &str, unit: &str, map: &Map) -> Result<Options, Failure> {
        check_unit(function, unit)?;
        let label = format!("{function}({unit})");
        let given: Given = options::read(&label, map)?;
        let duration = |key: &str, value: Option<Dynamic>| {
            value
                .map(|v| duration_value(function, unit, key, &v))
                .transpose()
        };
        Ok(Options {
            user: given.user,
            host: given.host.map(|h| checked_host(&label, h)).transpose()?,
            timeout: duration("timeout", given.timeout)?,
            settle: duration("settle", given.settle)?,
            backend: given
                .backend
                .map(|b| checked_backend(&label, b))
                .transpose()?,
            lines: given.lines.map(|n| checked_lines(&label, n)).transpose()?,
            since: given.since,
        })
    }
}

/// `host`: where `ssh` goes, so never something it would read as an option.
fn checked_host(label: &str, host: String) -> Result<String, Failure> {
    if host.is_empty() || host.starts_with('-') || host.chars().any(char::is_whitespace) {
        return Err(Failure::new(format!("{label}: `{host}` is not a host"))
            .hint("write it as \"host\" or \"user@host\", as for `ssh`"));
    }
    Ok(host)
}

fn checked_backend(label: &str, backend: String) -> Result<String, Failure> {
    if backend != "systemd" && backend != "process" {
        return Err(Failure::new(format!(
            "{label}: unknown backend `{backend}`; use \"systemd\" or \"process\""
        )));
    }
    Ok(backend)
}

fn checked_lines(label: &str, n: i64) -> Result<usize, Failure> {
    usize::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
        Failure::new(format!(
            "{label}: option `lines` must be a positive number of lines, not {n}"
        ))
    })
}

/// A unit name goes to `systemctl` as an argument: it must not read as an option or a path.
fn check_unit(function: &str, unit: &str) -> Result<(), Failure> {
    let problem = if unit.is_empty() {
        Some("the unit name is empty")
    } else if unit.starts_with('-') {
        Some("a unit name cannot start with `-`")
    } else if unit.contains('/') {
        Some("a unit name cannot contain `/`")
    } else if unit.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("a unit name cannot contain spaces or control characters")
    } else if unit.len() > 255 {
        Some("a unit name is at most 255 characters")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Failure::new(format!("{function}({unit:?}): {problem}"))
            .hint("name the unit as systemctl does, e.g. \"cortex.service\"")),
        None => Ok(()),
    }
}

fn duration_value(
    function: &str,
    unit: &str,
    key: &str,
    value: &Dynamic,
) -> Result<Duration, Failure> {
    if let Ok(secs) = value.as_int() {
        return u64::try_from(secs).map(Duration::from_secs).map_err(|_| {
            Failure::new(format!(
                "{function}({unit}): option `{key}` cannot be negative"
            ))
        });
    }
    match value.clone().into_string() {
        Ok(text) => duration(function, unit, key, &text),
        Err(_) => Err(Failure::new(format!(
            "{function}({unit}): option `{key}` must be a duration like \"30s\", not {}",
            value.type_name()
        ))),
    }
}

pub(crate) fn duration(
    function: &str,
    unit: &str,
    key: &str,
    text: &str,
) -> Result<Duration, Failure> {
    ripcord_runtime::time::parse_duration(text)
        .map_err(|e| Failure::new(format!("{function}({unit}): `{key}`: {e}")))
}

/// The backend that serves a unit in this call.
pub(crate) enum Target {
    Systemd(Systemd),
    Process(ProcessUnit),
}

/// `what.name` in the config, a string if there.
fn text(v: Option<&Value>, name: &str, what: &str) -> Result<Option<String>, Failure> {
    match v.and_then(|v| v.get(name)) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Failure::new(format!(
            "config: `{what}.{name}` must be a string, not `{other}`"
        ))),
    }
}

/// systemd's scope (user or system) and host: the options, else the unit's entry, else
/// `[service]`.
fn systemd_target(
    opts: &Options,
    service: Option<&Value>,
    entry: Option<&Value>,
    unit_table: &str,
) -> Result<Systemd, Failure> {
    let scope = match text(entry, "scope", unit_table)? {
        Some(s) => Some(s),
        None => text(service, "scope", "[service]")?,
    };
    let user = match (opts.user, scope.as_deref()) {
        (Some(user), _) => user,
        (None, None | Some("system")) => false,
        (None, Some("user")) => true,
        (None, Some(other)) => {
            return Err(Failure::new(format!(
                "config: service scope `{other}` is neither \"user\" nor \"system\""
            )));
        }
    };
    let host = match &opts.host {
        Some(h) => Some(h.clone()),
        None => match text(entry, "host", unit_table)? {
            Some(h) => Some(h),
            None => text(service, "host", "[service]")?,
        },
    };
    Ok(Systemd { user, host })
}

impl Target {
    /// `opts.backend`, else the unit's `[service.units."NAME"]` entry (process unless it says
    /// `backend = "systemd"`), else `[service] backend`, else systemd.
    pub fn resolve(host: &Host, unit: &str, opts: &Options) -> Result<Target, Failure> {
        let service = host.config.get("service");
        let (key, entry) = match unit_entry(service, unit) {
            Some((key, entry)) => (Some(key), Some(entry)),
            None => (None, None),
        };
        let unit_table = key
            .map(|k| format!("[service.units.\"{k}\"]"))
            .unwrap_or_default();
        let backend = match &opts.backend {
            Some(b) => b.clone(),
            None => match (entry, text(entry, "backend", &unit_table)?) {
                (_, Some(b)) => b,
                (Some(_), None) => "process".to_string(),
                (None, None) => {
                    text(service, "backend", "[service]")?.unwrap_or_else(|| "systemd".to_string())
                }
            },
        };
        match backend.as_str() {
            "process" => {
                let (Some(key), Some(entry)) = (key, entry) else {
                    return Err(Failure::new(format!(
                        "unknown unit {unit}: the process backend runs only units configured in [service.units]"
                    ))
                    .hint(format!("add [service.units.\"{unit}\"] with `command = \"...\"` to the config")));
                };
                Ok(Target::Process(ProcessUnit::from_config(key, entry)?))
            }
            "systemd" => systemd_target(opts, service, entry, &unit_table).map(Target::Systemd),
            other => Err(Failure::new(format!(
                "config: unknown service backend `{other}`; use \"systemd\" or \"process\""
            ))),
        }
    }

    /// How the unit is reached, for the change's summary.
    pub fn describe(&self) -> String {
        match self {
            Target::Systemd(s) => s.describe(),
            Target::Process(_) => "process backend".to_string(),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Target::Systemd(_) => "systemd",
            Target::Process(_) => "process",
        }
    }

    pub fn scope_name(&self) -> String {
        match self {
            Target::Systemd(s) => s.scope_name(),
            Target::Process(_) => "process".to_string(),
        }
    }

    /// The unit's status; an unknown unit is an error.
    pub fn known_status(&self, host: &Host, unit: &str) -> Result<Status, Failure> {
        match self {
            Target::Systemd(s) => s.known_status(host, unit),
            Target::Process(p) => p.status(),
        }
    }

    pub fn act(
        &self,
        host: &Host,
        verb: Verb,
        unit: &str,
        before: &Status,
        waits: &Waits,
    ) -> Result<Status, Failure> {
        match self {
            Target::Systemd(s) => s.act(host, verb, unit, before, waits),
            Target::Process(p) => p.act(host, verb, waits),
        }
    }

    pub fn logs(
        &self,
        host: &Host,
        unit: &str,
        since: Option<&str>,
        lines: Option<usize>,
    ) -> Result<String, Failure> {
        match self {
            Target::Systemd(s) => s.logs(host, unit, since, lines),
            Target::Process(p) => p.logs(lines),
        }
    }

    /// A failure about the unit, with the commands to look closer.
    pub fn failure(&self, message: &str, unit: &str) -> Failure {
        match self {
            Target::Systemd(s) => Failure::new(message).hint(s.look_closer(unit)),
            Target::Process(p) => Failure::new(message).hint(p.look_closer()),
        }
    }
}

/// The `[service.units."NAME"]` entry for a unit; "cortex" and "cortex.service" name the same.
fn unit_entry<'a>(service: Option<&'a Value>, unit: &str) -> Option<(&'a str, &'a Value)> {
    let units = service?.get("units")?.as_object()?;
    let bare = unit.strip_suffix(".service").unwrap_or(unit);
    let full = format!("{bare}.service");
    [unit, bare, full.as_str()]
        .into_iter()
        .find_map(|name| units.get_key_value(name))
        .map(|(k, v)| (k.as_str(), v))
}
