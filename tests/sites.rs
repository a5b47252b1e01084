//! The shipped runbooks at a site that is not the demo: a state DB with other table and column
//! names, ISO 8601 text times, a rollback-journal (DELETE) database and backups under another
//! name, adapted by editing only `scripts/lib/site.rhai`, as an operator would.

use std::path::PathBuf;

use crate::runbooks::{
    CAPACITY_OFF, Cortex, assert_every_shipped_runbook_in, corrupt_page, findings, integrity, one,
    preview_cases, sha256_hex, sql, sums_check,
};
use crate::support::{Outcome, Test};

/// The other site's state DB: its own tables, text times, `journal_mode=DELETE`, and enough old
/// rows to span many pages (so a damaged page is not the whole file).
const OTHER_DB: &str = "PRAGMA journal_mode = DELETE;
    CREATE TABLE alerts (id INTEGER PRIMARY KEY, severity TEXT, raised_at TEXT);
    CREATE TABLE jobs (id INTEGER PRIMARY KEY, outcome TEXT, began TEXT, note TEXT);
    INSERT INTO alerts (severity, raised_at) VALUES
      ('gateway_critical', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-60 seconds')),
      ('gateway_critical', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-120 seconds')),
      ('gateway_critical', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-180 seconds')),
      ('gateway_critical', '2020-01-01T00:00:00Z'),
      ('info', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
    INSERT INTO jobs (outcome, began) VALUES
      ('ok', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-10 seconds')),
      ('error', strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-20 seconds'));
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
      INSERT INTO jobs (outcome, began, note)
      SELECT 'ok', '2020-01-01T00:00:00Z', hex(randomblob(40)) FROM n;";

/// The other site's knowledge, as `(the start of a line in the shipped site.rhai, its new line)`.
const QUERIES: &[(&str, &str)] = &[
    (
        "export const CRITICAL_EVENTS_SINCE =",
        "export const CRITICAL_EVENTS_SINCE = \"SELECT count(*) AS n FROM alerts WHERE severity = 'gateway_critical' AND raised_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?1 || ' seconds')\";",
    ),
    (
        "export const CRITICAL_EVENTS =",
        "export const CRITICAL_EVENTS = \"SELECT count(*) AS n FROM alerts WHERE severity = 'gateway_critical'\";",
    ),
    (
        "export const DISPATCHES_SINCE =",
        "export const DISPATCHES_SINCE = \"SELECT count(*) AS total, coalesce(sum(outcome = 'error'), 0) AS failed FROM jobs WHERE began >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-' || ?1 || ' seconds')\";",
    ),
];
const TIMES: (&str, &str) = (
    "export const TIMES =",
    "export const TIMES = #{ format: \"iso8601\", columns: [\"alerts.raised_at\", \"jobs.began\"] };",
);
const BACKUP_NAME: (&str, &str) = (
    "export const BACKUP_NAME =",
    "export const BACKUP_NAME = \"state-\";",
);

/// A demo sandbox whose `cfg.db` is the other site's DB (the service keeps its own).
struct OtherSite {
    cortex: Cortex,
    db: PathBuf,
}

impl OtherSite {
    fn start() -> OtherSite {
        let cortex = Cortex::start(true);
        let db = cortex.root.join("data/other.db");
        sql(&db, OTHER_DB);
        let toml = cortex.root.join("ripcord.toml");
        let text = std::fs::read_to_string(&toml).expect("config");
        let demo_db = cortex.db().display().to_string();
        assert!(text.contains(&demo_db));
        std::fs::write(&toml, text.replace(&demo_db, &db.display().to_string())).expect("config");
        assert_eq!(journal_mode(&db), "delete");
        OtherSite { cortex, db }
    }

    /// Edit the sandbox's `lib/site.rhai` as an operator would: each line that starts with
    /// `from` becomes `to` (each must be there: the shipped file still has that knowledge).
    fn adapt(&self, edits: &[(&str, &str)]) {
        let path = self.cortex.root.join("scripts/lib/site.rhai");
        let mut text = std::fs::read_to_string(&path).expect("site.rhai");
        for (from, to) in edits {
            let line = text
                .lines()
                .find(|l| l.starts_with(from))
                .unwrap_or_else(|| panic!("no line `{from}` in the shipped site.rhai"))
                .to_string();
            text = text.replace(&line, to);
        }
        std::fs::write(&path, text).expect("site.rhai");
    }

    fn count(&self, table: &str) -> i64 {
        one(&self.db, &format!("SELECT count(*) FROM {table}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.cortex.root.join("rollback-log.txt")).unwrap_or_default()
    }
}

/// `triggers` with the host capacity checks out of the way: the machine the tests share may
/// well have its disk over 90% full (the capacity checks have their own test). Exit 0 unless
/// the caller says otherwise.
fn triggers<'a>(cortex: &'a Cortex, params: &[&str]) -> Test<'a> {
    let mut all = CAPACITY_OFF.to_vec();
    all.extend(params);
    cortex.test("triggers", &all)
}

/// Each of `texts` must be in the command's stderr.
fn says<'a, S: AsRef<str>>(test: Test<'a>, texts: impl IntoIterator<Item = S>) -> Test<'a> {
    texts
        .into_iter()
        .fold(test, |t, text| t.stderr_contains(text))
}

fn journal_mode(db: &std::path::Path) -> String {
    rusqlite::Connection::open(db)
        .and_then(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
        .expect("journal mode")
}

fn misfits(out: &Outcome) -> Vec<String> {
    out.json()["result"]["misfits"]
        .as_array()
        .expect("misfits")
        .iter()
        .map(|m| m["what"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn the_demos_own_site_file_fits_the_demo() {
    let out = triggers(&Cortex::start(true), &[]).run();
    assert!(
        misfits(&out).is_empty(),
        "the demo's own site misfits: {}",
        out.stderr
    );
}

#[test]
fn another_schema_not_adapted_yet_is_a_misfit_per_query_and_a_drill_says_so() {
    let site = OtherSite::start();
    let cortex = &site.cortex;
    // Not adapted yet: each misfit on a line of its own, the checks that query say they could
    // not decide, and the decision stands.
    let db = site.db.display();
    let lines = [
        "CRITICAL_EVENTS_SINCE",
        "CRITICAL_EVENTS",
        "DISPATCHES_SINCE",
    ]
    .iter()
    .map(|name| format!("schema misfit: query {name} does not fit {db}: "))
    .chain(["no such table: health_events".to_string()]);
    let before = says(triggers(cortex, &[]), lines).run();
    let found = findings(&before);
    for check in ["gateway_critical events", "dispatch failure rate"] {
        assert!(
            found.contains(&format!("P2 check failed: {check}")),
            "{check}: {found:?}"
        );
    }
    assert_eq!(before.json()["result"]["decision"], "investigate");

    // A drill says it before an incident does.
    let scripts = cortex.root.join("scripts").display().to_string();
    let config = cortex.root.join("ripcord.toml").display().to_string();
    cortex
        .sb
        .test()
        .args([
            "--scripts",
            &scripts,
            "drill",
            "triggers",
            "--config",
            &config,
            "-p",
            CAPACITY_OFF[0],
            "-p",
            CAPACITY_OFF[1],
        ])
        .stderr_contains("schema misfit: query DISPATCHES_SINCE does not fit")
        .run();
}

#[test]
fn triggers_and_verify_run_on_another_schema_after_only_the_site_file_is_adapted() {
    let site = OtherSite::start();
    let cortex = &site.cortex;
    site.adapt(QUERIES);
    site.adapt(&[TIMES]);
    let after = says(
        triggers(cortex, &[]),
        [
            "3 gateway_critical events in the last 15 min",
            "dispatch failure rate 50% of 2",
        ],
    )
    .run();
    assert!(misfits(&after).is_empty(), "{}", after.stderr);
    assert_eq!(
        findings(&after),
        ["P0 gateway_critical storm", "P1 high failure rate"]
    );

    // The thresholds are the site's too; a param still wins for one run.
    site.adapt(&[("    storm_threshold: 3,", "    storm_threshold: 4,")]);
    assert_eq!(
        findings(&triggers(cortex, &[]).run()),
        ["P1 high failure rate"]
    );
    let strict = triggers(cortex, &["storm_threshold=3"]).run();
    assert_eq!(
        findings(&strict),
        ["P0 gateway_critical storm", "P1 high failure rate"]
    );
    triggers(cortex, &["storm_threshold=0"])
        .status(1)
        .stderr_contains("storm_threshold is 0: it must be 1 or more")
        .run();

    let verify = ["phase2_secs=0", "phase3_secs=0"];
    cortex
        .test("verify", &[verify[0], verify[1], "max_failure_pct=60"])
        .run();
    cortex
        .test("verify", &verify)
        .status(1)
        .stderr_contains("dispatch failure rate 50% is above 5%")
        .run();
}

#[test]
fn a_time_column_that_does_not_hold_the_sites_time_format_is_a_misfit() {
    let site = OtherSite::start();
    // Names adapted, times left as the demo's epoch seconds: the queries run without an error
    // and compare text with numbers, so only the column check can tell.
    site.adapt(QUERIES);
    site.adapt(&[(
        TIMES.0,
        "export const TIMES = #{ format: \"epoch\", columns: [\"alerts.raised_at\", \"jobs.began\"] };",
    )]);
    let out = says(
        triggers(&site.cortex, &[]),
        [
            "schema misfit: time column alerts.raised_at does not fit",
            "it holds [\"5 text\"] values where TIMES.format says epoch",
        ],
    )
    .run();
    assert_eq!(
        misfits(&out),
        ["time column alerts.raised_at", "time column jobs.began"]
    );
    assert!(
        findings(&out).contains(&"P2 schema misfit".to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn a_backup_of_another_db_under_the_demos_backup_name_is_refused_and_nothing_changes() {
    let site = OtherSite::start();
    let cortex = &site.cortex;
    site.adapt(QUERIES);
    site.adapt(&[TIMES]);
    let head = cortex.git(&["rev-parse", "HEAD"]);
    let untouched = sha256_hex(&site.db);

    // The backup name is still the demo's: the only backup is of the demo's DB. Restoring it
    // over this DB would lose it, so the rollback stops before any change.
    let full = ["option=full", "target=v1.4.2"];
    says(
        cortex
            .test("rollback", &[full[0], full[1], "reason=test: other site"])
            .status(1),
        ["a backup of another DB", "holds the live DB's tables"],
    )
    .run();
    assert_eq!(sha256_hex(&site.db), untouched);
    assert_eq!(cortex.git(&["rev-parse", "HEAD"]), head);
    assert!(cortex.files("backups", "rollback-safety-").is_empty());
    assert_eq!(cortex.health(), 200);
}

#[test]
fn rollback_full_and_emergency_corruption_restore_the_other_sites_own_backups() {
    let site = OtherSite::start();
    let cortex = &site.cortex;
    site.adapt(QUERIES);
    site.adapt(&[TIMES]);
    let full = ["option=full", "target=v1.4.2"];

    // With the site's backup name, backup writes it and the rollback restores from it.
    site.adapt(&[BACKUP_NAME]);
    cortex.test("backup", &[]).run();
    let taken = cortex.files("backups", "state-");
    assert_eq!(taken.len(), 1, "{taken:?}");
    let (alerts, jobs) = (site.count("alerts"), site.count("jobs"));
    sql(
        &site.db,
        "INSERT INTO alerts (severity, raised_at) VALUES ('gateway_critical', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
    );
    cortex
        .test(
            "rollback",
            &[full[0], full[1], "reason=test: other\nforged: line"],
        )
        .run();
    assert_eq!((site.count("alerts"), site.count("jobs")), (alerts, jobs));
    assert_eq!(integrity(&site.db), "ok");
    assert_eq!(
        journal_mode(&site.db),
        "delete",
        "the restore changed the journal mode"
    );
    assert!(!site.db.with_extension("db-wal").exists());
    let target = cortex.git(&["rev-parse", "v1.4.2^{commit}"]);
    assert_eq!(cortex.git(&["rev-parse", "HEAD"]), target);
    assert_eq!(cortex.health(), 200);
    // The reason's newline is escaped: one line per entry, each stamped.
    let log = site.log();
    let escaped = ": rollback initiated due to: test: other\\nforged: line";
    assert!(log.lines().any(|l| l.ends_with(escaped)), "{log}");
    assert!(!log.lines().any(|l| l.starts_with("forged")), "{log}");

    // Then the DB is damaged: the emergency restores the same backup and keeps the damaged file.
    corrupt_page(&site.db);
    let damaged = sha256_hex(&site.db);
    cortex
        .test("emergency-corruption", &["reason=test: other site damaged"])
        .run();
    assert_eq!(integrity(&site.db), "ok");
    assert_eq!((site.count("alerts"), site.count("jobs")), (alerts, jobs));
    let evidence = cortex.files("backups", "emergency-corruption-");
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert_eq!(sha256_hex(&evidence[0].join("other.db")), damaged);
    assert!(sums_check(&evidence[0]).contains("other.db: OK"));
    assert_eq!(cortex.health(), 200);
}

// ---- before an incident: `ripcord check --config` -------------------------------------------

/// `ripcord check SCRIPTS --config CONFIG` on the sandbox.
fn check_site(cortex: &Cortex) -> Outcome {
    let scripts = cortex.root.join("scripts").display().to_string();
    let config = cortex.root.join("ripcord.toml").display().to_string();
    cortex.sb.run(&["check", &scripts, "--config", &config])
}

#[test]
fn check_with_a_config_reports_each_query_that_does_not_fit_the_live_db_and_changes_nothing() {
    let demo = Cortex::start(true);
    let out = check_site(&demo);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let site = demo.root.join("scripts/lib/site.rhai");
    let fits = format!(
        "the site's queries and time columns in {} fit {}",
        site.display(),
        demo.db().display()
    );
    assert!(out.stderr.contains(&fits), "{}", out.stderr);

    let other = OtherSite::start();
    let untouched = sha256_hex(&other.db);
    let out = check_site(&other.cortex);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let site = other.cortex.root.join("scripts/lib/site.rhai");
    let db = other.db.display();
    for (name, table) in [
        ("CRITICAL_EVENTS_SINCE", "health_events"),
        ("CRITICAL_EVENTS", "health_events"),
        ("DISPATCHES_SINCE", "dispatches"),
    ] {
        let line = format!(
            "schema misfit: query {name} does not fit {db}: no such table: {table}; adapt {}",
            site.display()
        );
        assert!(out.stderr.contains(&line), "{line}\n{}", out.stderr);
    }
    let line = format!(
        "schema misfit: time column dispatches.started_at does not fit {db}: no such table: dispatches; adapt {}",
        site.display()
    );
    assert!(out.stderr.contains(&line), "{line}\n{}", out.stderr);
    assert!(
        out.stderr.contains("5 site problem(s) with the config"),
        "{}",
        out.stderr
    );
    assert_eq!(sha256_hex(&other.db), untouched, "check changed the DB");

    // Adapted, it fits.
    other.adapt(QUERIES);
    other.adapt(&[TIMES]);
    let out = check_site(&other.cortex);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn check_with_a_config_names_a_missing_db_an_empty_db_and_a_missing_config() {
    let cortex = Cortex::start(true);
    let toml = cortex.root.join("ripcord.toml");
    let text = std::fs::read_to_string(&toml).expect("config");
    let db = cortex.db().display().to_string();
    let gone = cortex.root.join("data/gone.db");
    std::fs::write(&toml, text.replace(&db, &gone.display().to_string())).expect("config");
    let out = check_site(&cortex);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = format!(
        "site problem: state DB {gone}: {gone} does not exist: the site's queries read [\"health_events\", \"dispatches\"]",
        gone = gone.display()
    );
    assert!(out.stderr.contains(&line), "{line}\n{}", out.stderr);
    assert!(!gone.exists(), "check created the DB it was asked about");

    std::fs::write(&gone, b"").expect("empty DB");
    let out = check_site(&cortex);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} is empty (0 bytes)", gone.display())),
        "{}",
        out.stderr
    );

    // A config without `db`: the error names the key and the file.
    std::fs::write(&toml, "api = \"http://127.0.0.1:9\"\n").expect("config");
    let out = check_site(&cortex);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "`cfg.db` is not set: the config {} has no key `db`",
            toml.display()
        )),
        "{}",
        out.stderr
    );

    // A folder without the library that says how a site is checked.
    let bare = cortex.sb.write("bare/one.rhai", "log::info(\"one\");\n");
    let bare = bare.parent().expect("folder").display().to_string();
    let config = toml.display().to_string();
    let out = cortex.sb.run(&["check", &bare, "--config", &config]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "check --config: none of the folders checked ({bare}) has lib/schema.rhai"
        )),
        "{}",
        out.stderr
    );

    let scripts = cortex.root.join("scripts").display().to_string();
    let missing = cortex.root.join("nope.toml").display().to_string();
    let out = cortex.sb.run(&["check", &scripts, "--config", &missing]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("cannot read the config {missing}")),
        "{}",
        out.stderr
    );
}

// ---- a DB lost or replaced ------------------------------------------------------------------

#[test]
fn triggers_on_an_empty_or_table_less_db_decide_p0_database_empty_or_replaced() {
    let cortex = Cortex::start(true);
    let db = cortex.db();
    cortex.eval("service::stop(cfg.unit); ()");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    // A zero-length file, a new DB with a header and no tables, no file at all.
    std::fs::write(&db, b"").expect("zero-length DB");
    for (what, detail) in [
        (
            "zero length",
            format!("{} is empty (0 bytes)", db.display()),
        ),
        ("no tables", format!("{} holds no tables (", db.display())),
        ("no file", format!("{} does not exist", db.display())),
    ] {
        if what == "no tables" {
            sql(&db, "PRAGMA user_version = 7;");
            assert!(std::fs::metadata(&db).expect("db").len() > 0);
        }
        if what == "no file" {
            std::fs::remove_file(&db).expect("remove DB");
        }
        let out = triggers(&cortex, &[]).context(what).run();
        assert_eq!(out.code, 0, "{what}: {}", out.stderr);
        let result = &out.json()["result"];
        assert_eq!(result["priority"], "P0", "{what}: {result}");
        assert_eq!(result["decision"], "rollback now", "{what}");
        let empty: Vec<&serde_json::Value> = result["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["check"] == "database empty or replaced")
            .collect();
        assert_eq!(empty.len(), 1, "{what}: {result}");
        let text = empty[0]["detail"].as_str().unwrap_or("");
        assert!(
            text.starts_with(&detail)
                && text.ends_with("the site's queries read [\"health_events\", \"dispatches\"]"),
            "{what}: {text}"
        );
        // No misfit noise: the DB holds nothing to fit.
        assert!(misfits(&out).is_empty(), "{what}: {}", out.stderr);
    }
}

/// The previews an operator at this site would make before an incident: every shipped
/// runbook's `--dry-run`, with no terminal, on the other shape (its own tables, text times, a
/// rollback-journal DB, backups under its own name), after adapting only `lib/site.rhai`.
#[test]
fn every_shipped_runbook_dry_runs_without_a_terminal_at_another_site() {
    let site = OtherSite::start();
    let cortex = &site.cortex;
    site.adapt(QUERIES);
    site.adapt(&[TIMES, BACKUP_NAME]);
    let head = cortex.git(&["rev-parse", "HEAD"]);
    let target = format!("target={head}");
    // What the previews read: a backup under the site's name and the rollback assets, made
    // for real; a DB ahead of the code for the schema rollback (the backup is at the code's).
    sql(&site.db, "PRAGMA user_version = 34");
    for script in ["backup", "prepare-rollback-assets"] {
        cortex.test(script, &[]).context(script).run();
    }
    assert_eq!(cortex.files("backups", "state-").len(), 1);
    sql(&site.db, "PRAGMA user_version = 35");
    let before = sha256_hex(&site.db);
    let backups = cortex.files("backups", "");
    let cases = preview_cases(&target);
    let mut gated = Vec::new();
    for (script, params) in &cases {
        let mut params: Vec<&str> = params.iter().map(String::as_str).collect();
        if *script == "verify" {
            // One of the site's two recent jobs failed: verify's verdict, not the preview's.
            params.push("max_failure_pct=100");
        }
        let out = cortex.dry_run(script, &params);
        assert_eq!(out.code, 0, "{script} {params:?}:\n{}", out.stderr);
        assert!(
            !out.stderr.contains("schema misfit"),
            "{script}: {}",
            out.stderr
        );
        if out.stderr.contains("would ask: ") {
            gated.push(*script);
        }
    }
    // The previews show the confirm gates an operator will meet.
    for script in ["restore", "rollback", "db-rollback", "emergency-corruption"] {
        assert!(gated.contains(&script), "{script} met no gate: {gated:?}");
    }
    assert_eq!(
        cortex.git(&["rev-parse", "HEAD"]),
        head,
        "a dry run moved HEAD"
    );
    assert_eq!(cortex.health(), 200, "a dry run stopped the service");
    // release-switch needs the releases layout (a reset to v1.5.0, the faulty release).
    cortex.releases_layout("v1.5.0");
    let out = cortex.dry_run("release-switch", &["release=v1.4.2", "reason=preview"]);
    assert_eq!(out.code, 0, "release-switch:\n{}", out.stderr);
    assert_every_shipped_runbook_in(&cases);
    assert_eq!(sha256_hex(&site.db), before, "a dry run changed the DB");
    assert_eq!(journal_mode(&site.db), "delete");
    assert!(!site.db.with_extension("db-wal").exists());
    assert_eq!(
        cortex.files("backups", ""),
        backups,
        "a dry run wrote a backup"
    );
}
