//! ripcord as an installed tool, outside the source checkout: built-in runbooks, `init`, the
//! config lookup order, `env::get`, completions, the man page and `--version`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Sandbox, Test};

/// A sandbox that looks like a fresh user's machine: its own HOME with no config, cache or
/// runbooks, the working directory outside any checkout.
fn fresh_user() -> Sandbox {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.join("home")).expect("home");
    std::fs::create_dir_all(sb.join("work")).expect("work");
    sb
}

/// A command as the fresh user runs it in `cwd` (a folder of the sandbox): their HOME, no XDG
/// folders set.
fn user<'a>(sb: &'a Sandbox, cwd: &str) -> Test<'a> {
    sb.test()
        .current_dir(cwd)
        .env("HOME", sb.join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
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

/// `list`'s row for the runbook `name` says `word` (built-in, edited, shipped).
#[track_caller]
fn assert_row(list: &str, name: &str, word: &str) {
    let row = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{list}"));
    assert!(row.contains(word), "{name} is not {word}:\n{list}");
}

#[test]
fn built_in_runbooks_list_describe_and_run_outside_a_checkout() {
    let sb = fresh_user();
    // Libraries are not runbooks.
    let list = user(&sb, "work").arg("list").stdout_lacks("lib/").run();
    assert_row(&list.stdout, "rollback", "built-in");
    user(&sb, "work")
        .args(["describe", "backup"])
        .stdout_contains("built-in")
        .stdout_contains("source")
        .run();

    cortex_db(&sb, "work/ripcord.toml");
    let run = user(&sb, "work").args(["run", "backup", "--json"]).run();
    assert_eq!(run.json()["status"], "ok");
    assert_eq!(backups(&sb).len(), 1, "{:?}", backups(&sb));
    // The built-in copy lives in the user's cache, not in the working directory.
    assert!(sb.join("home/.cache/ripcord").is_dir());
    assert!(!sb.join("work/scripts").exists());
}

#[test]
fn init_writes_an_editable_copy_that_runs_and_is_never_overwritten() {
    let sb = fresh_user();
    user(&sb, "work").args(["init", "ops"]).run();
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
    let list = user(&sb, "work/ops").arg("list").run();
    assert_row(&list.stdout, "backup", "edited");
    assert_row(&list.stdout, "rollback", "shipped");
    user(&sb, "work/ops")
        .args(["run", "backup"])
        .stderr_contains("edited here")
        .run();

    // Init again: the edit survives, and --diff shows it against the shipped text.
    user(&sb, "work")
        .args(["init", "ops"])
        .stderr_contains("kept (edited)")
        .run();
    assert_eq!(std::fs::read_to_string(&backup).expect("read"), edited);
    user(&sb, "work")
        .args(["init", "--diff", "ops"])
        .stdout_contains("--- a/scripts/backup.rhai")
        .stdout_contains("+log::info(\"edited here\");")
        .stdout_lacks("rollback.rhai")
        .run();
}

#[test]
fn init_updates_an_untouched_older_copy_but_keeps_an_unrecorded_one() {
    let sb = fresh_user();
    user(&sb, "work").args(["init", "ops"]).run();
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

    user(&sb, "work")
        .args(["init", "ops"])
        .stderr_contains("updated")
        .run();
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
    user(&sb, "work")
        .args(["init", "taken"])
        .status(2)
        .stderr_contains("taken is not a folder")
        .run();
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
        let mut test = user(&sb, "work").args(["run", "who.rhai"]).args(args);
        for (key, value) in env {
            test = test.env(key, value);
        }
        let out = test.run();
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
    user(&sb, "work")
        .args(["run", "who.rhai"])
        .env("RIPCORD_CONFIG", &missing)
        .status(2)
        .stderr_contains("nope.toml (from RIPCORD_CONFIG)")
        .stderr_contains("point RIPCORD_CONFIG at an existing file")
        .run();
}

#[test]
fn env_get_reads_with_a_default_and_stops_on_an_unset_variable() {
    let sb = fresh_user();
    sb.write(
        "work/env.rhai",
        "//! Env.\nprint(`region=${env::get(\"RIPCORD_TEST_REGION\")}`);\nprint(`editor=${env::get(\"RIPCORD_TEST_UNSET\", \"vi\")}`);\n",
    );
    user(&sb, "work").args(["check", "env.rhai"]).run();
    let set = user(&sb, "work")
        .args(["run", "env.rhai", "--dry-run"])
        .env("RIPCORD_TEST_REGION", "eu-west-1")
        .run();
    let all = format!("{}{}", set.stdout, set.stderr);
    assert!(all.contains("region=eu-west-1"), "{all}");
    assert!(all.contains("editor=vi"), "{all}");

    user(&sb, "work")
        .args(["run", "env.rhai"])
        .status(1)
        .stderr_contains("env::get: the environment variable `RIPCORD_TEST_REGION` is not set")
        .stderr_contains("env.rhai:2:")
        .run();
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
