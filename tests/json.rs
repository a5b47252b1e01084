//! Every JSON output ripcord prints or writes, validated against the documented schema
//! (docs/json.schema.json, explained in docs/json.md): runs that pass, fail, are refused or
//! never start, drills and their report.json, history, show, report and doc, and the one error
//! object of the commands that fail outside a run.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::support::{Outcome, Sandbox};

fn definitions() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.schema.json");
        let text = std::fs::read_to_string(path).expect("docs/json.schema.json");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        schema["$defs"].clone()
    })
}

/// Panic naming every place `value` breaks the definition `name`.
pub(crate) fn assert_valid(name: &str, value: &Value) {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": definitions(),
        "$ref": format!("#/$defs/{name}"),
    });
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} output does not match docs/json.schema.json:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn valid(name: &str, out: &Outcome) -> Value {
    let value = out.json();
    assert_valid(name, &value);
    value
}

const OK: &str = "//! Fine.\n//! @param n = 2: how many\nstep \"Add\" { fs::write(\"out.txt\", `${n}`); }\n#{ n: n }\n";
const FAILS: &str = "//! Fails.\nstep \"Breaks\" { fail(\"disk on fire\"); }\n";
const ASKS: &str = "//! Asks.\nstep \"Gate\" { confirm(\"go on?\"); }\n";

/// A run for each exit code: its arguments, the exit code and the status it reports.
const EXIT_CASES: &[(&[&str], i32, &str)] = &[
    (&["run", "ok.rhai", "--json"], 0, "ok"),
    (&["run", "ok.rhai", "--json", "--dry-run"], 0, "ok"),
    (&["run", "fails.rhai", "--json"], 1, "failed"),
    (&["run", "asks.rhai", "--json"], 3, "aborted"),
    (&["run", "nope", "--json"], 2, "usage"),
    (&["run", "ok.rhai", "--json", "-p", "n=abc"], 2, "usage"),
    (&["run", "ok.rhai", "--json", "-p", "m=1"], 2, "usage"),
    (
        &["run", "ok.rhai", "--json", "--timeout", "soon"],
        2,
        "usage",
    ),
    (&["drill", "nope", "--json"], 2, "usage"),
    (&["resume", "999", "--json"], 2, "usage"),
];

#[test]
fn runs_print_one_shape_for_every_exit_code() {
    let sb = Sandbox::new();
    sb.write("ok.rhai", OK);
    sb.write("fails.rhai", FAILS);
    sb.write("asks.rhai", ASKS);
    for (args, code, status) in EXIT_CASES {
        let out = sb
            .test()
            .args(*args)
            .context(format!("{args:?}"))
            .status(*code)
            .run();
        let value = valid("run", &out);
        assert_eq!(value["schema_version"], 1, "{args:?}");
        assert_eq!(value["status"], *status, "{args:?}");
        assert_eq!(value["exit_code"], *code, "{args:?}");
        if *code != 0 {
            assert!(
                value["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{args:?}"
            );
        }
    }
    // The three-field object of old is gone: a missing runbook has the full object.
    let missing = sb.run(&["run", "nope", "--json"]).json();
    assert_eq!(missing["steps"], json!([]));
    assert!(
        missing["error"]["help"]
            .as_str()
            .is_some_and(|h| h.contains("ripcord list"))
    );
}

#[test]
fn a_drill_its_report_json_and_report_run_match_the_schema() {
    let sb = Sandbox::new();
    sb.write("ok.rhai", OK);
    let drill = sb
        .test()
        .args(["drill", "ok.rhai", "--json", "--report", "rep"])
        .run();
    let value = valid("run", &drill);
    let file = value["report"]["json"].as_str().expect("report.json path");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(file).expect("read"))
        .expect("report.json is JSON");
    assert_valid("report", &written);
    let run = value["run"].as_i64().expect("run id").to_string();
    let report = sb
        .test()
        .args(["report", &run, "--json", "--report", "again"])
        .run();
    valid("report", &report);
}

#[test]
fn history_show_and_doc_match_the_schema_and_no_journal_is_an_empty_history() {
    let sb = Sandbox::new();
    let empty = sb.test().args(["history", "--json"]).run();
    assert_eq!(valid("history", &empty)["runs"], json!([]));
    sb.test()
        .args(["history"])
        .stderr_contains("no runs recorded yet")
        .run();

    sb.write("ok.rhai", OK);
    sb.test().args(["run", "ok.rhai"]).run();
    let history = sb.test().args(["history", "--json"]).run();
    let runs = valid("history", &history)["runs"].clone();
    let id = runs[0]["id"].as_i64().expect("id").to_string();
    valid("show", &sb.test().args(["show", &id, "--json"]).run());

    let doc = sb.test().args(["doc", "--format", "json"]).run();
    let functions = valid("doc", &doc)["functions"].clone();
    assert!(functions.as_array().is_some_and(|f| f.len() > 20));
}

#[test]
fn commands_failing_outside_a_run_print_the_error_object() {
    let sb = Sandbox::new();
    sb.write("ok.rhai", OK);
    sb.test().args(["run", "ok.rhai"]).run();
    for args in [
        &["show", "999", "--json"][..],
        &["report", "999", "--json"],
        &["doc", "nosuchmodule", "--format", "json"],
    ] {
        let out = sb
            .test()
            .args(args)
            .context(format!("{args:?}"))
            .status(2)
            .stderr_contains("error")
            .run();
        let value = valid("error", &out);
        assert_eq!(value["status"], "usage", "{args:?}");
    }
}

#[test]
fn the_journal_and_report_json_agree_on_a_missing_answer() {
    let sb = Sandbox::new();
    sb.write("asks.rhai", ASKS);
    let run = sb
        .test()
        .args(["run", "asks.rhai", "--json"])
        .status(3)
        .run();
    let id = run.json()["run"].as_i64().expect("run id").to_string();

    let show = valid("show", &sb.test().args(["show", &id, "--json"]).run());
    let prompt = show["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "prompt"))
        .expect("a prompt event");
    assert_eq!(prompt["data"]["answer"], Value::Null);

    let report = sb
        .test()
        .args(["report", &id, "--json", "--report", "rep"])
        .run();
    let report = valid("report", &report);
    assert_eq!(report["prompts"][0]["answer"], Value::Null);
    let md = std::fs::read_to_string(sb.join("rep/report.md")).expect("report.md");
    assert!(md.contains("go on? → no answer"), "{md}");
}
