//! The runbook language as documented: `ripcord doc` (one top-level section, effects that say
//! what a function does, `print` listed) and what `ripcord check` finds before a run: params
//! used as another type than their default gives them, and Rhai's in-place methods used as
//! values.

use crate::support::Sandbox;

#[test]
fn doc_lists_the_top_level_once_with_print_and_control_effects() {
    let out = Sandbox::new().run(&["doc"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = out.stdout;
    assert_eq!(text.matches("top level —").count(), 1, "{text}");
    assert!(text.contains("\n  print(value: ?) -> ()"), "{text}");
    assert!(
        text.contains("  sh("),
        "sh is in the one top-level section:\n{text}"
    );
    let confirm = Sandbox::new().run(&["doc", "confirm"]).stdout;
    assert!(confirm.starts_with("confirm  [control]"), "{confirm}");
    let fail = Sandbox::new().run(&["doc", "fail"]).stdout;
    assert!(fail.starts_with("fail  [control]"), "{fail}");
    let run = Sandbox::new().run(&["doc", "runbook::run"]).stdout;
    assert!(run.starts_with("runbook::run  [control]"), "{run}");
    assert_eq!(
        run.matches("runbook::run(name: String) -> ?").count(),
        1,
        "{run}"
    );
    assert_eq!(
        run.matches("runbook::run(name: String, params: Map) -> ?")
            .count(),
        1,
        "{run}"
    );
    assert!(!run.contains("-> Map"), "{run}");
}

/// `ripcord check` on one script: (exit code, stderr).
fn check(script: &str) -> (i32, String) {
    let sb = Sandbox::new();
    sb.write("r.rhai", script);
    let out = sb.run(&["check", "r.rhai"]);
    (out.code, out.stderr)
}

#[test]
fn check_finds_a_param_used_as_another_type_than_its_default() {
    let (code, err) =
        check("//! Wait.\n//! @param wait = \"60\": seconds\nlet ms = wait * 1000;\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("param `wait` is a string (its default `\"60\"` is quoted), but it is used in arithmetic (`*`)"),
        "{err}"
    );
    assert!(err.contains("r.rhai:3:10"), "{err}");
    assert!(err.contains("`@param wait = 60`"), "{err}");

    let (code, err) =
        check("//! Phase.\n//! @param phase = \"1\": which\nif phase == 2 { print(1); }\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it is compared with an integer"), "{err}");

    let (code, err) =
        check("//! Log.\n//! @param n = \"5\": how many\nlet l = git::log(\".\", n);\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`git::log` takes an integer there"), "{err}");

    let (code, err) = check("//! Log.\n//! @param n: how many\nlet l = git::log(\".\", n);\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a required param is always a string"), "{err}");
}

#[test]
fn check_leaves_params_used_as_their_type_or_converted() {
    for script in [
        "//! Wait.\n//! @param wait = 60: seconds\nlet ms = wait * 1000;\nif wait > 5 { print(ms); }\n",
        "//! Wait.\n//! @param wait = \"60\": seconds\nlet wait = parse_int(wait);\nlet ms = wait * 1000;\n",
        "//! Name.\n//! @param unit = \"cortex\": unit\nlet u = unit + \".service\";\nif unit == \"x\" { print(u); }\n",
        "//! Log.\n//! @param n = 5: how many\nlet l = git::log(\".\", n);\n",
        "//! Fn.\n//! @param wait = \"60\": seconds\nfn twice(wait) { wait * 2 }\nprint(twice(3));\n",
    ] {
        let (code, err) = check(script);
        assert_eq!(code, 0, "{script}\n{err}");
    }
}

#[test]
fn check_finds_in_place_methods_used_as_values() {
    for (script, at) in [
        (
            "//! T.\nlet s = \" a \";\nlet t = s.trim();\n",
            "r.rhai:3:11",
        ),
        ("//! T.\nlet a = [2, 1];\nprint(a.sort());\n", "r.rhai:3:9"),
        (
            "//! T.\nlet s = \"x\";\nlet m = `${s.replace(\"x\", \"y\")}`;\n",
            "r.rhai:3:14",
        ),
    ] {
        let (code, err) = check(script);
        assert_eq!(code, 2, "{script}\n{err}");
        assert!(
            err.contains("changes its value in place and returns nothing"),
            "{err}"
        );
        assert!(err.contains(at), "{at} in:\n{err}");
    }
    let (code, err) =
        check("//! T.\nlet s = \" a \";\ns.trim();\nlet t = s;\nlet a = [2, 1];\na.sort();\n");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn doc_language_prints_the_runbook_language() {
    let out = Sandbox::new().run(&["doc", "language"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runbooks.md"))
        .expect("docs/runbooks.md");
    assert_eq!(out.stdout, shipped);
    for topic in [
        "@param secret",
        "@rto",
        "runbook::run",
        "undo(",
        "print",
        "--json",
    ] {
        assert!(out.stdout.contains(topic), "{topic} is not documented");
    }
}

#[test]
fn editor_definitions_for_a_runbook_declare_cfg_and_its_typed_params() {
    let sb = Sandbox::new();
    sb.write(
        "r.rhai",
        "//! R.\n//! @param target: commit\n//! @param wait = 60: seconds\n//! @param dry = false: no\nstep \"S\" { print(target); }\n",
    );
    let out = sb
        .test()
        .args(["doc", "--format", "rhai", "--for", "r.rhai"])
        .run();
    for line in [
        "const cfg: map;",
        "const target: string;",
        "const wait: int;",
        "const dry: bool;",
        "`step \"name\" { ... }` is ripcord syntax",
        "fn confirm(message: String) -> bool;",
    ] {
        assert!(out.stdout.contains(line), "{line} missing:\n{}", out.stdout);
    }
    sb.test()
        .args(["doc", "--for", "r.rhai"])
        .status(2)
        .stderr_contains("add --format rhai")
        .run();
}

/// What `check` calls an error fails when the line runs (so `check` exits 2 and nothing is run
/// blind); what it calls a warning does not stop a run (`check` exits 0 and says so).
#[test]
fn check_reports_what_fails_at_run_time_as_errors_and_the_rest_as_warnings() {
    let failing = [
        ("an unknown function", "//! X.\nnosuch_fn(1);\n"),
        ("a wrong arity", "//! X.\nlet v = db::verify();\n"),
        ("an undefined variable", "//! X.\nprint(nowhere);\n"),
        (
            "a string param in arithmetic",
            "//! X.\n//! @param wait = \"60\": seconds\nlet ms = wait * 1000;\n",
        ),
        (
            "a string param where a native wants an integer",
            "//! X.\n//! @param n = \"5\": how many\nlet l = git::log(\".\", n);\n",
        ),
    ];
    for (what, script) in failing {
        let sb = Sandbox::new();
        sb.write("r.rhai", script);
        let checked = sb.run(&["check", "r.rhai"]);
        assert_eq!(checked.code, 2, "{what}: {}", checked.stderr);
        assert!(
            checked.stderr.contains("error"),
            "{what}: {}",
            checked.stderr
        );
        assert!(
            !checked.stderr.contains("warning"),
            "{what}: {}",
            checked.stderr
        );
        let ran = sb.run(&["run", "r.rhai"]);
        assert_ne!(ran.code, 0, "{what} ran fine:\n{}", ran.stderr);
    }

    let sb = Sandbox::new();
    sb.write("r.rhai", "//! X.\n//! @owner ops team\nprint(\"fine\");\n");
    let checked = sb.run(&["check", "r.rhai"]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert!(
        checked.stderr.contains("warning")
            && checked.stderr.contains("unknown header tag `@owner`"),
        "{}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains("no problems (1 warning(s))"),
        "{}",
        checked.stderr
    );
    let ran = sb.run(&["run", "r.rhai"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}
