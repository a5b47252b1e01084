//! Plain Rhai runs as stock Rhai runs it: `step` as a name, missing properties, `#!`, doc tags,
//! imports, limits no stricter than stock, deep nesting, and where `print` and `debug` go.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::Sandbox;

#[test]
fn step_is_an_ordinary_name_and_still_starts_a_step() {
    let sb = Sandbox::new();
    sb.write(
        "s.rhai",
        r#"let step = 3;
print(step);
let o = #{ step: 5 };
o.step += 1;
print(o.step);
let n = 0;
for i in range(0, 10, step) { n += 1; }
print(n);
fn step(x) { x * 2 }
print(step(21));
step "Real step" { print(`inside, step is ${step}`); }
"#,
    );
    sb.test()
        .args(["run", "s.rhai"])
        .stdout("3\n6\n4\n42\ninside, step is 3\n")
        .stderr_contains("✓ Real step")
        .run();
    sb.test().args(["check", "s.rhai"]).run();
}

#[test]
fn a_missing_map_property_is_unit_as_in_rhai() {
    let sb = Sandbox::new();
    sb.write(
        "m.rhai",
        "let m = #{ a: 1 };\nprint(m.b == ());\nprint(m?.b == ());\nprint(m[\"b\"] == ());\nif m.x == () { print(\"no x\"); }\nm.c = 3;\nprint(m.len());\n",
    );
    sb.test()
        .args(["run", "m.rhai"])
        .stdout("true\ntrue\ntrue\nno x\n2\n")
        .run();
}

#[test]
fn a_missing_cfg_key_is_an_error_naming_the_key_and_the_config_file() {
    let sb = Sandbox::new();
    sb.write("r.toml", "db = \"state.db\"\n[service]\nscope = \"user\"\n");
    sb.write(
        "c.rhai",
        "print(cfg.db);\nprint(cfg.get(\"port\") ?? 8080);\nprint(\"db\" in cfg);\nprint(cfg.service.scope);\ndb::backup(cfg.dbb, \"x.db\");\n",
    );
    sb.test()
        .args(["run", "c.rhai", "--config", "r.toml"])
        .status(1)
        .stdout("state.db\n8080\ntrue\nuser\n")
        .stderr_contains(
            "error: `cfg.dbb` is not set: the config r.toml has no key `dbb`\n --> c.rhai:5:15",
        )
        .stderr_contains(
            "help: add `dbb = ...` to it; for an optional key use `cfg.get(\"dbb\") ?? default`",
        )
        .run();

    sb.write("n.rhai", "print(cfg.service.unit);\n");
    sb.test()
        .args(["run", "n.rhai", "--config", "r.toml"])
        .status(1)
        .stderr_contains(
            "error: `cfg.service.unit` is not set: the config r.toml has no key `service.unit`",
        )
        .run();
}

#[test]
fn a_shebang_first_line_runs_and_keeps_line_numbers() {
    let sb = Sandbox::new();
    sb.write(
        "x.rhai",
        "#!/usr/bin/env -S ripcord run\n//! Shebang.\nprint(\"ran\");\n",
    );
    sb.test().args(["run", "x.rhai"]).stdout("ran\n").run();

    sb.write(
        "bad.rhai",
        "#!/usr/bin/env -S ripcord run\nlet a = 1;\nlet b = ;\n",
    );
    sb.test()
        .args(["run", "bad.rhai"])
        .status(2)
        .stderr_contains("--> bad.rhai:3:9")
        .run();
}

#[test]
fn an_unknown_header_tag_is_documentation_a_warning_in_check_and_no_error_in_run() {
    let sb = Sandbox::new();
    sb.write(
        "t.rhai",
        "//! Tagged.\n//! @author Jane\n//! @since 1.2\nprint(\"ok\");\n",
    );
    sb.test()
        .args(["check", "t.rhai"])
        .stderr_contains("warning: unknown header tag `@author`\n --> t.rhai:2:5")
        .stderr_contains("1 runbook(s) checked: no problems (2 warning(s))")
        .run();
    sb.test().args(["run", "t.rhai"]).stdout("ok\n").run();
    let described = sb.run(&["describe", "t.rhai"]);
    assert!(
        described.stdout.contains("@author Jane"),
        "{}",
        described.stdout
    );
}

#[test]
fn an_import_in_a_function_called_300_times_loads_one_module() {
    let sb = Sandbox::new();
    sb.write("lib/two.rhai", "fn two() { 2 }\n");
    sb.write("lib/three.rhai", "fn three() { 3 }\n");
    sb.write(
        "i.rhai",
        "fn f() { import \"lib/two\" as m; m::two() }\nlet s = 0;\nfor i in 0..300 { s += f(); }\nprint(s);\n",
    );
    sb.test().args(["run", "i.rhai"]).stdout("600\n").run();

    // The cap, when set, counts modules.
    sb.write(
        "two.rhai",
        "import \"lib/two\" as a;\nimport \"lib/three\" as b;\nprint(a::two() + b::three());\n",
    );
    assert_eq!(sb.run(&["run", "two.rhai", "--limit", "imports=2"]).code, 0);
    sb.test()
        .args(["run", "two.rhai", "--limit", "imports=1"])
        .status(1)
        .stderr_contains(
            "error: `import \"lib/three\"` would load more than 1 modules (--limit imports)",
        )
        .run();
}

#[test]
fn modules_that_import_each_other_are_a_clear_error_in_check_and_run() {
    let sb = Sandbox::new();
    sb.write("lib/a.rhai", "import \"b\" as b;\nfn one() { 1 }\n");
    sb.write("lib/b.rhai", "import \"a\" as a;\nfn two() { 2 }\n");
    sb.write("main.rhai", "import \"lib/a\" as a;\nprint(a::one());\n");
    let dir = sb.path().canonicalize().expect("canonical");
    let cycle = format!(
        "error: import cycle: {d}/lib/a.rhai -> {d}/lib/b.rhai -> {d}/lib/a.rhai\n --> main.rhai:1:1",
        d = dir.display()
    );
    for command in ["check", "run"] {
        sb.test()
            .args([command, "main.rhai"])
            .status(2)
            .stderr_contains(&cycle)
            .stderr_contains("help: modules cannot import each other")
            .run();
    }
    // A script importing itself.
    sb.write("self.rhai", "import \"self\" as me;\n");
    sb.test()
        .args(["run", "self.rhai"])
        .status(2)
        .stderr_contains("import cycle:")
        .run();
}

/// Exited normally (not killed by a signal such as SIGABRT from a stack overflow).
fn exited(status: std::process::ExitStatus) -> Option<i32> {
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    status.code()
}

#[test]
fn nesting_50000_deep_is_a_clear_error_or_works_never_an_abort() {
    let sb = Sandbox::new();
    let depth = 50_000;
    let literal = format!("let a = {}{};\n", "[".repeat(depth), "]".repeat(depth));
    sb.write("literal.rhai", &literal);
    sb.test()
        .args(["run", "literal.rhai"])
        .status(2)
        .stderr_contains("error: syntax error: Expression exceeds maximum complexity")
        .stderr_contains("--limit expr-depth=N")
        .run();

    let expression = format!("let a = {}1{};\n", "(1+".repeat(depth), ")".repeat(depth));
    sb.write("expression.rhai", &expression);
    sb.test().args(["run", "expression.rhai"]).status(2).run();
    sb.test().args(["check", "expression.rhai"]).status(2).run();

    // Nested data from outside (JSON) is refused with a message, not followed down.
    sb.write(
        "json.rhai",
        "let s = \"\";\nfor i in 0..50000 { s += \"[\"; }\nfor i in 0..50000 { s += \"]\"; }\njson::parse(s)\n",
    );
    sb.test().args(["run", "json.rhai"]).status(1).run();

    // A deep value built at run time (building is quadratic in stock Rhai too, so not 50,000
    // here), printed, returned as the result (converted for the journal) and dropped: all
    // recursive walks over the value, on the run's own large stack.
    sb.write(
        "built.rhai",
        "let a = [];\nfor i in 0..2000 { a = [a.take()]; }\nlet s = a.to_debug();\nprint(s.len());\na\n",
    );
    let run = sb.command(&["run", "built.rhai"]).output().expect("run");
    assert_eq!(
        exited(run.status),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), "4002\n");

    sb.write(
        "recurse.rhai",
        "fn f(n) { if n == 0 { 0 } else { 1 + f(n - 1) } }\nf(100000)\n",
    );
    let run = sb.command(&["run", "recurse.rhai"]).output().expect("run");
    assert_eq!(exited(run.status), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("too many nested calls (runaway recursion?)"),
        "{stderr}"
    );
}

#[test]
fn print_goes_to_stdout_debug_to_stderr_and_json_keeps_print_in_output() {
    let sb = Sandbox::new();
    sb.write(
        "o.rhai",
        "print(\"before\");\nstep \"Talk\" { print(\"said\"); debug(\"noted\"); }\n42\n",
    );
    sb.test()
        .args(["run", "o.rhai"])
        .stdout("before\nsaid\n")
        .stderr_contains("o.rhai:2: \"noted\"")
        .stderr_lacks("said")
        .run();

    let json = sb.test().args(["run", "o.rhai", "--json"]).run();
    let value = json.json();
    assert_eq!(value["output"], "before\nsaid\n");
    assert_eq!(value["result"], 42);

    // Journaled as the run's output: setup output before the step, the step's within it.
    let run = value["run"].as_i64().expect("run id").to_string();
    let shown = sb.run(&["show", &run, "--json"]).json();
    let outputs: Vec<(String, String)> = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "output")
        .map(|e| {
            (
                e["step"].as_str().unwrap_or("").to_string(),
                e["data"]["text"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        outputs,
        [
            (String::new(), "before\n".to_string()),
            ("Talk".to_string(), "said\n".to_string())
        ]
    );
}

#[test]
fn a_closed_stdout_ends_a_run_and_a_listing_quietly() {
    let sb = Sandbox::new();
    sb.write(
        "chatty.rhai",
        "step \"Talk\" { let i = 0; loop { print(`line ${i}`); i += 1; } }\n",
    );
    let mut child = sb
        .command(&["run", "chatty.rhai"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read");
    assert_eq!(first, "line 0\n");
    // The reader is gone now (as `| head -1` leaves it).
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(exited(out.status), Some(130), "{stderr}");
    assert!(
        stderr.contains("stopped at a safe point: the output was closed (broken pipe)"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let history = sb.run(&["history", "--json"]).json();
    assert_eq!(history["runs"][0]["status"], "interrupted");

    for args in [&["history"][..], &["doc"][..]] {
        let mut child = sb
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
}

#[test]
fn a_long_loop_runs_to_its_end_while_timeout_and_ctrl_c_stop_a_runaway_promptly() {
    let sb = Sandbox::new();
    // Stock Rhai has no operation cap; neither has ripcord unless asked for one.
    sb.write(
        "long.rhai",
        "let x = 0;\nfor i in 0..3_000_000 { x += 1; }\nprint(x);\n",
    );
    sb.test()
        .args(["run", "long.rhai"])
        .stdout("3000000\n")
        .run();
    sb.test()
        .args(["run", "long.rhai", "--limit", "operations=100000"])
        .status(1)
        .stderr_contains("--limit operations=")
        .run();
    sb.write(
        "header.rhai",
        "//! Capped in its header.\n//! @limit operations=100000\nlet x = 0;\nfor i in 0..3_000_000 { x += 1; }\n",
    );
    assert_eq!(sb.run(&["run", "header.rhai"]).code, 1);
    assert_eq!(
        sb.run(&["run", "header.rhai", "--limit", "operations=off"])
            .code,
        0
    );

    sb.write(
        "spin.rhai",
        "step \"Spin\" { let i = 0; loop { i += 1; } }\n",
    );
    let started = Instant::now();
    sb.test()
        .args(["run", "spin.rhai", "--timeout", "1s"])
        .status(1)
        .stderr_contains("timed out after 1.0s")
        .run();
    // Generous: the machine may be loaded; a stop check that never ran would hang here.
    assert!(started.elapsed() < Duration::from_secs(30));

    let mut child = sb
        .command(&["run", "spin.rhai"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    stderr.read_line(&mut line).expect("read");
    assert!(line.contains("Spin"), "{line}");
    let sent = Instant::now();
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert_eq!(exited(status), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(30));
}
