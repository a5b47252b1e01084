//! The systemd backend: the `systemctl` and `journalctl` binaries, in the system or the user
//! scope, on this host or another (`systemctl -H`, `ssh HOST journalctl`).

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ripcord_runtime::time::human;
use ripcord_runtime::{Failure, Host};

use super::status::{Status, rfc3339};
use super::{POLL, Verb, Waits, pause, run};

/// How long a status query may take (`systemctl -H` goes over ssh).
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

/// Log lines shown under a failed start.
const TAIL_LINES: usize = 10;

const DEFAULT_LOG_LINES: usize = 200;

const PROPERTIES: &str = "Id,LoadState,LoadError,ActiveState,SubState,MainPID,NRestarts,Result,ExecMainCode,\
ExecMainStatus,Type,ActiveEnterTimestamp,ActiveExitTimestamp,InactiveEnterTimestamp,InactiveExitTimestamp";

#[derive(Debug, Clone)]
pub(crate) struct Systemd {
    /// `systemctl --user`.
    pub user: bool,
    /// `systemctl -H HOST`.
    pub host: Option<String>,
}

impl Systemd {
    fn scope_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.user {
            args.push("--user".to_string());
        }
        if let Some(host) = &self.host {
            args.push("-H".to_string());
            args.push(host.clone());
        }
        args
    }

    fn systemctl(&self) -> Command {
        let mut cmd = Command::new("systemctl");
        cmd.args(self.scope_args()).arg("--no-pager");
        cmd
    }

    /// The command line prefix as an operator would type it: `systemctl --user`.
    pub fn describe(&self) -> String {
        let mut words = vec!["systemctl".to_string()];
        words.extend(self.scope_args());
        words.join(" ")
    }

    pub fn scope_name(&self) -> String {
        let scope = if self.user { "user" } else { "system" };
        match &self.host {
            Some(host) => format!("{scope}@{host}"),
            None => scope.to_string(),
        }
    }

    fn journalctl_words(&self, unit: &str) -> String {
        let user = if self.user { " --user" } else { "" };
        let words = format!("journalctl{user} -u {unit} -n 50");
        match &self.host {
            Some(host) => format!("ssh {host} {words}"),
            None => words,
        }
    }

    /// The commands that show more than a failure message can.
    pub fn look_closer(&self, unit: &str) -> String {
        format!(
            "look at `{} status {unit}` and `{}`",
            self.describe(),
            self.journalctl_words(unit)
        )
    }

    /// `systemctl show` of the unit; an unknown unit is an error.
    pub fn known_status(&self, host: &Host, unit: &str) -> Result<Status, Failure> {
        let status = self.show(host, unit)?;
        if status.loaded == "not-found" && status.is_stopped() {
            let other = if self.user {
                "a system unit needs `user: false` (or [service] scope = \"system\")"
            } else {
                "a user unit needs `user: true` (or [service] scope = \"user\" in the config)"
            };
            return Err(Failure::new(format!(
                "unknown unit {unit}: {} has no such unit",
                self.describe()
            ))
            .hint(format!(
                "check the name with `{} list-unit-files '{unit}*'`; {other}",
                self.describe()
            )));
        }
        Ok(status)
    }

    fn show(&self, host: &Host, unit: &str) -> Result<Status, Failure> {
        let mut cmd = self.systemctl();
        cmd.args(["show", "--timestamp=unix", "-p", PROPERTIES, unit]);
        let out = run(host, cmd, QUERY_TIMEOUT, &format!("status of {unit}"))?;
        if out.code != Some(0) {
            return Err(self.unreachable(unit, out.stderr.trim()));
        }
        Ok(parse_show(unit, &out.stdout))
    }

    /// `systemctl` could not talk to the service manager.
    fn unreachable(&self, unit: &str, stderr: &str) -> Failure {
        let message = format!(
            "cannot read the status of {unit}: `{} show` failed: {stderr}",
            self.describe()
        );
        let hint = if stderr.contains("not been booted with systemd") {
            format!(
                "this host does not run systemd; configure the unit for the process backend: [service.units.\"{unit}\"] command = \"...\""
            )
        } else if self.host.is_some() {
            "check that `ssh` reaches the host without a password prompt and that it runs systemd"
                .to_string()
        } else if self.user {
            "the user's service manager is not reachable: run as that user with XDG_RUNTIME_DIR=/run/user/$(id -u) set \
             (`loginctl enable-linger USER` keeps it running), or use the system scope (`user: false`)"
                .to_string()
        } else {
            "is systemd running on this host? try `systemctl is-system-running`; a user unit needs `user: true`".to_string()
        };
        Failure::new(message).hint(hint)
    }

    pub fn act(
        &self,
        host: &Host,
        verb: Verb,
        unit: &str,
        before: &Status,
        waits: &Waits,
    ) -> Result<Status, Failure> {
        let started = Instant::now();
        let mut cmd = self.systemctl();
        cmd.args(["--no-ask-password", verb.as_str(), unit]);
        let what = format!("{unit} did not {}", verb.as_str());
        let out = match run(host, cmd, waits.timeout, &what) {
            Ok(out) => out,
            Err(failure) => {
                // The job is systemd's: it goes on after `systemctl` is given up on.
                let now = self
                    .show(host, unit)
                    .map(|s| format!("; it is {} (systemd goes on with the job)", s.describe()))
                    .unwrap_or_default();
                return Err(self.failed(host, unit, format!("{}{now}", failure.message)));
            }
        };
        if out.code != Some(0) {
            let now = self.show(host, unit)?;
            let reason = first_lines(out.stderr.trim(), 3);
            return Err(self.failed(
                host,
                unit,
                format!(
                    "{unit} did not {}: `{} {}` failed: {reason}; it is {}",
                    verb.as_str(),
                    self.describe(),
                    verb.as_str(),
                    now.describe()
                ),
            ));
        }
        match verb {
            Verb::Stop => self.await_stopped(host, unit, started, waits),
            Verb::Start | Verb::Restart | Verb::Reload => {
                // Starting an active unit changes nothing: no need to watch it settle.
                let settle = if verb == Verb::Start && before.is_active() {
                    Duration::ZERO
                } else {
                    waits.settle
                };
                self.await_active(host, verb, unit, started, waits.timeout, settle)
            }
        }
    }

    /// Poll until the unit has been active for `settle`, failing at once if it fails, stops, or
    /// restarts (systemd's restart counter grows, or it sits in `auto-restart`).
    fn await_active(
        &self,
        host: &Host,
        verb: Verb,
        unit: &str,
        started: Instant,
        timeout: Duration,
        settle: Duration,
    ) -> Result<Status, Failure> {
        let mut first_restarts = None;
        let mut active_since: Option<Instant> = None;
        loop {
            let status = self.show(host, unit)?;
            let baseline = *first_restarts.get_or_insert(status.n_restarts);
            match stopped_or_restarting(&status, baseline, verb, unit) {
                Some(Ok(())) => return Ok(status),
                Some(Err(message)) => return Err(self.failed(host, unit, message)),
                None => {}
            }
            if status.active_state == "active" {
                let since = *active_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= settle {
                    return Ok(status);
                }
            } else {
                active_since = None;
            }
            if started.elapsed() >= timeout {
                return Err(self.failed(
                    host,
                    unit,
                    format!(
                        "{unit} did not {} within {}: it is {}",
                        verb.as_str(),
                        human(timeout),
                        status.describe()
                    ),
                ));
            }
            pause(host, POLL, unit)?;
        }
    }

    fn await_stopped(
        &self,
        host: &Host,
        unit: &str,
        started: Instant,
        waits: &Waits,
    ) -> Result<Status, Failure> {
        loop {
            let status = self.show(host, unit)?;
            if status.is_stopped() {
                return Ok(status);
            }
            if started.elapsed() >= waits.timeout {
                return Err(self.failed(
                    host,
                    unit,
                    format!(
                        "{unit} did not stop within {}: it is {}",
                        human(waits.timeout),
                        status.describe()
                    ),
                ));
            }
            pause(host, POLL, unit)?;
        }
    }

    /// A failure with the unit's last log lines and the commands to look closer.
    fn failed(&self, host: &Host, unit: &str, message: String) -> Failure {
        let tail = match self.journal(host, unit, &["-n".to_string(), TAIL_LINES.to_string()]) {
            Ok(text) if text.trim().is_empty() => {
                "\nlast log lines: none in the journal".to_string()
            }
            Ok(text) => {
                let lines: Vec<String> = text.lines().map(|l| format!("  {l}")).collect();
                format!("\nlast log lines:\n{}", lines.join("\n"))
            }
            Err(JournalError::Missing) => {
                "\nlast log lines: none (this host has no systemd journal)".to_string()
            }
            Err(JournalError::Failed(e)) => format!("\nlast log lines: none ({e})"),
        };
        Failure::new(format!("{message}{tail}")).hint(self.look_closer(unit))
    }

    pub fn logs(
        &self,
        host: &Host,
        unit: &str,
        since: Option<&str>,
        lines: Option<usize>,
    ) -> Result<String, Failure> {
        let mut args = Vec::new();
        if let Some(since) = since {
            args.push(format!("--since={}", journal_since(since)));
        }
        if let Some(n) = lines.or(if since.is_none() {
            Some(DEFAULT_LOG_LINES)
        } else {
            None
        }) {
            args.push("-n".to_string());
            args.push(n.to_string());
        }
        self.journal(host, unit, &args).map_err(|e| match e {
            JournalError::Missing => Failure::new(format!(
                "no logs for {unit}: {} has no systemd journal (journalctl found no journal files), so the unit's output is not kept",
                self.host.as_deref().unwrap_or("this host")
            ))
            .hint(format!(
                "run systemd-journald, or have the unit write a file (StandardOutput=append:/var/log/{unit}.log) and read it with fs::read; `{} status {unit}` still shows its state",
                self.describe()
            )),
            JournalError::Failed(e) => Failure::new(format!("cannot read the logs of {unit}: {e}")).hint(self.look_closer(unit)),
        })
    }

    fn journal(&self, host: &Host, unit: &str, extra: &[String]) -> Result<String, JournalError> {
        let mut args = Vec::new();
        if self.user {
            args.push("--user".to_string());
        }
        args.extend([
            "-u".to_string(),
            unit.to_string(),
            "--no-pager".to_string(),
            "-o".to_string(),
            "short-iso".to_string(),
        ]);
        args.extend(extra.iter().cloned());
        let cmd = match &self.host {
            Some(remote) => {
                // ssh joins its arguments into one shell command line: quote each.
                let mut cmd = Command::new("ssh");
                cmd.args(["-o", "BatchMode=yes", remote.as_str(), "--", "journalctl"])
                    .args(args.iter().map(|a| crate::sh::quote(a)));
                cmd
            }
            None => {
                let mut cmd = Command::new("journalctl");
                cmd.args(&args);
                cmd
            }
        };
        let out = run(host, cmd, QUERY_TIMEOUT, &format!("logs of {unit}"))
            .map_err(|f| JournalError::Failed(f.message))?;
        if out.stderr.contains("No journal files were found") {
            return Err(JournalError::Missing);
        }
        if out.code != Some(0) {
            return Err(JournalError::Failed(format!(
                "journalctl failed: {}",
                first_lines(out.stderr.trim(), 3)
            )));
        }
        let text: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| *l != "-- No entries --")
            .collect();
        let mut text = text.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        Ok(text)
    }
}

/// While waiting for a unit to become active: `Some(Err(reason))` when it restarts (systemd's
/// counter grew past `baseline`, or it sits in `auto-restart`) or stopped, `Some(Ok(()))` for a
/// oneshot that finished, `None` to keep waiting.
fn stopped_or_restarting(
    status: &Status,
    baseline: i64,
    verb: Verb,
    unit: &str,
) -> Option<Result<(), String>> {
    if status.sub_state == "auto-restart" || status.n_restarts > baseline {
        return Some(Err(format!(
            "{unit} did not {}: it keeps restarting; it is {}",
            verb.as_str(),
            status.describe()
        )));
    }
    if !status.is_stopped() {
        return None;
    }
    if status.active_state == "inactive" && status.result == "success" && status.oneshot {
        // A oneshot unit without RemainAfterExit is done when it is inactive again.
        return Some(Ok(()));
    }
    Some(Err(format!(
        "{unit} did not {}: it is {}",
        verb.as_str(),
        status.describe()
    )))
}

enum JournalError {
    /// The host keeps no journal (no journald).
    Missing,
    Failed(String),
}

/// A duration ("10m") becomes a relative time journalctl understands; other text is passed on.
fn journal_since(since: &str) -> String {
    match ripcord_runtime::time::parse_duration(since) {
        Ok(d) => format!("-{}ms", d.as_millis()),
        Err(_) => since.to_string(),
    }
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect();
    if lines.is_empty() {
        "no message".to_string()
    } else {
        lines.join(" ")
    }
}

/// Parse `systemctl show` output (`Key=value` lines).
pub(crate) fn parse_show(unit: &str, text: &str) -> Status {
    let props: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| props.get(k).copied().unwrap_or("").trim();
    let int = |k: &str| get(k).parse::<i64>().unwrap_or(0);
    let active_state = get("ActiveState").to_string();
    let since_key = match active_state.as_str() {
        "active" | "reloading" => "ActiveEnterTimestamp",
        "activating" => "InactiveExitTimestamp",
        "deactivating" => "ActiveExitTimestamp",
        _ => "InactiveEnterTimestamp",
    };
    let since = get(since_key)
        .strip_prefix('@')
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s > 0)
        .and_then(rfc3339);
    let (exit_status, exit) = match int("ExecMainCode") {
        1 => (
            Some(int("ExecMainStatus")),
            Some(format!("exited with status {}", int("ExecMainStatus"))),
        ),
        2 => (
            None,
            Some(format!("was killed by signal {}", int("ExecMainStatus"))),
        ),
        3 => (
            None,
            Some(format!("dumped core (signal {})", int("ExecMainStatus"))),
        ),
        _ => (None, None),
    };
    let id = get("Id");
    Status {
        unit: if id.is_empty() {
            unit.to_string()
        } else {
            id.to_string()
        },
        backend: "systemd",
        loaded: get("LoadState").to_string(),
        active_state,
        sub_state: get("SubState").to_string(),
        main_pid: int("MainPID"),
        n_restarts: int("NRestarts"),
        since,
        result: get("Result").to_string(),
        exit_status,
        exit,
        oneshot: get("Type") == "oneshot",
    }
}
