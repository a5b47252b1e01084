//! The `git` module: look at a checkout and move it (reset, checkout, branch) through libgit2.
//!
//! Resolving a revision is a read and runs in every mode, so a drill fails on an unknown revision
//! exactly where the real run would; only the move itself is a change. An unknown revision leaves
//! the tree and HEAD untouched and the error lists the revisions near it.
//!
//! Untracked files do not make a tree dirty: build output and logs beside the sources are normal
//! on a service host, and `reset --hard` leaves them alone anyway. Tracked changes, staged or not,
//! do count, and `reset_hard` names the files whose changes it discards.

use git2::build::CheckoutBuilder;
use git2::{BranchType, Commit, ErrorCode, Repository, ResetType, StatusOptions};
use ripcord_runtime::dirs::expand_tilde;
use ripcord_runtime::rhai::{Array, Dynamic, INT, Map, NativeCallContext};
use ripcord_runtime::{
    At, Change, Decl, Effect, Failure, Host, NativeModule, NativeResult, RhaiResult,
};

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "git",
        "Git checkouts: head, log, tags, dirty check, reset, checkout, branch",
    );

    declare_history(&mut m);
    declare_state(&mut m);
    declare_changes(&mut m);
    m
}

/// `git::head`, `git::resolve`, `git::log`.
fn declare_history(m: &mut NativeModule) {
    let head = Decl {
        name: "head",
        effect: Effect::Read,
        params: &["repo: String", "Map"],
        doc: "The commit HEAD points at, with the branch it is on.\n\n\
              Returns the commit fields `#{ sha, short, summary, author, time }` plus `branch` (the branch \
              name, or `()` when HEAD is detached) and `detached`.",
        example: r#"let before = git::head("~/cortex");
log::info(`running ${before.short} on ${before.branch}`);"#,
    };
    m.function(head, git_head);

    let resolve = Decl {
        name: "resolve",
        effect: Effect::Read,
        params: &["repo: String", "rev: String", "Map"],
        doc: "Resolve a revision (sha, short sha, tag, branch, `HEAD~1`) to its commit.\n\n\
              Returns `#{ sha, short, summary, author, time }`. An unknown revision fails, in a dry run \
              too, and the error lists the tags and commits near it.",
        example: r#"let target = git::resolve("~/cortex", "v0.2.2");
log::info(`target is ${target.sha}`);"#,
    };
    m.function(resolve, git_resolve);

    let log = Decl {
        name: "log",
        effect: Effect::Read,
        params: &["repo: String", "n: int", "Array"],
        doc: "The last `n` commits reachable from HEAD, newest first (default 10).\n\n\
              Each entry is `#{ sha, short, summary, author, time }`.",
        example: r#"for c in git::log("~/cortex", 5) { print(`${c.short} ${c.summary}`); }"#,
    };
    m.function(log, git_log);
    m.function(
        Decl {
            params: &["repo: String", "Array"],
            ..log
        },
        |ctx: NativeCallContext, repo: &str| git_log(ctx, repo, 10),
    );
}

/// `git::is_dirty`, `git::tags`, `git::branch`.
fn declare_state(m: &mut NativeModule) {
    let is_dirty = Decl {
        name: "is_dirty",
        effect: Effect::Read,
        params: &["repo: String", "bool"],
        doc: "True if tracked files have changes, staged or not.\n\n\
              Untracked files (build output, logs) do not count: `reset_hard` leaves them alone too.",
        example: r#"if git::is_dirty("~/cortex") { log::warn("local changes will be discarded"); }"#,
    };
    m.function(is_dirty, git_is_dirty);

    let tags = Decl {
        name: "tags",
        effect: Effect::Read,
        params: &["repo: String", "pattern: String", "Array"],
        doc: "Tags matching a glob `pattern` (as `git tag -l`), newest commit first.\n\n\
              Each entry is `#{ name, sha, short, summary, time }`. Without a pattern, every tag.",
        example: r#"let releases = git::tags("~/cortex", "v*");
if releases.len() > 0 { log::info(`latest release: ${releases[0].name}`); }"#,
    };
    m.function(tags, git_tags);
    m.function(
        Decl {
            params: &["repo: String", "Array"],
            ..tags
        },
        |ctx: NativeCallContext, repo: &str| git_tags(ctx, repo, "*"),
    );

    let branch = Decl {
        name: "branch",
        effect: Effect::Change,
        params: &["repo: String", "name: String", "Map"],
        doc: "Create branch `name` at HEAD, without switching to it.\n\n\
              A safety marker before a reset: the old commit stays reachable under that name. Fails if \
              the name is invalid or the branch exists (checked in a dry run too). Returns \
              `#{ name, sha, short }`.",
        example: r#"git::branch("~/cortex", `rollback-${time::stamp()}`);"#,
    };
    m.function(branch, git_branch);
}

/// `git::reset_hard`, `git::checkout`.
fn declare_changes(m: &mut NativeModule) {
    let reset_hard = Decl {
        name: "reset_hard",
        effect: Effect::Change,
        params: &["repo: String", "rev: String", "Map"],
        doc: "Move HEAD (and the current branch) to `rev` and make the tree match it: `git reset --hard`.\n\n\
              The revision is resolved first, in a dry run too: an unknown revision fails before anything \
              moves. Changes to tracked files are discarded and listed in `discarded`; untracked files \
              stay. Returns `#{ previous, head, short, summary, branch, discarded }` where `previous` is \
              the sha HEAD moved from and `head` the sha it moved to.",
        example: r#"let r = git::reset_hard("~/cortex", "v0.2.2");
log::info(`moved from ${r.previous} to ${r.head}`);"#,
    };
    m.function(reset_hard, git_reset_hard);

    let checkout = Decl {
        name: "checkout",
        effect: Effect::Change,
        params: &["repo: String", "rev: String", "Map"],
        doc: "Switch the checkout to `rev`: a local branch name switches to that branch, anything else \
              detaches HEAD at the commit.\n\n\
              Local changes are carried over when they do not conflict; a conflict fails before anything \
              changes (checked in a dry run too). Returns `#{ previous, head, short, summary, branch, detached }`.",
        example: r#"git::checkout("~/cortex", "main");"#,
    };
    m.function(checkout, git_checkout);
}

// ---- functions ------------------------------------------------------------------------------

fn git_head(ctx: NativeCallContext, repo: &str) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "git::head", || {
        let (path, r) = open(repo)?;
        let commit = head_commit(&r, &path)?;
        let mut map = commit_map(&commit);
        let branch = current_branch(&r);
        map.insert("detached".into(), branch.is_none().into());
        map.insert("branch".into(), branch.map_or(Dynamic::UNIT, Dynamic::from));
        Ok(map)
    })
}

fn git_resolve(ctx: NativeCallContext, repo: &str, rev: &str) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "git::resolve", || {
        let (path, r) = open(repo)?;
        Ok(commit_map(&resolve(&r, &path, rev)?))
    })
}

fn git_log(ctx: NativeCallContext, repo: &str, n: INT) -> RhaiResult<Array> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "git::log", || {
        let n = usize::try_from(n).map_err(|_| {
            Failure::new(format!("git::log: cannot list {n} commits"))
                .hint("pass a count of 0 or more, e.g. git::log(repo, 10)")
        })?;
        let (path, r) = open(repo)?;
        head_commit(&r, &path)?;
        Ok(recent_commits(&r, n)
            .map_err(|e| git_failure(&path, "cannot walk the history", e))?
            .iter()
            .map(|c| commit_map(c).into())
            .collect())
    })
}

fn git_is_dirty(ctx: NativeCallContext, repo: &str) -> RhaiResult<bool> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "git::is_dirty", || {
        let (path, r) = open(repo)?;
        Ok(!tracked_changes(&r, &path)?.is_empty())
    })
}

fn git_tags(ctx: NativeCallContext, repo: &str, pattern: &str) -> RhaiResult<Array> {
    let host = Host::of(&ctx)?;
    host.read(&ctx, "git::tags", || {
        let (path, r) = open(repo)?;
        let tags = tags_newest_first(&r, pattern)
            .map_err(|e| git_failure(&path, "cannot list tags", e))?;
        Ok(tags
            .into_iter()
            .map(|(name, commit)| {
                let mut map = commit_map(&commit);
                map.remove("author");
                map.insert("name".into(), name.into());
                map.into()
            })
            .collect())
    })
}

fn git_branch(ctx: NativeCallContext, repo: &str, name: &str) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    // Checked in every mode, so a drill fails where the real run would.
    let (path, r) = open(repo).at(&ctx)?;
    let head = head_commit(&r, &path).at(&ctx)?;
    if !git2::Branch::name_is_valid(name).unwrap_or(false) {
        return Err(
            Failure::new(format!("git::branch: `{name}` is not a valid branch name"))
                .hint("use letters, digits, `-`, `_`, `.` and `/`, e.g. rollback-20240501-120000")
                .at(&ctx),
        );
    }
    if r.find_branch(name, BranchType::Local).is_ok() {
        return Err(Failure::new(format!(
            "git::branch: branch `{name}` already exists in {path}"
        ))
        .hint("pick another name, e.g. with a time stamp: `rollback-${time::stamp()}`")
        .at(&ctx));
    }
    let sha = head.id().to_string();
    let short = short_sha(&head);
    let result = || {
        let mut map = Map::new();
        map.insert("name".into(), name.into());
        map.insert("sha".into(), sha.clone().into());
        map.insert("short".into(), short.clone().into());
        map
    };
    let change = Change::new(
        "git::branch",
        format!("create branch {name} at {short} in {path}"),
    )
    .arg("repo", path.as_str())
    .arg("name", name)
    .arg("sha", sha.as_str())
    .simulated(result());
    host.change(&ctx, change, || {
        r.branch(name, &head, false)
            .map_err(|e| git_failure(&path, &format!("cannot create branch `{name}`"), e))?;
        Ok(result())
    })
}

fn git_reset_hard(ctx: NativeCallContext, repo: &str, rev: &str) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let (path, r) = open(repo).at(&ctx)?;
    let previous = head_commit(&r, &path).at(&ctx)?;
    let target = resolve(&r, &path, rev).at(&ctx)?;
    let discarded = tracked_changes(&r, &path).at(&ctx)?;

    let mut result = commit_map(&target);
    result.remove("sha");
    result.remove("time");
    result.remove("author");
    result.insert("previous".into(), previous.id().to_string().into());
    result.insert("head".into(), target.id().to_string().into());
    result.insert(
        "branch".into(),
        current_branch(&r).map_or(Dynamic::UNIT, Dynamic::from),
    );
    result.insert(
        "discarded".into(),
        discarded
            .iter()
            .cloned()
            .map(Dynamic::from)
            .collect::<Array>()
            .into(),
    );

    let mut summary = format!(
        "reset --hard {path} to {rev} ({} \"{}\"), from {}",
        short_sha(&target),
        summary(&target),
        short_sha(&previous)
    );
    if !discarded.is_empty() {
        summary.push_str(&format!(
            "; discards changes to {}",
            list_some(&discarded, 5)
        ));
    }
    let change = Change::new("git::reset_hard", summary)
        .arg("repo", path.as_str())
        .arg("rev", rev)
        .arg("previous", previous.id().to_string())
        .arg("head", target.id().to_string())
        .arg("discarded", discarded.clone())
        .simulated(result.clone());
    host.change(&ctx, change, || {
        let mut checkout = CheckoutBuilder::new();
        checkout.force();
        r.reset(target.as_object(), ResetType::Hard, Some(&mut checkout))
            .map_err(|e| git_failure(&path, &format!("cannot reset to {rev}"), e))?;
        Ok(result.clone())
    })
}

fn git_checkout(ctx: NativeCallContext, repo: &str, rev: &str) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let (path, r) = open(repo).at(&ctx)?;
    let previous = head_commit(&r, &path).at(&ctx)?;
    let branch = r
        .find_branch(rev, BranchType::Local)
        .ok()
        .and_then(|b| b.get().name().ok().map(str::to_string));
    let target = resolve(&r, &path, rev).at(&ctx)?;
    // A dry-run checkout finds conflicts with local changes without touching the tree.
    let mut probe = CheckoutBuilder::new();
    probe.safe().dry_run();
    r.checkout_tree(target.as_object(), Some(&mut probe))
        .map_err(|e| checkout_failure(&path, rev, e).at(&ctx))?;

    let mut result = commit_map(&target);
    result.remove("sha");
    result.remove("time");
    result.remove("author");
    result.insert("previous".into(), previous.id().to_string().into());
    result.insert("head".into(), target.id().to_string().into());
    result.insert(
        "branch".into(),
        branch.as_deref().map_or(Dynamic::UNIT, |b| {
            b.trim_start_matches("refs/heads/").into()
        }),
    );
    result.insert("detached".into(), branch.is_none().into());

    let summary = match &branch {
        Some(_) => format!(
            "checkout branch {rev} ({}) in {path}, from {}",
            short_sha(&target),
            short_sha(&previous)
        ),
        None => format!(
            "checkout {rev} ({}, detached HEAD) in {path}, from {}",
            short_sha(&target),
            short_sha(&previous)
        ),
    };
    let change = Change::new("git::checkout", summary)
        .arg("repo", path.as_str())
        .arg("rev", rev)
        .arg("previous", previous.id().to_string())
        .arg("head", target.id().to_string())
        .simulated(result.clone());
    host.change(&ctx, change, || {
        let mut checkout = CheckoutBuilder::new();
        checkout.safe();
        r.checkout_tree(target.as_object(), Some(&mut checkout))
            .map_err(|e| checkout_failure(&path, rev, e))?;
        match &branch {
            Some(refname) => r.set_head(refname),
            None => r.set_head_detached(target.id()),
        }
        .map_err(|e| git_failure(&path, &format!("cannot move HEAD to {rev}"), e))?;
        Ok(result.clone())
    })
}

// ---- helpers --------------------------------------------------------------------------------

fn open(repo: &str) -> NativeResult<(String, Repository)> {
    let path = expand_tilde(repo);
    match Repository::open(&path) {
        Ok(r) => Ok((path, r)),
        Err(e) if e.code() == ErrorCode::NotFound => {
            Err(Failure::new(format!("git: {path} is not a git repository"))
                .hint("pass the folder that holds `.git` (the checkout's top level)"))
        }
        Err(e) => Err(git_failure(&path, "cannot open the repository", e)),
    }
}

fn git_failure(path: &str, what: &str, e: git2::Error) -> Failure {
    Failure::new(format!("git: {path}: {what}: {}", e.message()))
}

fn checkout_failure(path: &str, rev: &str, e: git2::Error) -> Failure {
    if e.code() == ErrorCode::Conflict {
        Failure::new(format!(
            "git::checkout: {path}: local changes conflict with {rev}: {}",
            e.message()
        ))
        .hint("commit or stash the local changes first, or use git::reset_hard to discard them")
    } else {
        git_failure(path, &format!("cannot check out {rev}"), e)
    }
}

fn head_commit<'r>(r: &'r Repository, path: &str) -> NativeResult<Commit<'r>> {
    r.head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| match e.code() {
            ErrorCode::UnbornBranch | ErrorCode::NotFound => {
                Failure::new(format!("git: {path} has no commits yet"))
                    .hint("commit something first; HEAD has nothing to point at")
            }
            _ => git_failure(path, "cannot read HEAD", e),
        })
}

/// The branch HEAD is on, or `None` when detached.
fn current_branch(r: &Repository) -> Option<String> {
    if r.head_detached().unwrap_or(false) {
        return None;
    }
    r.head()
        .ok()
        .and_then(|h| h.shorthand().ok().map(str::to_string))
}

fn resolve<'r>(r: &'r Repository, path: &str, rev: &str) -> NativeResult<Commit<'r>> {
    if rev.trim().is_empty() {
        return Err(Failure::new(format!("git: empty revision for {path}"))
            .hint("pass a sha, tag or branch, e.g. \"v1.2.0\""));
    }
    let object = match r.revparse_single(rev) {
        Ok(o) => o,
        Err(e) if e.code() == ErrorCode::Ambiguous => {
            return Err(
                Failure::new(format!("git: revision `{rev}` is ambiguous in {path}"))
                    .hint("several objects start with it; give more characters of the sha"),
            );
        }
        Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => {
            return Err(unknown_revision(r, path, rev));
        }
        Err(e) => return Err(git_failure(path, &format!("cannot resolve `{rev}`"), e)),
    };
    object.peel_to_commit().map_err(|_| {
        Failure::new(format!(
            "git: `{rev}` in {path} is a {}, not a commit",
            object.kind().map_or("object", |k| k.str())
        ))
        .hint("pass a sha, tag or branch that names a commit")
    })
}

/// The error for a revision that does not exist, listing the tags and commits near it.
fn unknown_revision(r: &Repository, path: &str, rev: &str) -> Failure {
    let mut near = Vec::new();
    if let Ok(mut tags) = tags_newest_first(r, "*") {
        // Tags spelled like the revision first (a typo in a version), then the newest.
        if !looks_like_sha(rev) {
            tags.sort_by_key(|(name, _)| strsim::levenshtein(name, rev).min(4));
        }
        let shown: Vec<String> = tags
            .iter()
            .take(5)
            .map(|(name, c)| format!("{name} ({})", short_sha(c)))
            .collect();
        if !shown.is_empty() {
            near.push(format!("tags: {}", shown.join(", ")));
        }
    }
    if let Ok(commits) = recent_commits(r, 5) {
        let shown: Vec<String> = commits
            .iter()
            .map(|c| format!("{} {}", short_sha(c), summary(c)))
            .collect();
        if !shown.is_empty() {
            near.push(format!("recent commits: {}", shown.join("; ")));
        }
    }
    let hint = if near.is_empty() {
        "the repository has no tags or commits to pick from".to_string()
    } else {
        format!(
            "revisions near it:\n{}\nnothing was changed; list more with git::tags(repo, \"*\") or git::log(repo, 20)",
            near.join("\n")
        )
    };
    Failure::new(format!("git: unknown revision `{rev}` in {path}")).hint(hint)
}

fn recent_commits<'r>(r: &'r Repository, n: usize) -> Result<Vec<Commit<'r>>, git2::Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut walk = r.revwalk()?;
    walk.push_head()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
    walk.take(n)
        .map(|oid| oid.and_then(|oid| r.find_commit(oid)))
        .collect()
}

/// Tags matching `pattern` that point at commits, newest commit first.
fn tags_newest_first<'r>(
    r: &'r Repository,
    pattern: &str,
) -> Result<Vec<(String, Commit<'r>)>, git2::Error> {
    let names = r.tag_names(Some(pattern))?;
    let mut tags: Vec<(String, Commit<'r>)> = names
        .iter()
        .flatten()
        .flatten()
        .filter_map(|name| {
            let commit = r
                .revparse_single(&format!("refs/tags/{name}"))
                .ok()?
                .peel_to_commit()
                .ok()?;
            Some((name.to_string(), commit))
        })
        .collect();
    tags.sort_by(|(a, ca), (b, cb)| {
        cb.time()
            .seconds()
            .cmp(&ca.time().seconds())
            .then_with(|| b.cmp(a))
    });
    Ok(tags)
}

/// Paths of tracked files with staged or unstaged changes (untracked and ignored files excluded).
fn tracked_changes(r: &Repository, path: &str) -> NativeResult<Vec<String>> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = r
        .statuses(Some(&mut opts))
        .map_err(|e| git_failure(path, "cannot read the status", e))?;
    Ok(statuses
        .iter()
        .filter(|s| !s.status().is_empty() && !s.status().is_ignored() && !s.status().is_wt_new())
        .map(|s| String::from_utf8_lossy(s.path_bytes()).into_owned())
        .collect())
}

fn commit_map(c: &Commit) -> Map {
    let mut map = Map::new();
    map.insert("sha".into(), c.id().to_string().into());
    map.insert("short".into(), short_sha(c).into());
    map.insert("summary".into(), summary(c).into());
    map.insert(
        "author".into(),
        String::from_utf8_lossy(c.author().name_bytes())
            .into_owned()
            .into(),
    );
    map.insert("time".into(), commit_time(c).into());
    map
}

/// Git's own abbreviation (unique in this repository, `core.abbrev` respected).
fn short_sha(c: &Commit) -> String {
    c.as_object()
        .short_id()
        .ok()
        .and_then(|b| b.as_str().ok().map(str::to_string))
        .unwrap_or_else(|| c.id().to_string()[..7].to_string())
}

fn summary(c: &Commit) -> String {
    String::from_utf8_lossy(c.summary_bytes().unwrap_or_default())
        .trim()
        .to_string()
}

fn commit_time(c: &Commit) -> String {
    let t = c.time();
    let offset =
        jiff::tz::Offset::from_seconds(t.offset_minutes() * 60).unwrap_or(jiff::tz::Offset::UTC);
    match jiff::Timestamp::from_second(t.seconds()) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::fixed(offset))
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => t.seconds().to_string(),
    }
}

fn looks_like_sha(rev: &str) -> bool {
    rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit())
}

fn list_some(items: &[String], max: usize) -> String {
    let shown = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(max) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut() {
        let items: Vec<String> = (1..=7).map(|i| format!("f{i}")).collect();
        assert_eq!(list_some(&items, 5), "f1, f2, f3, f4, f5 and 2 more");
        assert_eq!(list_some(&items[..2], 5), "f1, f2");
    }
}
