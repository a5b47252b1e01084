//! The `db` module: SQLite backup, verify and restore done the safe way, and plain SQL.
//!
//! Backups copy a consistent snapshot without blocking WAL writers: the file itself (in the
//! kernel, hashed on the way) when a read transaction pins a snapshot that lies wholly in it,
//! else one online-backup step from a separate read connection. The copy goes to a temp file
//! that is fsynced and verified before it is renamed onto the destination. Restores verify the backup first, refuse a database a
//! live process holds open, keep the old file as a safety copy, and never leave a stale `-wal`
//! beside the new file. A damaged database can still be copied byte for byte (`verify: "none"`)
//! and salvaged row by row into a new one (`db::salvage`, page by page in `db/pages.rs`).

mod backup;
mod bytecopy;
mod copy;
mod facts;
mod files;
mod pages;
mod restore;
mod salvage;
mod sql;
mod writelock;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ripcord_runtime::rhai::{Array, Dynamic, Map, NativeCallContext};
use ripcord_runtime::{At, Change, Decl, Effect, Failure, Host, NativeModule, RhaiResult};
use serde::Deserialize;

use crate::options;
use facts::Check;
use files::side_file;
use sql::Params;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "db",
        "SQLite: backup, verify, restore, salvage, query, exec, checkpoint",
    );
    declare_backup(&mut m);
    declare_verify(&mut m);
    declare_restore(&mut m);
    declare_salvage(&mut m);
    declare_query(&mut m);
    declare_exec(&mut m);
    declare_checkpoint(&mut m);
    m
}

/// `db::backup` with and without options.
fn declare_backup(m: &mut NativeModule) {
    let backup_decl = Decl {
        name: "backup",
        effect: Effect::Change,
        params: &["src: String", "dst: String", "opts: Map", "Map"],
        doc: "Back up the SQLite database `src` to the new file `dst`, consistently, while it is in use.\n\n\
              A read transaction pins a snapshot without blocking WAL writers; when the snapshot lies wholly \
              in the main file (after a passive checkpoint) the file is copied as `cp` would while `verify` and the row \
              counts run on that same snapshot, in the same read transaction (so \"verified\" means: the bytes copied passed \
              the check; the copy is not read back); else SQLite's online backup copies it in one step and the copy is \
              read back to verify it. The copy goes to a temp file beside `dst`, is fsynced and verified, then renamed \
              onto `dst` (so `dst` never names a partial file). Returns \
              `#{ path, bytes, ms, pages, page_size, free_pages, integrity, user_version, journal_mode, tables, sha256 }`.\n\n\
              Options: `force` (replace an existing `dst`), `compact` (`VACUUM INTO`: smaller, slower), \
              `verify` (`\"quick\"` default, `\"full\"`, `\"none\"`), `timeout` (how long to wait for a lock, default `\"10m\"`).\n\
              In a dry run the source is verified for real and the copy is simulated.",
        example: r#"let b = db::backup("app.db", `app-${time::stamp()}.db`, #{ verify: "full" });
log::info(`backed up ${b.pages} pages, sha256 ${b.sha256}`);"#,
    };
    m.function(
        backup_decl,
        |ctx: NativeCallContext, src: &str, dst: &str, opts: Map| backup(ctx, src, dst, &opts),
    );
    m.function(
        Decl {
            params: &["src: String", "dst: String", "Map"],
            ..backup_decl
        },
        |ctx: NativeCallContext, src: &str, dst: &str| backup(ctx, src, dst, &Map::new()),
    );
}

/// `db::verify` with and without options.
fn declare_verify(m: &mut NativeModule) {
    let verify_decl = Decl {
        name: "verify",
        effect: Effect::Read,
        params: &["path: String", "opts: Map", "Map"],
        doc: "Check a SQLite database file and report what it holds.\n\n\
              Fails on a file that is missing, not SQLite, truncated, or fails its integrity check. Returns \
              the same facts as `db::backup`: `#{ path, bytes, ms, pages, integrity, user_version, journal_mode, tables, sha256, ... }`.\n\n\
              Options: `check` (`\"quick\"` default, `\"full\"` for `integrity_check`).",
        example: r#"let v = db::verify("backup.db", #{ check: "full" });
if v.tables.dispatches == 0 { fail("the backup has no dispatches"); }"#,
    };
    m.function(
        verify_decl,
        |ctx: NativeCallContext, path: &str, opts: Map| verify(ctx, path, &opts),
    );
    m.function(
        Decl {
            params: &["path: String", "Map"],
            ..verify_decl
        },
        |ctx: NativeCallContext, path: &str| verify(ctx, path, &Map::new()),
    );
}

/// `db::restore` with and without options.
fn declare_restore(m: &mut NativeModule) {
    let restore_decl = Decl {
        name: "restore",
        effect: Effect::Change,
        params: &["backup: String", "target: String", "opts: Map", "Map"],
        doc: "Replace the database `target` with the backup file `backup`, verified and crash-safe.\n\n\
              The backup is verified before anything is touched. A target that another process holds \
              open is refused (naming the pid) unless `live: true`, which writes the backup into the open \
              database through SQLite's own locking. The current target is kept as \
              `<target>.pre-restore-<stamp>` (returned as `safety`); its `-wal`/`-journal` is folded in \
              first, so no stale WAL can be applied to the restored file. The new file is written to a \
              temp file, fsynced and renamed: killed at any moment, `target` is the old or the new database.\n\n\
              Options: `force` (replace an existing target), `keep_safety` (default true), `live`, \
              `dry_run` (verify and return the plan, change nothing), `verify` (`\"quick\"`/`\"full\"`/`\"none\"`), `timeout`, \
              `allow_missing_wal` (restore a WAL backup whose `-wal` is missing, a `-shm` still there: refused by default, as it \
              lacks every commit since its last checkpoint).\n\n\
              With `live: true` the database's write lock is taken before the safety copy and held until the restore commits, \
              so no commit lands between them. Temp files that killed runs left beside the target are removed (`swept`).",
        example: r#"let plan = db::restore("backup.db", "app.db", #{ dry_run: true, force: true });
let r = db::restore("backup.db", "app.db", #{ force: true });
log::info(`restored; the old database is kept at ${r.safety}`);"#,
    };
    m.function(
        restore_decl,
        |ctx: NativeCallContext, b: &str, t: &str, opts: Map| restore(ctx, b, t, &opts),
    );
    m.function(
        Decl {
            params: &["backup: String", "target: String", "Map"],
            ..restore_decl
        },
        |ctx: NativeCallContext, b: &str, t: &str| restore(ctx, b, t, &Map::new()),
    );
}

/// `db::salvage` with and without options.
fn declare_salvage(m: &mut NativeModule) {
    let salvage_decl = Decl {
        name: "salvage",
        effect: Effect::Change,
        params: &["src: String", "dst: String", "opts: Map", "Map"],
        doc: "Copy every row that can still be read from the damaged database `src` into the new database `dst`, \
              table by table, and report what was recovered and what was lost.\n\n\
              The source (and its `-wal` or hot `-journal`) is first copied byte for byte under SQLite's locks, so a \
              running service goes on. The copy is read page by page, as `sqlite3`'s `.recover` does: each table's \
              b-tree from its root, skipping every page that does not make sense; leaf pages cut off from their \
              table by a damaged page above them are put back when exactly one table's damaged rowid range covers \
              them, else kept in the table `ripcord_lost_and_found` (as rows refused by a constraint are), never \
              dropped. `dst` gets the source's schema, `user_version` and journal mode; it is written to a temp \
              file, verified, fsynced and renamed: a failed or killed salvage leaves nothing.\n\n\
              Returns `#{ path, bytes, sha256, ms, complete, rows, tables, unreadable, lost_and_found, schema_damaged, wal_frames_lost, \
              journal_mode, warnings, swept }`. `tables` maps each table to `#{ recovered, complete, damaged_pages, damage, \
              lost, lost_at_most, lost_at_least, lost_unknown, lost_rowids, adopted, set_aside, expected, missing, \
              new_since_backup }`: `lost` is the exact number of rows lost when it is known (else `()`); \
              `lost_at_most` a sound upper bound, the smaller of two: range by range (a range `(lo, hi]` named by \
              the interior page above a damaged page holds at most `hi - lo` rows; a damaged page at the depth \
              of the tree's leaves is one leaf, holding at most `(usable - 8) / 6`), and all together the room \
              on the file's dark pages (pages no readable b-tree, freelist or adopted leaf accounts for, \
              including those cut off by a truncation, counted from the header's page count; a leaf page \
              holds at most `(usable - 8) / 6` rows; a damaged page of a WITHOUT ROWID table, which has no \
              rowid range, is bounded by one leaf's room at the leaves' depth, else by the dark pages' room); `()` when neither exists, with the reason in \
              `lost_unknown` (commits lost in a damaged WAL; an open-ended range in a file whose page count \
              is not known). `lost_at_least` counts the rows whose rowid was read and whose values were not, \
              and entries that did not decode (a backup's `missing` rows may have been deleted since, so \
              they bound nothing). \
              `lost_rowids` the ranges as `[after, up_to]` pairs. `complete` is true only when every page was read and nothing set aside. \
              `unreadable` maps each table that could not be salvaged to the reason: a virtual table (FTS, R*Tree) is \
              listed there, its shadow tables are salvaged as plain tables. A WITHOUT ROWID table is read from its \
              index b-tree, and its `missing`/`new_since_backup` match its rows by PRIMARY KEY.\n\n\
              Options: `backup` (the last good backup: gives each table `expected` (its rows there), `missing` \
              (rows there, by rowid, not salvaged) and `new_since_backup`; its schema is used when the source's \
              own is unreadable), `force` (replace an existing `dst`), `timeout` (for the source's locks, default `\"10m\"`).",
        example: r#"let s = db::salvage("app.db", "app-salvaged.db", #{ backup: "backups/app-last.db" });
for t in s.tables.keys() {
    let e = s.tables[t];
    log::info(`${t}: ${e.recovered} rows recovered, lost: ${e.lost ?? "unknown"}, missing since the backup: ${e.missing}`);
}
if !s.complete { log::warn("the salvage is partial; see the per-table evidence"); }"#,
    };
    m.function(
        salvage_decl,
        |ctx: NativeCallContext, src: &str, dst: &str, opts: Map| salvage(ctx, src, dst, &opts),
    );
    m.function(
        Decl {
            params: &["src: String", "dst: String", "Map"],
            ..salvage_decl
        },
        |ctx: NativeCallContext, src: &str, dst: &str| salvage(ctx, src, dst, &Map::new()),
    );
}

/// `db::query` with and without params and options.
fn declare_query(m: &mut NativeModule) {
    let query_decl = Decl {
        name: "query",
        effect: Effect::Read,
        params: &["path: String", "sql: String", "params: Array", "Array"],
        doc: "Run a read-only query; returns an array of maps (column name -> value).\n\n\
              Parameters are an array for `?` placeholders or a map for `:name` placeholders.",
        example: r#"let rows = db::query("app.db", "SELECT count(*) AS n FROM dispatches WHERE status = ?", ["failed"]);
log::info(`${rows[0].n} failed dispatches`);"#,
    };
    m.function(
        query_decl,
        |ctx: NativeCallContext, path: &str, sql: &str, params: Array| {
            query(ctx, path, sql, Params::from_array(&params))
        },
    );
    m.function(
        Decl {
            params: &["path: String", "sql: String", "params: Map", "Array"],
            ..query_decl
        },
        |ctx: NativeCallContext, path: &str, sql: &str, params: Map| {
            query(ctx, path, sql, Params::from_map(&params))
        },
    );
    m.function(
        Decl {
            params: &["path: String", "sql: String", "Array"],
            ..query_decl
        },
        |ctx: NativeCallContext, path: &str, sql: &str| query(ctx, path, sql, Ok(Params::None)),
    );
}

/// `db::exec` with and without params and options.
fn declare_exec(m: &mut NativeModule) {
    let exec_decl = Decl {
        name: "exec",
        effect: Effect::Change,
        params: &["path: String", "sql: String", "params: Array", "Map"],
        doc: "Run SQL that changes the database (created if missing); returns `#{ changes, last_insert_rowid }`.\n\n\
              Without parameters `sql` may hold several statements; parameters are an array for `?` or a map for `:name`.",
        example: r#"db::exec("app.db", "UPDATE dispatches SET status = 'queued' WHERE id = :id", #{ id: 42 });"#,
    };
    m.function(
        exec_decl,
        |ctx: NativeCallContext, path: &str, sql: &str, params: Array| {
            exec(ctx, path, sql, Params::from_array(&params))
        },
    );
    m.function(
        Decl {
            params: &["path: String", "sql: String", "params: Map", "Map"],
            ..exec_decl
        },
        |ctx: NativeCallContext, path: &str, sql: &str, params: Map| {
            exec(ctx, path, sql, Params::from_map(&params))
        },
    );
    m.function(
        Decl {
            params: &["path: String", "sql: String", "Map"],
            ..exec_decl
        },
        |ctx: NativeCallContext, path: &str, sql: &str| exec(ctx, path, sql, Ok(Params::None)),
    );
}

/// `db::checkpoint` with and without a mode.
fn declare_checkpoint(m: &mut NativeModule) {
    let checkpoint_decl = Decl {
        name: "checkpoint",
        effect: Effect::Change,
        params: &["path: String", "mode: String", "Map"],
        doc: "Checkpoint a WAL database: copy committed WAL frames into the database file.\n\n\
              `mode` is `\"passive\"` (the default: never blocks writers), `\"full\"`, `\"restart\"` or \
              `\"truncate\"` (these wait for writers and block new ones). Returns `#{ mode, busy, wal_frames, checkpointed }`.",
        example: r#"let c = db::checkpoint("app.db", "passive");
log::info(`checkpointed ${c.checkpointed} of ${c.wal_frames} frames`);"#,
    };
    m.function(
        checkpoint_decl,
        |ctx: NativeCallContext, path: &str, mode: &str| checkpoint(ctx, path, mode),
    );
    m.function(
        Decl {
            params: &["path: String", "Map"],
            ..checkpoint_decl
        },
        |ctx: NativeCallContext, path: &str| checkpoint(ctx, path, "passive"),
    );
}

// ---- options ----------------------------------------------------------------------------------

/// `db::backup`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct BackupOptions {
    force: bool,
    compact: bool,
    verify: Option<String>,
    timeout: Option<String>,
}

/// `db::verify`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct VerifyOptions {
    check: Option<String>,
}

/// `db::restore`'s options.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RestoreOptions {
    force: bool,
    keep_safety: bool,
    live: bool,
    dry_run: bool,
    verify: Option<String>,
    timeout: Option<String>,
    allow_missing_wal: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            force: false,
            // The old file is kept unless the runbook says otherwise.
            keep_safety: true,
            live: false,
            dry_run: false,
            verify: None,
            timeout: None,
            allow_missing_wal: false,
        }
    }
}

/// `db::salvage`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct SalvageOptions {
    force: bool,
    backup: Option<String>,
    timeout: Option<String>,
}

/// The integrity check a `verify`/`check` option names (default: quick).
fn check_of(text: Option<&str>) -> Result<Check, Failure> {
    text.map_or(Ok(Check::Quick), Check::parse)
}

/// How long to wait for locks: `timeout` (default 10m), never past the run's `--timeout`.
fn timeout_of(function: &str, text: Option<&str>, host: &Host) -> Result<Duration, Failure> {
    let asked = match text {
        Some(t) => ripcord_runtime::time::parse_duration(t)
            .map_err(|e| Failure::new(format!("{function}: {e}")))?,
        None => Duration::from_secs(600),
    };
    Ok(host.remaining().map_or(asked, |left| asked.min(left)))
}

fn path_of(text: &str) -> PathBuf {
    PathBuf::from(ripcord_runtime::dirs::expand_tilde(text))
}

fn ms_since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

// ---- functions ---------------------------------------------------------------------------------

fn backup(ctx: NativeCallContext, src: &str, dst: &str, opts: &Map) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let start = Instant::now();
    let (src, dst) = (path_of(src), path_of(dst));
    let opts = backup_options(opts, &host).at(&ctx)?;
    let how = if opts.compact {
        "VACUUM INTO"
    } else {
        "online backup"
    };
    let summary = format!("back up {} to {} ({how})", src.display(), dst.display());
    let mut change = Change::new("db::backup", summary)
        .arg("src", src.display().to_string())
        .arg("dst", dst.display().to_string())
        .arg("force", opts.force)
        .arg("compact", opts.compact);
    if host.mode.simulates_changes() {
        // The source is read for real: a drill shows a broken source now, not during the incident.
        let mut facts = if opts.check == Check::None && !opts.compact {
            backup::check_destination(&src, &dst, opts.force).at(&ctx)?;
            let (sha, bytes) = facts::sha256_file(&src).at(&ctx)?;
            let mut facts = bytecopy::assess(&src, &src, false);
            (facts.sha256, facts.bytes) = (sha, bytes);
            facts
        } else {
            backup::preflight(&src, &dst, opts.force).at(&ctx)?;
            facts::measure(&src, opts.check, true).at(&ctx)?
        };
        facts.path = dst.clone();
        change = change.simulated(facts.to_map(ms_since(start)));
    }
    let stopper = host.clone();
    let stop = move || stopper.check_stop().is_some();
    let out = host.clone();
    host.change(&ctx, change, || {
        let facts = if opts.check == Check::None && !opts.compact {
            bytecopy::run(&src, &dst, &opts, &stop)?
        } else {
            backup::run(&src, &dst, &opts, &stop)?
        };
        if let Some(damage) = &facts.damage {
            out.out.warn(&format!(
                "db::backup: copied {} byte for byte, but SQLite cannot fully read it: {damage}",
                src.display()
            ));
        }
        Ok(facts.to_map(ms_since(start)))
    })
}

fn backup_options(opts: &Map, host: &Host) -> Result<backup::BackupOpts, Failure> {
    let o: BackupOptions = options::read("db::backup", opts)?;
    Ok(backup::BackupOpts {
        force: o.force,
        compact: o.compact,
        check: check_of(o.verify.as_deref())?,
        timeout: timeout_of("db::backup", o.timeout.as_deref(), host)?,
    })
}

fn verify(ctx: NativeCallContext, path: &str, opts: &Map) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let start = Instant::now();
    let path = path_of(path);
    let check = options::read::<VerifyOptions>("db::verify", opts)
        .and_then(|o| check_of(o.check.as_deref()))
        .at(&ctx)?;
    if check == Check::None {
        return Err(
            Failure::new("db::verify: check \"none\" would verify nothing")
                .hint("use \"quick\" or \"full\"")
                .at(&ctx),
        );
    }
    host.read(&ctx, "db::verify", || {
        // Before SQLite opens it: the last connection to close removes the -shm.
        let missing = facts::missing_wal(&path);
        let mut facts = facts::measure(&path, check, true)?;
        if let Some(missing) = missing {
            host.out.warn(&format!("db::verify: {missing}"));
            facts.warnings.push(missing);
        }
        let mut map = facts.to_map(ms_since(start));
        let wal = files::len_of(&side_file(&path, "-wal")).unwrap_or(0);
        map.insert("wal_bytes".into(), Dynamic::from(wal as i64));
        Ok(map)
    })
}

/// The restore's options, and whether it is only a dry run of it.
fn restore_options(opts: &Map, host: &Host) -> Result<(restore::RestoreOpts, bool), Failure> {
    let o: RestoreOptions = options::read("db::restore", opts)?;
    let opts = restore::RestoreOpts {
        force: o.force,
        keep_safety: o.keep_safety,
        live: o.live,
        check: check_of(o.verify.as_deref())?,
        timeout: timeout_of("db::restore", o.timeout.as_deref(), host)?,
        allow_missing_wal: o.allow_missing_wal,
    };
    Ok((opts, o.dry_run))
}

/// A restore's plan, for a dry run or a drill: the backup verified for real, what the restore
/// would do and what would make it refuse now; nothing changed.
fn restore_plan(
    ctx: &NativeCallContext,
    host: &Host,
    (backup, target): (&PathBuf, &PathBuf),
    opts: &restore::RestoreOpts,
    start: Instant,
) -> RhaiResult<Map> {
    let plan = restore::plan(backup, target, opts).at(ctx)?;
    let backup_facts = host.read(ctx, "db::verify", || {
        facts::measure(backup, opts.check, true)
    })?;
    for blocker in &plan.blockers {
        host.out.warn(&format!(
            "db::restore would refuse now: {blocker} (stop it first, or pass #{{ live: true }})"
        ));
    }
    let mut map = plan.to_map(&backup_facts, target);
    for (key, value) in backup_facts.to_map(ms_since(start)) {
        map.entry(key).or_insert(value);
    }
    map.insert("path".into(), target.display().to_string().into());
    Ok(map)
}

fn restore(ctx: NativeCallContext, backup: &str, target: &str, opts: &Map) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let start = Instant::now();
    let (backup, target) = (path_of(backup), path_of(target));
    let (opts, dry_run) = restore_options(opts, &host).at(&ctx)?;
    let simulated = dry_run || host.mode.simulates_changes();
    let planned = if simulated {
        Some(restore_plan(&ctx, &host, (&backup, &target), &opts, start)?)
    } else {
        None
    };
    if dry_run {
        return Ok(planned.unwrap_or_default());
    }
    let summary = format!(
        "restore {} over {}{}",
        backup.display(),
        target.display(),
        if opts.keep_safety {
            " (keeping a safety copy)"
        } else {
            ""
        }
    );
    let mut change = Change::new("db::restore", summary)
        .arg("backup", backup.display().to_string())
        .arg("target", target.display().to_string())
        .arg("force", opts.force)
        .arg("live", opts.live)
        .arg("keep_safety", opts.keep_safety);
    if let Some(map) = planned {
        change = change.simulated(map);
    }
    let stopper = host.clone();
    let stop = move || stopper.check_stop().is_some();
    let out = host.clone();
    host.change(&ctx, change, || {
        let restored = restore::run(&backup, &target, &opts, &stop)?;
        for note in &restored.notes {
            out.out.warn(note);
        }
        let mut map = restored.facts.to_map(ms_since(start));
        let safety = restored
            .safety
            .map(|p| Dynamic::from(p.display().to_string()))
            .unwrap_or(Dynamic::UNIT);
        map.insert("safety".into(), safety);
        map.insert("backup".into(), restored.backup.to_map(0).into());
        map.insert("live".into(), restored.live.into());
        Ok(map)
    })
}

fn salvage_options(opts: &Map, host: &Host) -> Result<salvage::SalvageOpts, Failure> {
    let o: SalvageOptions = options::read("db::salvage", opts)?;
    Ok(salvage::SalvageOpts {
        force: o.force,
        backup: o.backup.as_deref().map(path_of),
        timeout: timeout_of("db::salvage", o.timeout.as_deref(), host)?,
    })
}

fn salvage(ctx: NativeCallContext, src: &str, dst: &str, opts: &Map) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let start = Instant::now();
    let (src, dst) = (path_of(src), path_of(dst));
    let opts = salvage_options(opts, &host).at(&ctx)?;
    if let Some(backup) = &opts.backup {
        facts::check_file(backup).at(&ctx)?;
    }
    let mut change = Change::new(
        "db::salvage",
        format!(
            "salvage the readable rows of {} into {}",
            src.display(),
            dst.display()
        ),
    )
    .arg("src", src.display().to_string())
    .arg("dst", dst.display().to_string())
    .arg("force", opts.force);
    if let Some(backup) = &opts.backup {
        change = change.arg("backup", backup.display().to_string());
    }
    if host.mode.simulates_changes() {
        backup::check_destination(&src, &dst, opts.force).at(&ctx)?;
        let planned = salvage::Salvaged {
            path: dst.clone(),
            ..salvage::Salvaged::default()
        };
        change = change.simulated(salvage_map(&planned, ms_since(start)));
    }
    let stopper = host.clone();
    let stop = move || stopper.check_stop().is_some();
    let out = host.clone();
    host.change(&ctx, change, || {
        let salvaged = salvage::run(&src, &dst, &opts, &stop)?;
        for warning in &salvaged.warnings {
            out.out.warn(&format!("db::salvage: {warning}"));
        }
        Ok(salvage_map(&salvaged, ms_since(start)))
    })
}

/// What `db::salvage` returns.
fn salvage_map(s: &salvage::Salvaged, ms: u64) -> Map {
    let int = |n: i64| Dynamic::from(n);
    let mut tables = Map::new();
    for t in &s.tables {
        tables.insert(t.name.as_str().into(), salvaged_table_map(t).into());
    }
    let mut unreadable = Map::new();
    for (name, why) in &s.unreadable {
        unreadable.insert(name.as_str().into(), why.clone().into());
    }
    let mut m = Map::new();
    m.insert("path".into(), s.path.display().to_string().into());
    m.insert("bytes".into(), int(s.bytes as i64));
    m.insert("sha256".into(), s.sha256.clone().into());
    m.insert("ms".into(), int(ms as i64));
    m.insert("complete".into(), s.complete().into());
    m.insert(
        "rows".into(),
        int(s.tables.iter().map(|t| t.recovered).sum()),
    );
    m.insert("tables".into(), tables.into());
    m.insert("unreadable".into(), unreadable.into());
    m.insert("lost_and_found".into(), int(s.lost_and_found));
    m.insert("schema_damaged".into(), s.schema_damaged.into());
    m.insert("wal_frames_lost".into(), int(s.wal.lost as i64));
    m.insert("journal_mode".into(), s.journal_mode.clone().into());
    m.insert("warnings".into(), facts::texts(s.warnings.clone()));
    m.insert(
        "swept".into(),
        facts::texts(s.swept.iter().map(|p| p.display().to_string()).collect()),
    );
    m
}

/// What `db::salvage` reports of one table.
fn salvaged_table_map(t: &salvage::Evidence) -> Map {
    let int = |n: i64| Dynamic::from(n);
    let maybe = |n: Option<i64>| n.map_or(Dynamic::UNIT, Dynamic::from);
    let bound = |b: Option<i64>| b.map_or(Dynamic::UNIT, Dynamic::from);
    let mut e = Map::new();
    e.insert("recovered".into(), int(t.recovered));
    e.insert("complete".into(), t.complete().into());
    let pages: Array = t.damaged_pages.iter().map(|p| int(i64::from(*p))).collect();
    e.insert("damaged_pages".into(), pages.into());
    e.insert(
        "damage".into(),
        t.damage.map_or(Dynamic::UNIT, Dynamic::from),
    );
    e.insert("lost".into(), maybe(t.lost()));
    e.insert("lost_at_most".into(), maybe(t.lost_at_most()));
    e.insert("lost_at_least".into(), int(t.lost_at_least()));
    e.insert(
        "lost_unknown".into(),
        t.lost_unknown().map_or(Dynamic::UNIT, Dynamic::from),
    );
    let ranges: Array = t
        .lost_ranges
        .iter()
        .map(|(lo, hi)| Dynamic::from(vec![bound(*lo), bound(*hi)]))
        .chain(
            t.lost_rows
                .iter()
                .map(|r| Dynamic::from(vec![int(r - 1), int(*r)])),
        )
        .collect();
    e.insert("lost_rowids".into(), ranges.into());
    e.insert("adopted".into(), int(t.adopted));
    e.insert("set_aside".into(), int(t.set_aside));
    e.insert("expected".into(), maybe(t.expected));
    e.insert("missing".into(), maybe(t.missing));
    e.insert("new_since_backup".into(), maybe(t.new_since_backup));
    e
}

fn busy_timeout(host: &Host) -> Duration {
    let default = Duration::from_secs(30);
    host.remaining().map_or(default, |left| default.min(left))
}

fn query(
    ctx: NativeCallContext,
    path: &str,
    sql: &str,
    params: Result<Params, Failure>,
) -> RhaiResult<Array> {
    let host = Host::of(&ctx)?;
    let params = params.at(&ctx)?;
    let path = path_of(path);
    host.read(&ctx, "db::query", || {
        sql::query(&path, sql, &params, busy_timeout(&host))
    })
}

fn exec(
    ctx: NativeCallContext,
    path: &str,
    sql: &str,
    params: Result<Params, Failure>,
) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let params = params.at(&ctx)?;
    let path = path_of(path);
    let mut simulated = Map::new();
    simulated.insert("changes".into(), Dynamic::from(0_i64));
    simulated.insert("last_insert_rowid".into(), Dynamic::from(0_i64));
    let change = Change::new(
        "db::exec",
        format!("run SQL on {}: {}", path.display(), sql::short(sql)),
    )
    .arg("path", path.display().to_string())
    .arg("sql", sql)
    .arg("params", params.len())
    .simulated(simulated);
    host.change(&ctx, change, || {
        sql::exec(&path, sql, &params, busy_timeout(&host))
    })
}

fn checkpoint(ctx: NativeCallContext, path: &str, mode: &str) -> RhaiResult<Map> {
    let host = Host::of(&ctx)?;
    let mode = sql::checkpoint_mode(mode).at(&ctx)?;
    let path = path_of(path);
    let mut simulated = Map::new();
    simulated.insert("mode".into(), mode.to_ascii_lowercase().into());
    simulated.insert("busy".into(), false.into());
    simulated.insert("wal_frames".into(), Dynamic::from(0_i64));
    simulated.insert("checkpointed".into(), Dynamic::from(0_i64));
    let change = Change::new(
        "db::checkpoint",
        format!("checkpoint {} ({mode})", path.display()),
    )
    .arg("path", path.display().to_string())
    .arg("mode", mode)
    .simulated(simulated);
    host.change(&ctx, change, || {
        sql::checkpoint(&path, mode, busy_timeout(&host))
    })
}

#[cfg(test)]
mod tests;
