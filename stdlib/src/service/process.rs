//! The process backend, for hosts without systemd: a configured command started detached in
//! its own session, with a pidfile and a log file; stopped with SIGTERM to its process group,
//! then SIGKILL after a timeout. Its status comes from the pidfile and /proc.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ripcord_runtime::dirs::{expand_tilde, state_dir};
use ripcord_runtime::time::human;
use ripcord_runtime::{Failure, Host};
use serde_json::Value;

use super::status::{Status, rfc3339};
use super::{Verb, Waits, pause};

const KNOWN_KEYS: &str = "backend, command, cwd, pidfile, log, env, stop_timeout, reload_signal";
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_LOG_LINES: usize = 200;
const TAIL_LINES: usize = 10;
/// After SIGKILL, how long to wait for the kernel to take the processes away.
const KILL_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// One unit configured under `[service.units."NAME"]`.
#[derive(Debug, Clone)]
pub(crate) struct ProcessUnit {
    name: String,
    /// What is executed: `/bin/sh -c "exec COMMAND"` for a string, the array itself otherwise.
    argv: Vec<String>,
    /// The command as configured, for messages.
    shown: String,
    cwd: Option<PathBuf>,
    pidfile: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
    stop_timeout: Duration,
    reload_signal: (i32, &'static str),
}

/// A unit's config entry as a table holding only known keys.
fn known_table<'a>(
    table: &str,
    entry: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, Failure> {
    let Some(map) = entry.as_object() else {
        return Err(Failure::new(format!("config: {table} must be a table")));
    };
    if let Some(key) = map
        .keys()
        .find(|k| !KNOWN_KEYS.split(", ").any(|known| known == k.as_str()))
    {
        return Err(
            Failure::new(format!("config: {table} has an unknown key `{key}`"))
                .hint(format!("the keys are: {KNOWN_KEYS}")),
        );
    }
    Ok(map)
}

/// An optional key holding a non-empty string.
fn text(
    map: &serde_json::Map<String, Value>,
    table: &str,
    key: &str,
) -> Result<Option<String>, Failure> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(Failure::new(format!(
            "config: {table} `{key}` must be a non-empty string, not `{other}`"
        ))),
    }
}

/// `command`: what is executed (argv) and how messages show it.
fn command_of(
    map: &serde_json::Map<String, Value>,
    table: &str,
) -> Result<(Vec<String>, String), Failure> {
    match map.get("command") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            // `exec` makes the command itself the main process, so signals reach it.
            Ok((
                vec!["/bin/sh".to_string(), "-c".to_string(), format!("exec {s}")],
                s.clone(),
            ))
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            let argv = items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| {
                    Failure::new(format!(
                        "config: {table} `command` must be a string or an array of strings"
                    ))
                })?;
            let shown = argv.join(" ");
            Ok((argv, shown))
        }
        Some(_) => Err(Failure::new(format!(
            "config: {table} `command` must be a non-empty string or an array of strings"
        ))),
        None => Err(Failure::new(format!(
            "config: {table} has no `command` for the process backend"
        ))
        .hint("add `command = \"...\"`, or `backend = \"systemd\"` if systemd runs this unit")),
    }
}

/// `env`: a table of variables; values that are not strings are passed as written.
fn env_of(
    map: &serde_json::Map<String, Value>,
    table: &str,
) -> Result<Vec<(String, String)>, Failure> {
    match map.get("env") {
        None => Ok(Vec::new()),
        Some(Value::Object(vars)) => Ok(vars
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k.clone(), s.clone()),
                other => (k.clone(), other.to_string()),
            })
            .collect()),
        Some(other) => Err(Failure::new(format!(
            "config: {table} `env` must be a table, not `{other}`"
        ))),
    }
}

impl ProcessUnit {
    pub fn from_config(name: &str, entry: &Value) -> Result<ProcessUnit, Failure> {
        let table = format!("[service.units.\"{name}\"]");
        let map = known_table(&table, entry)?;
        let text = |key: &str| text(map, &table, key);
        let (argv, shown) = command_of(map, &table)?;
        let path = |s: String| PathBuf::from(expand_tilde(&s));
        let pidfile = text("pidfile")?
            .map(path)
            .unwrap_or_else(|| state_dir().join("service").join(format!("{name}.pid")));
        let log = match text("log")?.map(path) {
            Some(log) => log,
            None => pidfile
                .parent()
                .unwrap_or(Path::new("."))
                .join(format!("{name}.log")),
        };
        let env = env_of(map, &table)?;
        let stop_timeout = match text("stop_timeout")? {
            Some(t) => ripcord_runtime::time::parse_duration(&t)
                .map_err(|e| Failure::new(format!("config: {table} `stop_timeout`: {e}")))?,
            None => DEFAULT_STOP_TIMEOUT,
        };
        let reload_signal = match text("reload_signal")? {
            Some(s) => signal_named(&s).ok_or_else(|| {
                Failure::new(format!(
                    "config: {table} `reload_signal` `{s}` is not one of HUP, USR1, USR2, INT, TERM"
                ))
            })?,
            None => (libc::SIGHUP, "SIGHUP"),
        };
        Ok(ProcessUnit {
            name: name.to_string(),
            argv,
            shown,
            cwd: text("cwd")?.map(path),
            pidfile,
            log,
            env,
            stop_timeout,
            reload_signal,
        })
    }

    pub fn look_closer(&self) -> String {
        let cd = self
            .cwd
            .as_ref()
            .map(|c| format!("cd {} && ", c.display()))
            .unwrap_or_default();
        format!(
            "look at `tail -n 50 {}`, and try the command by hand: `{cd}{}`",
            self.log.display(),
            self.shown
        )
    }

    /// Active while the process in the pidfile runs; failed when the pidfile outlived it.
    pub fn status(&self) -> Result<Status, Failure> {
        let mut status = Status {
            unit: self.name.clone(),
            backend: "process",
            loaded: "loaded".to_string(),
            active_state: "inactive".to_string(),
            sub_state: "dead".to_string(),
            main_pid: 0,
            n_restarts: 0,
            since: None,
            result: "success".to_string(),
            exit_status: None,
            exit: None,
            oneshot: false,
        };
        let Some((pid, written)) = self.read_pidfile()? else {
            return Ok(status);
        };
        match running(pid, written) {
            Some(stat) => {
                status.active_state = "active".to_string();
                status.sub_state = "running".to_string();
                status.main_pid = i64::from(pid);
                status.since = rfc3339(stat.started);
            }
            None => {
                status.active_state = "failed".to_string();
                status.result = "exited".to_string();
                status.exit = Some(format!(
                    "(pid {pid} in {}) is no longer running",
                    self.pidfile.display()
                ));
            }
        }
        Ok(status)
    }

    pub fn act(&self, host: &Host, verb: Verb, waits: &Waits) -> Result<Status, Failure> {
        match verb {
            Verb::Start => self.start(host, waits),
            Verb::Stop => self.stop(host, waits),
            Verb::Restart => {
                self.stop(host, waits)?;
                self.start(host, waits)
            }
            Verb::Reload => self.reload(host, waits),
        }
    }

    fn start(&self, host: &Host, waits: &Waits) -> Result<Status, Failure> {
        let before = self.status()?;
        if before.is_active() {
            return Ok(before);
        }
        let (log, offset) = self.open_log()?;
        let mut child = self.spawn(log)?;
        let pid = child.id();
        if let Err(e) = write_pidfile(&self.pidfile, pid) {
            kill_group(pid as i32, libc::SIGKILL);
            let _ = child.wait();
            return Err(Failure::new(format!(
                "{} did not start: cannot write its pidfile {}: {e}",
                self.name,
                self.pidfile.display()
            )));
        }
        self.settle(host, &mut child, offset, waits)?;
        self.status()
    }

    /// The service's log, opened to append, and how long it was before this start.
    fn open_log(&self) -> Result<(File, u64), Failure> {
        let name = &self.name;
        for file in [&self.pidfile, &self.log] {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Failure::new(format!(
                        "{name} did not start: cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| {
                Failure::new(format!(
                    "{name} did not start: cannot open its log {}: {e}",
                    self.log.display()
                ))
            })?;
        let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        Ok((log, offset))
    }

    /// The command, in a session of its own, its output appended to `log`.
    fn spawn(&self, log: File) -> Result<Child, Failure> {
        let name = &self.name;
        let log_err = log.try_clone().map_err(|e| {
            Failure::new(format!(
                "{name} did not start: cannot open its log {}: {e}",
                self.log.display()
            ))
        })?;
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        // SAFETY: setsid is async-signal-safe. In its own session the service outlives this run
        // and does not get the operator's Ctrl-C; its process group is what `stop` signals.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().map_err(|e| {
            let cwd = self
                .cwd
                .as_ref()
                .map(|c| format!(" in {}", c.display()))
                .unwrap_or_default();
            Failure::new(format!(
                "{name} did not start: cannot run `{}`{cwd}: {e}",
                self.shown
            ))
            .hint(self.look_closer())
        })
    }

    /// Watch the new process for `settle`: a command that fails at once (bad flag, port in use)
    /// fails the start, not a later probe.
    fn settle(
        &self,
        host: &Host,
        child: &mut Child,
        offset: u64,
        waits: &Waits,
    ) -> Result<(), Failure> {
        let name = &self.name;
        let started = Instant::now();
        loop {
            if let Ok(Some(exit)) = child.try_wait() {
                let _ = std::fs::remove_file(&self.pidfile);
                return Err(Failure::new(format!(
                    "{name} did not start: `{}` {}{}",
                    self.shown,
                    exited_at_once(exit),
                    self.tail(offset)
                ))
                .hint(self.look_closer()));
            }
            if started.elapsed() >= waits.settle {
                return Ok(());
            }
            if let Err(stopped) = pause(host, POLL, name) {
                // Leave nothing half-started behind an interrupted run.
                kill_group(child.id() as i32, libc::SIGKILL);
                let _ = child.wait();
                let _ = std::fs::remove_file(&self.pidfile);
                return Err(stopped);
            }
        }
    }

    fn stop(&self, host: &Host, waits: &Waits) -> Result<Status, Failure> {
        let name = &self.name;
        let Some((pid, written)) = self.read_pidfile()? else {
            return self.status();
        };
        if running(pid, written).is_none() {
            remove_pidfile(&self.pidfile)?;
            return self.status();
        }
        let grace = if waits.timeout_given {
            waits.timeout
        } else {
            self.stop_timeout.min(waits.timeout)
        };
        if let Err(e) = signal_group(pid, libc::SIGTERM) {
            return Err(Failure::new(format!(
                "{name} did not stop: cannot send SIGTERM to pid {pid}: {e}"
            ))
            .hint("run ripcord as the user who started the service"));
        }
        let started = Instant::now();
        while group_alive(pid) && started.elapsed() < grace {
            pause(host, POLL, name)?;
        }
        if group_alive(pid) {
            kill_group(pid, libc::SIGKILL);
            let killed = Instant::now();
            while group_alive(pid) && killed.elapsed() < KILL_WAIT {
                pause(host, POLL, name)?;
            }
            if group_alive(pid) {
                return Err(Failure::new(format!(
                    "{name} did not stop: process group {pid} is still alive after SIGTERM, {} and SIGKILL",
                    human(grace)
                ))
                .hint(format!("look at `ps -g {pid} -o pid,stat,cmd`")));
            }
        }
        remove_pidfile(&self.pidfile)?;
        self.status()
    }

    fn reload(&self, host: &Host, waits: &Waits) -> Result<Status, Failure> {
        let name = &self.name;
        let status = self.status()?;
        if !status.is_active() {
            return Err(Failure::new(format!(
                "{name} did not reload: it is not running; it is {}",
                status.describe()
            ))
            .hint(format!("start it with service::start(\"{name}\")")));
        }
        let pid = status.main_pid as i32;
        let (signal, signal_name) = self.reload_signal;
        let offset = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        // SAFETY: plain syscall on a pid this backend started (checked by `running`).
        if unsafe { libc::kill(pid, signal) } == -1 {
            let e = std::io::Error::last_os_error();
            return Err(Failure::new(format!(
                "{name} did not reload: cannot send {signal_name} to pid {pid}: {e}"
            )));
        }
        let started = Instant::now();
        while started.elapsed() < waits.settle {
            pause(host, POLL, name)?;
            let now = self.status()?;
            if !now.is_active() {
                return Err(Failure::new(format!(
                    "{name} did not reload: it stopped after {signal_name}; it is {}{}",
                    now.describe(),
                    self.tail(offset)
                ))
                .hint(self.look_closer()));
            }
        }
        self.status()
    }

    pub fn logs(&self, lines: Option<usize>) -> Result<String, Failure> {
        let n = lines.unwrap_or(DEFAULT_LOG_LINES);
        match File::open(&self.log) {
            Ok(_) => Ok(tail_lines(&self.log, 0, n)
                .into_iter()
                .map(|l| l + "\n")
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::new(format!(
                "no logs for {}: its log file {} does not exist",
                self.name,
                self.log.display()
            ))
            .hint(
                "the process backend writes it when it starts the unit; check `log` in the config",
            )),
            Err(e) => Err(Failure::new(format!(
                "cannot read the log of {}: {}: {e}",
                self.name,
                self.log.display()
            ))),
        }
    }

    /// The last lines the process wrote since `offset`, to show under a failure.
    fn tail(&self, offset: u64) -> String {
        let lines = tail_lines(&self.log, offset, TAIL_LINES);
        if lines.is_empty() {
            format!("\nlast log lines: none in {}", self.log.display())
        } else {
            let lines: Vec<String> = lines.into_iter().map(|l| format!("  {l}")).collect();
            format!(
                "\nlast log lines ({}):\n{}",
                self.log.display(),
                lines.join("\n")
            )
        }
    }

    /// The pid in the pidfile and when the file was written.
    fn read_pidfile(&self) -> Result<Option<(i32, SystemTime)>, Failure> {
        let text = match std::fs::read_to_string(&self.pidfile) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Failure::new(format!(
                    "{}: cannot read the pidfile {}: {e}",
                    self.name,
                    self.pidfile.display()
                )));
            }
        };
        let pid = text
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|p| *p > 1)
            .ok_or_else(|| {
                Failure::new(format!(
                    "{}: the pidfile {} does not hold a pid: {:?}",
                    self.name,
                    self.pidfile.display(),
                    text.trim()
                ))
                .hint("if the service is not running, remove the pidfile")
            })?;
        let written = std::fs::metadata(&self.pidfile)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::now());
        Ok(Some((pid, written)))
    }
}

fn signal_named(name: &str) -> Option<(i32, &'static str)> {
    let name = name.trim().to_ascii_uppercase();
    let bare = name.strip_prefix("SIG").unwrap_or(&name);
    Some(match bare {
        "HUP" => (libc::SIGHUP, "SIGHUP"),
        "USR1" => (libc::SIGUSR1, "SIGUSR1"),
        "USR2" => (libc::SIGUSR2, "SIGUSR2"),
        "INT" => (libc::SIGINT, "SIGINT"),
        "TERM" => (libc::SIGTERM, "SIGTERM"),
        _ => return None,
    })
}

/// How a process that ended during the settle time ended.
fn exited_at_once(exit: ExitStatus) -> String {
    match (
        exit.code(),
        std::os::unix::process::ExitStatusExt::signal(&exit),
    ) {
        (Some(code), _) => format!("exited at once with status {code}"),
        (None, Some(sig)) => format!("was killed at once by signal {sig}"),
        _ => "exited at once".to_string(),
    }
}

/// Write the pidfile beside itself and rename it into place, so a reader never sees half.
fn write_pidfile(path: &Path, pid: u32) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    std::fs::write(&tmp, format!("{pid}\n"))?;
    std::fs::rename(&tmp, path)
}

fn remove_pidfile(path: &Path) -> Result<(), Failure> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::new(format!(
            "cannot remove the pidfile {}: {e}",
            path.display()
        ))),
    }
}

/// What /proc says about a process.
struct ProcStat {
    state: char,
    pgrp: i32,
    session: i32,
    /// Unix seconds.
    started: i64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: i64 = fields.get(19)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = i64::from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as i32).max(1);
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        started: boot_time()? + ticks / hz,
    })
}

fn boot_time() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|s| s.trim().parse().ok())
}

/// The process in a pidfile, if it is still the one this backend started: alive (not a
/// zombie), leader of its own session, and started no later than the pidfile was written —
/// so a pid reused after a crash or a reboot is never taken for the service.
fn running(pid: i32, written: SystemTime) -> Option<ProcStat> {
    let stat = proc_stat(pid)?;
    let written = written
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // /proc's start time is derived from the boot time in whole seconds: allow some slack.
    let plausible = stat.started <= written + 5;
    (!matches!(stat.state, 'Z' | 'X' | 'x') && stat.session == pid && plausible).then_some(stat)
}

/// Whether any live (non-zombie) process is left in the process group.
fn group_alive(pgid: i32) -> bool {
    reap(pgid);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .any(|s| s.pgrp == pgid && !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Collect the exit status of a process this run started, so it does not linger as a zombie.
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: WNOHANG never blocks; for a process that is not our child this is ECHILD.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

fn signal_group(pgid: i32, signal: i32) -> std::io::Result<()> {
    // SAFETY: plain syscall; a negative pid names the process group.
    if unsafe { libc::kill(-pgid, signal) } == -1 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(e);
        }
    }
    Ok(())
}

fn kill_group(pgid: i32, signal: i32) {
    let _ = signal_group(pgid, signal);
}

/// The last `n` lines of a file after byte `offset` (reading at most its last 64 KiB).
fn tail_lines(path: &Path, offset: u64, n: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = offset.max(len.saturating_sub(64 * 1024)).min(len);
    if file.seek(SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ProcessUnit;

    /// The message (and help) of a unit entry `from_config` refuses.
    fn refused(entry: serde_json::Value) -> String {
        match ProcessUnit::from_config("web.service", &entry) {
            Ok(unit) => panic!("{entry} was accepted: {unit:?}"),
            Err(f) => f.to_string(),
        }
    }

    #[test]
    fn each_bad_key_of_a_unit_is_named_and_the_first_one_read_wins() {
        let table = "config: [service.units.\"web.service\"]";
        for (entry, message) in [
            (json!("sleep 9"), format!("{table} must be a table")),
            (
                json!({ "comand": "sleep 9" }),
                format!(
                    "{table} has an unknown key `comand`\nhelp: the keys are: backend, command"
                ),
            ),
            (
                json!({ "cwd": "/tmp" }),
                format!("{table} has no `command` for the process backend\nhelp: add `command"),
            ),
            (
                json!({ "command": " " }),
                format!("{table} `command` must be a non-empty string or an array of strings"),
            ),
            (
                json!({ "command": ["sleep", 9] }),
                format!("{table} `command` must be a string or an array of strings"),
            ),
            (
                json!({ "command": "sleep 9", "pidfile": "" }),
                format!("{table} `pidfile` must be a non-empty string, not `\"\"`"),
            ),
            (
                json!({ "command": "sleep 9", "env": ["A=1"] }),
                format!("{table} `env` must be a table, not `[\"A=1\"]`"),
            ),
            (
                json!({ "command": "sleep 9", "stop_timeout": "soon" }),
                format!("{table} `stop_timeout`: "),
            ),
            (
                json!({ "command": "sleep 9", "reload_signal": "KILL" }),
                format!("{table} `reload_signal` `KILL` is not one of HUP, USR1, USR2, INT, TERM"),
            ),
            (
                json!({ "command": "sleep 9", "cwd": 7 }),
                format!("{table} `cwd` must be a non-empty string, not `7`"),
            ),
            // Read in order: command, pidfile, log, env, stop_timeout, reload_signal, cwd.
            (
                json!({ "command": [], "env": 1, "cwd": 7 }),
                format!("{table} `command` must be a non-empty string"),
            ),
            (
                json!({ "command": "x", "log": "", "env": 1 }),
                format!("{table} `log` must be a non-empty string"),
            ),
        ] {
            let got = refused(entry.clone());
            assert!(
                got.starts_with(&message),
                "{entry}:\n{got}\nexpected:\n{message}"
            );
        }
    }

    #[test]
    fn a_unit_reads_its_command_env_and_defaults() {
        let unit = ProcessUnit::from_config(
            "web.service",
            &json!({ "command": ["srv", "--port", "8080"], "env": { "A": "1", "N": 2 }, "cwd": "/srv" }),
        )
        .expect("valid");
        assert_eq!(unit.argv, ["srv", "--port", "8080"]);
        assert_eq!(unit.shown, "srv --port 8080");
        assert_eq!(
            unit.env,
            [("A".into(), "1".into()), ("N".into(), "2".into())]
        );
        assert_eq!(unit.cwd.as_deref(), Some(std::path::Path::new("/srv")));
        assert_eq!(unit.log, unit.pidfile.with_file_name("web.service.log"));
        assert_eq!(unit.stop_timeout, super::DEFAULT_STOP_TIMEOUT);
        assert_eq!(unit.reload_signal, (libc::SIGHUP, "SIGHUP"));

        let unit = ProcessUnit::from_config("w", &json!({ "command": "srv -q" })).expect("valid");
        assert_eq!(unit.argv, ["/bin/sh", "-c", "exec srv -q"]);
        assert_eq!(unit.shown, "srv -q");
    }
}
