//! The `service` module: start, stop, restart and reload services and wait until they get
//! there; read their status and logs.
//!
//! Two backends do the work. [`systemd`] drives the `systemctl` binary (system or `--user`
//! scope, local or `-H user@host`). [`process`] supervises a plain command with a pidfile and a
//! log file, for hosts without systemd; a unit configured under `[service.units."NAME"]` uses
//! it. Every function takes the unit first and an optional map of options.

mod process;
mod status;
mod systemd;
mod target;

use std::time::{Duration, Instant};

use ripcord_runtime::native::called;
use ripcord_runtime::rhai::{Dynamic, Map, NativeCallContext};
use ripcord_runtime::{At, Change, Decl, Effect, Failure, Host, NativeModule, RhaiResult};

pub(crate) use status::Status;
use target::{Options, Target};

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "service",
        "Services: start, stop, restart, reload, status, logs (systemd or process)",
    );

    declare_changes(&mut m);
    declare_state(&mut m);
    declare_wait(&mut m);
    declare_logs(&mut m);
    m
}

/// `service::start`, `stop`, `restart`, `reload`, each also with options.
fn declare_changes(m: &mut NativeModule) {
    m.function(
        Decl {
            params: &["unit: String", "Map"],
            ..START
        },
        |ctx: NativeCallContext, unit: &str| change(&ctx, Verb::Start, unit, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "Map"],
            ..START
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| change(&ctx, Verb::Start, unit, opts),
    );
    m.function(
        Decl {
            params: &["unit: String", "Map"],
            ..STOP
        },
        |ctx: NativeCallContext, unit: &str| change(&ctx, Verb::Stop, unit, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "Map"],
            ..STOP
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| change(&ctx, Verb::Stop, unit, opts),
    );
    m.function(
        Decl {
            params: &["unit: String", "Map"],
            ..RESTART
        },
        |ctx: NativeCallContext, unit: &str| change(&ctx, Verb::Restart, unit, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "Map"],
            ..RESTART
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| change(&ctx, Verb::Restart, unit, opts),
    );
    m.function(
        Decl {
            params: &["unit: String", "Map"],
            ..RELOAD
        },
        |ctx: NativeCallContext, unit: &str| change(&ctx, Verb::Reload, unit, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "Map"],
            ..RELOAD
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| change(&ctx, Verb::Reload, unit, opts),
    );
}

/// `service::status`, `service::is_active`.
fn declare_state(m: &mut NativeModule) {
    m.function(
        Decl {
            params: &["unit: String", "Map"],
            ..STATUS
        },
        |ctx: NativeCallContext, unit: &str| status(&ctx, unit, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "Map"],
            ..STATUS
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| status(&ctx, unit, opts),
    );
    m.function(
        Decl {
            params: &["unit: String", "bool"],
            ..IS_ACTIVE
        },
        |ctx: NativeCallContext, unit: &str| is_active(&ctx, unit, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "bool"],
            ..IS_ACTIVE
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| is_active(&ctx, unit, opts),
    );
}

/// `service::wait_active`, with and without a timeout and options.
fn declare_wait(m: &mut NativeModule) {
    m.function(
        Decl {
            params: &["unit: String", "Map"],
            ..WAIT_ACTIVE
        },
        |ctx: NativeCallContext, unit: &str| wait_active(&ctx, unit, None, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "timeout: String", "Map"],
            ..WAIT_ACTIVE
        },
        |ctx: NativeCallContext, unit: &str, timeout: &str| {
            wait_active(&ctx, unit, Some(timeout), Map::new())
        },
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "Map"],
            ..WAIT_ACTIVE
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| wait_active(&ctx, unit, None, opts),
    );
    m.function(
        Decl {
            params: &["unit: String", "timeout: String", "opts: Map", "Map"],
            ..WAIT_ACTIVE
        },
        |ctx: NativeCallContext, unit: &str, timeout: &str, opts: Map| {
            wait_active(&ctx, unit, Some(timeout), opts)
        },
    );
}

/// `service::logs`, in its four forms.
fn declare_logs(m: &mut NativeModule) {
    m.function(
        Decl {
            params: &["unit: String", "String"],
            ..LOGS
        },
        |ctx: NativeCallContext, unit: &str| logs(&ctx, unit, None, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "since: String", "String"],
            ..LOGS
        },
        |ctx: NativeCallContext, unit: &str, since: &str| logs(&ctx, unit, Some(since), Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "String"],
            ..LOGS
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| logs(&ctx, unit, None, opts),
    );
    m.function(
        Decl {
            params: &["unit: String", "since: String", "opts: Map", "String"],
            ..LOGS
        },
        |ctx: NativeCallContext, unit: &str, since: &str, opts: Map| {
            logs(&ctx, unit, Some(since), opts)
        },
    );
}

/// The options and the process backend's config, shown under `service::start`.
macro_rules! options_doc {
    () => {
        "\n\nOptions (all optional):

- `user: true` — the user's service manager (`systemctl --user`); `user: false` the system one.
  Default: `[service] scope = \"user\"` or `\"system\"` in the config, else system.
- `host: \"user@host\"` — a remote host (`systemctl -H`, over ssh). Default: `[service] host`.
- `timeout: \"30s\"` — how long to wait for the unit to get where it is going (default 30s).
- `settle: \"1s\"` — how long a started unit must stay active to count as started (default 1s).
- `backend: \"systemd\"` or `\"process\"` — override the backend chosen from the config.

A unit configured under `[service.units.\"NAME\"]` (with a `command`) uses the process backend:

```toml
[service.units.\"cortex.service\"]
command = \"./target/release/cortex --port 8080\"   # one command, run as `exec COMMAND` by /bin/sh
                                                   # (so it is the main process); or an argv array
cwd = \"~/cortex\"                                   # default: the current directory
pidfile = \"~/cortex/cortex.pid\"                    # default: $XDG_STATE_HOME/ripcord/service/NAME.pid
log = \"~/cortex/cortex.log\"                        # default: beside the pidfile, NAME.log
env = { RUST_LOG = \"info\" }
stop_timeout = \"10s\"                               # SIGTERM, then SIGKILL after this long
reload_signal = \"HUP\"
```

`backend = \"systemd\"` in such a table keeps the unit on systemd and lets it set its own \
`scope` and `host`. The config's `[service] backend = \"process\"` makes process the default.

A unit the backend does not know is an error, in a dry run too."
    };
}

const START: Decl = Decl {
    name: "start",
    effect: Effect::Change,
    params: &[],
    doc: concat!(
        "Start a unit and wait until it is active; returns its status (see `service::status`).\n\n\
Fails with the unit's status and its last log lines if it fails, exits at once, keeps \
restarting, or is not active within `timeout`. Starting an active unit changes nothing.",
        options_doc!()
    ),
    example: r#"service::start("cortex.service", #{ user: true, timeout: "60s" });"#,
};

const STOP: Decl = Decl {
    name: "stop",
    effect: Effect::Change,
    params: &[],
    doc: "Stop a unit and wait until it is inactive; returns its status.\n\n\
Stopping a stopped unit changes nothing. With the process backend: SIGTERM to the process \
group, then SIGKILL after `timeout` (default: the unit's `stop_timeout`, else 10s).",
    example: r#"service::stop("cortex.service");"#,
};

const RESTART: Decl = Decl {
    name: "restart",
    effect: Effect::Change,
    params: &[],
    doc: "Restart a unit (start it if it is stopped) and wait until it is active again; returns \
its status.",
    example: r#"let s = service::restart("cortex.service", #{ user: true });
print(`cortex runs as pid ${s.main_pid}`);"#,
};

const RELOAD: Decl = Decl {
    name: "reload",
    effect: Effect::Change,
    params: &[],
    doc: "Ask a running unit to reload its configuration and wait until it is active again; \
returns its status.\n\nsystemd runs the unit's `ExecReload=`; the process backend sends \
`reload_signal` (default SIGHUP) to the main process. A unit that is not running fails.",
    example: r#"service::reload("nginx.service");"#,
};

const STATUS: Decl = Decl {
    name: "status",
    effect: Effect::Read,
    params: &[],
    doc: STATUS_DOC,
    example: r#"let s = service::status("cortex.service", #{ user: true });
if s.active_state != "active" { log::warn(`cortex is ${s.active_state} (${s.sub_state})`); }"#,
};

const STATUS_DOC: &str = "The status of a unit, from `systemctl show` (or the pidfile \
and /proc for the process backend).\n\n\
Returns `#{ unit, backend, loaded, active_state, sub_state, main_pid, n_restarts, since, \
result, exit_status }`: `loaded` is systemd's load state (`loaded`, `masked`, ...); \
`active_state` is `active`, `activating`, `deactivating`, `reloading`, `inactive` or `failed`; \
`main_pid` is 0 when nothing runs; `since` is when the unit entered its state (RFC 3339, or \
`()`); `result` is systemd's last result (`success`, `exit-code`, `signal`, ...); \
`exit_status` the main process's last exit status (or `()`).\n\n\
Options: `user`, `host`, `backend` as for `service::start`; `service::stop`, `restart` and \
`reload` take the same options and return the same map.";

const IS_ACTIVE: Decl = Decl {
    name: "is_active",
    effect: Effect::Read,
    params: &[],
    doc: "Whether a unit is active (or reloading) right now. An unknown unit is an error, not \
`false`.",
    example: r#"if !service::is_active("cortex.service") { service::start("cortex.service"); }"#,
};

const WAIT_ACTIVE: Decl = Decl {
    name: "wait_active",
    effect: Effect::Read,
    params: &[],
    doc: "Wait until a unit is active (default timeout 30s); returns its status.\n\n\
Fails with the last status seen when the timeout passes, or at once when the unit has failed.\n\n\
Options: `timeout`, and `user`, `host`, `backend` as for `service::start`.",
    example: r#"service::wait_active("cortex.service", "60s", #{ user: true });"#,
};

const LOGS: Decl = Decl {
    name: "logs",
    effect: Effect::Read,
    params: &[],
    doc: "The unit's recent log lines, as one string.\n\n\
systemd: `journalctl -u UNIT`, `since` a duration (\"10m\": the last ten minutes) or any time \
journalctl understands (\"2024-05-01 10:00\", \"today\"); without `since`, the last `lines` \
(default 200). A host without a systemd journal (no journald) is an error that says so. \
Process backend: the last `lines` of its log file (a plain log has no timestamps, so `since` \
does not filter it).\n\nOptions: `lines`, `since`, and `user`, `host`, `backend` as for `service::start`.",
    example: r#"let recent = service::logs("cortex.service", "15m", #{ user: true });
let errors = recent.split("\n").filter(|l| l.contains("ERROR"));"#,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Start,
    Stop,
    Restart,
    Reload,
}

impl Verb {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
            Verb::Reload => "reload",
        }
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

/// start, stop, restart, reload: look the unit up (a read, so an unknown unit fails a dry run
/// too), then make the change through the seam.
fn change(ctx: &NativeCallContext, verb: Verb, unit: &str, opts: Map) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let function = format!("service::{}", verb.as_str());
    let opts = Options::parse(&function, unit, &opts).at(ctx)?;
    let target = Target::resolve(&host, unit, &opts).at(ctx)?;
    let before = host.read(ctx, "service::status", || target.known_status(&host, unit))?;

    let mut simulated = before.clone();
    simulated.simulate(verb);
    let already = match verb {
        Verb::Start if before.is_active() => "; already active",
        Verb::Stop if before.is_stopped() => "; already stopped",
        _ => "",
    };
    let summary = format!("{} {unit} ({}{already})", verb.as_str(), target.describe());
    let change = Change::new(function.clone(), summary)
        .arg("unit", unit)
        .arg("backend", target.backend_name())
        .arg("scope", target.scope_name())
        .simulated(Dynamic::from_map(simulated.to_map()));
    let waits = Waits {
        timeout: cap(&host, opts.timeout.unwrap_or(DEFAULT_TIMEOUT)),
        settle: opts.settle.unwrap_or(DEFAULT_SETTLE),
        timeout_given: opts.timeout.is_some(),
    };
    host.change(ctx, change, || {
        let goal = if verb == Verb::Stop {
            "inactive"
        } else {
            "active"
        };
        let _waiting = host
            .out
            .spinner(&format!("{function} {unit}: waiting until {goal}"));
        let status = target.act(&host, verb, unit, &before, &waits)?;
        Ok(status.to_map())
    })
}

fn status(ctx: &NativeCallContext, unit: &str, opts: Map) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let function = called(ctx);
    let opts = Options::parse(&function, unit, &opts).at(ctx)?;
    let target = Target::resolve(&host, unit, &opts).at(ctx)?;
    let status = host.read(ctx, &function, || target.known_status(&host, unit))?;
    Ok(status.to_map())
}

/// A unit's status on this host, for natives that then read its process (`sys::process`).
/// A unit on another host (`host` option or config) is an error: its pid means nothing here.
pub(crate) fn local_status(
    ctx: &NativeCallContext,
    function: &str,
    unit: &str,
    opts: Map,
) -> RhaiResult<Status> {
    let host = Host::of(ctx)?;
    let opts = Options::parse(function, unit, &opts).at(ctx)?;
    let target = Target::resolve(&host, unit, &opts).at(ctx)?;
    if let Target::Systemd(systemd::Systemd {
        host: Some(remote), ..
    }) = &target
    {
        return Err(Failure::new(format!(
            "{function}: {unit} runs on {remote}, and {function} reads this host's /proc"
        ))
        .hint("run the runbook on that host (e.g. through the Ansible collection)")
        .at(ctx));
    }
    host.read(ctx, "service::status", || target.known_status(&host, unit))
}

fn is_active(ctx: &NativeCallContext, unit: &str, opts: Map) -> RhaiResult<bool> {
    let host = Host::of(ctx)?;
    let function = called(ctx);
    let opts = Options::parse(&function, unit, &opts).at(ctx)?;
    let target = Target::resolve(&host, unit, &opts).at(ctx)?;
    let status = host.read(ctx, &function, || target.known_status(&host, unit))?;
    Ok(status.is_active())
}

fn wait_active(
    ctx: &NativeCallContext,
    unit: &str,
    timeout: Option<&str>,
    opts: Map,
) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let function = called(ctx);
    let mut opts = Options::parse(&function, unit, &opts).at(ctx)?;
    if let Some(text) = timeout {
        opts.timeout = Some(target::duration(&function, unit, "timeout", text).at(ctx)?);
    }
    let target = Target::resolve(&host, unit, &opts).at(ctx)?;
    let limit = cap(&host, opts.timeout.unwrap_or(DEFAULT_TIMEOUT));
    let status = host.read(ctx, &function, || {
        let _waiting = host.out.spinner(&format!("{function} {unit}"));
        let started = Instant::now();
        loop {
            let status = target.known_status(&host, unit)?;
            if status.is_active() {
                return Ok(status);
            }
            if status.active_state == "failed" {
                return Err(target.failure(
                    &format!("{unit} is not active: it is {}", status.describe()),
                    unit,
                ));
            }
            if started.elapsed() >= limit {
                return Err(target.failure(
                    &format!(
                        "{unit} is not active after {}: it is {}",
                        ripcord_runtime::time::human(limit),
                        status.describe()
                    ),
                    unit,
                ));
            }
            pause(&host, POLL, unit)?;
        }
    })?;
    Ok(status.to_map())
}

fn logs(ctx: &NativeCallContext, unit: &str, since: Option<&str>, opts: Map) -> RhaiResult<String> {
    let host = Host::of(ctx)?;
    let function = called(ctx);
    let mut opts = Options::parse(&function, unit, &opts).at(ctx)?;
    if let Some(since) = since {
        opts.since = Some(since.to_string());
    }
    let target = Target::resolve(&host, unit, &opts).at(ctx)?;
    host.read(ctx, &function, || {
        target.known_status(&host, unit)?;
        target.logs(&host, unit, opts.since.as_deref(), opts.lines)
    })
}

/// How long a change may wait, and how long a started unit must stay up.
pub(crate) struct Waits {
    pub timeout: Duration,
    pub settle: Duration,
    /// Whether the script gave `timeout` (the process backend otherwise uses `stop_timeout`).
    pub timeout_given: bool,
}

/// How often a wait looks at the unit again.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// A blocking call never outlives the run's `--timeout`.
fn cap(host: &Host, d: Duration) -> Duration {
    match host.remaining() {
        Some(left) => d.min(left),
        None => d,
    }
}

/// Sleep in small slices; Ctrl-C or `--timeout` ends the wait (the run then stops as such).
pub(crate) fn pause(host: &Host, d: Duration, unit: &str) -> Result<(), Failure> {
    let until = Instant::now() + d;
    loop {
        if host.check_stop().is_some() {
            return Err(Failure::new(format!("stopped while waiting for {unit}")));
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

/// What a finished helper command (`systemctl`, `journalctl`) left.
pub(crate) struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Run a helper command with a timeout, honouring Ctrl-C and `--timeout` while it runs.
pub(crate) fn run(
    host: &Host,
    mut cmd: std::process::Command,
    timeout: Duration,
    what: &str,
) -> Result<Output, Failure> {
    use std::process::Stdio;

    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::new(format!("{what}: `{program}` is not installed on this host"))
                .hint("on a host without systemd, configure the unit for the process backend: [service.units.\"NAME\"] command = \"...\"")
        } else {
            Failure::new(format!("{what}: cannot run `{program}`: {e}"))
        }
    })?;
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let status = wait_for(host, &mut child, timeout, what, &program)?;
    Ok(Output {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Everything a pipe gives until it closes, read on its own thread.
fn read_all(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The helper's exit status; it is killed when it outlives `timeout` or the run stops (a
/// failure naming which).
fn wait_for(
    host: &Host,
    child: &mut std::process::Child,
    timeout: Duration,
    what: &str,
    program: &str,
) -> Result<std::process::ExitStatus, Failure> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => {
                return Err(Failure::new(format!(
                    "{what}: waiting for `{program}` failed: {e}"
                )));
            }
        }
        let stopped = host.check_stop().is_some();
        if stopped || started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            let reason = if stopped {
                "the run was stopped".to_string()
            } else {
                format!(
                    "it took longer than {}",
                    ripcord_runtime::time::human(timeout)
                )
            };
            return Err(Failure::new(format!(
                "{what}: `{program}` did not finish: {reason}"
            )));
        }
        std::thread::sleep(
            Duration::from_millis(5).max(started.elapsed().min(Duration::from_millis(50)) / 4),
        );
    }
}

#[cfg(test)]
mod tests;
