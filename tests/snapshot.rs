//! Snapshots (insta) of what an operator reads: rendered errors with their help lines, the
//! `ripcord doc` listing and a run's Markdown report, so a changed message is a reviewed diff.
//!
//! The `.snap` files are in `tests/snapshots/`. After a deliberate change (a new native, a
//! reworded error) rewrite them with plain cargo, no cargo-insta needed, and review the diff:
//!
//! ```text
//! INSTA_UPDATE=always cargo test --workspace snapshot::
//! git diff tests/snapshots/
//! ```
//!
//! (`INSTA_UPDATE=always` writes the `.snap` files in place and the run passes. Without it a
//! mismatch fails the test and, outside CI, leaves a `.snap.new` beside the old file; under
//! `CI=true` it writes nothing.) What differs from run to run (times, durations, the sandbox's
//! path, user and host) is replaced by placeholders through insta filters, below.

use crate::support::{Sandbox, Test};

/// Snapshots named by their case alone (`tests/snapshots/NAME.snap`).
fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

/// Snapshot `text` with the run-specific parts of ripcord's output replaced by placeholders.
#[track_caller]
fn assert_redacted(name: &str, sb: &Sandbox, text: &str) {
    let mut settings = settings();
    let sandbox = regex::escape(&sb.path().display().to_string());
    for (pattern, placeholder) in [
        (sandbox.as_str(), "[SANDBOX]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIMESTAMP]"),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", "[TIME]"),
        (r"\+?\b\d+(\.\d+)?(ms|s)\b", "[DURATION]"),
        (r"(?m)^\| (Operator|Host) \| .* \|$", "| $1 | [REDACTED] |"),
    ] {
        settings.add_filter(pattern, placeholder);
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// The exit status and stderr of a command that must fail with `status`, for a snapshot.
fn rendered(sb: &Sandbox, args: &[&str], status: i32) -> String {
    let out = sb.test().args(args).status(status).run();
    format!("exit status: {}\n{}", out.code, out.stderr)
}

#[test]
fn rendered_errors_name_the_thing_the_reason_and_what_to_do() {
    let sb = Sandbox::new();
    sb.write("bad.rhai", "step \"x\" {\n    let a = ;\n}\n");
    sb.write(
        "typo.rhai",
        "//! A typo.\nstep \"Copy\" {\n    fs::wirte(\"a\", \"b\");\n}\n",
    );
    sb.write(
        "params.rhai",
        "//! Params.\n//! @param target: commit to reset to\n//! @param unit = \"cortex.service\": unit\n40\n",
    );
    sb.write(
        "boom.rhai",
        "//! Boom.\nstep \"Breaks\" {\n    throw \"disk on fire\";\n}\n",
    );
    sb.write(
        "option.rhai",
        "//! A misspelt option.\nstep \"Copy\" {\n    fs::copy(\"a\", \"b\", #{ forse: true });\n}\n",
    );
    let cases: [(&str, &[&str], i32); 7] = [
        ("error_syntax", &["run", "bad.rhai"], 2),
        ("error_unknown_function", &["check", "typo.rhai"], 2),
        ("error_missing_param", &["run", "params.rhai"], 2),
        ("error_runbook_not_found", &["run", "nope"], 2),
        ("error_doc_unknown_function", &["doc", "fs::wirte"], 2),
        ("error_thrown_in_a_step", &["run", "boom.rhai"], 1),
        ("error_unknown_option", &["run", "option.rhai"], 1),
    ];
    for (name, args, status) in cases {
        assert_redacted(name, &sb, &rendered(&sb, args, status));
    }
}

#[test]
fn doc_lists_every_native_with_its_signature_and_summary() {
    // Nothing in `doc` varies from run to run: no filters, so a changed default ("30s") shows.
    let all = Test::new().arg("doc").run();
    let one = Test::new().args(["doc", "db::backup"]).run();
    settings().bind(|| {
        insta::assert_snapshot!("doc", all.stdout);
        insta::assert_snapshot!("doc_db_backup", one.stdout);
    });
}

#[test]
fn report_markdown_of_a_run_with_a_change_and_a_failed_step() {
    let sb = Sandbox::new();
    sb.write(
        "two.rhai",
        r#"//! Two steps: a change, then a failure.
//! @param who = "world": who to greet
//! @rto 5m
step "Write" {
    fs::write("out.txt", `hello ${who}`);
}
step "Check" {
    fail("the greeting is not served");
}
"#,
    );
    sb.test().args(["run", "two.rhai"]).status(1).run();
    sb.test().args(["report", "1", "--report", "report"]).run();
    let markdown = std::fs::read_to_string(sb.join("report/report.md")).expect("report.md");
    assert_redacted("report_markdown", &sb, &markdown);
}
