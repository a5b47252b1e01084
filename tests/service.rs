//! `service::*` through the real binary: against a real systemd user manager (started by the
//! tests' own setup, see `support/systemd.rs`) with real unit files, and the process backend
//! with real child processes, which needs no systemd at all.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::systemd::{Unit, UserManager, manager, unit_name};
use crate::support::{Outcome, Sandbox, Test};

/// A Python that runs without a login shell's environment (systemd starts units with a bare
/// PATH, so version-manager shims do not work there).
fn python3() -> String {
    if Path::new("/usr/bin/python3").exists() {
        return "/usr/bin/python3".to_string();
    }
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The status line of `GET /` on the port, or None when nothing answers.
fn http_status(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines().next().map(str::to_string)
}

/// Wait (generously) for the port to answer; the assertion is that it does, not how fast.
fn wait_http(port: u16) -> Option<String> {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(line) = http_status(port) {
            return Some(line);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One systemd test's setup: the test user manager, and a sandbox whose `ripcord.toml` puts
/// services in the user scope (the manager these tests start).
struct Systemd {
    mgr: &'static UserManager,
    sb: Sandbox,
}

impl Systemd {
    fn new() -> Systemd {
        let sb = Sandbox::new();
        sb.write("ripcord.toml", "[service]\nscope = \"user\"\n");
        Systemd { mgr: manager(), sb }
    }

    fn install(&self, test: &str, text: &str) -> Unit {
        self.mgr.install(&unit_name(test), text)
    }

    /// Write the runbook `script` (taking the param `unit`) and test
    /// `ripcord run SCRIPT -p unit=UNIT --json` against the test user manager.
    fn run(&self, script: &str, code: &str, unit: &str) -> Test<'_> {
        let param = format!("unit={unit}");
        self.mgr
            .test(&self.sb)
            .write(script, code)
            .args(["run", script, "-p", &param, "--json"])
    }
}

/// A runbook that starts the unit `unit` in a step (the call is at line 4, column 14).
const START_IN_A_STEP: &str =
    "//! Start.\n//! @param unit: the unit\nstep \"Start\" {\n    service::start(unit);\n}\n";

fn http_unit(dir: &Path, port: u16) -> String {
    format!(
        "[Unit]\nDescription=ripcord test HTTP service\n\n[Service]\nExecStart={} -m http.server --bind 127.0.0.1 {port}\nWorkingDirectory={}\n",
        python3(),
        dir.display()
    )
}

/// The `--json` error of a failed run, unescaped, must contain every one of `parts`.
#[track_caller]
fn assert_error(out: &Outcome, parts: &[&str]) {
    let error = out.json()["error"]
        .to_string()
        .replace("\\n", "\n")
        .replace("\\\"", "\"");
    for part in parts {
        assert!(
            error.contains(part),
            "`{part}` is not in the error:\n{error}"
        );
    }
}

#[test]
fn systemd_start_restart_stop_of_a_small_http_service() {
    let s = Systemd::new();
    let port = free_port();
    let unit = s.install("http", &http_unit(s.sb.path(), port));
    let cycle = r#"//! Start, restart and stop a unit.
//! @param unit: the unit
step "Start" { let s = service::start(unit); }
step "Check" { let before = service::status(unit); }
step "Restart" { let after = service::restart(unit, #{ timeout: "20s" }); }
#{ before: service::status(unit), active: service::is_active(unit) }
"#;
    let out = s
        .run("cycle.rhai", cycle, &unit.name)
        .args(["--config", "ripcord.toml"])
        .stderr_contains(format!("restart {} (systemctl --user)", unit.name))
        .run();
    let result = &out.json()["result"];
    let status = &result["before"];
    assert_eq!(status["active_state"], "active", "{result}");
    assert_eq!(status["sub_state"], "running");
    assert_eq!(status["loaded"], "loaded");
    assert_eq!(status["unit"], unit.name.as_str());
    assert_eq!(status["n_restarts"], 0);
    let since = status["since"].as_str();
    assert!(since.is_some_and(|s| s.starts_with("20")), "{status}");
    assert_eq!(result["active"], true);
    let pid = status["main_pid"].as_i64().expect("main_pid");
    assert!(pid > 1);
    let main_pid = s.mgr.property(&unit.name, "MainPID");
    assert_eq!(
        main_pid,
        pid.to_string(),
        "the pid is the one systemd reports"
    );

    let line = wait_http(port).expect("the service answers HTTP after start");
    assert!(line.contains("200"), "{line}");

    let stop = "//! Stop.\n//! @param unit: the unit\nstep \"Stop\" { service::stop(unit, #{ user: true }) }\n";
    let out = s.run("stop.rhai", stop, &unit.name).run();
    let result = &out.json()["result"];
    assert_eq!(result["active_state"], "inactive", "{result}");
    assert_eq!(s.mgr.property(&unit.name, "ActiveState"), "inactive");
    assert_eq!(http_status(port), None, "nothing answers after stop");
}

#[test]
fn systemd_start_of_a_unit_that_exits_at_once_fails_with_its_status() {
    let s = Systemd::new();
    let unit = s.install("false", "[Service]\nExecStart=/bin/false\n");
    let out = s
        .run("start.rhai", START_IN_A_STEP, &unit.name)
        .status(1)
        .run();
    let json = out.json();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["error"]["location"], "start.rhai:4:14");
    let name = &unit.name;
    assert_error(
        &out,
        &[
            &format!(
                "{name} did not start: it is failed (result: exit-code; main process exited with status 1)"
            ),
            "last log lines",
            &format!(
                "look at `systemctl --user status {name}` and `journalctl --user -u {name} -n 50`"
            ),
        ],
    );
    assert_eq!(s.mgr.property(&unit.name, "ActiveState"), "failed");
}

#[test]
fn systemd_unit_that_restarts_in_a_loop_fails_start_and_its_restarts_grow() {
    let s = Systemd::new();
    let unit = s.install(
        "loop",
        "[Unit]\nStartLimitIntervalSec=0\n\n[Service]\nExecStart=/bin/sh -c 'exit 1'\nRestart=always\nRestartSec=100ms\n",
    );
    let watch = r#"//! Start a crash-looping unit and watch it.
//! @param unit: the unit
let error = "";
try { service::start(unit); } catch (e) { error = `${e}`; }
let first = service::status(unit).n_restarts;
let later = first;
for i in 0..100 {
    later = service::status(unit).n_restarts;
    if later >= first + 2 { break; }
    time::sleep("100ms");
}
#{ error: error, first: first, later: later }
"#;
    let out = s.run("loop.rhai", watch, &unit.name).run();
    let result = &out.json()["result"];
    let error = result["error"].as_str().unwrap_or_default();
    let expected = format!("{} did not start: it keeps restarting", unit.name);
    assert!(error.contains(&expected), "{result}");
    let (first, later) = (
        result["first"].as_i64().unwrap_or(-1),
        result["later"].as_i64().unwrap_or(-1),
    );
    assert!(later >= first + 2, "n_restarts grows: {result}");
}

#[test]
fn systemd_start_that_does_not_finish_in_time_fails_with_the_state_it_is_in() {
    let s = Systemd::new();
    let unit = s.install(
        "slow",
        "[Service]\nExecStartPre=/bin/sleep 30\nExecStart=/bin/sleep 60\n",
    );
    let start =
        "//! Start.\n//! @param unit: the unit\nservice::start(unit, #{ timeout: \"1s\" })\n";
    let out = s.run("start.rhai", start, &unit.name).status(1).run();
    let expected = format!(
        "{} did not start: `systemctl` did not finish: it took longer than 1.0s; it is activating (start-pre)",
        unit.name
    );
    assert_error(&out, &[&expected]);
}

#[test]
fn systemd_unknown_unit_is_a_clear_error_in_a_run_and_in_a_dry_run() {
    let s = Systemd::new();
    let unit = unit_name("missing");
    let expected = format!("unknown unit {unit}: systemctl --user has no such unit");
    let listing = format!("list-unit-files '{unit}*'");
    for extra in [None, Some("--dry-run")] {
        let test = s.run("start.rhai", START_IN_A_STEP, &unit).args(extra);
        // Nothing is simulated for an unknown unit.
        let out = test.status(1).stderr_lacks("would: start").run();
        assert_error(&out, &[&expected, &listing]);
    }
    let status = "//! Status.\n//! @param unit: the unit\nservice::status(unit)\n";
    let out = s.run("status.rhai", status, &unit).status(1).run();
    assert_error(&out, &[&expected]);
}

#[test]
fn systemd_dry_run_reads_the_status_and_simulates_the_start() {
    let s = Systemd::new();
    let port = free_port();
    let unit = s.install("dry", &http_unit(s.sb.path(), port));
    let start = "//! Start.\n//! @param unit: the unit\nstep \"Start\" { service::start(unit) }\n";
    let out = s
        .run("start.rhai", start, &unit.name)
        .arg("--dry-run")
        .stderr_contains(format!("would: start {} (systemctl --user)", unit.name))
        .run();
    let result = &out.json()["result"];
    assert_eq!(result["active_state"], "active", "the simulated result");
    let state = s.mgr.property(&unit.name, "ActiveState");
    assert_eq!(state, "inactive", "nothing was started");
}

#[test]
fn systemd_wait_active_and_logs() {
    let mgr = manager();
    // No `ripcord.toml`: the calls name the user scope themselves.
    let sb = Sandbox::new();
    let port = free_port();
    let unit = mgr.install(&unit_name("wait"), &http_unit(sb.path(), port));
    let started = mgr.systemctl(&["start", &unit.name]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let wait = r#"//! Wait for a unit, then read its logs.
//! @param unit: the unit
let s = service::wait_active(unit, "20s", #{ user: true });
let logs = "";
try { logs = service::logs(unit, "10m", #{ user: true }); } catch (e) { logs = `error: ${e}`; }
#{ state: s.active_state, logs: logs }
"#;
    let param = format!("unit={}", unit.name);
    let test = mgr.test(&sb).write("wait.rhai", wait);
    let out = test
        .args(["run", "wait.rhai", "-p", &param, "--json"])
        .run();
    let result = &out.json()["result"];
    assert_eq!(result["state"], "active");
    let logs = result["logs"].as_str().unwrap_or_default();
    // A user manager without journald keeps no logs: `logs` must say so rather than return "".
    let journal = std::process::Command::new("journalctl")
        .args(["--user", "-n", "1", "--no-pager"])
        .env("XDG_RUNTIME_DIR", &mgr.runtime_dir)
        .output()
        .expect("journalctl");
    if String::from_utf8_lossy(&journal.stderr).contains("No journal files were found") {
        let expected = format!(
            "no logs for {}: this host has no systemd journal",
            unit.name
        );
        assert!(logs.contains(&expected), "{logs}");
    } else {
        assert!(!logs.starts_with("error:"), "{logs}");
    }
}

fn process_config(sb: &Sandbox, unit: &str, port: u16) -> String {
    format!(
        "[service.units.\"{unit}\"]\ncommand = \"{} -m http.server --bind 127.0.0.1 {port}\"\ncwd = \"{dir}\"\npidfile = \"{dir}/run/{unit}.pid\"\nlog = \"{dir}/logs/{unit}.log\"\nstop_timeout = \"5s\"\n",
        python3(),
        dir = sb.path().display()
    )
}

/// Kills what a pidfile names when a test ends early, so a failed test leaves no server behind.
struct KillOnDrop(std::path::PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|p| *p > 1) {
            // SAFETY: plain syscall; the service runs in its own process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn process_backend_service_outlives_the_run_that_started_it() {
    let sb = Sandbox::new();
    let port = free_port();
    let unit = "web.service";
    sb.write("ripcord.toml", &process_config(&sb, unit, port));
    let _cleanup = KillOnDrop(sb.join(&format!("run/{unit}.pid")));
    sb.write(
        "start.rhai",
        "//! Start.\nstep \"Start\" { service::start(\"web.service\") }\n",
    );
    sb.write(
        "stop.rhai",
        "//! Stop.\nstep \"Stop\" { service::stop(\"web\") }\n",
    );
    sb.write(
        "status.rhai",
        "//! Status.\nservice::status(\"web.service\")\n",
    );

    let out = sb.test().args(["run", "start.rhai", "--json"]).run();
    let status = &out.json()["result"];
    assert_eq!(status["active_state"], "active", "{status}");
    assert_eq!(status["backend"], "process");
    let pid = status["main_pid"].as_i64().expect("main_pid");
    let pidfile = std::fs::read_to_string(sb.join(&format!("run/{unit}.pid"))).expect("pidfile");
    assert_eq!(pidfile.trim(), pid.to_string());

    // The run has ended; the service still answers, in its own session.
    let line = wait_http(port).expect("the service answers HTTP");
    assert!(line.contains("200"), "{line}");
    let log = std::fs::read_to_string(sb.join(&format!("logs/{unit}.log"))).unwrap_or_default();
    assert!(
        log.contains("GET / HTTP"),
        "its output goes to the log file: {log}"
    );

    let out = sb.test().args(["run", "status.rhai", "--json"]).run();
    assert_eq!(out.json()["result"]["main_pid"], pid);

    let out = sb.test().args(["run", "stop.rhai", "--json"]).run();
    assert_eq!(out.json()["result"]["active_state"], "inactive");
    assert_eq!(http_status(port), None, "nothing answers after stop");
    assert!(
        !sb.join(&format!("run/{unit}.pid")).exists(),
        "the pidfile is removed"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields = stat.rsplit(')').next().unwrap_or("");
    let state = fields.split_whitespace().next().unwrap_or("X");
    assert!(
        stat.is_empty() || state == "Z",
        "the process is gone: {stat}"
    );
}

#[test]
fn process_backend_start_of_a_command_that_fails_shows_its_log_tail() {
    let sb = Sandbox::new();
    // Taken port: the second server cannot bind and exits at once. Bound here first (port 0),
    // so no other test can take it between choosing it and binding it.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("local address").port();
    sb.write("ripcord.toml", &process_config(&sb, "web.service", port));
    let start = "//! Start.\nstep \"Start\" {\n    service::start(\"web.service\", #{ settle: \"5s\" });\n}\n";
    let out = sb
        .runbook("start.rhai", start)
        .arg("--json")
        .status(1)
        .run();
    // The log tail names the cause: the address in use.
    let parts = [
        "web.service did not start: `",
        "exited at once with status 1",
        "Address already in use",
    ];
    assert_error(&out, &parts);
    assert_eq!(out.json()["error"]["location"], "start.rhai:3:14");
}
