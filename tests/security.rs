//! ripcord against a local attacker: a second, unprivileged user (created here with `useradd`,
//! acted as with `setpriv`) plants folders and symlinks in a shared folder and watches temp
//! files; hostile values go into every param of every shipped runbook; a corpus of secrets goes
//! through every output. Each case: refused or harmless, the victim file unchanged, the
//! secret's bytes absent. `tests/security-matrix` prints the cases per category.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{Outcome, Sandbox};

const ATTACKER: &str = "ripcord-attacker";

/// The attacker's uid and gid, creating the user once (safe when tests run in parallel or the
/// user exists from an earlier run).
fn attacker() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, ATTACKER]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if id("-u").is_none() {
            // Exit 9: another test process created it first.
            let status = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    ATTACKER,
                ])
                .status()
                .expect("useradd (package passwd; .ci/run installs it)");
            assert!(
                status.success() || status.code() == Some(9),
                "useradd: {status}"
            );
        }
        (
            id("-u").expect("attacker uid"),
            id("-g").expect("attacker gid"),
        )
    })
}

/// A shell command run as the attacker.
fn as_attacker(script: &str) -> Command {
    let (uid, gid) = attacker();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
        "sh",
        "-c",
        script,
    ]);
    cmd
}

fn attacker_does(script: &str) {
    let out = as_attacker(script).output().expect("setpriv");
    assert!(
        out.status.success(),
        "as the attacker: {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The attacker reads every file in `dir` over and over until `stop` exists, then writes to
/// `hits` how many reads found `marker`.
fn attacker_watches(dir: &Path, marker: &str, stop: &Path, hits: &Path) -> std::process::Child {
    let watcher = format!(
        r#"import os
d, stop, hits = "{}", "{}", "{}"
n = 0
while not os.path.exists(stop):
    for name in os.listdir(d):
        try:
            with open(os.path.join(d, name), "rb") as f:
                if b"{marker}" in f.read():
                    n += 1
        except OSError:
            pass
open(hits, "w").write(str(n))
"#,
        dir.display(),
        stop.display(),
        hits.display()
    );
    as_attacker(&format!("python3 -c '{watcher}'"))
        .spawn()
        .expect("watcher")
}

fn sha(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{:x}",
        Sha256::digest(std::fs::read(path).unwrap_or_default())
    )
}

/// A sandbox with a world-writable shared folder (sticky, like /tmp) and a root-only victim.
struct Shared {
    sb: Sandbox,
    shared: PathBuf,
    victim: PathBuf,
}

impl Shared {
    fn new() -> Shared {
        attacker();
        let sb = Sandbox::new();
        std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let shared = sb.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let private = sb.join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let victim = private.join("victim.txt");
        std::fs::write(&victim, "root only\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        sb.write("src.txt", "safety copy content\n");
        Shared { sb, shared, victim }
    }

    fn run_code(&self, code: &str) -> Outcome {
        self.sb.write("case.rhai", code);
        self.sb.run(&["run", "case.rhai", "--yes"])
    }
}

/// A row of a matrix: category, case, ok, detail.
type Row = (String, String, bool, String);

fn print_matrix(title: &str, rows: &[Row]) {
    let mut categories: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    categories.sort();
    categories.dedup();
    eprintln!(
        "\n{title}\n{:<28} {:>6} {:>6} {:>7}",
        "category", "cases", "ok", "failed"
    );
    for c in categories {
        let all: Vec<&Row> = rows.iter().filter(|r| r.0 == c).collect();
        let ok = all.iter().filter(|r| r.2).count();
        eprintln!("{c:<28} {:>6} {ok:>6} {:>7}", all.len(), all.len() - ok);
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.2)
        .map(|r| format!("{} / {}: {}", r.0, r.1, r.3))
        .collect();
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
}

/// What the attacker plants in the shared folder, and the ripcord call that must not go
/// through it: (case, shell command run as the attacker, runbook code).
fn planted_cases(s: &Shared) -> Vec<(&'static str, String, String)> {
    let (sh, victim, src) = (s.shared.display(), s.victim.display(), s.sb.join("src.txt"));
    let src = src.display();
    vec![
        (
            "planted evidence folder",
            format!(
                "mkdir {sh}/evidence && chmod 777 {sh}/evidence && ln -s {victim} {sh}/evidence/SHA256SUMS"
            ),
            format!(
                r#"fs::mkdir("{sh}/evidence", #{{ fresh: true }}); fs::write("{sh}/evidence/SHA256SUMS", "sums");"#
            ),
        ),
        (
            "symlink as a fresh folder",
            format!("ln -s {} {sh}/backup", s.victim.parent().unwrap().display()),
            format!(r#"fs::mkdir("{sh}/backup", #{{ fresh: true }});"#),
        ),
        (
            "symlink as a written file",
            format!("ln -s {victim} {sh}/current-commit.txt"),
            format!(r#"fs::write("{sh}/current-commit.txt", "abc\n");"#),
        ),
        (
            "symlink as an appended log",
            format!("ln -s {victim} {sh}/rollback-log.txt"),
            format!(r#"fs::append("{sh}/rollback-log.txt", "forged\n");"#),
        ),
        (
            "dangling symlink as a new file",
            format!("ln -s {victim}.new {sh}/new.txt"),
            format!(r#"fs::write("{sh}/new.txt", "x"); fs::append("{sh}/new.txt", "x");"#),
        ),
        (
            "symlink as a forced copy",
            format!("ln -s {victim} {sh}/config.toml"),
            format!(r#"fs::copy("{src}", "{sh}/config.toml", #{{ force: true }});"#),
        ),
        (
            "symlink as a copy",
            format!("ln -s {victim} {sh}/safety.toml"),
            format!(r#"fs::copy("{src}", "{sh}/safety.toml");"#),
        ),
        (
            "file as a fresh folder",
            format!("touch {sh}/evidence-2"),
            format!(r#"fs::mkdir("{sh}/evidence-2", #{{ fresh: true }});"#),
        ),
    ]
}

#[test]
fn planted_folders_and_symlinks_are_refused_and_the_victim_is_unchanged() {
    let s = Shared::new();
    let (sh, victim) = (s.shared.display(), s.victim.display());
    let before = sha(&s.victim);
    let mut rows = Vec::new();
    for (name, plant, code) in planted_cases(&s) {
        attacker_does(&plant);
        let out = s.run_code(&code);
        let unchanged = sha(&s.victim) == before && !Path::new(&format!("{victim}.new")).exists();
        // Refused (exit 1 naming the path) or harmless (the link replaced, not followed).
        let refused = out.code == 1 && out.stderr.contains(&*sh.to_string());
        let harmless = name.contains("forced copy")
            && out.code == 0
            && std::fs::symlink_metadata(format!("{sh}/config.toml"))
                .is_ok_and(|m| m.file_type().is_file());
        rows.push((
            "planted path".to_string(),
            name.to_string(),
            unchanged && (refused || harmless),
            format!("exit {}: {}", out.code, out.stderr.trim()),
        ));
    }
    print_matrix("planted paths (attacker uid owns the plant)", &rows);
}

#[test]
fn a_lock_folder_another_user_controls_is_a_clear_error_not_locked() {
    let s = Shared::new();
    let (uid, gid) = attacker();
    let locks = s.sb.join(".state/ripcord/locks");
    std::fs::create_dir_all(&locks).unwrap();
    std::os::unix::fs::chown(&locks, Some(uid), Some(gid)).unwrap();
    let out = s.run_code("1");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "cannot use the lock folder {}: it belongs to uid {uid}",
            locks.display()
        )),
        "{}",
        out.stderr
    );
    std::fs::remove_dir(&locks).unwrap();
    std::fs::create_dir_all(&locks).unwrap();
    // The lock file's place is taken by a folder: the step fails with the cause (exit 1).
    s.sb.write("case.rhai", "lock(\"cortex\");\n1\n");
    std::fs::create_dir(locks.join("cortex.lock")).unwrap();
    let test = s.sb.test().args(["run", "case.rhai"]).status(1);
    test.stderr_contains("cannot open the lock file").run();
}

#[test]
fn a_watcher_never_reads_a_temp_file_while_it_is_written() {
    let s = Shared::new();
    let marker = "TOP-SECRET-MARKER-0600";
    let secret = s.sb.join("private/secret.toml");
    std::fs::write(&secret, format!("token = \"{marker}\"\n").repeat(2000)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let stop = s.sb.join("shared/.stop");
    let hits = s.sb.join("shared/hits");
    let mut child = attacker_watches(&s.shared, marker, &stop, &hits);
    let code = format!(
        r#"for i in 0..60 {{
               fs::copy("{0}", `{1}/copy-${{i}}.toml`);
               fs::write(`{1}/write-${{i}}.toml`, fs::read("{0}"));
           }}"#,
        secret.display(),
        s.shared.display()
    );
    let out = s.run_code(&code);
    std::fs::write(&stop, "").unwrap();
    let _ = child.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let read = std::fs::read_to_string(&hits).expect("the watcher ran");
    assert_eq!(read.trim(), "0", "the watcher read the secret {read} times");
    for i in [0, 59] {
        let mode = std::fs::metadata(s.shared.join(format!("write-{i}.toml")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// Values an attacker (or a slip in a pipeline) puts into params.
const HOSTILE: &[(&str, &str)] = &[
    ("traversal", "../../../evil"),
    ("absolute path", "/etc/passwd"),
    ("empty", ""),
    ("dot", "."),
    ("minus one", "-1"),
    ("zero", "0"),
    ("newline", "ok\nFORGED: line"),
    ("shell", "$(touch /tmp/ripcord-pwned);`id`;x"),
    ("sql", "x'; DROP TABLE events; --"),
    ("option-like", "--force"),
];

/// Params given short values in every case, so a dry run does not watch for half an hour.
const QUICK: &[&str] = &["phase2_secs", "phase3_secs", "health_timeout"];

/// A benign value for a required param, so the hostile one is the only thing wrong.
fn benign(param: &str) -> &'static str {
    match param {
        "phase2_secs" | "phase3_secs" => "0",
        "health_timeout" => "1s",
        "kind" => "corruption",
        "mode" => "schema",
        "release" => "v1.4.2",
        "target" => "HEAD",
        _ => "test",
    }
}

/// The params each shipped runbook declares: (name, required).
fn declared_params(script: &Path) -> Vec<(String, bool)> {
    std::fs::read_to_string(script)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| l.trim_start_matches("//!").trim().strip_prefix("@param "))
        .map(|rest| {
            let rest = rest.trim_start_matches("secret ");
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let required = !rest[name.len()..].trim_start().starts_with('=');
            (name, required)
        })
        .collect()
}

/// Hostile values that the header must refuse (exit 2) before anything runs.
const MUST_REFUSE: &[(&str, &str, &[&str])] = &[
    (
        "release-switch",
        "release",
        &[
            "traversal",
            "absolute path",
            "empty",
            "dot",
            "newline",
            "option-like",
        ],
    ),
    (
        "prepare-rollback-assets",
        "keep",
        &["minus one", "zero", "empty", "traversal"],
    ),
    (
        "rollback",
        "option",
        &["traversal", "empty", "shell", "sql", "newline"],
    ),
    ("emergency", "kind", &["traversal", "empty", "shell", "sql"]),
    (
        "db-rollback",
        "mode",
        &["traversal", "empty", "shell", "sql"],
    ),
    ("backup", "verify", &["traversal", "empty", "shell"]),
    ("verify", "phase2_secs", &["minus one", "shell"]),
];

#[test]
fn hostile_values_in_every_param_of_every_shipped_runbook_are_refused_or_harmless() {
    let cortex = crate::runbooks::Cortex::start(true);
    let db = cortex.root.join("data/cortex.db");
    let db_before = sha(&db);
    let cases = hostile_cases(&cortex.root.join("scripts"));
    let rows = judge_in_four_threads(&cortex, &cases);
    assert!(
        !Path::new("/tmp/ripcord-pwned").exists(),
        "a shell metacharacter ran a command"
    );
    assert_eq!(sha(&db), db_before, "a dry run changed the DB");
    print_matrix("hostile params (dry runs against the demo service)", &rows);
    assert!(rows.len() > 200, "only {} cases", rows.len());
}

/// One hostile dry run: script, param, label of the hostile value, and every `name=value` given.
type HostileCase = (String, String, &'static str, Vec<String>);

/// Each hostile value in each param of each runbook in `scripts`, the required params (and the
/// quick ones) given benign values.
fn hostile_cases(scripts: &Path) -> Vec<HostileCase> {
    let mut names: Vec<String> = std::fs::read_dir(scripts)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rhai").map(str::to_string)
        })
        .collect();
    names.sort();
    let mut cases = Vec::new();
    for script in &names {
        let params = declared_params(&scripts.join(format!("{script}.rhai")));
        for (param, _) in &params {
            for (label, value) in HOSTILE {
                let mut given: Vec<String> = params
                    .iter()
                    .filter(|(p, required)| {
                        (*required || QUICK.contains(&p.as_str())) && p != param
                    })
                    .map(|(p, _)| format!("{p}={}", benign(p)))
                    .collect();
                given.push(format!("{param}={value}"));
                cases.push((script.clone(), param.clone(), *label, given));
            }
        }
    }
    cases
}

/// Dry-run every case (four at a time) and judge each outcome.
fn judge_in_four_threads(cortex: &crate::runbooks::Cortex, cases: &[HostileCase]) -> Vec<Row> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(script, param, label, given)| {
                            let mut args: Vec<&str> = vec!["--dry-run"];
                            args.extend(given.iter().map(String::as_str));
                            judge(script, param, label, &dry_run(cortex, script, &args))
                        })
                        .collect::<Vec<Row>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn dry_run(cortex: &crate::runbooks::Cortex, script: &str, args: &[&str]) -> Outcome {
    let scripts = cortex.root.join("scripts").display().to_string();
    let config = cortex.root.join("ripcord.toml").display().to_string();
    // A case that waits (a probe retrying) is cut short: a timeout is exit 1, still harmless.
    let mut all = vec![
        "--scripts",
        &scripts,
        "run",
        script,
        "--config",
        &config,
        "--yes",
        "--json",
        "--timeout",
        "20s",
    ];
    for a in args {
        if *a == "--dry-run" {
            all.push(a);
        } else {
            all.push("-p");
            all.push(a);
        }
    }
    cortex.sb.run(&all)
}

/// Refused (exit 2 naming the param) where the header must refuse; otherwise refused or ran
/// without a crash, and no output line was forged by a newline in the value.
fn judge(script: &str, param: &str, label: &str, out: &Outcome) -> Row {
    let must = MUST_REFUSE
        .iter()
        .any(|(s, p, labels)| *s == script && *p == param && labels.contains(&label));
    let refused = out.code == 2 && out.stderr.contains(&format!("`{param}`"));
    let forged = out
        .stderr
        .lines()
        .chain(out.stdout.lines())
        .any(|l| l.trim_start().starts_with("FORGED"));
    let ok = if must {
        refused
    } else {
        [0, 1, 2].contains(&out.code)
    } && !forged;
    let category = if must {
        "must be refused"
    } else {
        "refused or harmless"
    };
    let detail = out
        .stderr
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .join(" | ");
    (
        category.to_string(),
        format!("{script} {param}={label}"),
        ok,
        format!(
            "exit {}{}: {detail}",
            out.code,
            if forged { " (forged line)" } else { "" }
        ),
    )
}

/// Secrets with the characters that change when they are escaped.
const CORPUS: &[&str] = &[
    "tok\"en\\with'quotes-4711",
    "line-one\nline-two-s3cr3t",
    "ünïcødé-秘密-key-2025",
    "plain-secret-value-99",
];

/// The forms a secret can take in output.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let debug = format!("{secret:?}");
    let mut forms = vec![
        secret.to_string(),
        json[1..json.len() - 1].to_string(),
        debug[1..debug.len() - 1].to_string(),
        secret.replace('\'', r"'\''"),
    ];
    // A secret with a newline also leaks as its longest line.
    forms.extend(secret.lines().filter(|l| l.len() >= 8).map(str::to_string));
    forms.sort();
    forms.dedup();
    forms
}

fn leaks(haystack: &[u8], secret: &str) -> Vec<String> {
    forms(secret)
        .into_iter()
        .filter(|f| haystack.windows(f.len()).any(|w| w == f.as_bytes()))
        .collect()
}

const CALLER: &str = r#"//! A runbook that tries every way a secret can get out.
//! @param secret token: the secret
step "Leak" {
    log::info(#{ value: token, nested: [token] });
    log::info(#{ Authorization: "Bearer " + cfg.header_value });
    log::warn(`shell '${token}'`);
    print(token);
    debug(token);
    print(json::to_string(#{ v: token }));
    print(cfg.service.password);
    print(cfg.extra.declared);
    print(fs::read(cfg.ripcord.secrets_files[0]));
    let r = runbook::run("callee", #{ value: token });
    print(r);
    let keyed = #{};
    keyed[token] = 1;
    log::info(keyed);
}
step "Fail" {
    fail(`failed with ${token}`);
}
"#;

const CALLEE: &str = r#"//! A sub-runbook whose param is not declared secret.
//! @param value: a value
log::info(`callee got ${value}`);
fs::write("callee-out.txt", "callee wrote it down");
#{ echoed: value }
"#;

const TYPED: &str = "//! s\n//! @param secret pin = 0: a secret number\npin\n";

/// A sandbox for corpus entry `i`: its secret goes in as a param, three others in a header
/// value, a config key and a declared config key, one more in a secrets file. Returns the
/// sandbox and each role with its secret.
fn corpus_sandbox(i: usize) -> (Sandbox, Vec<(&'static str, String)>) {
    let other = |n: usize| CORPUS[(i + n) % CORPUS.len()].to_string();
    let sb = Sandbox::new();
    sb.write("callee.rhai", CALLEE);
    sb.write("caller.rhai", CALLER);
    sb.write("typed.rhai", TYPED);
    let from_file = format!("from-the-secrets-file-{i}-x7Q");
    let secrets_file = sb.write(
        "secrets.env",
        &format!("# the service's keys\nAPI_KEY={from_file}\n"),
    );
    let toml_str = |v: &str| serde_json::to_string(v).unwrap();
    sb.write(
        "ripcord.toml",
        &format!(
            "header_value = {}\n[service]\npassword = {}\n[extra]\ndeclared = {}\n[ripcord]\nsecrets = [\"extra.declared\"]\nsecrets_files = [{}]\n",
            toml_str(&other(1)),
            toml_str(&other(2)),
            toml_str(&other(3)),
            toml_str(&secrets_file.display().to_string())
        ),
    );
    let roles = vec![
        ("param", CORPUS[i].to_string()),
        ("header", other(1)),
        ("config key", other(2)),
        ("config declared", other(3)),
        ("secrets file", from_file),
    ];
    (sb, roles)
}

/// What a run with `secret` as its token leaves, by name: its outputs, `show` of it and of its
/// sub-run, `history`, its report, a type error on a secret param, and every file written.
fn outputs_of_a_run(sb: &Sandbox, secret: &str) -> Vec<(String, Vec<u8>)> {
    let token = format!("token={secret}");
    let test = sb
        .test()
        .args(["run", "caller.rhai", "-p", &token, "--json", "--yes"]);
    let run = test.status(1).run();
    let id = run.json()["run"].as_i64().expect("run id").to_string();
    let report = sb.join("report").display().to_string();
    let both = |out: &Outcome| format!("{}{}", out.stdout, out.stderr).into_bytes();
    let mut outputs: Vec<(String, Vec<u8>)> = vec![
        (
            "run stdout (--json)".into(),
            run.stdout.clone().into_bytes(),
        ),
        ("run stderr".into(), run.stderr.clone().into_bytes()),
    ];
    for (what, args) in [
        ("show", vec!["show", id.as_str()]),
        ("show of the sub-run", vec!["show", "2"]),
        ("history", vec!["history"]),
        ("report", vec!["report", id.as_str(), "--report", &report]),
    ] {
        outputs.push((what.to_string(), both(&sb.run(&args))));
    }
    let pin = format!("pin={secret}");
    let typed = sb.test().args(["run", "typed.rhai", "-p", &pin, "--json"]);
    outputs.push(("type error".into(), both(&typed.status(2).run())));
    for file in files_under(sb.path()) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // The inputs hold the secrets on purpose.
        if !["ripcord.toml", "secrets.env"].contains(&name.as_str()) {
            outputs.push((format!("file {name}"), std::fs::read(&file).unwrap()));
        }
    }
    outputs
}

#[test]
fn a_secret_corpus_never_reaches_any_output_or_file() {
    let mut rows = Vec::new();
    for (i, secret) in CORPUS.iter().enumerate() {
        let (sb, roles) = corpus_sandbox(i);
        for (what, bytes) in outputs_of_a_run(&sb, secret) {
            for (role, s) in &roles {
                let found = leaks(&bytes, s);
                let case = format!("{what} / corpus {i}");
                rows.push((
                    format!("{role} secret"),
                    case,
                    found.is_empty(),
                    format!("found {found:?}"),
                ));
            }
        }
    }
    print_matrix(
        "secret corpus (raw, JSON, debug and shell-quoted forms)",
        &rows,
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Start `script` (which takes the lock `db /srv/cortex.db` and then loops in a step) and return
/// once its step has started, so it holds the lock.
fn hold_the_lock(sb: &Sandbox, script: &str) -> std::process::Child {
    let child = sb
        .command(&["run", script, "--timeout", "60s"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    crate::core::wait_for_step_start(sb);
    child
}

/// `out` was refused (exit 4) naming the holder `pid`, whose lock file is gone.
fn refused_by_the_holder_of_a_deleted_lock_file(out: &crate::support::Outcome, pid: u32) {
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "pid {pid} (its lock file was deleted while it ran)"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_deleted_lock_file_lets_no_second_run_in_and_same_names_in_two_folders_do_not_collide() {
    let sb = Sandbox::new();
    sb.write(
        "a/held.rhai",
        "lock(\"db /srv/cortex.db\");\nstep \"Hold\" { loop {} }\n",
    );
    sb.write("b/held.rhai", "1\n");
    sb.write("other.rhai", "lock(\"db /srv/cortex.db\");\n1\n");
    let mut first = hold_the_lock(&sb, "a/held.rhai");
    let same_name = sb.run(&["run", "b/held.rhai"]);
    // An operator's cleanup removes every lock file while the first run holds its locks.
    for entry in std::fs::read_dir(sb.join(".state/ripcord/locks")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let resource = sb.run(&["run", "other.rhai"]);
    let again = sb.run(&["run", "a/held.rhai"]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(same_name.code, 0, "{}", same_name.stderr);
    for out in [&resource, &again] {
        refused_by_the_holder_of_a_deleted_lock_file(out, first.id());
    }
    // With the holder gone, the lock is free again.
    assert_eq!(sb.run(&["run", "other.rhai"]).code, 0);
}

#[test]
fn a_lock_file_replaced_by_a_copy_or_a_removed_lock_folder_lets_no_second_run_in() {
    let sb = Sandbox::new();
    sb.write(
        "held.rhai",
        "lock(\"db /srv/cortex.db\");\nstep \"Hold\" { loop {} }\n",
    );
    sb.write("other.rhai", "lock(\"db /srv/cortex.db\");\n1\n");
    let mut first = hold_the_lock(&sb, "held.rhai");
    let locks = sb.join(".state/ripcord/locks");
    // A tool that syncs the state folder puts a copy of each lock file (the holder's note
    // included) in its place: the new file is not the one the holder locked.
    for entry in std::fs::read_dir(&locks).unwrap() {
        let path = entry.unwrap().path();
        let copy = path.with_extension("copy");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::rename(&copy, &path).unwrap();
    }
    let replaced = sb.run(&["run", "other.rhai"]);
    // A cleanup removes the whole lock folder.
    std::fs::remove_dir_all(&locks).unwrap();
    let removed = sb.run(&["run", "other.rhai"]);
    let _ = first.kill();
    let _ = first.wait();
    for out in [&replaced, &removed] {
        refused_by_the_holder_of_a_deleted_lock_file(out, first.id());
    }
    assert_eq!(sb.run(&["run", "other.rhai"]).code, 0);
}
