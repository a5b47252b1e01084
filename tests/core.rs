//! The core: steps, params, dry run, confirm, limits, errors, journal and history.

use std::time::{Duration, Instant};

use crate::support::Sandbox;

const TWO_STEPS: &str = r#"//! Two steps that write a line each.
//! @param who = "world": who to greet
step "First" {
    print(`hello ${who}`);
}
step "Second" {
    40 + 2
}
"#;

#[test]
fn two_step_runbook_runs_prints_steps_and_lands_in_history() {
    let sb = Sandbox::new();
    sb.write("two.rhai", TWO_STEPS);
    let out = sb
        .test()
        .args(["run", "two.rhai", "--json"])
        .stderr_contains("▶ First")
        .stderr_contains("✓ First (")
        .stderr_contains("✓ Second (")
        .run();
    let json = out.json();
    assert_eq!(json["output"], "hello world\n");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["result"], 42);
    assert_eq!(json["steps"].as_array().map(Vec::len), Some(2));

    let history = sb.test().args(["history", "--json"]).run();
    let history = history.json();
    let first = &history["runs"][0];
    assert_eq!(first["script"], "two");
    assert_eq!(first["status"], "ok");
    assert!(first["id"].is_i64());
    assert!(
        first["started"]
            .as_str()
            .is_some_and(|s| s.starts_with("20"))
    );
}

#[test]
fn throwing_step_exits_1_naming_the_step_and_line() {
    let sb = Sandbox::new();
    sb.write("boom.rhai", "//! Boom.\nstep \"Fine\" { let a = 1; }\nstep \"Breaks\" {\n    throw \"disk on fire\";\n}\n");
    let out = sb
        .test()
        .args(["run", "boom.rhai", "--json"])
        .status(1)
        .stderr_contains("error: disk on fire")
        .stderr_contains("boom.rhai:4:5")
        .stderr_contains("in step `Breaks`")
        .run();
    let json = out.json();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["error"]["step"], "Breaks");
    assert_eq!(json["error"]["location"], "boom.rhai:4:5");
}

#[test]
fn error_in_a_script_function_points_at_its_line_with_the_call_as_a_note() {
    let sb = Sandbox::new();
    sb.write("f.rhai", "fn check(x) {\n    if x > 1 { throw `too big: ${x}`; }\n}\nstep \"Check\" {\n    check(5);\n}\n");
    sb.test()
        .args(["run", "f.rhai"])
        .status(1)
        .stderr_contains("f.rhai:2:16")
        .stderr_contains("in a call to `check` at f.rhai:5:5")
        .run();
}

#[test]
fn syntax_error_exits_2_with_its_line_and_runs_nothing() {
    let sb = Sandbox::new();
    sb.write("bad.rhai", "step \"x\" {\n    let a = ;\n}\n");
    sb.test()
        .args(["run", "bad.rhai"])
        .status(2)
        .stderr_contains("bad.rhai:2:13")
        .stderr_contains("nothing was run")
        .run();
    assert!(
        !sb.journal().exists(),
        "a syntax error must not start a run"
    );
}

#[test]
fn missing_and_undeclared_params_exit_2_listing_the_declared_ones() {
    let sb = Sandbox::new();
    sb.write("p.rhai", "//! Params.\n//! @param target: commit to reset to\n//! @param unit = \"cortex.service\": unit\nfs::write(\"ran\", target);\n");
    sb.test()
        .args(["run", "p.rhai"])
        .status(2)
        .stderr_contains("missing required param `target`")
        .stderr_contains("-p unit=… (default: \"cortex.service\") — unit")
        .run();
    sb.test()
        .args(["run", "p.rhai", "-p", "target=abc", "-p", "colour=red"])
        .status(2)
        .stderr_contains("`colour` is not a param of p.rhai")
        .run();
    assert!(!sb.join("ran").exists(), "nothing may run on a param error");
}

#[test]
fn defaults_apply_and_typed_defaults_coerce_values() {
    let sb = Sandbox::new();
    sb.write("d.rhai", "//! Defaults.\n//! @param unit = \"cortex.service\": unit\n//! @param secs = 30: seconds\n#{ unit: unit, double: secs * 2 }\n");
    let out = sb
        .test()
        .args(["run", "d.rhai", "--json", "-p", "secs=5"])
        .run();
    assert_eq!(out.json()["result"]["unit"], "cortex.service");
    assert_eq!(out.json()["result"]["double"], 10);
    sb.test()
        .args(["run", "d.rhai", "-p", "secs=soon"])
        .status(2)
        .stderr_contains("`secs`: expected an integer, got \"soon\"")
        .run();
}

#[test]
fn dry_run_makes_no_change_and_says_what_it_would_do() {
    let sb = Sandbox::new();
    sb.write(
        "c.rhai",
        "//! Changes.\nstep \"Write\" {\n    fs::write(\"out.txt\", \"hello\");\n    sh(\"touch x\");\n    sh(\"touch ro\", #{ read_only: true });\n}\n",
    );
    sb.test()
        .args(["run", "c.rhai", "--dry-run"])
        .stderr_contains("would: write 5 bytes to out.txt")
        .stderr_contains("would: run `touch x`")
        .run();
    assert!(!sb.join("out.txt").exists());
    assert!(!sb.join("x").exists());
    assert!(
        sb.join("ro").exists(),
        "a read_only command runs in a dry run"
    );

    sb.test().args(["run", "c.rhai"]).run();
    assert_eq!(
        std::fs::read_to_string(sb.join("out.txt")).ok().as_deref(),
        Some("hello")
    );
    assert!(sb.join("x").exists());
}

#[test]
fn confirm_without_a_terminal_exits_3_and_runs_nothing_past_it() {
    let sb = Sandbox::new();
    sb.write(
        "q.rhai",
        "//! Ask.\nstep \"Ask\" {\n    confirm(\"Reset?\");\n    fs::write(\"after\", \"x\");\n}\n",
    );
    sb.test()
        .args(["run", "q.rhai"])
        .status(3)
        .stderr_contains("no terminal")
        .stderr_contains("--yes")
        .run();
    assert!(!sb.join("after").exists());
    sb.test().args(["run", "q.rhai", "--yes"]).run();
    assert!(sb.join("after").exists());
}

#[test]
fn timeout_stops_a_runaway_loop_and_exits_1_saying_so() {
    let sb = Sandbox::new();
    sb.write("spin.rhai", "step \"Spin\" { loop {} }\n");
    let out = sb
        .test()
        .args(["run", "spin.rhai", "--timeout", "1s", "--json"])
        .status(1)
        .stderr_contains("timed out after 1.0s")
        .run();
    assert_eq!(out.json()["status"], "timed out");
}

#[test]
fn assigning_a_field_of_a_const_map_is_an_error_not_a_crash() {
    let sb = Sandbox::new();
    sb.write("k.rhai", "const M = #{a: 1};\nM.a = 2;\n");
    sb.test()
        .args(["run", "k.rhai"])
        .status(1)
        .stderr_contains("k.rhai:2:1")
        .stderr_lacks("panicked")
        .run();
}

#[test]
fn sigterm_stops_the_run_at_a_safe_point_with_exit_130() {
    let sb = Sandbox::new();
    sb.write("wait.rhai", "step \"Wait\" { loop {} }\n");
    let mut child = sb
        .command(&["run", "wait.rhai"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for_step_start(&sb);
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let history = sb.run(&["history", "--json"]).json();
    assert_eq!(history["runs"][0]["status"], "interrupted");
}

#[test]
fn imports_resolve_relative_to_the_importing_file_also_when_nested() {
    let sb = Sandbox::new();
    sb.write(
        "rb/main.rhai",
        "import \"lib/outer\" as outer;\nouter::value()\n",
    );
    sb.write(
        "rb/lib/outer.rhai",
        "import \"inner\" as inner;\nfn value() { inner::base() + 1 }\n",
    );
    sb.write("rb/lib/inner.rhai", "fn base() { 41 }\n");
    let out = sb.test().args(["run", "rb/main.rhai", "--json"]).run();
    assert_eq!(out.json()["result"], 42);
}

#[test]
fn a_script_is_found_by_name_on_the_script_path() {
    let sb = Sandbox::new();
    sb.write("books/hello.rhai", "//! Say hello.\n\"hi\"\n");
    let out = sb
        .test()
        .args(["--scripts", "books", "run", "hello", "--json"])
        .run();
    assert_eq!(out.json()["result"], "hi");
    sb.test()
        .args(["--scripts", "books", "run", "nope"])
        .status(2)
        .stderr_contains("runbook `nope` not found")
        .stderr_contains("ripcord list")
        .run();
    let list = sb.run(&["list", "books"]);
    assert!(
        list.stdout.contains("hello") && list.stdout.contains("Say hello."),
        "{}",
        list.stdout
    );
}

#[test]
fn config_is_the_cfg_map_with_tilde_expanded() {
    let sb = Sandbox::new();
    sb.write(
        "ripcord.toml",
        "db = \"~/cortex.db\"\n[service]\nscope = \"user\"\n",
    );
    sb.write("c.rhai", "#{ db: cfg.db, scope: cfg.service.scope }\n");
    let out = sb
        .command(&["run", "c.rhai", "--json"])
        .env("HOME", "/home/op")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["result"]["db"], "/home/op/cortex.db");
    assert_eq!(json["result"]["scope"], "user");
    sb.test()
        .args(["run", "c.rhai", "--config", "missing.toml"])
        .status(2)
        .stderr_contains("cannot read the config missing.toml")
        .run();
}

#[test]
fn the_journal_is_owner_only_and_records_changes_before_they_are_made() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.write("w.rhai", "step \"Write\" { fs::write(\"f\", \"1\"); }\n");
    sb.test().args(["run", "w.rhai"]).run();
    let mode = std::fs::metadata(sb.journal())
        .expect("journal")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let conn = rusqlite::Connection::open(sb.journal()).expect("open");
    let kinds: Vec<String> = conn
        .prepare("SELECT kind FROM events ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("events");
    let start = kinds
        .iter()
        .position(|k| k == "change.start")
        .expect("change.start");
    let end = kinds
        .iter()
        .position(|k| k == "change.end")
        .expect("change.end");
    assert!(start < end, "{kinds:?}");
    sb.test()
        .args(["show", "1"])
        .stdout_contains("write 1 bytes to f")
        .run();
}

#[test]
fn secret_params_never_reach_the_journal_or_the_output() {
    let sb = Sandbox::new();
    sb.write("s.rhai", "//! Secret.\n//! @param secret token: api token\nprint(`token is ${token}`);\nthrow `bad token ${token}`;\n");
    let out = sb
        .test()
        .args(["run", "s.rhai", "-p", "token=hunter2-secret", "--json"])
        .status(1)
        .stderr_lacks("hunter2-secret")
        .stdout_lacks("hunter2-secret")
        .run();
    assert_eq!(out.json()["output"], "token is ***\n");
    let bytes = std::fs::read(sb.journal()).expect("journal");
    let wal = std::fs::read(sb.journal().with_extension("db-wal")).unwrap_or_default();
    for b in [bytes, wal] {
        assert!(!String::from_utf8_lossy(&b).contains("hunter2-secret"));
    }
}

#[test]
fn journal_verify_names_an_edited_event() {
    let sb = Sandbox::new();
    sb.write("two.rhai", TWO_STEPS);
    sb.test().args(["run", "two.rhai"]).run();
    sb.test().args(["journal", "verify"]).run();
    let conn = rusqlite::Connection::open(sb.journal()).expect("open");
    conn.execute(
        "UPDATE events SET data = '{\"name\":\"Forged\"}' WHERE id = 3",
        [],
    )
    .expect("edit");
    drop(conn);
    sb.test()
        .args(["journal", "verify"])
        .status(1)
        .stderr_contains("broken at event 3")
        .run();
}

#[test]
fn two_runs_of_the_same_script_cannot_run_at_once() {
    let sb = Sandbox::new();
    sb.write("held.rhai", "step \"Hold\" { loop {} }\n");
    let mut first = sb
        .command(&["run", "held.rhai", "--timeout", "60s"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for_step_start(&sb);
    let second = sb.run(&["run", "held.rhai", "--timeout", "5s"]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.code, 4, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "another run holds the lock `held`: pid {}",
            first.id()
        )),
        "{}",
        second.stderr
    );
    // The killed holder's lock is released by the kernel: a new run takes it.
    sb.write("held.rhai", "1\n");
    sb.test().args(["run", "held.rhai"]).run();
}

/// Wait until some run in the sandbox's journal has started a step.
pub fn wait_for_step_start(sb: &Sandbox) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = rusqlite::Connection::open(sb.journal())
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM events WHERE kind = 'step.start'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
        if started > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the run never started a step");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_run_shows_as_interrupted_and_resume_runs_only_the_remaining_steps() {
    let sb = Sandbox::new();
    sb.write(
        "three.rhai",
        r#"//! Three steps.
//! @param tag = "x": a tag
step "One" { fs::append("log.txt", `one ${tag}` + "\n"); }
step "Two" {
    fs::append("log.txt", "two\n");
    // A read, not journaled: it runs only once the append's outcome is committed.
    sh("touch appended", #{ read_only: true });
    while !fs::exists("release") { time::sleep("20ms"); }
}
step "Three" { fs::append("log.txt", "three\n"); }
"#,
    );
    let mut child = sb
        .command(&["run", "three.rhai", "-p", "tag=t1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sb.join("appended").exists() {
        assert!(Instant::now() < deadline, "step two never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    sb.test()
        .arg("history")
        .stdout_contains("interrupted")
        .stdout_contains("at step `Two`")
        .stdout_contains("last change completed: append 4 bytes to log.txt")
        .run();

    sb.write("release", "");
    let resumed = sb
        .test()
        .args(["resume", "1", "--json"])
        .stderr_contains("resuming run 1 at step `Two`")
        .run();
    let steps = resumed.json()["steps"].clone();
    let statuses: Vec<String> = (steps.as_array().expect("steps").iter())
        .map(|s| {
            format!(
                "{}={}",
                s["name"].as_str().unwrap_or("?"),
                s["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(statuses, ["One=resumed", "Two=ok", "Three=ok"]);
    assert_eq!(
        std::fs::read_to_string(sb.join("log.txt")).expect("log"),
        "one t1\ntwo\nthree\n",
        "the append step two made before the kill was made again"
    );
}

#[test]
fn resume_refuses_a_script_changed_since_the_run() {
    let sb = Sandbox::new();
    sb.write("r.rhai", "step \"Fails\" { throw \"no\"; }\n");
    sb.test().args(["run", "r.rhai"]).status(1).run();
    sb.write("r.rhai", "step \"Fails\" { 1 }\n");
    sb.test()
        .args(["resume", "1"])
        .status(2)
        .stderr_contains("changed since run 1")
        .run();
    sb.test().args(["resume", "1", "--allow-changed"]).run();
    sb.test()
        .args(["resume", "2"])
        .status(2)
        .stderr_contains("ended `ok`: there is nothing to resume")
        .run();
}

/// Two steps writing `cfg.name`; the second fails until a file `go` exists.
const WRITES_CFG_NAME: &str = r#"step "One" { fs::write("one.txt", cfg.name); }
step "Two" {
    if !fs::exists("go") { throw `not yet: ${cfg.name}`; }
    fs::write("two.txt", cfg.name);
}
"#;

#[test]
fn resume_from_another_folder_reuses_the_runs_folder_and_config_and_refuses_a_changed_config() {
    let sb = Sandbox::new();
    sb.write("r.rhai", WRITES_CFG_NAME);
    let conf = sb.write("conf.toml", "name = \"alpha\"\n");
    sb.test()
        .args(["run", "r.rhai", "--config", "conf.toml"])
        .status(1)
        .run();
    let elsewhere = sb.join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    sb.write("elsewhere/other.toml", "name = \"beta\"\n");
    let resume = |run: &str| sb.test().args(["resume", run]).current_dir("elsewhere");

    std::fs::write(&conf, "name = \"changed\"\n").expect("edit");
    let refused = resume("1")
        .status(2)
        .stderr_contains("conf.toml changed since run 1");
    refused.stderr_contains("pass --config").run();
    assert!(!sb.join("two.txt").exists(), "a refused resume ran a step");

    std::fs::write(&conf, "name = \"alpha\"\n").expect("restore");
    // The recorded config, read from the run's folder (changes made before the failure would
    // be replayed, not made again, so the step's message is the evidence).
    let failed = resume("1")
        .status(1)
        .stderr_contains("the folder it ran in");
    failed.stderr_contains("not yet: alpha").run();
    assert!(!sb.join("two.txt").exists() && !elsewhere.join("two.txt").exists());

    // --config overrides the recorded config; relative to where the operator is.
    sb.write("go", "");
    let with_config = resume("2").args(["--config", "other.toml"]);
    with_config.stderr_contains("(--config) instead of").run();
    let read = |name: &str| std::fs::read_to_string(sb.join(name)).unwrap_or_default();
    assert_eq!(
        (read("one.txt"), read("two.txt")),
        ("alpha".into(), "beta".into())
    );
}

#[test]
fn undo_actions_run_in_reverse_order_when_a_later_step_fails() {
    let sb = Sandbox::new();
    sb.write(
        "u.rhai",
        r#"step "A" { fs::append("log", "a\n"); undo(|| fs::append("log", "undo a\n")); }
step "B" { fs::append("log", "b\n"); undo(|| fs::append("log", "undo b\n")); }
step "C" { throw "c broke"; }
"#,
    );
    sb.test()
        .args(["run", "u.rhai"])
        .status(1)
        .stderr_contains("2 undo action(s) registered but not run")
        .run();
    std::fs::remove_file(sb.join("log")).expect("rm");
    sb.test()
        .args(["run", "u.rhai", "--undo-on-failure"])
        .status(1)
        .run();
    assert_eq!(
        std::fs::read_to_string(sb.join("log")).expect("log"),
        "a\nb\nundo b\nundo a\n"
    );
    let show = sb.run(&["show", "2", "--json"]).json();
    let kinds: Vec<&str> = show["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "undo.end").count(),
        2,
        "{kinds:?}"
    );
}

#[test]
fn check_names_an_unknown_function_and_its_line_and_runs_nothing() {
    let sb = Sandbox::new();
    sb.write(
        "typo.rhai",
        "//! Typo.\nstep \"Write\" {\n    fs::wirte(\"marker\", \"x\");\n}\n",
    );
    sb.test()
        .args(["check", "typo.rhai"])
        .status(2)
        .stderr_contains("unknown function `fs::wirte`")
        .stderr_contains("typo.rhai:3:5")
        .stderr_contains("did you mean `fs::write`?")
        .run();
    assert!(!sb.join("marker").exists());
}

#[test]
fn every_shipped_runbook_passes_check() {
    let sb = Sandbox::new();
    let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts");
    sb.test()
        .args(["check", scripts])
        .stderr_contains("no problems")
        .run();
}

#[test]
fn every_native_function_has_a_doc_and_an_example_that_compiles() {
    let sb = Sandbox::new();
    let out = sb.test().args(["doc", "--format", "json"]).run();
    let docs = out.json();
    let all = docs["functions"].as_array().expect("array");
    for module in [
        "fs", "db", "git", "service", "probe", "time", "log", "json", "toml",
    ] {
        assert!(
            all.iter().any(|f| f["module"] == module),
            "no functions in `{module}`"
        );
    }
    let mut dir = String::new();
    for f in all {
        let name = f["qualified"].as_str().expect("qualified");
        assert!(
            !f["summary"].as_str().unwrap_or("").is_empty(),
            "{name} has no summary"
        );
        let example = f["example"].as_str().unwrap_or("");
        assert!(!example.is_empty(), "{name} has no example");
        let file = format!("ex{}.rhai", dir.len());
        dir.push('x');
        sb.write(&file, &format!("{example}\n"));
        sb.test().args(["check", &file]).run();
    }
}

#[test]
fn doc_describes_one_function_with_its_example() {
    let sb = Sandbox::new();
    sb.test()
        .args(["doc", "fs::write"])
        .stdout_contains("write(")
        .stdout_contains("change")
        .run();
    sb.test()
        .args(["doc", "fs::wirte"])
        .status(2)
        .stderr_contains("fs::write")
        .run();
}

#[test]
fn an_explicit_lock_is_shared_across_scripts_and_taken_over_from_a_killed_holder() {
    let sb = Sandbox::new();
    sb.write("a.rhai", "lock(\"cortex\");\nstep \"Hold\" { loop {} }\n");
    sb.write(
        "b.rhai",
        "lock(\"cortex\");\nstep \"Work\" { fs::write(\"b-ran\", \"1\"); }\n",
    );
    let mut first = sb
        .command(&["run", "a.rhai", "--timeout", "60s"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for_step_start(&sb);
    sb.test()
        .args(["run", "b.rhai"])
        .status(4)
        .stderr_contains(format!(
            "another run holds the lock `cortex`: pid {}",
            first.id()
        ))
        .run();
    assert!(!sb.join("b-ran").exists());
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    sb.test().args(["run", "b.rhai"]).run();
    assert!(sb.join("b-ran").exists());
}

/// A one-shot HTTP server on 127.0.0.1 that records the request it gets.
fn http_server() -> (String, std::thread::JoinHandle<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/health", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap_or(0);
        let body = "{\"status\":\"healthy\"}";
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    (url, handle)
}

#[test]
fn a_secret_never_reaches_the_journal_outputs_or_reports() {
    let sb = Sandbox::new();
    let secret = "s3cr3t-Token-9271";
    let (url, server) = http_server();
    sb.write(
        "secret.rhai",
        &format!(
            r#"//! Uses a secret everywhere.
//! @param secret token: API token
step "Probe" {{
    print(`token is ${{token}}`);
    let r = probe::http("{url}", #{{ headers: #{{ Authorization: `Bearer ${{token}}` }} }});
    log::info(`probe said ${{r.status}}`);
}}
step "Fail" {{
    throw `the token ${{token}} was rejected`;
}}
"#
        ),
    );
    let run = sb
        .test()
        .args([
            "run",
            "secret.rhai",
            "-p",
            &format!("token={secret}"),
            "--json",
        ])
        .status(1)
        .run();
    let request = server.join().expect("server");
    assert!(
        request.contains(&format!("Bearer {secret}")),
        "the real request must carry the token: {request}"
    );
    let report = sb.test().args(["report", "1", "--report", "rep"]).run();
    let show = sb.run(&["show", "1", "--json"]);
    let history = sb.run(&["history", "--json"]);
    let mut texts = vec![
        run.stdout,
        run.stderr,
        report.stdout,
        report.stderr,
        show.stdout,
        history.stdout,
    ];
    for f in ["rep/report.md", "rep/report.json", "rep/timeline.svg"] {
        texts.push(std::fs::read_to_string(sb.join(f)).expect(f));
    }
    for f in [sb.journal(), sb.journal().with_extension("db-wal")] {
        texts.push(String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned());
    }
    assert!(texts[0].contains("token is ***"), "{}", texts[0]);
    for (i, t) in texts.iter().enumerate() {
        assert!(!t.contains(secret), "output {i} contains the secret:\n{t}");
    }
}
