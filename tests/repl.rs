//! The REPL and step-through, driven in a real pseudo-terminal: the binary runs in a tmux
//! session of its own; keys go in with `send-keys`, the screen comes back with `capture-pane`.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::Sandbox;

/// How long to wait for text to appear on the screen before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// One `ripcord` process on its own tmux server; the server is killed when this is dropped.
struct Terminal {
    socket: String,
}

impl Terminal {
    /// Start `ripcord ARGS` in the sandbox. When it exits, the pane shows `[exit CODE]`.
    fn start(sb: &Sandbox, args: &str) -> Terminal {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "ripcord-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let command = format!(
            "env -u RIPCORD_JOURNAL -u RIPCORD_PATH NO_COLOR=1 XDG_STATE_HOME={state} {bin} {args}; echo \"[exit $?]\"; sleep 600",
            state = quote(&sb.join(".state")),
            bin = quote(Path::new(env!("CARGO_BIN_EXE_ripcord"))),
        );
        let terminal = Terminal { socket };
        let out = terminal.tmux(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "200",
            "-y",
            "50",
            "-c",
            &sb.path().display().to_string(),
            &command,
        ]);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        terminal
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    /// Type text literally (no key names), without Enter.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    /// Press keys by tmux name: `Enter`, `Tab`, `C-c`.
    fn press(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "main", key]);
    }

    /// Paste `text` through tmux's paste buffer. `bracketed` wraps it in the bracketed-paste
    /// markers (as a terminal does when the program asked for them); otherwise the text arrives
    /// as fast typed-ahead keys, each newline an Enter.
    fn paste(&self, text: &str, bracketed: bool) {
        let out = self.tmux(&["set-buffer", "-b", "paste", "--", text]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut args = vec!["paste-buffer", "-d", "-b", "paste", "-t", "main"];
        if bracketed {
            args.push("-p");
        }
        let out = self.tmux(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Type a line and press Enter.
    fn line(&self, text: &str) {
        self.type_text(text);
        self.press("Enter");
    }

    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-t", "main", "-S", "-500"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until `found` says yes about the screen; fail with the screen at the deadline.
    fn wait(&self, what: &str, found: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if found(&screen) {
                return screen;
            }
            if start.elapsed() > DEADLINE {
                panic!("waited {DEADLINE:?} for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `text` appears `n` times on the screen.
    fn wait_count(&self, text: &str, n: usize) -> String {
        self.wait(&format!("{n} x `{text}`"), |s| s.matches(text).count() >= n)
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait_count(text, 1)
    }

    /// Wait until a line reads exactly `line`.
    fn wait_line(&self, line: &str) -> String {
        self.wait(&format!("the line `{line}`"), |s| {
            s.lines().any(|l| l.trim_end() == line)
        })
    }

    /// Wait for the process to exit and return its exit code.
    fn exit_code(&self) -> i32 {
        let screen = self.wait_for("[exit ");
        let code = screen
            .split("[exit ")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .and_then(|c| c.parse().ok());
        code.unwrap_or_else(|| panic!("no exit code on the screen:\n{screen}"))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `(kind, step, data)` of every event of the newest run in the sandbox's journal.
fn events(sb: &Sandbox) -> Vec<(String, Option<String>, serde_json::Value)> {
    let db = rusqlite::Connection::open(sb.journal()).expect("open the journal");
    let mut stmt = db
        .prepare("SELECT kind, step, data FROM events WHERE run = (SELECT max(id) FROM runs) ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| {
        let data: String = r.get(2)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            serde_json::from_str(&data).unwrap_or_default(),
        ))
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

fn run_status(sb: &Sandbox) -> String {
    let db = rusqlite::Connection::open(sb.journal()).expect("open the journal");
    db.query_row(
        "SELECT status FROM runs ORDER BY id DESC LIMIT 1",
        [],
        |r| r.get(0),
    )
    .expect("a run")
}

/// The `name` field of each event of `kind`.
fn names(events: &[(String, Option<String>, serde_json::Value)], kind: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(k, ..)| k == kind)
        .map(|(_, _, d)| d["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The data of the first event of `kind`.
fn event(events: &[(String, Option<String>, serde_json::Value)], kind: &str) -> serde_json::Value {
    events
        .iter()
        .find(|(k, ..)| k == kind)
        .map(|(_, _, d)| d.clone())
        .unwrap_or_else(|| panic!("no {kind} event"))
}

fn answers(events: &[(String, Option<String>, serde_json::Value)]) -> Vec<String> {
    events
        .iter()
        .filter(|(k, ..)| k == "prompt")
        .map(|(_, _, d)| {
            format!(
                "{} {}",
                d["kind"].as_str().unwrap_or("?"),
                d["answer"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

const THREE_STEPS: &str = r#"//! Three steps that each say they ran.
step "One" { print("ran: one"); }
step "Two" { print("ran: two"); }
step "Three" { print("ran: three"); }
"#;

#[test]
fn repl_evaluates_and_keeps_functions_and_imports_across_lines() {
    let sb = Sandbox::new();
    sb.write("lib/math.rhai", "fn twice(x) { x * 2 }\n");
    let t = Terminal::start(&sb, "repl");
    t.wait_for("ripcord> ");
    t.line("40 + 2");
    t.wait_line("42");

    t.wait_count("ripcord> ", 2);
    // An open block keeps the same edit buffer: Enter adds a line instead of evaluating.
    t.line("fn spread(a, b) {");
    t.wait_for("ripcord> fn spread(a, b) {");
    t.line("    a + b * 100");
    t.wait_line("    a + b * 100");
    t.line("}");
    t.wait_count("ripcord> ", 3);
    t.line("spread(1, 2)");
    t.wait_line("201");
    t.wait_count("ripcord> ", 4);

    t.line(r#"import "lib/math" as math;"#);
    t.wait_count("ripcord> ", 5);
    t.line("math::twice(1234)");
    t.wait_line("2468");
    t.wait_count("ripcord> ", 6);
    t.line("let kept = spread(math::twice(2), 3); kept");
    t.wait_line("304");
    t.wait_count("ripcord> ", 7);

    // An error in the middle of a line is shown, as `ripcord run` shows it.
    t.line("let a = ; 1");
    t.wait_for("error: syntax error");
    let screen = t.wait_for(" --> <repl>:1:9");
    assert!(!screen.contains("...> let"), "{screen}");
    t.wait_count("ripcord> ", 8);

    t.line(":quit");
    assert_eq!(t.exit_code(), 0);
    let history = std::fs::read_to_string(sb.join(".state/ripcord/repl_history")).expect("history");
    assert!(history.contains("math::twice(1234)"), "{history}");
}

#[test]
fn tab_completes_module_functions() {
    let sb = Sandbox::new();
    let t = Terminal::start(&sb, "repl");
    t.wait_for("ripcord> ");
    t.type_text("db::ba");
    t.press("Tab");
    t.wait_for("ripcord> db::backup");
    t.press("C-c");
    t.wait_count("ripcord> ", 2);
    t.type_text(":qu");
    t.press("Tab");
    t.wait_for("ripcord> :quit");
    t.press("Enter");
    assert_eq!(t.exit_code(), 0);
}

#[test]
fn ctrl_c_stops_a_running_loop_and_returns_to_the_prompt() {
    let sb = Sandbox::new();
    let t = Terminal::start(&sb, "repl");
    t.wait_for("ripcord> ");
    t.line("loop {}");
    // The loop is running once its input line has been taken.
    t.wait_for("ripcord> loop {}");
    t.press("C-c");
    t.wait_for("error: interrupted");
    t.wait_count("ripcord> ", 2);
    t.line("111 + 111");
    t.wait_line("222");
    t.wait_count("ripcord> ", 3);
    t.press("C-d");
    assert_eq!(t.exit_code(), 0);
}

#[test]
fn stepping_continue_skip_continue_runs_steps_one_and_three() {
    let sb = Sandbox::new();
    sb.write("three.rhai", THREE_STEPS);
    let t = Terminal::start(&sb, "run --step three.rhai");
    t.wait_for(r#"step "One" at three.rhai:2"#);
    t.press("c");
    t.wait_for(r#"step "Two" at three.rhai:3"#);
    t.press("s");
    t.wait_for(r#"step "Three" at three.rhai:4"#);
    t.press("c");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let screen = t.screen();
    assert!(
        screen.contains("ran: one") && screen.contains("ran: three"),
        "{screen}"
    );
    assert!(!screen.contains("ran: two"), "{screen}");

    let events = events(&sb);
    assert_eq!(names(&events, "step.start"), ["One", "Three"]);
    assert_eq!(names(&events, "step.skip"), ["Two"]);
    assert_eq!(
        answers(&events),
        ["step continue", "step skip", "step continue"]
    );
    assert_eq!(run_status(&sb), "ok");
}

#[test]
fn abort_at_step_two_exits_3_and_the_journal_shows_the_run_aborted() {
    let sb = Sandbox::new();
    sb.write("three.rhai", THREE_STEPS);
    let t = Terminal::start(&sb, "repl three.rhai");
    t.wait_for(r#"step "One""#);
    t.press("c");
    t.wait_for(r#"step "Two""#);
    t.press("a");
    assert_eq!(t.exit_code(), 3, "{}", t.screen());
    assert!(
        t.screen().contains("aborted before step `Two`"),
        "{}",
        t.screen()
    );
    let events = events(&sb);
    assert_eq!(names(&events, "step.start"), ["One"]);
    assert_eq!(answers(&events), ["step continue", "step abort"]);
    assert_eq!(run_status(&sb), "aborted");
}

#[test]
fn inspect_reads_and_assigns_script_variables_at_a_pause() {
    let sb = Sandbox::new();
    sb.write(
        "inspect.rhai",
        "let x = 41;\nstep \"Look\" { print(`look sees ${x}`); }\n",
    );
    let t = Terminal::start(&sb, "run --step inspect.rhai");
    t.wait_for(r#"step "Look""#);
    t.press("i");
    t.wait_for("inspect> ");
    t.line("x");
    t.wait_line("41");
    t.wait_count("inspect> ", 2);
    t.line("x = 5");
    t.wait_count("inspect> ", 3);
    t.press("Enter");
    t.wait_count(r#"step "Look""#, 2);
    t.press("c");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(t.screen().contains("look sees 5"), "{}", t.screen());
    let codes: Vec<_> = events(&sb)
        .into_iter()
        .filter(|(k, ..)| k == "inspect")
        .map(|(_, _, d)| d["code"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(codes, ["x", "x = 5"]);
}

#[test]
fn skipping_one_change_does_not_make_it_and_is_journaled() {
    let sb = Sandbox::new();
    sb.write(
        "change.rhai",
        "step \"Write\" {\n    fs::write(\"skipped.txt\", \"no\");\n    fs::write(\"made.txt\", \"yes\");\n}\n",
    );
    let t = Terminal::start(&sb, "run --step change.rhai");
    t.wait_for(r#"step "Write""#);
    t.press("c");
    t.wait_for("change: write 2 bytes to skipped.txt");
    t.press("s");
    t.wait_for("change: write 3 bytes to made.txt");
    t.press("c");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(!sb.join("skipped.txt").exists());
    assert_eq!(
        std::fs::read_to_string(sb.join("made.txt")).expect("made.txt"),
        "yes"
    );
    let events = events(&sb);
    assert_eq!(
        answers(&events),
        ["step continue", "change skip", "change continue"]
    );
    assert!(events.iter().any(|(k, ..)| k == "change.skip"));
}

#[test]
fn step_without_a_terminal_is_a_usage_error() {
    let sb = Sandbox::new();
    sb.write("three.rhai", THREE_STEPS);
    for args in [
        &["run", "--step", "three.rhai"][..],
        &["repl", "three.rhai"][..],
    ] {
        sb.test()
            .args(args)
            .status(2)
            .stderr_contains("--step needs a terminal to ask on")
            .run();
        assert!(!sb.journal().exists(), "nothing may run without a terminal");
    }
}

#[test]
fn enter_alone_repeats_the_pause_and_the_wait_is_kept_apart_from_the_step() {
    let sb = Sandbox::new();
    sb.write(
        "gate.rhai",
        "step \"Write\" {\n    fs::write(\"made.txt\", \"yes\");\n}\n",
    );
    let t = Terminal::start(&sb, "run --step gate.rhai");
    t.wait_for(r#"step "Write""#);
    // A stray (or typed-ahead) Enter answers nothing: the same question comes back.
    t.press("Enter");
    t.wait_for("Enter does not answer: press c, s, a or i");
    t.wait_count(r#"step "Write""#, 2);
    t.press("c");
    t.wait_for("change: write 3 bytes to made.txt");
    t.press("Enter");
    t.wait_for("Enter does not answer: press c, s, a");
    assert!(
        !sb.join("made.txt").exists(),
        "Enter let the change through"
    );
    // The operator takes a while over the change: that time is the wait, not the step's.
    let pause = Duration::from_millis(1500);
    std::thread::sleep(pause);
    t.press("c");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(sb.join("made.txt").exists());
    assert!(t.screen().contains("for the operator)"), "{}", t.screen());

    let events = events(&sb);
    assert_eq!(answers(&events), ["step continue", "change continue"]);
    let end = event(&events, "step.end");
    let wait = end["wait_ms"].as_u64().expect("wait_ms");
    let own = end["ms"].as_u64().expect("ms");
    assert!(wait >= pause.as_millis() as u64, "{end}");
    assert!(
        own < wait,
        "the wait is counted in the step's duration: {end}"
    );

    sb.test()
        .args(["show", "1"])
        .stdout_contains("ms waiting for the operator)")
        .run();
    sb.test().args(["report", "1", "--report", "r"]).run();
    let md = std::fs::read_to_string(sb.join("r/report.md")).expect("report.md");
    assert!(md.contains("| Operator wait |"), "{md}");
    assert!(!md.contains("| — |\n| | **Total**"), "no wait shown:\n{md}");
}

#[test]
fn a_pasted_multi_line_function_arrives_whole_and_can_be_called() {
    let sb = Sandbox::new();
    let t = Terminal::start(&sb, "repl");
    t.wait_for("ripcord> ");
    // Typed ahead: every line is in the terminal's input before the first is read.
    t.paste("fn twice(x) {\n    x * 2\n}\n", false);
    t.wait_count("ripcord> ", 2);
    t.line("twice(21)");
    t.wait_line("42");
    // A bracketed paste of a block with a step-free map literal over several lines, then Enter.
    t.paste(
        "let m = #{\n    a: 1,\n    b: twice(2)\n};\nm.a + m.b",
        true,
    );
    t.press("Enter");
    t.wait_line("5");
    // The history holds each block as one entry.
    t.line(":history");
    let screen = t.wait_for("m.a + m.b");
    assert!(screen.contains("fn twice(x) {"), "{screen}");
    t.press("C-d");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    assert!(!t.screen().contains("error"), "{}", t.screen());
}

#[test]
fn command_output_is_shown_live_under_the_step_masked_and_collapsed_to_its_last_lines() {
    let sb = Sandbox::new();
    sb.write(
        "live.rhai",
        "//! Chatty.\n//! @param secret token = \"\"\nstep \"Chatty\" {\n    sh(`for i in 1 2 3 4 5 6 7; do echo \"line $i ${token}\"; done; sleep 2; echo last`);\n}\n",
    );
    let t = Terminal::start(&sb, "run live.rhai -p token=hunter22");
    // While the command sleeps, its lines so far are on the screen under the step.
    let running = t.wait_for("│ line 7 ***");
    assert!(!running.contains("│ last"), "{running}");
    assert_eq!(t.exit_code(), 0, "{}", t.screen());
    let screen = t.screen();
    assert!(screen.contains("│ last"), "{screen}");
    assert!(screen.contains("│ line 4 ***"), "{screen}");
    assert!(!screen.contains("│ line 3"), "not collapsed:\n{screen}");
    assert!(!screen.contains("hunter22"), "{screen}");

    // The journal keeps the full output, masked.
    let end = event(&events(&sb), "change.end").to_string();
    assert!(
        end.contains("line 1 ***") && !end.contains("hunter22"),
        "{end}"
    );

    // Without a terminal nothing is drawn.
    sb.test()
        .args(["run", "live.rhai", "-p", "token=hunter22"])
        .stderr_lacks("│")
        .run();
}

#[test]
fn a_wait_shows_a_spinner_with_the_attempt_and_the_time_so_far_then_clears_it() {
    let sb = Sandbox::new();
    // A port nobody listens on: every attempt is refused until the wait gives up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    sb.write(
        "wait.rhai",
        &format!(
            "step \"Wait\" {{\n    probe::wait(\"http://127.0.0.1:{port}/health\", #{{ status: 200, interval: \"200ms\", timeout: \"4s\" }});\n}}\n"
        ),
    );
    let t = Terminal::start(&sb, "run wait.rhai");
    let shown = t.wait_for("— attempt 3, ");
    assert!(
        shown.contains(&format!(
            "probe::wait http://127.0.0.1:{port}/health — attempt"
        )),
        "{shown}"
    );
    assert!(shown.contains("(last: "), "{shown}");
    assert_eq!(t.exit_code(), 1, "{}", t.screen());
    let screen = t.screen();
    assert!(
        !screen.contains("— attempt"),
        "the spinner was not cleared:\n{screen}"
    );
    assert!(screen.contains("not met within 4s"), "{screen}");

    sb.test()
        .args(["run", "wait.rhai"])
        .status(1)
        .stderr_lacks("— attempt")
        .run();
}

#[test]
fn a_secret_typed_at_the_repl_never_reaches_the_history_file() {
    let sb = Sandbox::new();
    let t = Terminal::start(&sb, "repl");
    t.wait_for("ripcord> ");
    // Known as a secret by its key, before anything else said so.
    t.line(r#"let headers = #{ authorization: "Bearer repl-s3cret-77" }; 1"#);
    t.wait_count("ripcord> ", 2);
    t.line("log::info(headers)");
    t.wait_count("ripcord> ", 3);
    // Once known, the value is masked wherever it is typed again.
    t.line(r#"let again = "Bearer repl-s3cret-77"; 2"#);
    t.wait_count("ripcord> ", 4);
    t.line(":quit");
    assert_eq!(t.exit_code(), 0);
    let history = std::fs::read_to_string(sb.join(".state/ripcord/repl_history")).expect("history");
    assert!(!history.contains("repl-s3cret-77"), "{history}");
    assert!(history.contains("log::info(headers)"), "{history}");
    assert!(history.contains("let again = \"***\"; 2"), "{history}");
}
