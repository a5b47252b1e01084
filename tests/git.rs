//! The `git` module against real repositories made with the git CLI in temp dirs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Sandbox;

/// Run the git CLI in `dir` with a fixed identity and no user or system config.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Ops",
            "-c",
            "user.email=ops@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with three commits: `v1.0` (lightweight tag), `v1.1` (annotated), then HEAD on
/// `main`. `app.txt` holds the version each commit ships.
struct Repo {
    path: PathBuf,
    shas: Vec<String>,
}

impl Repo {
    fn new(sb: &Sandbox) -> Repo {
        let path = sb.join("cortex");
        std::fs::create_dir_all(&path).expect("mkdir");
        git(&path, &["init", "-q"]);
        let mut shas = Vec::new();
        for (i, version) in ["1.0", "1.1", "1.2-dev"].iter().enumerate() {
            std::fs::write(path.join("app.txt"), format!("version {version}\n")).expect("write");
            git(&path, &["add", "app.txt"]);
            git(
                &path,
                &["commit", "-q", "-m", &format!("Release {version}")],
            );
            shas.push(git(&path, &["rev-parse", "HEAD"]));
            match i {
                0 => git(&path, &["tag", "v1.0"]),
                1 => git(&path, &["tag", "-a", "v1.1", "-m", "v1.1"]),
                _ => String::new(),
            };
        }
        Repo { path, shas }
    }

    fn head(&self) -> String {
        git(&self.path, &["rev-parse", "HEAD"])
    }

    fn app(&self) -> String {
        std::fs::read_to_string(self.path.join("app.txt")).expect("read app.txt")
    }

    fn p(&self) -> String {
        format!("repo={}", self.path.display())
    }
}

const HEADER: &str = "//! git test.\n//! @param repo: the checkout\n";

fn script(sb: &Sandbox, body: &str) -> String {
    sb.write("t.rhai", &format!("{HEADER}{body}\n"));
    "t.rhai".to_string()
}

#[test]
fn reset_hard_to_a_tag_moves_the_branch_and_reports_where_it_came_from() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    let t = script(&sb, r#"git::reset_hard(repo, "v1.0")"#);
    let out = sb
        .test()
        .args(["run", &t, "-p", &repo.p(), "--json"])
        .stderr_contains("reset --hard")
        .run();
    let result = &out.json()["result"];
    assert_eq!(result["previous"], repo.shas[2]);
    assert_eq!(result["head"], repo.shas[0]);
    assert_eq!(result["summary"], "Release 1.0");
    assert_eq!(result["branch"], "main");
    assert_eq!(repo.head(), repo.shas[0]);
    assert_eq!(repo.app(), "version 1.0\n");
    assert_eq!(
        git(&repo.path, &["symbolic-ref", "--short", "HEAD"]),
        "main",
        "HEAD stays on its branch"
    );
}

#[test]
fn reset_hard_to_a_short_sha_and_an_annotated_tag() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    let short = &repo.shas[0][..8];
    let t = script(
        &sb,
        &format!(r#"[git::reset_hard(repo, "{short}").head, git::reset_hard(repo, "v1.1").head]"#),
    );
    let out = sb.test().args(["run", &t, "-p", &repo.p(), "--json"]).run();
    assert_eq!(
        out.json()["result"],
        serde_json::json!([repo.shas[0], repo.shas[1]])
    );
    assert_eq!(
        repo.head(),
        repo.shas[1],
        "an annotated tag resolves to its commit"
    );
    assert_eq!(repo.app(), "version 1.1\n");
}

#[test]
fn reset_hard_to_head_parent() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    let t = script(
        &sb,
        r#"let r = git::reset_hard(repo, "HEAD~1"); [r.previous, r.head, git::head(repo).sha]"#,
    );
    let out = sb.test().args(["run", &t, "-p", &repo.p(), "--json"]).run();
    assert_eq!(
        out.json()["result"],
        serde_json::json!([repo.shas[2], repo.shas[1], repo.shas[1]])
    );
    assert_eq!(repo.app(), "version 1.1\n");
}

#[test]
fn dirty_tree_counts_tracked_changes_only_and_reset_names_what_it_discards() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    std::fs::write(repo.path.join("build.log"), "untracked output\n").expect("write");
    let t = script(&sb, "git::is_dirty(repo)");
    let clean = sb.test().args(["run", &t, "-p", &repo.p(), "--json"]).run();
    assert_eq!(
        clean.json()["result"],
        false,
        "an untracked file does not make the tree dirty"
    );

    std::fs::write(repo.path.join("app.txt"), "hot fix made by hand\n").expect("write");
    let t = script(
        &sb,
        r#"let dirty = git::is_dirty(repo); let r = git::reset_hard(repo, "v1.1"); [dirty, r.discarded, git::is_dirty(repo)]"#,
    );
    let out = sb
        .test()
        .args(["run", &t, "-p", &repo.p(), "--json"])
        .stderr_contains("discards changes to app.txt")
        .run();
    assert_eq!(
        out.json()["result"],
        serde_json::json!([true, ["app.txt"], false])
    );
    assert_eq!(repo.app(), "version 1.1\n");
    assert!(repo.path.join("build.log").exists(), "untracked files stay");
}

#[test]
fn detached_head_is_reported_and_reset_and_checkout_work_from_it() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    git(&repo.path, &["checkout", "-q", "--detach", "v1.1"]);
    let t = script(
        &sb,
        r#"let h = git::head(repo);
let r = git::reset_hard(repo, "v1.0");
let c = git::checkout(repo, "main");
#{ detached: h.detached, branch: h.branch, sha: h.sha, reset_branch: r.branch, back: c.branch, back_detached: c.detached }"#,
    );
    let out = sb.test().args(["run", &t, "-p", &repo.p(), "--json"]).run();
    let r = &out.json()["result"];
    assert_eq!(r["detached"], true);
    assert_eq!(r["branch"], serde_json::Value::Null);
    assert_eq!(r["sha"], repo.shas[1]);
    assert_eq!(r["reset_branch"], serde_json::Value::Null);
    assert_eq!(r["back"], "main");
    assert_eq!(r["back_detached"], false);
    assert_eq!(
        git(&repo.path, &["rev-parse", "main"]),
        repo.shas[2],
        "a detached reset does not move main"
    );
    assert_eq!(
        git(&repo.path, &["symbolic-ref", "--short", "HEAD"]),
        "main"
    );
    assert_eq!(repo.app(), "version 1.2-dev\n");
}

#[test]
fn unknown_revision_fails_naming_near_revisions_and_touches_nothing() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    std::fs::write(repo.path.join("app.txt"), "local edit\n").expect("write");
    let t = script(
        &sb,
        "step \"Reset\" {\n    git::reset_hard(repo, \"v1.9\");\n}",
    );
    let out = sb
        .test()
        .args(["run", &t, "-p", &repo.p(), "--json"])
        .status(1)
        .run();
    let error = &out.json()["error"];
    assert_eq!(
        error["message"],
        format!("git: unknown revision `v1.9` in {}", repo.path.display())
    );
    assert_eq!(error["location"], "t.rhai:4:10");
    let help = error["help"].as_str().expect("a hint");
    assert!(
        help.starts_with("revisions near it:\ntags: v1.1 ("),
        "{help}"
    );
    assert!(help.contains("v1.0 ("), "{help}");
    assert!(
        help.contains("Release 1.2-dev"),
        "recent commits are listed: {help}"
    );
    assert_eq!(repo.head(), repo.shas[2], "HEAD unmoved");
    assert_eq!(repo.app(), "local edit\n", "tree untouched");
}

#[test]
fn dry_run_resolves_for_real_and_leaves_head_where_it_is() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    let t = script(
        &sb,
        r#"let b = git::branch(repo, "rollback-1"); let r = git::reset_hard(repo, "v1.0"); [b.sha, r.previous, r.head]"#,
    );
    let out = sb
        .test()
        .args(["run", &t, "-p", &repo.p(), "--dry-run", "--json"])
        .stderr_contains("would: create branch rollback-1")
        .stderr_contains("would: reset --hard")
        .run();
    assert_eq!(
        out.json()["result"],
        serde_json::json!([repo.shas[2], repo.shas[2], repo.shas[0]])
    );
    assert_eq!(repo.head(), repo.shas[2], "HEAD unmoved in a dry run");
    assert_eq!(
        git(&repo.path, &["branch", "--list", "rollback-1"]),
        "",
        "no branch made in a dry run"
    );

    // An unknown revision fails the drill exactly as it would fail the real run.
    let t = script(&sb, r#"git::reset_hard(repo, "no-such-tag")"#);
    sb.test()
        .args(["run", &t, "-p", &repo.p(), "--dry-run"])
        .status(1)
        .stderr_contains("unknown revision `no-such-tag`")
        .run();
}

#[test]
fn branch_log_and_tags_read_the_history() {
    let sb = Sandbox::new();
    let repo = Repo::new(&sb);
    let t = script(
        &sb,
        r#"let b = git::branch(repo, "rollback-1");
let log = git::log(repo, 2);
let tags = git::tags(repo, "v1.*");
#{ branch: b.name, log: log.map(|c| c.summary), authors: log.map(|c| c.author), tags: tags.map(|t| t.name), short: log[0].short, resolve: git::resolve(repo, "v1.0").sha }"#,
    );
    let out = sb.test().args(["run", &t, "-p", &repo.p(), "--json"]).run();
    let r = &out.json()["result"];
    assert_eq!(r["branch"], "rollback-1");
    assert_eq!(
        r["log"],
        serde_json::json!(["Release 1.2-dev", "Release 1.1"])
    );
    assert_eq!(r["authors"], serde_json::json!(["Ops", "Ops"]));
    assert_eq!(r["tags"].as_array().map(Vec::len), Some(2));
    assert!(repo.shas[2].starts_with(r["short"].as_str().unwrap_or("-")));
    assert_eq!(r["resolve"], repo.shas[0]);
    assert_eq!(git(&repo.path, &["rev-parse", "rollback-1"]), repo.shas[2]);

    // A second branch with the same name fails before anything changes.
    let t = script(&sb, r#"git::branch(repo, "rollback-1")"#);
    sb.test()
        .args(["run", &t, "-p", &repo.p()])
        .status(1)
        .stderr_contains("branch `rollback-1` already exists")
        .run();
}

#[test]
fn a_folder_that_is_not_a_repository_says_so() {
    let sb = Sandbox::new();
    let t = script(&sb, "git::head(repo)");
    let p = format!("repo={}", sb.path().display());
    sb.test()
        .args(["run", &t, "-p", &p])
        .status(1)
        .stderr_contains(format!(
            "git: {} is not a git repository",
            sb.path().display()
        ))
        .run();
}
