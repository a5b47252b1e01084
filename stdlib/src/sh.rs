//! Shell commands: `sh(cmd, opts)` and `exec(program, args, opts)`, in the global namespace.
//!
//! A command is a change unless marked `read_only: true`. It runs in its own process group so a
//! timeout, Ctrl-C or the run's `--timeout` kills everything it started (`sleep 30 & ...`
//! included): SIGTERM to the group, then SIGKILL after a grace period. Output is captured and
//! returned, never echoed: the terminal shows only which command ran.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ripcord_runtime::dirs::expand_tilde;
use ripcord_runtime::live::LiveTail;
use ripcord_runtime::rhai::{Array, Dynamic, Map, NativeCallContext};
use ripcord_runtime::time::{human, parse_duration};
use ripcord_runtime::{
    At, Change, Decl, Effect, Failure, Host, NativeModule, NativeResult, RhaiResult,
};
use serde::Deserialize;

use crate::options;

/// Used when `timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Between SIGTERM and SIGKILL of a command's process group.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for output after the command exits, in case it left a background process
/// holding stdout (`nohup server &`): its output is not waited for.
const DRAIN_WAIT: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(20);
/// How much of stderr a failure shows.
const TAIL_LINES: usize = 10;
const TAIL_CHARS: usize = 2000;

/// The options paragraph shared by the docs of `sh` and `exec` (a macro so `concat!` can use it).
macro_rules! options_doc {
    () => {
        "\n\nOptions: `cwd` (folder to run in), `env` (map of extra environment variables), \
`timeout` (default \"10m\", capped by the run's `--timeout`), `check` (default true: a non-zero exit \
fails naming the command, the exit code and the end of stderr; false returns the map), `read_only` \
(true: the command only looks, so it runs in a dry run too), `stdin` (text fed to the command).\n\n\
A timeout kills the command's whole process group. stdout and stderr are returned; on a terminal their last lines are also shown live under the step."
    };
}

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("", "Shell commands");

    let sh = Decl {
        name: "sh",
        effect: Effect::Change,
        params: &["cmd: String", "Map"],
        doc: concat!(
            "Run a shell command (`/bin/sh -c cmd`) -> `#{ code, stdout, stderr, ms }`.\n\n\
             A change unless `#{ read_only: true }`: a dry run prints it and returns \
             `#{ code: 0, stdout: \"\", stderr: \"\", ms: 0 }`.",
            options_doc!()
        ),
        example: r#"sh("make build", #{ cwd: "cortex", timeout: "5m" });
let free = sh("df -h .", #{ read_only: true }).stdout;
let r = sh("systemctl is-failed cortex", #{ check: false, read_only: true });
if r.code == 0 { log::warn("cortex is in a failed state"); }"#,
    };
    m.function(sh, sh_plain);
    m.function(
        Decl {
            params: &["cmd: String", "opts: Map", "Map"],
            ..sh
        },
        sh_opts,
    );

    let exec = Decl {
        name: "exec",
        effect: Effect::Change,
        params: &["program: String", "args: Array", "Map"],
        doc: concat!(
            "Run a program with arguments, without a shell -> `#{ code, stdout, stderr, ms }`.\n\n\
             Arguments are passed as they are (no quoting, globbing or `$` expansion), so values \
             from params are safe. A change unless `#{ read_only: true }`.",
            options_doc!()
        ),
        example: r#"exec("git", ["-C", "cortex", "fetch", "--tags"], #{ timeout: "2m" });
let head = exec("git", ["-C", "cortex", "rev-parse", "HEAD"], #{ read_only: true }).stdout;"#,
    };
    m.function(exec, exec_plain);
    m.function(
        Decl {
            params: &["program: String", "args: Array", "opts: Map", "Map"],
            ..exec
        },
        exec_opts,
    );
    m
}

fn sh_plain(ctx: NativeCallContext, cmd: &str) -> RhaiResult<Map> {
    sh_opts(ctx, cmd, Map::new())
}

fn sh_opts(ctx: NativeCallContext, cmd: &str, opts: Map) -> RhaiResult<Map> {
    if cmd.trim().is_empty() {
        return Err(Failure::new("sh: the command is empty")
            .hint("check the variable or config value that holds it")
            .at(&ctx));
    }
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(cmd);
    run(&ctx, "sh", cmd.to_string(), command, &opts)
}

fn exec_plain(ctx: NativeCallContext, program: &str, args: Array) -> RhaiResult<Map> {
    exec_opts(ctx, program, args, Map::new())
}

fn exec_opts(ctx: NativeCallContext, program: &str, args: Array, opts: Map) -> RhaiResult<Map> {
    if program.trim().is_empty() {
        return Err(Failure::new("exec: the program name is empty")
            .hint("check the variable or config value that holds it")
            .at(&ctx));
    }
    let mut words = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if arg.is_string() || arg.is_int() || arg.is_float() || arg.is_bool() || arg.is_char() {
            words.push(arg.to_string());
        } else {
            return Err(Failure::new(format!(
                "exec {program}: argument {} is {}, not text",
                i + 1,
                arg.type_name()
            ))
            .hint("pass arguments as strings or numbers")
            .at(&ctx));
        }
    }
    let mut command = Command::new(expand_tilde(program));
    command.args(&words);
    let shown = std::iter::once(program.to_string())
        .chain(words.iter().map(|w| quote(w)))
        .collect::<Vec<_>>()
        .join(" ");
    run(&ctx, "exec", shown, command, &opts)
}

/// Options as given to `sh`/`exec`.
struct Options {
    cwd: Option<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
    timeout_text: String,
    check: bool,
    read_only: bool,
    stdin: Option<String>,
}

/// The options map as given; `env` and `timeout` take more than one type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Given {
    cwd: Option<String>,
    env: Option<Dynamic>,
    timeout: Option<Dynamic>,
    check: bool,
    read_only: bool,
    stdin: Option<String>,
}

impl Default for Given {
    fn default() -> Self {
        Given {
            cwd: None,
            env: None,
            timeout: None,
            // A failing command fails the step unless the runbook says it may fail.
            check: true,
            read_only: false,
            stdin: None,
        }
    }
}

fn options(function: &str, opts: &Map) -> NativeResult<Options> {
    let given: Given = options::read(function, opts)?;
    let (timeout, timeout_text) = timeout_of(function, given.timeout.as_ref())?;
    Ok(Options {
        cwd: given.cwd.map(|c| expand_tilde(&c)),
        env: env_of(function, given.env.as_ref())?,
        timeout,
        timeout_text,
        check: given.check,
        read_only: given.read_only,
        stdin: given.stdin,
    })
}

/// `timeout`: seconds, or a duration like "30s"; and how the summary shows it.
fn timeout_of(function: &str, value: Option<&Dynamic>) -> NativeResult<(Duration, String)> {
    match value {
        None => Ok((DEFAULT_TIMEOUT, "10m".to_string())),
        Some(v) if v.is_int() => {
            let secs = v.as_int().unwrap_or_default();
            let secs = u64::try_from(secs).map_err(|_| {
                Failure::new(format!(
                    "{function}: timeout must not be negative, got {secs}"
                ))
            })?;
            Ok((Duration::from_secs(secs), format!("{secs}s")))
        }
        Some(v) if v.is_string() => {
            let t = v.to_string();
            let d =
                parse_duration(&t).map_err(|e| Failure::new(format!("{function}: timeout {e}")))?;
            Ok((d, t))
        }
        Some(v) => Err(Failure::new(format!(
            "{function}: option `timeout` must be a duration like \"30s\", not {}",
            v.type_name()
        ))),
    }
}

/// `env`: a map of variables, each value as text.
fn env_of(function: &str, value: Option<&Dynamic>) -> NativeResult<Vec<(String, String)>> {
    let Some(v) = value else {
        return Ok(Vec::new());
    };
    match v.read_lock::<Map>() {
        Some(map) => Ok(map
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()),
        None => Err(Failure::new(format!(
            "{function}: option `env` must be a map like #{{ RUST_LOG: \"debug\" }}, not {}",
            v.type_name()
        ))),
    }
}

/// Run `command` through the seam: as a read if `read_only`, otherwise as a change.
fn run(
    ctx: &NativeCallContext,
    function: &str,
    shown: String,
    command: Command,
    opts: &Map,
) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let opts = options(function, opts).at(ctx)?;
    let result = if opts.read_only {
        host.out.note(&format!("$ {shown}"));
        host.read(ctx, function, || execute(&host, &shown, command, &opts))
    } else {
        let mut change = Change::new(function, format!("run `{shown}`"))
            .arg("command", shown.as_str())
            .simulated(simulated());
        if let Some(cwd) = &opts.cwd {
            change = change.arg("cwd", cwd.as_str());
        }
        host.change(ctx, change, || execute(&host, &shown, command, &opts))
    };
    match result {
        // Interrupted or past `--timeout`: end the run, do not let `try` swallow it.
        Err(_) if host.stop_reason().is_some() => {
            let stop = host
                .stop_reason()
                .unwrap_or(ripcord_runtime::host::Stop::Interrupted);
            Err(host.terminate(stop, ctx.call_position()))
        }
        Err(e) => Err(e),
        Ok(value) => Ok(value),
    }
}

fn simulated() -> Map {
    let mut map = Map::new();
    map.insert("code".into(), Dynamic::from_int(0));
    map.insert("stdout".into(), Dynamic::from(""));
    map.insert("stderr".into(), Dynamic::from(""));
    map.insert("ms".into(), Dynamic::from_int(0));
    map
}

fn execute(host: &Host, shown: &str, mut command: Command, opts: &Options) -> NativeResult<Map> {
    prepare(&mut command, shown, opts)?;
    let timeout = match host.remaining() {
        Some(left) => opts.timeout.min(left),
        None => opts.timeout,
    };
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| {
        Failure::new(format!("cannot run `{shown}`: {e}"))
            .hint("check the program is installed and on PATH")
    })?;
    if let (Some(text), Some(mut pipe)) = (opts.stdin.clone(), child.stdin.take()) {
        // A command that does not read its stdin closes the pipe: that error is not ours to report.
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let stdout = Collector::start(child.stdout.take());
    let stderr = Collector::start(child.stderr.take());
    let mut live = Live::start(host);
    let running = Running {
        host,
        shown,
        started,
        timeout,
    };
    let Some(status) = running.wait(&mut child, &stdout, &stderr, &mut live)? else {
        return Err(timed_out(shown, opts, timeout, stderr));
    };
    let ms = started.elapsed().as_millis() as i64;
    let out = stdout.wait(DRAIN_WAIT);
    let err = stderr.wait(DRAIN_WAIT);
    if let Some(live) = live {
        live.finish(&out, &err);
    }
    let code = exit_code(status);
    if opts.check && code != 0 {
        return Err(nonzero_exit(shown, code, status, &out, &err));
    }
    let mut map = Map::new();
    map.insert("code".into(), Dynamic::from_int(code));
    map.insert("stdout".into(), Dynamic::from(out));
    map.insert("stderr".into(), Dynamic::from(err));
    map.insert("ms".into(), Dynamic::from_int(ms));
    Ok(map)
}

/// The command's folder, environment and pipes; it runs in its own process group, so a
/// timeout or a stop kills everything it started.
fn prepare(command: &mut Command, shown: &str, opts: &Options) -> NativeResult<()> {
    if let Some(cwd) = &opts.cwd {
        if !Path::new(cwd).is_dir() {
            return Err(
                Failure::new(format!("cannot run `{shown}`: cwd {cwd} is not a folder"))
                    .hint("check the `cwd` option"),
            );
        }
        command.current_dir(cwd);
    }
    command
        .envs(opts.env.iter().map(|(k, v)| (k, v)))
        .stdin(if opts.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    Ok(())
}

/// A started command, watched until it exits, times out or the run stops.
struct Running<'a> {
    host: &'a Host,
    shown: &'a str,
    started: Instant,
    timeout: Duration,
}

impl Running<'_> {
    /// Its exit status, or `None` when it outlived `timeout`. Its process group is killed on
    /// a timeout or when the run stops (a failure).
    fn wait(
        &self,
        child: &mut Child,
        stdout: &Collector,
        stderr: &Collector,
        live: &mut Option<Live>,
    ) -> NativeResult<Option<ExitStatus>> {
        let shown = self.shown;
        let pgid = child.id() as libc::pid_t;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) => {}
                Err(e) => {
                    kill_group(child, pgid);
                    return Err(Failure::new(format!("cannot wait for `{shown}`: {e}")));
                }
            }
            if self.host.check_stop().is_some() {
                kill_group(child, pgid);
                return Err(Failure::new(format!(
                    "`{shown}` was stopped: the run is ending"
                )));
            }
            if self.started.elapsed() >= self.timeout {
                kill_group(child, pgid);
                return Ok(None);
            }
            std::thread::sleep(POLL);
            if let Some(live) = live.as_mut() {
                live.show_new(stdout, stderr);
            }
        }
    }
}

/// The command outlived `timeout` and was killed: how long it had, and the last lines of
/// its stderr.
fn timed_out(shown: &str, opts: &Options, timeout: Duration, stderr: Collector) -> Failure {
    let err = stderr.wait(DRAIN_WAIT);
    let mut failure = format!(
        "`{shown}` timed out after {} and was killed",
        human_timeout(opts, timeout)
    );
    if !err.trim().is_empty() {
        failure.push_str(&format!("\nstderr (last lines):\n{}", tail(&err)));
    }
    Failure::new(failure).hint("raise #{ timeout: \"...\" } if the command needs longer")
}

/// `check: true` and the command exited non-zero: the code (and signal) with the last lines
/// of stderr, or of stdout when stderr is empty.
fn nonzero_exit(shown: &str, code: i64, status: ExitStatus, out: &str, err: &str) -> Failure {
    let what = if err.trim().is_empty() {
        ("stdout", out)
    } else {
        ("stderr", err)
    };
    let mut message = format!("`{shown}` failed with exit code {code}");
    if let Some(sig) = status.signal() {
        message.push_str(&format!(" (killed by signal {sig})"));
    }
    if !what.1.trim().is_empty() {
        message.push_str(&format!("\n{} (last lines):\n{}", what.0, tail(what.1)));
    }
    Failure::new(message).hint("pass #{ check: false } to handle the exit code in the script")
}

fn human_timeout(opts: &Options, effective: Duration) -> String {
    if effective < opts.timeout {
        human(effective)
    } else {
        opts.timeout_text.clone()
    }
}

/// The exit code, or 128 + the signal number for a command killed by a signal (as shells report).
fn exit_code(status: ExitStatus) -> i64 {
    match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(sig)) => 128 + i64::from(sig),
        (None, None) => -1,
    }
}

/// SIGTERM the whole group, give it a grace period, then SIGKILL whatever is left.
fn kill_group(child: &mut Child, pgid: libc::pid_t) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let until = Instant::now() + KILL_GRACE;
    let mut reaped = false;
    while Instant::now() < until {
        reaped = reaped || matches!(child.try_wait(), Ok(Some(_)));
        if reaped && !group_alive(pgid) {
            return;
        }
        std::thread::sleep(POLL);
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

/// Whether any process of the group is still running. Zombies do not count: an orphaned
/// background process is reaped by init, and some container inits never do.
fn group_alive(pgid: libc::pid_t) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        // SAFETY: signal 0 only checks whether any process of the group is left.
        return unsafe { libc::kill(-pgid, 0) } == 0;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // `pid (comm) state ppid pgrp ...`; comm may contain spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|f| f.parse::<libc::pid_t>().ok());
        pgrp == Some(pgid) && state != Some("Z")
    })
}

/// The command's output drawn under its step while it runs (a terminal only; see `live`).
struct Live {
    tail: LiveTail,
    shown: (usize, usize),
}

impl Live {
    fn start(host: &Host) -> Option<Live> {
        host.out.live().then(|| Live {
            tail: LiveTail::new(host.secrets.clone()),
            shown: (0, 0),
        })
    }

    /// Draw what the command wrote since the last call, stdout then stderr.
    fn show_new(&mut self, stdout: &Collector, stderr: &Collector) {
        let out = stdout.since(self.shown.0);
        let err = stderr.since(self.shown.1);
        self.shown.0 += out.len();
        self.shown.1 += err.len();
        self.tail.feed(&out);
        self.tail.feed(&err);
    }

    /// The command ended with `out` and `err` in full: draw the rest and leave the window.
    fn finish(mut self, out: &str, err: &str) {
        let rest =
            |text: &str, shown: usize| text.as_bytes().get(shown..).unwrap_or_default().to_vec();
        self.tail.feed(&rest(out, self.shown.0));
        self.tail.feed(&rest(err, self.shown.1));
        self.tail.finish();
    }
}

/// Reads a pipe to its end on a thread, so a chatty command never blocks on a full pipe.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    handle: Option<JoinHandle<()>>,
}

impl Collector {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Collector {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let handle = pipe.map(|mut pipe| {
            let buf = buf.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]);
                }
            })
        });
        Collector { buf, handle }
    }

    /// The bytes read after the first `offset`.
    fn since(&self, offset: usize) -> Vec<u8> {
        let buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        buf.get(offset..).map(<[u8]>::to_vec).unwrap_or_default()
    }

    /// What was read, once the pipe closes or `patience` runs out (a background process of the
    /// command may hold the pipe open for ever; its thread is then left behind).
    fn wait(self, patience: Duration) -> String {
        let until = Instant::now() + patience;
        if let Some(handle) = self.handle {
            while !handle.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
        let bytes = self.buf.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The last lines of a command's output, for failure messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if tail.len() > TAIL_CHARS {
        let mut cut = tail.len() - TAIL_CHARS;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = format!("...{}", &tail[cut..]);
    }
    tail.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An argument as a shell reads it back: for the command line an operator is shown, and for
/// `ssh`, which joins its arguments into one shell command line.
pub(crate) fn quote(word: &str) -> String {
    // A NUL cannot be in an argument at all (spawning refuses it); show it escaped.
    shlex::try_quote(word).map_or_else(|_| format!("{word:?}"), |q| q.into_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use ripcord_runtime::Mode;
    use ripcord_runtime::engine::standalone;
    use ripcord_runtime::host::Stop;
    use ripcord_runtime::rhai::{Dynamic, EvalAltResult, Map};

    use super::module;

    fn field(map: &Map, key: &str) -> String {
        map.get(key).map(|v| v.to_string()).unwrap_or_default()
    }

    /// True once `pid` has exited (gone, or a zombie nobody has reaped yet).
    fn exited(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    /// Waits (a bounded while) for the processes the kill signalled to finish dying.
    fn wait_exited(pid: &str) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if exited(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn sh_returns_code_stdout_stderr_and_ms() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let r: Map = engine.eval(r#"sh("echo out; echo err >&2")"#).unwrap();
        assert_eq!(field(&r, "code"), "0");
        assert_eq!(field(&r, "stdout"), "out\n");
        assert_eq!(field(&r, "stderr"), "err\n");
        assert!(r.get("ms").unwrap().is_int());
    }

    #[test]
    fn non_zero_exit_fails_naming_the_command_code_and_stderr() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let err = engine
            .eval::<Dynamic>(r#"sh("echo building; echo 'make: *** no rule' >&2; exit 3")"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "`echo building; echo 'make: *** no rule' >&2; exit 3` failed with exit code 3"
            ),
            "{err}"
        );
        assert!(
            err.contains("stderr (last lines):\n  make: *** no rule"),
            "{err}"
        );
        assert!(err.contains("help: pass #{ check: false }"), "{err}");
        let err = engine
            .eval::<Dynamic>(r#"exec("false", [])"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`false` failed with exit code 1"), "{err}");
    }

    #[test]
    fn failures_name_the_cwd_the_signal_and_the_last_lines_of_output() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let err = |code: &str| engine.eval::<Dynamic>(code).unwrap_err().to_string();
        let e = err(r#"sh("true", #{ cwd: "/no/such/dir" })"#);
        assert!(
            e.contains(
                "cannot run `true`: cwd /no/such/dir is not a folder\nhelp: check the `cwd` option"
            ),
            "{e}"
        );
        // Killed by a signal, nothing on stderr: the code as shells report it, and stdout's tail.
        let e = err(r#"sh("echo only out; kill -TERM $$")"#);
        assert!(
            e.contains(
                "failed with exit code 143 (killed by signal 15)\nstdout (last lines):\n  only out"
            ),
            "{e}"
        );
        let e = err(r#"sh("echo late >&2; sleep 30", #{ timeout: "300ms" })"#);
        assert!(
            e.contains("timed out after 300ms and was killed\nstderr (last lines):\n  late"),
            "{e}"
        );
        assert!(e.contains("help: raise #{ timeout:"), "{e}");
    }

    #[test]
    fn check_false_returns_the_code() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let r: Map = engine
            .eval(r#"sh("echo half; exit 4", #{ check: false })"#)
            .unwrap();
        assert_eq!(field(&r, "code"), "4");
        assert_eq!(field(&r, "stdout"), "half\n");
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let script = format!(
            r#"sh("sleep 30 & echo $! > {}; sleep 30", #{{ timeout: "1s" }})"#,
            pids.display()
        );
        let err = engine.eval::<Dynamic>(&script).unwrap_err().to_string();
        assert!(err.contains("timed out after 1s and was killed"), "{err}");
        let pid = std::fs::read_to_string(&pids).unwrap();
        assert!(
            wait_exited(pid.trim()),
            "background sleep {pid} survived the timeout"
        );
    }

    #[test]
    fn a_stop_request_kills_the_command_and_ends_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let (engine, host) = standalone(vec![module()], Mode::Run);
        let stopper = std::thread::spawn({
            let host = host.clone();
            let pids = pids.clone();
            move || {
                while !pids.exists() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                host.request_stop(Stop::Interrupted);
            }
        });
        // `try` must not swallow an interrupt.
        let script = format!(
            r#"try {{ sh("sleep 30 & echo $! > {}; sleep 30") }} catch {{ "swallowed" }}"#,
            pids.display()
        );
        let err = engine.eval::<Dynamic>(&script).unwrap_err();
        stopper.join().unwrap();
        assert!(matches!(*err, EvalAltResult::ErrorTerminated(..)), "{err}");
        let pid = std::fs::read_to_string(&pids).unwrap();
        assert!(
            wait_exited(pid.trim()),
            "background sleep {pid} survived the interrupt"
        );
    }

    #[test]
    fn dry_run_simulates_changes_but_runs_read_only_commands() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("made");
        let (engine, _host) = standalone(vec![module()], Mode::DryRun);
        let r: Map = engine
            .eval(&format!(r#"sh("touch {} && echo done")"#, marker.display()))
            .unwrap();
        assert!(!marker.exists(), "a change ran in a dry run");
        assert_eq!(
            (field(&r, "code"), field(&r, "stdout"), field(&r, "ms")),
            ("0".into(), "".into(), "0".into())
        );
        let r: Map = engine
            .eval(r#"sh("echo looked", #{ read_only: true })"#)
            .unwrap();
        assert_eq!(field(&r, "stdout"), "looked\n");
        let r: Map = engine
            .eval(r#"exec("printf", ["%s", "looked"], #{ read_only: true })"#)
            .unwrap();
        assert_eq!(field(&r, "stdout"), "looked");
    }

    #[test]
    fn exec_passes_args_stdin_env_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let r: Map = engine
            .eval(r#"exec("printf", ["%s|%s", "a b", "$HOME"])"#)
            .unwrap();
        assert_eq!(field(&r, "stdout"), "a b|$HOME");
        let r: Map = engine
            .eval(r#"sh("tr a-z A-Z", #{ stdin: "quiet\n" })"#)
            .unwrap();
        assert_eq!(field(&r, "stdout"), "QUIET\n");
        let r: Map = engine
            .eval(r#"sh("echo $PHASE", #{ env: #{ PHASE: 2 } })"#)
            .unwrap();
        assert_eq!(field(&r, "stdout"), "2\n");
        let script = format!(r#"sh("pwd", #{{ cwd: "{}" }})"#, dir.path().display());
        let r: Map = engine.eval(&script).unwrap();
        assert_eq!(
            Path::new(field(&r, "stdout").trim())
                .canonicalize()
                .unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    #[test]
    fn bad_options_and_programs_are_explained() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        for (script, expected) in [
            (
                r#"sh("true", #{ timout: "1s" })"#,
                "sh: unknown option `timout`",
            ),
            (
                r#"sh("true", #{ timeout: "soon" })"#,
                "sh: timeout `soon` is not a duration",
            ),
            (
                r#"sh("true", #{ check: "no" })"#,
                "option `check` must be true or false, not string",
            ),
            (
                r#"sh("true", #{ env: "A=1" })"#,
                "option `env` must be a map",
            ),
            (
                r#"sh("true", #{ cwd: "/nonexistent/folder" })"#,
                "cannot run `true`: cwd /nonexistent/folder is not a folder",
            ),
            (
                r#"exec("no-such-program-here", [])"#,
                "cannot run `no-such-program-here`: No such file or directory",
            ),
            (
                r#"exec("echo", [#{ a: 1 }])"#,
                "exec echo: argument 1 is map, not text",
            ),
        ] {
            let err = engine.eval::<Dynamic>(script).unwrap_err().to_string();
            assert!(err.contains(expected), "{script}: {err}");
        }
    }

    #[test]
    fn display_quotes_only_what_needs_it() {
        assert_eq!(super::quote("--tags"), "--tags");
        assert_eq!(super::quote("a b"), "'a b'");
        assert_eq!(super::quote("it's"), "\"it's\"");
        assert_eq!(super::quote("$HOME"), "'$HOME'");
        assert_eq!(super::quote(""), "''");
    }
}
