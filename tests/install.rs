//! ripcord as an installed tool, outside the source checkout: built-in runbooks, `init`, the
//! config lookup order, `env::get`, completions, the man page and `--version`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Outcome, Sandbox};

/// A sandbox that looks like a fresh user's machine: its own HOME with no config, cache or
/// runbooks, the working directory outside any checkout.
fn fresh_user() -> Sandbox {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.join("home")).expect("home");
    std::fs::create_dir_all(sb.join("work")).expect("work");
    sb
}

fn run_in(sb: &Sandbox, cwd: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = sb.command(args);
    cmd.current_dir(sb.join(cwd))
        .env("HOME", sb.join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run ripcord");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A real SQLite DB with one table of three rows, and a config naming it for the shipped
/// backup runbook.
fn cortex_db(sb: &Sandbox, config: &str) {
    let db = sb.join("state.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch(
        "CREATE TABLE events(id INTEGER PRIMARY KEY); INSERT INTO events VALUES (1),(2),(3);",
    )
    .expect("create");
    std::fs::create_dir_all(sb.join("backups")).expect("backups");
    sb.write(
        config,
        &format!(
            "db = \"{}\"\nbackups = \"{}\"\n",
            db.display(),
            sb.join("backups").display()
        ),
    );
}

fn backups(sb: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sb.join("backups"))
        .expect("backups")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db"))
        .collect();
    names.sort();
    names
}

fn row<'a>(list: &'a str, name: &str) -> &'a str {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{list}"))
}

#[test]
fn built_in_runbooks_list_describe_and_run_outside_a_checkout() {
    let sb = fresh_user();
    let list = run_in(&sb, "work", &["list"], &[]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(
        row(&list.stdout, "rollback").contains("built-in"),
        "{}",
        list.stdout
    );
    assert!(
        !list.stdout.contains("lib/"),
        "libraries are not runbooks:\n{}",
        list.stdout
    );

    let describe = run_in(&sb, "work", &["describe", "backup"], &[]);
    assert_eq!(describe.code, 0, "{}", describe.stderr);
    assert!(describe.stdout.contains("built-in"), "{}", describe.stdout);
    assert!(describe.stdout.contains("source"), "{}", describe.stdout);

    cortex_db(&sb, "work/ripcord.toml");
    let run = run_in(&sb, "work", &["run", "backup", "--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["status"], "ok");
    assert_eq!(backups(&sb).len(), 1, "{:?}", backups(&sb));
    // The built-in copy lives in the user's cache, not in the working directory.
    assert!(sb.join("home/.cache/ripcord").is_dir());
    assert!(!sb.join("work/scripts").exists());
}

#[test]
fn init_writes_an_editable_copy_that_runs_and_is_never_overwritten() {
    let sb = fresh_user();
    let init = run_in(&sb, "work", &["init", "ops"], &[]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    for rel in [
        "scripts/rollback.rhai",
        "scripts/lib/health.rhai",
        "ripcord.toml",
    ] {
        assert!(sb.join("work/ops").join(rel).is_file(), "{rel} missing");
    }
    let mode = |rel: &str| {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(sb.join("work/ops").join(rel)).expect("meta");
        meta.permissions().mode() & 0o777
    };
    assert_eq!(mode("ripcord.toml"), 0o600);
    assert_eq!(mode("scripts/backup.rhai") & 0o600, 0o600);
    // The template parses and sets nothing: no runbook runs against a guessed path.
    let template = std::fs::read_to_string(sb.join("work/ops/ripcord.toml")).expect("toml");
    assert!(template.contains("# db = "), "{template}");

    // The operator edits a runbook: it runs as edited and `list` says so.
    let backup = sb.join("work/ops/scripts/backup.rhai");
    let shipped = std::fs::read_to_string(&backup).expect("read");
    let edited = shipped.replace(
        "let result = ();",
        "let result = ();\nlog::info(\"edited here\");",
    );
    assert_ne!(edited, shipped, "the edit point moved; pick another line");
    std::fs::write(&backup, &edited).expect("edit");
    cortex_db(&sb, "work/ops/ripcord.toml");
    let list = run_in(&sb, "work/ops", &["list"], &[]);
    assert!(
        row(&list.stdout, "backup").contains("edited"),
        "{}",
        list.stdout
    );
    assert!(
        row(&list.stdout, "rollback").contains("shipped"),
        "{}",
        list.stdout
    );
    let run = run_in(&sb, "work/ops", &["run", "backup"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("edited here"), "{}", run.stderr);

    // Init again: the edit survives, and --diff shows it against the shipped text.
    let again = run_in(&sb, "work", &["init", "ops"], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("kept (edited)"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&backup).expect("read"), edited);
    let diff = run_in(&sb, "work", &["init", "--diff", "ops"], &[]);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(
        diff.stdout.contains("--- a/scripts/backup.rhai"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("+log::info(\"edited here\");"),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains("rollback.rhai"), "{}", diff.stdout);
}

#[test]
fn init_updates_an_untouched_older_copy_but_keeps_an_unrecorded_one() {
    let sb = fresh_user();
    assert_eq!(run_in(&sb, "work", &["init", "ops"], &[]).code, 0);
    let ops = sb.join("work/ops");
    // As an older ripcord would have left it: a different verify.rhai, recorded as shipped.
    let old = "//! Old verify.\nstep \"Old\" { }\n";
    std::fs::write(ops.join("scripts/verify.rhai"), old).expect("write");
    let manifest = std::fs::read_to_string(ops.join(".ripcord-shipped")).expect("manifest");
    let manifest: String = manifest
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, "scripts/verify.rhai")) => format!("{}  scripts/verify.rhai\n", sha256(old)),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(ops.join(".ripcord-shipped"), manifest).expect("manifest");
    // And a file the manifest does not know, changed: the operator's.
    std::fs::write(ops.join("scripts/backup.rhai"), "//! Mine.\n").expect("write");

    let init = run_in(&sb, "work", &["init", "ops"], &[]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(init.stderr.contains("updated"), "{}", init.stderr);
    let verify = std::fs::read_to_string(ops.join("scripts/verify.rhai")).expect("read");
    assert_ne!(verify, old);
    assert!(
        verify.starts_with("//! Post-rollback verification"),
        "{verify}"
    );
    // backup.rhai was recorded with the shipped digest, so the change is an edit: kept.
    assert_eq!(
        std::fs::read_to_string(ops.join("scripts/backup.rhai")).expect("read"),
        "//! Mine.\n"
    );
}

#[test]
fn init_refuses_a_file_as_its_folder() {
    let sb = fresh_user();
    sb.write("work/taken", "not a folder\n");
    let out = run_in(&sb, "work", &["init", "taken"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("taken is not a folder"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(sb.join("work/taken")).expect("read"),
        "not a folder\n"
    );
}

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

const WHO: &str = "//! Print which config it got.\nprint(`who=${cfg.who}`);\n";

#[test]
fn config_lookup_order_flag_env_working_dir_then_xdg() {
    let sb = fresh_user();
    sb.write("work/who.rhai", WHO);
    sb.write("home/.config/ripcord/config.toml", "who = \"xdg\"\n");
    let who = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["run", "who.rhai"];
        all.extend_from_slice(args);
        let out = run_in(&sb, "work", &all, env);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let text = format!("{}{}", out.stdout, out.stderr);
        text.lines()
            .find_map(|l| l.trim().strip_prefix("who=").map(str::to_string))
            .unwrap_or_else(|| panic!("no who= line:\n{text}"))
    };
    assert_eq!(who(&[], &[]), "xdg");
    let xdg = sb.join("xdg");
    sb.write("xdg/ripcord/config.toml", "who = \"xdg-home\"\n");
    let xdg = xdg.display().to_string();
    assert_eq!(who(&[], &[("XDG_CONFIG_HOME", &xdg)]), "xdg-home");
    sb.write("work/ripcord.toml", "who = \"working-dir\"\n");
    assert_eq!(who(&[], &[]), "working-dir");
    let env_file = sb
        .write("env.toml", "who = \"env\"\n")
        .display()
        .to_string();
    assert_eq!(who(&[], &[("RIPCORD_CONFIG", &env_file)]), "env");
    let flag = sb
        .write("flag.toml", "who = \"flag\"\n")
        .display()
        .to_string();
    assert_eq!(
        who(&["--config", &flag], &[("RIPCORD_CONFIG", &env_file)]),
        "flag"
    );
}

#[test]
fn a_missing_ripcord_config_file_is_a_usage_error_not_an_empty_cfg() {
    let sb = fresh_user();
    sb.write("work/who.rhai", WHO);
    sb.write("work/ripcord.toml", "who = \"working-dir\"\n");
    let missing = sb.join("nope.toml").display().to_string();
    let out = run_in(
        &sb,
        "work",
        &["run", "who.rhai"],
        &[("RIPCORD_CONFIG", &missing)],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("nope.toml (from RIPCORD_CONFIG)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("point RIPCORD_CONFIG at an existing file"),
        "{}",
        out.stderr
    );
}

#[test]
fn env_get_reads_with_a_default_and_stops_on_an_unset_variable() {
    let sb = fresh_user();
    sb.write(
        "work/env.rhai",
        "//! Env.\nprint(`region=${env::get(\"RIPCORD_TEST_REGION\")}`);\nprint(`editor=${env::get(\"RIPCORD_TEST_UNSET\", \"vi\")}`);\n",
    );
    let check = run_in(&sb, "work", &["check", "env.rhai"], &[]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let set = run_in(
        &sb,
        "work",
        &["run", "env.rhai", "--dry-run"],
        &[("RIPCORD_TEST_REGION", "eu-west-1")],
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    let all = format!("{}{}", set.stdout, set.stderr);
    assert!(all.contains("region=eu-west-1"), "{all}");
    assert!(all.contains("editor=vi"), "{all}");

    let unset = run_in(&sb, "work", &["run", "env.rhai"], &[]);
    assert_eq!(unset.code, 1, "{}", unset.stderr);
    assert!(
        unset
            .stderr
            .contains("env::get: the environment variable `RIPCORD_TEST_REGION` is not set"),
        "{}",
        unset.stderr
    );
    assert!(unset.stderr.contains("env.rhai:2:"), "{}", unset.stderr);
}

fn generated(args: &[&str]) -> String {
    let sb = Sandbox::new();
    let out = sb.run(args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.is_empty());
    out.stdout
}

/// Load a completion script into `shell` and ask it about `ripcord`; the shell must be installed
/// (`.ci/run` installs bash, zsh and fish).
fn load_in(shell: &str, script: &str, probe: &str) -> String {
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join(format!("ripcord.{shell}"));
    std::fs::write(&file, script).expect("write");
    let code = match shell {
        "zsh" => format!(
            "autoload -Uz compinit && compinit -u -d {d}/zcompdump && source {f} && {probe}",
            d = dir.path().display(),
            f = file.display()
        ),
        _ => format!("source {} && {probe}", file.display()),
    };
    let out = Command::new(shell)
        .args(["-c", &code])
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {shell} ({e}); .ci/run installs it"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shell} did not load the completions: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn completions_load_in_bash_zsh_and_fish() {
    let bash = load_in(
        "bash",
        &generated(&["completions", "bash"]),
        "complete -p ripcord",
    );
    assert!(bash.contains("ripcord"), "{bash}");
    let zsh = load_in(
        "zsh",
        &generated(&["completions", "zsh"]),
        "print -r -- ${_comps[ripcord]}",
    );
    assert!(zsh.contains("_ripcord"), "{zsh}");
    let fish = load_in(
        "fish",
        &generated(&["completions", "fish"]),
        "complete -C 'ripcord ini'",
    );
    assert!(fish.contains("init"), "{fish}");
}

#[test]
fn the_man_page_renders_with_man() {
    let page = generated(&["man"]);
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("ripcord.1");
    std::fs::write(&file, page).expect("write");
    let out = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db) is installed by .ci/run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for word in ["ripcord", "completions", "init", "--journal"] {
        assert!(
            text.contains(word),
            "{word} missing from the man page:\n{text}"
        );
    }
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = Sandbox::new().run(&["--version"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .expect("git");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_eq!(
        out.stdout.trim(),
        format!("ripcord {} ({head})", env!("CARGO_PKG_VERSION"))
    );
}
