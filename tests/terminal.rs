//! What reaches the terminal, a pipe, a log file and the journal, for every combination of the
//! colour variables (`NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`, `TERM`): the terminal is a real
//! pseudo-terminal (a tmux pane, its raw output taken with `pipe-pane`, so escape codes are seen
//! as written), the pipe and the log file are stderr redirected. The matrix prints one row per
//! cell (`cargo test --test tests terminal -- --nocapture`) and fails naming every wrong cell.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::Sandbox;

const DEADLINE: Duration = Duration::from_secs(60);

/// A step that succeeds with live output (two separate draws, so the window is redrawn in
/// place), and one that fails (a rendered error, a red mark).
const RUNBOOK: &str = "//! Colours.\nstep \"Talk\" {\n    sh(\"echo one; sleep 0.3; echo two\");\n}\nstep \"Break\" {\n    throw \"broken on purpose\";\n}\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Terminal,
    Pipe,
    LogFile,
}

/// One combination of the variables; `None` is unset.
#[derive(Debug, Clone, Copy)]
struct Cell {
    no_color: Option<&'static str>,
    force: Option<&'static str>,
    clicolor: Option<&'static str>,
    term: &'static str,
    sink: Sink,
}

impl Cell {
    /// The documented rules, written out independently of the code under test.
    fn expects_colour(&self) -> bool {
        if self.no_color.is_some_and(|v| !v.is_empty()) {
            return false;
        }
        if self.force.is_some_and(|v| !v.is_empty() && v != "0") {
            return true;
        }
        if self.clicolor == Some("0") {
            return false;
        }
        self.sink == Sink::Terminal && self.term != "dumb"
    }

    fn expects_cursor(&self) -> bool {
        self.sink == Sink::Terminal && self.term != "dumb"
    }

    /// `env` arguments that set exactly this cell's variables (every `-u` before the first
    /// assignment, as `env` wants).
    fn env_args(&self) -> Vec<String> {
        let mut unset = vec![];
        let mut set = vec![format!("TERM={}", self.term)];
        for (name, value) in [
            ("NO_COLOR", self.no_color),
            ("CLICOLOR_FORCE", self.force),
            ("CLICOLOR", self.clicolor),
            ("CI", None),
            ("RIPCORD_CONFIG", None),
            ("RIPCORD_JOURNAL", None),
            ("RIPCORD_PATH", None),
        ] {
            match value {
                Some(v) => set.push(format!("{name}={v}")),
                None => unset.extend(["-u".to_string(), name.to_string()]),
            }
        }
        unset.extend(set);
        unset
    }

    fn label(&self) -> String {
        let show = |v: Option<&str>| v.map_or("unset".to_string(), |v| format!("{v:?}"));
        format!(
            "NO_COLOR={:<6} CLICOLOR_FORCE={:<6} CLICOLOR={:<6} TERM={:<15} {:?}",
            show(self.no_color),
            show(self.force),
            show(self.clicolor),
            self.term,
            self.sink
        )
    }
}

/// What one run wrote where the operator looks, and what it journaled.
struct Seen {
    output: Vec<u8>,
    journal: String,
}

impl Seen {
    fn colour(&self) -> bool {
        sequences(&self.output).iter().any(|s| s.ends_with('m'))
    }

    fn cursor(&self) -> bool {
        sequences(&self.output).iter().any(|s| !s.ends_with('m'))
    }
}

/// Every CSI sequence (`ESC [ ... final`) in `bytes`, as text after the `ESC [`; a lone ESC
/// counts as a sequence of its own so that nothing escapes the check.
fn sequences(bytes: &[u8]) -> Vec<String> {
    let mut found = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b {
            let mut j = i + 1;
            if bytes.get(j) == Some(&b'[') {
                j += 1;
                while j < bytes.len() && !(0x40..=0x7e).contains(&bytes[j]) {
                    j += 1;
                }
                found.push(String::from_utf8_lossy(&bytes[i + 2..=j.min(bytes.len() - 1)]).into());
            } else {
                found.push("ESC".into());
            }
            i = j;
        }
        i += 1;
    }
    found
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Every event and run row of the sandbox's journal, as one text.
fn journal_text(sb: &Sandbox) -> String {
    let db = rusqlite::Connection::open(sb.journal()).expect("open the journal");
    let mut stmt = db
        .prepare("SELECT kind || ' ' || ifnull(step, '') || ' ' || data FROM events")
        .expect("prepare");
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    rows.join("\n")
}

fn run_cell(cell: Cell) -> Seen {
    let sb = Sandbox::new();
    sb.write("colours.rhai", RUNBOOK);
    let output = match cell.sink {
        Sink::Terminal => in_terminal(&sb, cell),
        Sink::Pipe | Sink::LogFile => redirected(&sb, cell),
    };
    Seen {
        output,
        journal: journal_text(&sb),
    }
}

/// stderr (and stdout) into a pipe, or into a file as a service's log would be.
fn redirected(sb: &Sandbox, cell: Cell) -> Vec<u8> {
    let mut cmd = Command::new("env");
    cmd.args(cell.env_args())
        .arg(env!("CARGO_BIN_EXE_ripcord"))
        .args(["run", "colours.rhai"])
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.join(".state"))
        .env("XDG_CONFIG_HOME", sb.join(".config"))
        .env("XDG_CACHE_HOME", sb.join(".cache"))
        .stdin(Stdio::null());
    if cell.sink == Sink::LogFile {
        let log = std::fs::File::create(sb.join("ripcord.log")).expect("log file");
        let out = cmd
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .status()
            .expect("run ripcord");
        assert_eq!(out.code(), Some(1), "{}", cell.label());
        return std::fs::read(sb.join("ripcord.log")).expect("read the log");
    }
    let out = cmd.output().expect("run ripcord");
    assert_eq!(out.status.code(), Some(1), "{}", cell.label());
    let mut bytes = out.stderr;
    bytes.extend(out.stdout);
    bytes
}

/// ripcord in a tmux pane of its own tmux server; everything the program writes to the pane is
/// copied raw to a file from before it starts. The server is killed when this is dropped.
struct Pane {
    socket: String,
    raw: std::path::PathBuf,
}

impl Pane {
    /// Start `ripcord ARGS` under `env ENV`; the pane shows `[exit CODE]` when it ends.
    fn start(sb: &Sandbox, env: &[String], args: &str) -> Pane {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "ripcord-term-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (go, raw) = (sb.join("go"), sb.join("raw"));
        let pane = Pane { socket, raw };
        let command = format!(
            "while [ ! -e {go} ]; do sleep 0.05; done; env {vars} XDG_STATE_HOME={state} XDG_CONFIG_HOME={config} XDG_CACHE_HOME={cache} {bin} {args}; echo \"[exit $?]\"; sleep 600",
            go = quote(&go),
            vars = env.join(" "),
            state = quote(&sb.join(".state")),
            config = quote(&sb.join(".config")),
            cache = quote(&sb.join(".cache")),
            bin = quote(Path::new(env!("CARGO_BIN_EXE_ripcord"))),
        );
        let dir = sb.path().display().to_string();
        pane.tmux(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "150",
            "-y",
            "40",
            "-c",
            &dir,
            &command,
        ]);
        pane.tmux(&[
            "pipe-pane",
            "-t",
            "main",
            &format!("cat > {}", quote(&pane.raw)),
        ]);
        std::fs::write(&go, "").expect("start");
        pane
    }

    fn tmux(&self, args: &[&str]) {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The screen as it reads now (escape codes applied, not shown).
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-J", "-t", "main"])
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type text literally.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    /// Wait until the raw output contains `text`; return all of it.
    fn wait_for(&self, text: &str) -> Vec<u8> {
        let start = Instant::now();
        loop {
            let bytes = std::fs::read(&self.raw).unwrap_or_default();
            if String::from_utf8_lossy(&bytes).contains(text) {
                return bytes;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for {text:?}; the pane wrote:\n{}",
                String::from_utf8_lossy(&bytes)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn in_terminal(sb: &Sandbox, cell: Cell) -> Vec<u8> {
    let pane = Pane::start(sb, &cell.env_args(), "run colours.rhai");
    let bytes = pane.wait_for("[exit ");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("[exit 1]"), "{}:\n{text}", cell.label());
    bytes
}

fn cells() -> Vec<Cell> {
    let mut cells = vec![];
    for no_color in [None, Some(""), Some("1")] {
        for force in [None, Some("0"), Some("1")] {
            for clicolor in [None, Some("0")] {
                for term in ["xterm-256color", "dumb"] {
                    for sink in [Sink::Terminal, Sink::Pipe, Sink::LogFile] {
                        cells.push(Cell {
                            no_color,
                            force,
                            clicolor,
                            term,
                            sink,
                        });
                    }
                }
            }
        }
    }
    cells
}

#[test]
fn colour_and_cursor_movement_follow_the_variables_on_a_terminal_a_pipe_and_a_log_file() {
    let cells = cells();
    // A few cells at a time: each holds a process (and a tmux server) for under a second.
    let results: Vec<(Cell, Seen)> = cells
        .chunks(6)
        .flat_map(|chunk| {
            std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|&cell| s.spawn(move || (cell, run_cell(cell))))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("cell"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();

    let mut wrong = vec![];
    println!("{:<92} colour(want/got) cursor(want/got) journal", "cell");
    for (cell, seen) in &results {
        let row = format!(
            "{:<92} {:>5}/{:<5}        {:>5}/{:<5}        {}",
            cell.label(),
            cell.expects_colour(),
            seen.colour(),
            cell.expects_cursor(),
            seen.cursor(),
            if seen.journal.contains('\x1b') {
                "ESCAPE"
            } else {
                "clean"
            }
        );
        println!("{row}");
        // The run must have shown what it did, whatever the colours.
        let text = String::from_utf8_lossy(&seen.output);
        let shown = text.contains("Talk") && text.contains("broken on purpose");
        if seen.colour() != cell.expects_colour()
            || seen.cursor() != cell.expects_cursor()
            || seen.journal.contains('\x1b')
            || !seen.journal.contains("broken on purpose")
            || !shown
        {
            wrong.push(format!("{row}\n    {:?}", sequences(&seen.output)));
        }
    }
    println!("{} cells, {} wrong", results.len(), wrong.len());
    assert!(
        wrong.is_empty(),
        "{} of {} cells wrong:\n{}",
        wrong.len(),
        results.len(),
        wrong.join("\n")
    );
}

/// The REPL's signature hint is dimmed on a colour terminal and plain under `NO_COLOR` (the
/// line editor draws it on stdout, so stdout's answer decides).
#[test]
fn the_repl_hint_is_dimmed_only_where_colour_is_allowed() {
    const DIM: &str = "\x1b[2m";
    for (no_color, dimmed) in [(None, true), (Some("1"), false)] {
        let sb = Sandbox::new();
        let cell = Cell {
            no_color,
            force: None,
            clicolor: None,
            term: "xterm-256color",
            sink: Sink::Terminal,
        };
        let pane = Pane::start(&sb, &cell.env_args(), "repl");
        pane.wait_for("ripcord> ");
        pane.type_text("db::verify");
        let bytes = pane.wait_for("(path: String");
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(
            text.contains(DIM),
            dimmed,
            "NO_COLOR={no_color:?}:\n{text:?}"
        );
    }
}

/// `env` arguments for a colour terminal with nothing else set.
fn plain_terminal() -> Vec<String> {
    Cell {
        no_color: None,
        force: None,
        clicolor: None,
        term: "xterm-256color",
        sink: Sink::Terminal,
    }
    .env_args()
}

/// Seconds shown right after `label — ` in the raw output, every frame.
fn times_after(raw: &str, label: &str) -> Vec<f64> {
    raw.split(label)
        .skip(1)
        .filter_map(|rest| rest.strip_prefix(" — "))
        .filter_map(|rest| rest.split('s').next()?.parse().ok())
        .collect()
}

/// Kills the process group a pidfile names, so a failed test leaves no service behind.
struct KillGroup(std::path::PathBuf);

impl Drop for KillGroup {
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

/// Service waits (process backend, a real child process that takes a second to stop) and the
/// backup's verify phase draw a spinner with the time so far, and clear it when done.
#[test]
fn service_waits_and_the_backup_verify_show_a_spinner_then_clear_it() {
    let sb = Sandbox::new();
    sb.write(
        "ripcord.toml",
        &format!(
            "[service.units.\"slow.service\"]\ncommand = \"sh -c 'trap \\\"sleep 1; exit 0\\\" TERM; while :; do sleep 0.1; done'\"\ncwd = \"{dir}\"\npidfile = \"{dir}/run/slow.pid\"\nlog = \"{dir}/logs/slow.log\"\nstop_timeout = \"10s\"\n",
            dir = sb.path().display()
        ),
    );
    // About 16 MiB of rows: a full integrity check of the copy takes a visible moment.
    let db = rusqlite::Connection::open(sb.join("app.db")).expect("db");
    db.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
         INSERT INTO t(v) SELECT hex(randomblob(64)) FROM n;
         CREATE INDEX t_v ON t(v);",
    )
    .expect("fill");
    drop(db);
    let _cleanup = KillGroup(sb.join("run/slow.pid"));
    sb.write(
        "waits.rhai",
        "//! Waits.\nstep \"Start\" { service::start(\"slow.service\", #{ settle: \"1500ms\" }); }\nstep \"Stop\" { service::stop(\"slow.service\"); }\nstep \"Backup\" { db::backup(\"app.db\", \"copy.db\", #{ verify: \"full\" }); }\n",
    );
    let pane = Pane::start(&sb, &plain_terminal(), "run waits.rhai");
    let raw = String::from_utf8_lossy(&pane.wait_for("[exit ")).into_owned();
    assert!(raw.contains("[exit 0]"), "{raw}");
    let start = times_after(&raw, "service::start slow.service: waiting until active");
    assert!(
        start.iter().any(|t| *t >= 1.0),
        "no start spinner past 1s (settle 1.5s): {start:?}\n{raw}"
    );
    let stop = times_after(&raw, "service::stop slow.service: waiting until inactive");
    assert!(
        stop.iter().any(|t| *t >= 0.5),
        "no stop spinner past 0.5s (the service takes 1s to stop): {stop:?}\n{raw}"
    );
    assert!(
        !times_after(&raw, "verify copy.db").is_empty(),
        "no verify spinner:\n{raw}"
    );
    let screen = pane.screen();
    assert!(
        !screen.contains("waiting until") && !screen.contains("verify copy.db —"),
        "a spinner was left on the screen:\n{screen}"
    );
    assert!(screen.contains("✓ Backup"), "{screen}");
    drop(pane);

    // Not a terminal: no spinner at all.
    sb.write("again.rhai", "//! Again.\nstep \"Start\" { service::start(\"slow.service\", #{ settle: \"300ms\" }); }\nstep \"Stop\" { service::stop(\"slow.service\"); }\n");
    let piped = sb.run(&["run", "again.rhai"]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(!piped.stderr.contains("waiting until"), "{}", piped.stderr);
}

/// The backup's progress bar shows the time so far (it stayed at "(0s)"): the copy of a 72 MiB
/// rollback-journal database waits while another process holds an exclusive lock for 2.5s.
#[test]
fn the_backup_progress_bar_shows_the_time_so_far() {
    let sb = Sandbox::new();
    let db = rusqlite::Connection::open(sb.join("big.db")).expect("db");
    db.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE t(b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 72)
         INSERT INTO t SELECT randomblob(1048576) FROM n;",
    )
    .expect("fill");
    drop(db);
    sb.write(
        "backup.rhai",
        "//! Backup.\nstep \"Backup\" { db::backup(\"big.db\", \"big-copy.db\", #{ verify: \"quick\" }); }\n",
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let path = sb.join("big.db");
    let holder = std::thread::spawn(move || {
        let db = rusqlite::Connection::open(path).expect("open");
        db.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        tx.send(()).expect("send");
        std::thread::sleep(Duration::from_millis(2500));
        db.execute_batch("COMMIT").expect("unlock");
    });
    rx.recv().expect("locked");
    let pane = Pane::start(&sb, &plain_terminal(), "run backup.rhai");
    let raw = String::from_utf8_lossy(&pane.wait_for("[exit ")).into_owned();
    holder.join().expect("holder");
    assert!(raw.contains("[exit 0]"), "{raw}");
    assert!(raw.contains("backup big.db ["), "no progress bar:\n{raw}");
    assert!(
        raw.contains("(1s)") || raw.contains("(2s)"),
        "the bar's time did not advance:\n{raw}"
    );
}
