//! `ripcord history` as text: a table with a header row whose columns stay aligned whatever
//! the length of a runbook's name.

use crate::support::Sandbox;

#[test]
fn history_is_a_table_whose_columns_survive_long_names() {
    let sb = Sandbox::new();
    let long = "a-runbook-with-a-name-much-longer-than-the-old-sixteen-columns";
    sb.write("short.rhai", "//! Short.\n1\n");
    sb.write(&format!("{long}.rhai"), "//! Long.\n1\n");
    assert_eq!(sb.run(&["run", "short.rhai"]).code, 0);
    assert_eq!(sb.run(&["run", &format!("{long}.rhai")]).code, 0);
    let out = sb.test().args(["history"]).run();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[0].trim_start().starts_with("RUN"), "{}", out.stdout);
    let column = |line: &str, word: &str| {
        line.find(word)
            .unwrap_or_else(|| panic!("{word} in {line}"))
    };
    let mode = column(lines[0], "MODE");
    assert_eq!(column(lines[1], "run "), mode, "{}", out.stdout);
    assert_eq!(column(lines[2], "run "), mode, "{}", out.stdout);
    assert!(lines[1].contains(long), "newest first:\n{}", out.stdout);
}
