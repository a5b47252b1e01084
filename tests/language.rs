//! The runbook language as documented: `ripcord doc` (one top-level section, effects that say
//! what a function does, `print` listed) and what `ripcord check` finds before a run: params
//! used as another type than their default gives them, and Rhai's in-place methods used as
//! values.

use crate::support::{Sandbox, Test};

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

/// `ripcord check` on one script, in a sandbox of its own.
fn check(script: &str) -> Test<'static> {
    Test::new()
        .write("r.rhai", script)
        .args(["check", "r.rhai"])
        .context(script)
}

#[test]
fn check_finds_a_param_used_as_another_type_than_its_default() {
    check("//! Wait.\n//! @param wait = \"60\": seconds\nlet ms = wait * 1000;\n")
        .status(2)
        .stderr_contains("param `wait` is a string (its default `\"60\"` is quoted), but it is used in arithmetic (`*`)")
        .stderr_contains("r.rhai:3:10")
        .stderr_contains("`@param wait = 60`")
        .run();
    check("//! Phase.\n//! @param phase = \"1\": which\nif phase == 2 { print(1); }\n")
        .status(2)
        .stderr_contains("it is compared with an integer")
        .run();
    check("//! Log.\n//! @param n = \"5\": how many\nlet l = git::log(\".\", n);\n")
        .status(2)
        .stderr_contains("`git::log` takes an integer there")
        .run();
    check("//! Log.\n//! @param n: how many\nlet l = git::log(\".\", n);\n")
        .status(2)
        .stderr_contains("a required param is always a string")
        .run();
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
        check(script).run();
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
        check(script)
            .status(2)
            .stderr_contains("changes its value in place and returns nothing")
            .stderr_contains(at)
            .run();
    }
    check("//! T.\nlet s = \" a \";\ns.trim();\nlet t = s;\nlet a = [2, 1];\na.sort();\n").run();
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
        sb.test()
            .args(["check", "r.rhai"])
            .context(what)
            .status(2)
            .stderr_contains("error")
            .stderr_lacks("warning")
            .run();
        let ran = sb.run(&["run", "r.rhai"]);
        assert_ne!(ran.code, 0, "{what} ran fine:\n{}", ran.stderr);
    }

    let sb = Sandbox::new();
    sb.write("r.rhai", "//! X.\n//! @owner ops team\nprint(\"fine\");\n");
    sb.test()
        .args(["check", "r.rhai"])
        .stderr_contains("warning")
        .stderr_contains("unknown header tag `@owner`")
        .stderr_contains("no problems (1 warning(s))")
        .run();
    sb.test().args(["run", "r.rhai"]).run();
}

/// What `catch (e)` holds is part of the language runbooks are written in: a native's failure
/// is a string, its help on a second line, and rethrowing it renders that help again.
#[test]
fn a_caught_native_failure_is_a_string_with_its_help_line() {
    let sb = Sandbox::new();
    let code = r#"//! Catch.
step "Remove" {
    fs::mkdir("d");
    try {
        fs::remove("d");
    } catch (e) {
        print(type_of(e));
        print(e);
        throw e;
    }
}
"#;
    let out = sb
        .runbook("c.rhai", code)
        .arg("--json")
        .status(1)
        .stderr_contains("error: cannot remove d: it is a folder")
        .stderr_contains("help: pass #{ recursive: true } to remove the folder")
        .run();
    assert_eq!(
        out.json()["output"],
        "string\ncannot remove d: it is a folder\nhelp: pass #{ recursive: true } to remove the folder and everything in it\n"
    );
    assert_eq!(
        out.json()["error"]["help"],
        "pass #{ recursive: true } to remove the folder and everything in it"
    );
}

/// A runbook whose `Remove` step fails inside `nested` (two function calls down), and which
/// handles the caught failure with `handler`.
fn removing_in_a_nested_call(handler: &str) -> String {
    format!(
        r#"//! Catch.
fn remove(p) {{ fs::remove(p) }}
fn nested(p) {{ remove(p) }}
step "Remove" {{
    fs::mkdir("d");
    try {{
        nested("d");
    }} catch (e) {{
        {handler}
    }}
}}
"#
    )
}

/// The failure is carried as a value beside the string the script caught: rethrown unchanged,
/// the error is the native's, with its help and the place it was rethrown.
#[test]
fn a_failure_from_a_nested_call_rethrown_keeps_its_help() {
    let sb = Sandbox::new();
    let out = sb
        .runbook("c.rhai", &removing_in_a_nested_call("throw e;"))
        .arg("--json")
        .status(1)
        .stderr_contains("error: cannot remove d: it is a folder")
        .stderr_contains("help: pass #{ recursive: true } to remove the folder")
        .run();
    let error = &out.json()["error"];
    assert_eq!(error["message"], "cannot remove d: it is a folder");
    assert_eq!(
        error["help"],
        "pass #{ recursive: true } to remove the folder and everything in it"
    );
    assert_eq!(error["location"], "c.rhai:9:9", "{error}");
}

/// A script's own `throw "text"` is that text: no help of the failure it replaced.
#[test]
fn a_caught_failure_replaced_by_the_scripts_own_text_has_no_help() {
    let sb = Sandbox::new();
    let out = sb
        .runbook(
            "c.rhai",
            &removing_in_a_nested_call(r#"throw "d is still there";"#),
        )
        .arg("--json")
        .status(1)
        .stderr_contains("error: d is still there")
        .stderr_lacks("help:")
        .run();
    let error = &out.json()["error"];
    assert_eq!(error["message"], "d is still there");
    assert_eq!(error["help"], serde_json::Value::Null, "{error}");
}

/// Text the script builds from the caught string is the script's text, taken as it is: the
/// help line inside it is not split back out (nothing is parsed from text).
#[test]
fn a_caught_failure_built_into_new_text_is_that_text() {
    let sb = Sandbox::new();
    let out = sb
        .runbook(
            "c.rhai",
            &removing_in_a_nested_call(r#"throw `cleanup: ${e.split("\n")[0]}`;"#),
        )
        .arg("--json")
        .status(1)
        .stderr_contains("error: cleanup: cannot remove d: it is a folder")
        .stderr_lacks("help:")
        .run();
    assert_eq!(out.json()["error"]["help"], serde_json::Value::Null);
}

/// A failure the engine raises itself (not a native) is structured the same way.
#[test]
fn an_unknown_function_has_its_help_apart() {
    let sb = Sandbox::new();
    let out = sb
        .runbook("c.rhai", "//! Unknown.\nnope(1);\n")
        .arg("--json")
        .status(1)
        .run();
    let error = &out.json()["error"];
    assert_eq!(error["message"], "unknown function: nope (i64)", "{error}");
    assert!(
        error["help"]
            .as_str()
            .unwrap_or("")
            .contains("`ripcord doc`"),
        "{error}"
    );
}

/// A native failing with a lower layer's error (the script path's "no such runbook") keeps
/// that error's help apart too, also when rethrown.
#[test]
fn a_lower_layers_help_inside_a_native_failure_is_its_help() {
    let sb = Sandbox::new();
    let code = "//! Missing.\ntry { runbook::run(\"nope\"); } catch (e) { throw e; }\n";
    let out = sb.runbook("m.rhai", code).arg("--json").status(1).run();
    let error = &out.json()["error"];
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("runbook `nope`") && !m.contains("help")),
        "{error}"
    );
    assert!(
        error["help"]
            .as_str()
            .is_some_and(|h| h.starts_with("`ripcord list` shows the runbooks")),
        "{error}"
    );
}
