//! `log::line`: the timestamped lines runbooks keep in an operator's log file (the rollback log
//! of the seed runbooks): one line per call whatever the text holds, secrets masked, appended
//! durably as a journaled change, and simulated in dry runs and drills.

use std::os::unix::fs::PermissionsExt;

use crate::support::Sandbox;

const SCRIPT: &str = r#"//! Log a reason and a token to a file.
//! @param reason: why
//! @param secret token: a secret
log::line("ops/rollback-log.txt", `rollback initiated due to: ${reason}`);
log::line("ops/rollback-log.txt", `token rotated to ${token}`);
"#;

fn run(sb: &Sandbox, mode: &[&str], reason: &str) -> crate::support::Outcome {
    let mut args = vec![mode[0]];
    args.extend(&mode[1..]);
    args.extend(["log.rhai", "-p", reason, "-p", "token=tok-5e3f9a"]);
    sb.run(&args)
}

#[test]
fn each_call_is_one_stamped_line_with_newlines_escaped_and_secrets_masked() {
    let sb = Sandbox::new();
    sb.write("log.rhai", SCRIPT);
    std::fs::create_dir(sb.join("ops")).expect("mkdir");
    let reason = "reason=storm\nforged: line\r\u{1b}[2J \\n";
    let out = run(&sb, &["run"], reason);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let path = sb.join("ops/rollback-log.txt");
    let text = std::fs::read_to_string(&path).expect("log file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    let (stamp, first) = lines[0].split_once(": ").expect("a stamp");
    assert!(
        stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "not RFC 3339 UTC: {stamp}"
    );
    assert_eq!(
        first,
        "rollback initiated due to: storm\\nforged: line\\r\\u{1b}[2J \\\\n"
    );
    assert!(lines[1].ends_with(": token rotated to ***"), "{text}");
    assert!(!text.contains("tok-5e3f9a"));
    // Created by the run: private from its first byte.
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Each line is a change in the journal, the secret masked there too.
    let show = sb.run(&["show", "1", "--json"]).json();
    let changes: Vec<&serde_json::Value> = show["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "change.start")
        .collect();
    assert_eq!(changes.len(), 2, "{show}");
    assert!(changes.iter().all(|c| c["data"]["function"] == "log::line"));
    let summary = changes[1]["data"]["summary"].as_str().unwrap_or("");
    assert_eq!(
        summary,
        format!("log \"token rotated to ***\" to ops/rollback-log.txt")
    );
}

#[test]
fn a_dry_run_and_a_drill_show_the_line_and_write_nothing() {
    let sb = Sandbox::new();
    sb.write("log.rhai", SCRIPT);
    std::fs::create_dir(sb.join("ops")).expect("mkdir");
    for mode in [&["run", "--dry-run"][..], &["drill"][..]] {
        let out = run(&sb, mode, "reason=preview");
        assert_eq!(out.code, 0, "{mode:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("log \"rollback initiated due to: preview\" to ops/rollback-log.txt"),
            "{mode:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("tok-5e3f9a"), "{}", out.stderr);
        assert!(
            !sb.join("ops/rollback-log.txt").exists(),
            "{mode:?} wrote the log"
        );
    }
}

#[test]
fn a_log_file_that_cannot_be_written_fails_naming_it() {
    let sb = Sandbox::new();
    sb.write("log.rhai", SCRIPT);
    // No `ops` folder: nothing to append to.
    let out = run(&sb, &["run"], "reason=x");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot append to ops/rollback-log.txt: no such file or folder"),
        "{}",
        out.stderr
    );
}
