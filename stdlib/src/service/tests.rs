//! Unit tests of the service module: parsing, options, backend choice, and the process backend
//! with real child processes (the systemd backend is tested against a real user manager in the
//! integration tests).

use std::path::Path;
use std::sync::Arc;

use ripcord_runtime::host::HostOptions;
use ripcord_runtime::output::Output;
use ripcord_runtime::rhai::{Dynamic, Engine, Map};
use ripcord_runtime::secrets::Secrets;
use ripcord_runtime::{Host, Mode};
use serde_json::json;

use super::systemd::parse_show;

fn engine(config: serde_json::Value, mode: Mode) -> Engine {
    let options = HostOptions {
        mode,
        yes: true,
        config,
        ..Default::default()
    };
    let host = Arc::new(Host::new(options, Output::new(Secrets::default())));
    ripcord_runtime::engine::build(vec![super::module()], host, Path::new("."))
}

fn eval(engine: &Engine, code: &str) -> Result<Dynamic, String> {
    engine
        .eval::<Dynamic>(code)
        .map_err(|e| ripcord_runtime::error::message_of(&e))
}

fn map(value: Dynamic) -> Map {
    value.try_cast::<Map>().expect("a map")
}

fn text(m: &Map, key: &str) -> String {
    m.get(key).map(|v| v.to_string()).unwrap_or_default()
}

fn alive(pid: i64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next()
        .unwrap_or("");
    !stat.is_empty() && state != "Z"
}

#[test]
fn show_output_of_an_active_unit() {
    let s = parse_show(
        "web",
        "Id=web.service\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nNRestarts=2\n\
         Result=success\nExecMainCode=0\nExecMainStatus=0\nType=simple\nActiveEnterTimestamp=@1700000000\n\
         InactiveEnterTimestamp=\n",
    );
    assert_eq!(s.unit, "web.service");
    assert_eq!(
        (s.active_state.as_str(), s.sub_state.as_str()),
        ("active", "running")
    );
    assert_eq!((s.main_pid, s.n_restarts), (4242, 2));
    assert!(
        s.since
            .as_deref()
            .is_some_and(|t| t.starts_with("2023-11-1")),
        "{:?}",
        s.since
    );
    assert!(s.is_active());
}

#[test]
fn show_output_of_a_failed_unit_says_how_it_ended() {
    let s = parse_show(
        "bad.service",
        "Id=bad.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nNRestarts=0\n\
         Result=exit-code\nExecMainCode=1\nExecMainStatus=3\nInactiveEnterTimestamp=@1700000000\n",
    );
    assert_eq!(s.exit_status, Some(3));
    assert_eq!(
        s.describe(),
        "failed (result: exit-code; main process exited with status 3)"
    );
    let killed = parse_show(
        "k",
        "ActiveState=failed\nSubState=failed\nResult=signal\nExecMainCode=2\nExecMainStatus=9\n",
    );
    assert_eq!(
        killed.describe(),
        "failed (result: signal; main process was killed by signal 9)"
    );
    assert_eq!(killed.exit_status, None);
}

#[test]
fn bad_unit_names_and_options_are_refused_before_anything_runs() {
    let e = engine(json!({}), Mode::Run);
    let cases = [
        (r#"service::status("")"#, "the unit name is empty"),
        (
            r#"service::status("--all")"#,
            "a unit name cannot start with `-`",
        ),
        (r#"service::status("a b.service")"#, "cannot contain spaces"),
        (r#"service::status("../x")"#, "cannot contain `/`"),
        (
            r#"service::start("x.service", #{ timout: "3s" })"#,
            "service::start(x.service): unknown option `timout`",
        ),
        (
            r#"service::start("x.service", #{ timeout: "soon" })"#,
            "`timeout`: `soon` is not a duration",
        ),
        (
            r#"service::start("x.service", #{ user: "yes" })"#,
            "option `user` must be true or false",
        ),
        (
            r#"service::start("x.service", #{ host: "-oProxyCommand=x" })"#,
            "is not a host",
        ),
        (
            r#"service::start("x.service", #{ backend: "docker" })"#,
            "unknown backend `docker`",
        ),
        (
            r#"service::logs("x.service", #{ lines: 0 })"#,
            "a positive number of lines",
        ),
        (
            r#"service::wait_active("x.service", "never")"#,
            "`never` is not a duration",
        ),
    ];
    for (code, expected) in cases {
        let err = eval(&e, code).expect_err(code);
        assert!(
            err.contains(expected),
            "{code}: expected {expected:?} in:\n{err}"
        );
    }
}

#[test]
fn config_errors_name_the_key() {
    let e = engine(json!({ "service": { "scope": "both" } }), Mode::Run);
    let err = eval(&e, r#"service::status("x.service")"#).expect_err("bad scope");
    assert!(err.contains("service scope `both` is neither"), "{err}");

    let e = engine(
        json!({ "service": { "units": { "x.service": { "comand": "sleep 1" } } } }),
        Mode::Run,
    );
    let err = eval(&e, r#"service::status("x")"#).expect_err("typo");
    assert!(
        err.contains("[service.units.\"x.service\"] has an unknown key `comand`"),
        "{err}"
    );

    let e = engine(
        json!({ "service": { "units": { "x.service": { "cwd": "/tmp" } } } }),
        Mode::Run,
    );
    let err = eval(&e, r#"service::status("x.service")"#).expect_err("no command");
    assert!(
        err.contains("has no `command` for the process backend"),
        "{err}"
    );

    let e = engine(json!({}), Mode::Run);
    let err = eval(
        &e,
        r#"service::status("x.service", #{ backend: "process" })"#,
    )
    .expect_err("unconfigured");
    assert!(
        err.contains("unknown unit x.service: the process backend runs only units configured"),
        "{err}"
    );
}

fn process_config(dir: &Path, name: &str, command: serde_json::Value) -> serde_json::Value {
    json!({ "service": { "units": { name: {
        "command": command,
        "cwd": dir.display().to_string(),
        "pidfile": dir.join(format!("{name}.pid")).display().to_string(),
        "log": dir.join(format!("{name}.log")).display().to_string(),
        "env": { "GREETING": "hello from the env" },
        "stop_timeout": "300ms",
    } } } })
}

/// The session id of a process, from /proc (the field after state, ppid and pgrp).
fn session_of(pid: i64) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = stat.rsplit(')').next().unwrap_or("");
    after_name
        .split_whitespace()
        .nth(3)
        .unwrap_or("")
        .to_string()
}

#[test]
fn process_backend_starts_reports_and_stops_a_real_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = process_config(
        dir.path(),
        "sleeper",
        json!("sh -c 'echo \"$GREETING in $PWD\"; exec sleep 30'"),
    );
    let e = engine(config, Mode::Run);

    let stopped = map(eval(&e, r#"service::status("sleeper")"#).expect("status"));
    assert_eq!(text(&stopped, "active_state"), "inactive");
    assert_eq!(text(&stopped, "backend"), "process");

    let started =
        map(eval(&e, r#"service::start("sleeper", #{ settle: "200ms" })"#).expect("start"));
    assert_eq!(text(&started, "active_state"), "active", "{started:?}");
    let pid = started
        .get("main_pid")
        .and_then(|p| p.as_int().ok())
        .expect("pid");
    assert!(alive(pid));
    let pidfile = std::fs::read_to_string(dir.path().join("sleeper.pid")).expect("pidfile");
    assert_eq!(pidfile.trim(), pid.to_string());
    assert!(
        eval(&e, r#"service::is_active("sleeper.service")"#)
            .expect("is_active")
            .as_bool()
            .expect("bool")
    );
    // Its own session: Ctrl-C at the operator's terminal does not reach it.
    assert_eq!(session_of(pid), pid.to_string());

    let again = map(eval(&e, r#"service::start("sleeper")"#).expect("start again"));
    assert_eq!(
        again.get("main_pid").and_then(|p| p.as_int().ok()),
        Some(pid),
        "starting a running unit changes nothing"
    );

    let after = map(eval(&e, r#"service::stop("sleeper")"#).expect("stop"));
    assert_eq!(text(&after, "active_state"), "inactive");
    assert!(!alive(pid), "the process is gone after stop");
    assert!(!dir.path().join("sleeper.pid").exists());
    let log = std::fs::read_to_string(dir.path().join("sleeper.log")).expect("log");
    assert_eq!(
        log.trim(),
        format!("hello from the env in {}", dir.path().display())
    );

    let stopped_again = map(eval(&e, r#"service::stop("sleeper")"#).expect("stop again"));
    assert_eq!(text(&stopped_again, "active_state"), "inactive");
}

#[test]
fn process_backend_start_of_a_command_that_exits_at_once_fails_with_its_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = process_config(
        dir.path(),
        "broken",
        json!(["sh", "-c", "echo cannot bind port 8080 >&2; exit 4"]),
    );
    let e = engine(config, Mode::Run);
    let err = eval(&e, r#"service::start("broken")"#).expect_err("exits at once");
    assert!(err.contains("broken did not start: `sh -c echo cannot bind port 8080 >&2; exit 4` exited at once with status 4"), "{err}");
    assert!(
        err.contains("cannot bind port 8080"),
        "the log tail is shown:\n{err}"
    );
    assert!(err.contains("help: look at `tail -n 50"), "{err}");
    assert!(!dir.path().join("broken.pid").exists());
    let status = map(eval(&e, r#"service::status("broken")"#).expect("status"));
    assert_eq!(text(&status, "active_state"), "inactive");
}

#[test]
fn process_backend_kills_a_process_that_ignores_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = process_config(
        dir.path(),
        "stubborn",
        json!(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]),
    );
    let e = engine(config, Mode::Run);
    let started =
        map(eval(&e, r#"service::start("stubborn", #{ settle: "200ms" })"#).expect("start"));
    let pid = started
        .get("main_pid")
        .and_then(|p| p.as_int().ok())
        .expect("pid");
    let after = map(eval(&e, r#"service::stop("stubborn")"#).expect("stop"));
    assert_eq!(text(&after, "active_state"), "inactive");
    assert!(!alive(pid), "SIGKILL after stop_timeout");
}

#[test]
fn process_backend_status_of_a_process_that_died_is_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = process_config(dir.path(), "crashy", json!("sleep 30"));
    let e = engine(config, Mode::Run);
    let started =
        map(eval(&e, r#"service::start("crashy", #{ settle: "100ms" })"#).expect("start"));
    let pid = started
        .get("main_pid")
        .and_then(|p| p.as_int().ok())
        .expect("pid");
    // SAFETY: a process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let mut status = Map::new();
    for _ in 0..100 {
        status = map(eval(&e, r#"service::status("crashy")"#).expect("status"));
        if text(&status, "active_state") != "active" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(text(&status, "active_state"), "failed", "{status:?}");
    let err = eval(&e, r#"service::wait_active("crashy", "1s")"#).expect_err("failed");
    assert!(
        err.contains("crashy is not active: it is failed (result: exited; main process (pid"),
        "{err}"
    );
    let stopped =
        map(eval(&e, r#"service::stop("crashy")"#).expect("stop cleans the stale pidfile"));
    assert_eq!(text(&stopped, "active_state"), "inactive");
}

#[test]
fn process_backend_dry_run_simulates_and_still_refuses_unknown_units() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = process_config(dir.path(), "web", json!("sleep 30"));
    let e = engine(config, Mode::DryRun);
    let simulated = map(eval(&e, r#"service::start("web")"#).expect("simulated start"));
    assert_eq!(text(&simulated, "active_state"), "active");
    assert!(!dir.path().join("web.pid").exists(), "nothing was started");
    let err = eval(&e, r#"service::start("nope", #{ backend: "process" })"#).expect_err("unknown");
    assert!(err.contains("unknown unit nope"), "{err}");
}

#[test]
fn process_backend_logs_are_the_tail_of_its_log_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = process_config(
        dir.path(),
        "talker",
        json!([
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line $i; done; exec sleep 30"
        ]),
    );
    let e = engine(config, Mode::Run);
    let err = eval(&e, r#"service::logs("talker")"#).expect_err("no log yet");
    assert!(
        err.contains("its log file") && err.contains("does not exist"),
        "{err}"
    );
    let _ = eval(&e, r#"service::start("talker", #{ settle: "300ms" })"#).expect("start");
    let logs = eval(&e, r#"service::logs("talker", #{ lines: 2 })"#)
        .expect("logs")
        .to_string();
    assert_eq!(logs, "line 4\nline 5\n");
    let _ = eval(&e, r#"service::stop("talker")"#).expect("stop");
}

#[test]
fn systemd_commands_are_shown_as_an_operator_would_type_them() {
    use super::systemd::Systemd;
    let remote = Systemd {
        user: false,
        host: Some("admin@db1".to_string()),
    };
    assert_eq!(remote.describe(), "systemctl -H admin@db1");
    assert_eq!(remote.scope_name(), "system@admin@db1");
    assert_eq!(
        remote.look_closer("cortex.service"),
        "look at `systemctl -H admin@db1 status cortex.service` and `ssh admin@db1 journalctl -u cortex.service -n 50`"
    );
    let user = Systemd {
        user: true,
        host: None,
    };
    assert_eq!(user.describe(), "systemctl --user");
    assert_eq!(
        user.look_closer("cortex.service"),
        "look at `systemctl --user status cortex.service` and `journalctl --user -u cortex.service -n 50`"
    );
}

#[test]
fn process_backend_restart_gets_a_new_pid_and_reload_signals_the_main_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = "trap 'echo reloaded' HUP; echo up; while :; do sleep 0.05; done";
    let config = process_config(dir.path(), "hup", json!(["sh", "-c", script]));
    let e = engine(config, Mode::Run);
    let err = eval(&e, r#"service::reload("hup")"#).expect_err("not running");
    assert!(
        err.contains("hup did not reload: it is not running"),
        "{err}"
    );

    let first = map(eval(&e, r#"service::start("hup", #{ settle: "200ms" })"#).expect("start"));
    let restarted =
        map(eval(&e, r#"service::restart("hup", #{ settle: "200ms" })"#).expect("restart"));
    let (a, b) = (
        first.get("main_pid").and_then(|p| p.as_int().ok()),
        restarted.get("main_pid").and_then(|p| p.as_int().ok()),
    );
    assert!(a.is_some() && b.is_some() && a != b, "{a:?} then {b:?}");
    assert!(!alive(a.unwrap_or(0)));

    let reloaded =
        map(eval(&e, r#"service::reload("hup", #{ settle: "300ms" })"#).expect("reload"));
    assert_eq!(
        reloaded.get("main_pid").and_then(|p| p.as_int().ok()),
        b,
        "same process after a reload"
    );
    let log = std::fs::read_to_string(dir.path().join("hup.log")).expect("log");
    assert!(log.contains("reloaded"), "{log}");
    let _ = eval(&e, r#"service::stop("hup")"#).expect("stop");
}
