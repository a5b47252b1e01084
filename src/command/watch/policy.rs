//! What the watch does with a decision: from the config's `[watch]` table, overridden by flags.

use std::time::Duration;

use clap::Args;
use ripcord_runtime::time::parse_duration;
use serde::Deserialize;

/// `ripcord watch TRIGGERS` flags. Each overrides the same key of `[watch]` in the config.
#[derive(Debug, Args, Default)]
pub struct PolicyArgs {
    /// How often to evaluate the trigger runbook (default 30s)
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// Decide and journal, never act
    #[arg(long)]
    pub shadow: bool,
    /// Consecutive evaluations with an auto-execute priority before acting (default 3)
    #[arg(long, value_name = "N")]
    pub sustain: Option<u32>,
    /// Priorities that act automatically, comma-separated (default P0)
    #[arg(long, value_name = "P0,P1")]
    pub auto: Option<String>,
    /// The runbook to run when acting (e.g. rollback)
    #[arg(long, value_name = "RUNBOOK")]
    pub then: Option<String>,
    /// A param of the --then runbook: -P name=value (repeatable)
    #[arg(short = 'P', long = "then-param", value_name = "NAME=VALUE")]
    pub then_params: Vec<String>,
    /// Automatic actions before the watch only observes until `ripcord watch rearm` (default 1)
    #[arg(long, value_name = "N")]
    pub max_actions: Option<u32>,
    /// Quiet time after an action before another may start (default 10m)
    #[arg(long, value_name = "DURATION")]
    pub cooldown: Option<String>,
    /// How the action answers confirm(): `yes` answers yes; `no` (default) makes it stop
    #[arg(long, value_name = "yes|no")]
    pub confirm: Option<String>,
    /// How often to journal a heartbeat while nothing changes (default 10m)
    #[arg(long, value_name = "DURATION")]
    pub heartbeat: Option<String>,
}

/// `[watch]` in the config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    every: Option<String>,
    sustain: Option<u32>,
    auto: Option<Vec<String>>,
    then: Option<String>,
    /// String values only: params arrive as strings on the command line too.
    #[serde(default)]
    then_params: std::collections::BTreeMap<String, String>,
    /// Params of the trigger runbook (a unit's watch has no -p flags).
    #[serde(default)]
    params: std::collections::BTreeMap<String, String>,
    max_actions: Option<u32>,
    cooldown: Option<String>,
    confirm: Option<String>,
    heartbeat: Option<String>,
    shadow: Option<bool>,
    /// Tell `[notify]`'s channels (default true when `[notify]` has any).
    notify: Option<bool>,
    notify_timeout: Option<String>,
    notify_retries: Option<u32>,
}

/// The policy a watch runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub every: Duration,
    pub shadow: bool,
    pub sustain: u32,
    pub auto: Vec<String>,
    pub then: Option<String>,
    pub then_params: Vec<(String, String)>,
    /// The trigger runbook's params from `[watch.params]`; -p flags override them.
    pub params: Vec<(String, String)>,
    pub max_actions: u32,
    pub cooldown: Duration,
    pub confirm_yes: bool,
    pub heartbeat: Duration,
    pub notify: bool,
    /// Per attempt of one notice to one channel.
    pub notify_timeout: Duration,
    /// Attempts after the first, 1 s apart, doubling.
    pub notify_retries: u32,
}

impl Policy {
    /// Flags over `[watch]` over defaults; any bad value is a usage error naming its source.
    pub fn resolve(args: &PolicyArgs, config: &serde_json::Value) -> Result<Policy, String> {
        let table: Table = match config.get("watch") {
            None => Table::default(),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| format!("config: [watch]: {e}"))?
            }
        };
        let duration = |flag: &Option<String>, key: &Option<String>, name: &str, default: &str| {
            let text = flag
                .clone()
                .or_else(|| key.clone())
                .unwrap_or_else(|| default.to_string());
            parse_duration(&text).map_err(|e| format!("watch {name}: {e}"))
        };
        let auto = auto_priorities(args.auto.as_deref(), table.auto)?;
        let confirm_yes = confirm_answer(args.confirm.clone().or(table.confirm))?;
        let table_then: Vec<_> = table.then_params.into_iter().collect();
        let then_params = merge_params(&table_then, &args.then_params)?;
        let every = duration(&args.every, &table.every, "every", "30s")?;
        if every < Duration::from_secs(1) {
            return Err("watch every: evaluate at most once a second".into());
        }
        Ok(Policy {
            every,
            shadow: args.shadow || table.shadow.unwrap_or(false),
            sustain: args.sustain.or(table.sustain).unwrap_or(3).max(1),
            auto,
            then: args.then.clone().or(table.then),
            then_params,
            params: table.params.into_iter().collect(),
            max_actions: args.max_actions.or(table.max_actions).unwrap_or(1),
            cooldown: duration(&args.cooldown, &table.cooldown, "cooldown", "10m")?,
            confirm_yes,
            heartbeat: duration(&args.heartbeat, &table.heartbeat, "heartbeat", "10m")?,
            notify: table.notify.unwrap_or(true),
            notify_timeout: duration(&None, &table.notify_timeout, "notify_timeout", "5s")?,
            notify_retries: match table.notify_retries.unwrap_or(2) {
                n @ 0..=10 => n,
                n => {
                    return Err(format!(
                        "watch notify_retries: {n} is too many\nhelp: 0 to 10; each retry waits longer (1 s, doubling)"
                    ));
                }
            },
        })
    }

    pub fn auto_executes(&self, priority: &str) -> bool {
        self.auto.iter().any(|p| p == priority)
    }
}

/// `--auto P0,P1` over `[watch] auto` over P0 (seed 003: critical auto-executes).
fn auto_priorities(flag: Option<&str>, table: Option<Vec<String>>) -> Result<Vec<String>, String> {
    let auto = match (flag, table) {
        (Some(list), _) => list.split(',').map(|p| p.trim().to_string()).collect(),
        (None, Some(list)) => list,
        (None, None) => vec!["P0".to_string()],
    };
    match auto
        .iter()
        .find(|p| !matches!(p.as_str(), "P0" | "P1" | "P2"))
    {
        Some(bad) => Err(format!(
            "watch auto: `{bad}` is not a priority\nhelp: use P0, P1 or P2 (seed 003: P0 auto-executes)"
        )),
        None => Ok(auto),
    }
}

/// Whether the action's confirm() is answered yes: only when told so.
fn confirm_answer(text: Option<String>) -> Result<bool, String> {
    match text.as_deref().unwrap_or("no") {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(format!(
            "watch confirm: `{other}` is neither yes nor no\nhelp: the automatic action answers confirm() only as told; the default is no"
        )),
    }
}

/// Params from a config table, then each `name=value` flag over them.
pub fn merge_params(
    table: &[(String, String)],
    flags: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut params = table.to_vec();
    for p in flags {
        let (k, v) = ripcord_runtime::params::split_assignment(p)?;
        params.retain(|(name, _)| *name != k);
        params.push((k, v));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_override_the_config_and_defaults_are_careful() {
        let config = json!({ "watch": { "sustain": 5, "then": "rollback", "then_params": { "option": "git" } } });
        let p = Policy::resolve(&PolicyArgs::default(), &config).unwrap();
        assert_eq!(p.sustain, 5);
        assert_eq!(p.auto, ["P0"]);
        assert_eq!(p.max_actions, 1);
        assert!(!p.confirm_yes, "never yes by default");
        assert_eq!(p.then_params, [("option".to_string(), "git".to_string())]);
        let args = PolicyArgs {
            sustain: Some(2),
            then_params: vec!["option=full".into()],
            confirm: Some("yes".into()),
            ..PolicyArgs::default()
        };
        let p = Policy::resolve(&args, &config).unwrap();
        assert_eq!(p.sustain, 2);
        assert_eq!(p.then_params, [("option".to_string(), "full".to_string())]);
        assert!(p.confirm_yes);
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |config: serde_json::Value, args: PolicyArgs| {
            Policy::resolve(&args, &config).unwrap_err()
        };
        assert!(
            bad(json!({ "watch": { "sustian": 2 } }), PolicyArgs::default())
                .starts_with("config: [watch]: unknown field `sustian`")
        );
        let args = PolicyArgs {
            auto: Some("P0,critical".into()),
            ..PolicyArgs::default()
        };
        assert!(bad(json!({}), args).starts_with("watch auto: `critical` is not a priority"));
        let args = PolicyArgs {
            confirm: Some("always".into()),
            ..PolicyArgs::default()
        };
        assert!(bad(json!({}), args).starts_with("watch confirm: `always` is neither yes nor no"));
        let args = PolicyArgs {
            every: Some("100ms".into()),
            ..PolicyArgs::default()
        };
        assert_eq!(
            bad(json!({}), args),
            "watch every: evaluate at most once a second"
        );
    }
}
