//! A unit's status as both backends report it, and the map scripts receive.

use ripcord_runtime::rhai::{Dynamic, Map};

use super::Verb;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub unit: String,
    pub backend: &'static str,
    /// systemd's load state: `loaded`, `not-found`, `masked`, `bad-setting`, `error`.
    pub loaded: String,
    pub active_state: String,
    pub sub_state: String,
    pub main_pid: i64,
    pub n_restarts: i64,
    /// When the unit entered its active state, RFC 3339.
    pub since: Option<String>,
    /// systemd's `Result`: `success`, `exit-code`, `signal`, `timeout`, ...
    pub result: String,
    pub exit_status: Option<i64>,
    /// How the main process last ended, in words ("exited with status 3"), if known.
    pub exit: Option<String>,
    /// A systemd `Type=oneshot` unit: done (not failed) when it is inactive again.
    pub oneshot: bool,
}

impl Status {
    pub fn is_active(&self) -> bool {
        matches!(self.active_state.as_str(), "active" | "reloading")
    }

    pub fn is_stopped(&self) -> bool {
        matches!(self.active_state.as_str(), "inactive" | "failed")
    }

    /// "failed (exit-code: main process exited with status 3)", "active (running) since ...".
    pub fn describe(&self) -> String {
        let mut text = format!("{} ({})", self.active_state, self.sub_state);
        if self.active_state == "failed"
            || (self.is_stopped() && self.result != "success" && !self.result.is_empty())
        {
            text = format!("{} (result: {}", self.active_state, self.result);
            if let Some(exit) = &self.exit {
                text.push_str(&format!("; main process {exit}"));
            }
            text.push(')');
        }
        if self.n_restarts > 0 {
            text.push_str(&format!(", restarted {} times", self.n_restarts));
        }
        text
    }

    /// What a dry run reports after the verb.
    pub fn simulate(&mut self, verb: Verb) {
        let (active, sub) = match verb {
            Verb::Stop => ("inactive", "dead"),
            Verb::Start | Verb::Restart | Verb::Reload => ("active", "running"),
        };
        self.active_state = active.to_string();
        self.sub_state = sub.to_string();
        if verb == Verb::Stop {
            self.main_pid = 0;
        }
        self.result = "success".to_string();
    }

    pub fn to_map(&self) -> Map {
        let mut map = Map::new();
        let text = |s: &str| Dynamic::from(s.to_string());
        map.insert("unit".into(), text(&self.unit));
        map.insert("backend".into(), text(self.backend));
        map.insert("loaded".into(), text(&self.loaded));
        map.insert("active_state".into(), text(&self.active_state));
        map.insert("sub_state".into(), text(&self.sub_state));
        map.insert("main_pid".into(), Dynamic::from_int(self.main_pid));
        map.insert("n_restarts".into(), Dynamic::from_int(self.n_restarts));
        map.insert(
            "since".into(),
            self.since.as_deref().map(text).unwrap_or(Dynamic::UNIT),
        );
        map.insert("result".into(), text(&self.result));
        map.insert(
            "exit_status".into(),
            self.exit_status
                .map(Dynamic::from_int)
                .unwrap_or(Dynamic::UNIT),
        );
        map
    }
}

/// A Unix time in seconds as local RFC 3339.
pub(crate) fn rfc3339(secs: i64) -> Option<String> {
    let ts = jiff::Timestamp::from_second(secs).ok()?;
    Some(
        ts.to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
    )
}
