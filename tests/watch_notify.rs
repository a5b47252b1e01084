//! `ripcord watch` telling people: real HTTP receivers (Slack, PagerDuty, a webhook) and a
//! real SMTP server on 127.0.0.1, a trigger runbook whose priority the test sets through a
//! file, and an action runbook that marks each run. One message per incident and stage, the
//! exact bodies, receivers that are down, answer 500 or hang, and a watch killed before its
//! notices went out.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::receiver::{Http, Reply, Smtp};
use crate::support::systemd::{Unit, UserManager, manager};
use crate::support::{Guarded, Sandbox};

const HOOK_PATH: &str = "/services/T0001/B0002/W4tchHookToken";
const WEBHOOK_PATH: &str = "/hooks/W4tchWebhookPath";
const ROUTING_KEY: &str = "W4tchR0ut1ngKeyR0ut1ngKey123456";
const BEARER: &str = "w4tch-b3arer-t0ken";
const SMTP_PASSWORD: &str = "w4tch-smtp-Pa55";
const SECRETS: &[&str] = &[HOOK_PATH, WEBHOOK_PATH, ROUTING_KEY, BEARER, SMTP_PASSWORD];

const TRIGGERS: &str = r#"//! Test triggers: the priority is what the test wrote in a file.
//! @param level_file
//! @param pause = "0s": how long each evaluation takes
time::sleep(pause);
let p = fs::read(level_file);
p.trim();
let findings = if p == "none" { [] } else { [#{ check: "gateway_critical storm", priority: p, detail: "12 events in 15 min" }] };
#{ priority: p, decision: if p == "none" { "healthy" } else { "rollback now" }, findings: findings }
"#;

const FIX: &str = r#"//! Test action: marks the run, then ends as told.
//! @param mark
//! @param outcome = "ok"
//! @param reason = ""
fs::append(mark, "acted\n");
if outcome == "fail" { fail("cortex did not come back after the rollback"); }
if outcome == "slow" { time::sleep("300s"); }
#{ done: true }
"#;

/// A sandbox with the two runbooks, the receivers and a config naming them.
struct Rig {
    sb: Sandbox,
    /// The trigger runbook's name: the watch is `watch:NAME` in the journal.
    name: &'static str,
    slack: Http,
    pagerduty: Http,
    webhook: Option<Http>,
    smtp: Option<Smtp>,
}

struct Setup {
    name: &'static str,
    slack: Vec<Reply>,
    pagerduty: Vec<Reply>,
    /// None: nothing listens on the webhook's port.
    webhook: Option<Vec<Reply>>,
    email: bool,
    outcome: &'static str,
    watch: &'static str,
}

impl Rig {
    fn new(setup: Setup) -> Rig {
        let sb = Sandbox::new();
        let slack = Http::start(setup.slack);
        let pagerduty = Http::start(setup.pagerduty);
        let webhook = setup.webhook.map(Http::start);
        let hook_url = match &webhook {
            Some(h) => h.url(WEBHOOK_PATH),
            None => format!("http://127.0.0.1:{}{WEBHOOK_PATH}", closed_port()),
        };
        let smtp = setup.email.then(|| Smtp::start(vec!["250 ok"]));
        let email = smtp.as_ref().map(|s| format!(
            "[notify.email]\nserver = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"ripcord@example.com\"\nto = \"oncall@example.com\"\nusername = \"ripcord\"\npassword = \"{SMTP_PASSWORD}\"\n",
            s.port
        )).unwrap_or_default();
        sb.write(&format!("{}.rhai", setup.name), TRIGGERS);
        sb.write("fix.rhai", FIX);
        sb.write("level", "none");
        let mark = sb.join("mark").display().to_string();
        let level = sb.join("level").display().to_string();
        sb.write(
            "ripcord.toml",
            &format!(
                "[notify]\nservice = \"MCP Cortex\"\n[notify.slack]\nwebhook = \"{}\"\n[notify.pagerduty]\nrouting_key = \"{ROUTING_KEY}\"\nurl = \"{}\"\n\
                 [notify.webhook]\nurl = \"{hook_url}\"\nheaders = {{ Authorization = \"Bearer {BEARER}\" }}\n{email}\n\
                 [watch]\nevery = \"1s\"\nsustain = 2\nthen = \"fix\"\ncooldown = \"1s\"\n{}\n\
                 [watch.params]\nlevel_file = \"{level}\"\n\
                 [watch.then_params]\nmark = \"{mark}\"\noutcome = \"{}\"\n",
                slack.url(HOOK_PATH),
                pagerduty.url("/v2/enqueue"),
                setup.watch,
                setup.outcome
            ),
        );
        Rig {
            sb,
            name: setup.name,
            slack,
            pagerduty,
            webhook,
            smtp,
        }
    }

    fn level(&self, priority: &str) {
        self.sb.write("level", priority);
    }

    /// Start the watch (ended with its process group however the test ends); its stderr goes
    /// to `name`.
    fn spawn(&self, name: &str) -> Guarded {
        let level = self.sb.join("level").display().to_string();
        let err = std::fs::File::create(self.sb.join(name)).expect("stderr file");
        Guarded::spawn(
            self.sb
                .command(&[
                    "--scripts",
                    self.sb.path().to_str().unwrap(),
                    "watch",
                    &format!("{}.rhai", self.name),
                    "-p",
                    &format!("level_file={level}"),
                    "--config",
                    "ripcord.toml",
                ])
                .stdout(Stdio::null())
                .stderr(err),
        )
    }

    fn stderr(&self, name: &str) -> String {
        std::fs::read_to_string(self.sb.join(name)).unwrap_or_default()
    }

    /// Watch events of `kind`, oldest first, with their ids under `_id`.
    fn events(&self, kind: &str) -> Vec<Value> {
        let Ok(conn) = rusqlite::Connection::open(self.sb.journal()) else {
            return Vec::new();
        };
        let Ok(mut stmt) = conn.prepare(
            "SELECT e.id, e.data FROM events e JOIN runs r ON r.id = e.run WHERE r.script = ?1 AND e.kind = ?2 ORDER BY e.id",
        ) else {
            return Vec::new();
        };
        let script = format!("watch:{}", self.name);
        stmt.query_map([script.as_str(), kind], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map(|rows| {
            rows.filter_map(Result::ok)
                .filter_map(|(id, t)| {
                    let mut v: Value = serde_json::from_str(&t).ok()?;
                    v["_id"] = id.into();
                    Some(v)
                })
                .collect()
        })
        .unwrap_or_default()
    }

    fn deliveries(&self, channel: &str) -> Vec<Value> {
        self.events("watch.delivery")
            .into_iter()
            .filter(|d| d["channel"] == channel)
            .collect()
    }

    fn marks(&self) -> usize {
        std::fs::read_to_string(self.sb.join("mark"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// Wait (generously: the machine is shared) until `ok` holds.
    fn wait(&self, what: &str, ok: impl Fn(&Rig) -> bool) {
        let until = Instant::now() + Duration::from_secs(120);
        while !ok(self) {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; notices: {:?}",
                self.events("watch.notice")
                    .iter()
                    .map(|n| n["stage"].clone())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// No secret in the journal (file and WAL) or in the watch's stderr files.
    fn assert_no_secrets(&self, stderr_files: &[&str]) {
        let mut journal = Vec::new();
        for suffix in ["", "-wal"] {
            let path = format!("{}{suffix}", self.sb.journal().display());
            journal.extend(std::fs::read(path).unwrap_or_default());
        }
        let journal = String::from_utf8_lossy(&journal);
        for secret in SECRETS {
            assert!(!journal.contains(secret), "{secret} in the journal");
            for name in stderr_files {
                let text = self.stderr(name);
                assert!(!text.contains(secret), "{secret} in {name}:\n{text}");
            }
        }
    }
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn stages(rig: &Rig) -> Vec<String> {
    rig.events("watch.notice")
        .iter()
        .map(|n| n["stage"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn watch_tells_every_channel_once_per_stage_and_resolves_when_healthy() {
    let rig = Rig::new(Setup {
        name: "triggers",
        slack: vec![Reply::Status(200, "ok")],
        pagerduty: vec![Reply::Status(202, r#"{"status":"success"}"#)],
        webhook: Some(vec![Reply::Status(204, "")]),
        email: true,
        outcome: "fail",
        watch: "notify_timeout = \"5s\"\nnotify_retries = 1\nheartbeat = \"1s\"",
    });
    let watch = rig.spawn("watch.err");
    rig.wait("a quiet evaluation", |r| {
        r.events("watch.state")
            .iter()
            .any(|e| e["phase"] == "quiet")
    });
    rig.level("P0");
    rig.wait("the failed action and the hold after it", |r| {
        !r.events("watch.action.end").is_empty() && stages(r).contains(&"held".to_string())
    });
    // The storm goes on for a while: no more messages, no second action.
    let beats = rig.events("watch.heartbeat").len();
    rig.wait("more sustained evaluations", |r| {
        r.events("watch.heartbeat").len() >= beats + 2
    });
    rig.level("none");
    rig.wait("the incident to close", |r| {
        !r.events("watch.incident.close").is_empty()
    });
    rig.wait("every delivery", |r| r.events("watch.delivery").len() >= 16);
    assert_eq!(watch.stop(), Some(130));

    assert_eq!(stages(&rig), ["acting", "failed", "held", "resolved"]);
    assert_eq!(rig.marks(), 1, "one action for the incident");
    let end = &rig.events("watch.action.end")[0];
    assert_eq!(end["status"], "failed", "{end}");
    let deliveries = rig.events("watch.delivery");
    assert_eq!(deliveries.len(), 16, "4 notices x 4 channels");
    assert!(deliveries.iter().all(|d| d["ok"] == true), "{deliveries:?}");

    // Slack: the documented {"text": ...} body, one per stage.
    let slack: Vec<String> = rig
        .slack
        .seen()
        .iter()
        .map(|s| s.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slack.len(), 4, "{slack:#?}");
    assert!(
        slack[0].starts_with("[ripcord watch] P0 sustained on "),
        "{}",
        slack[0]
    );
    assert!(
        slack[0]
            .contains("running fix automatically - gateway_critical storm (12 events in 15 min)")
    );
    assert!(
        slack[1].starts_with("Rollback FAILED for MCP Cortex - Reason: ripcord watch: P0 gateway_critical storm (12 events in 15 min) - Error: fix (run "),
        "{}",
        slack[1]
    );
    assert!(slack[1].contains("failed: cortex did not come back after the rollback\n"));
    assert!(slack[1].contains("\nStatus: FAILED\n"));
    assert!(
        slack[2].contains("NOT acting: an automatic action already ran for this incident"),
        "{}",
        slack[2]
    );
    assert!(
        slack[3].starts_with("[ripcord watch] healthy again on "),
        "{}",
        slack[3]
    );

    // PagerDuty: one incident (one dedup key), triggered, updated, resolved.
    let pages: Vec<Value> = rig.pagerduty.seen().iter().map(|s| s.json()).collect();
    assert_eq!(pages.len(), 4, "{pages:#?}");
    let key = pages[0]["dedup_key"].as_str().unwrap().to_string();
    assert!(
        key.starts_with("ripcord-watch:") && key.contains(":triggers-"),
        "{key}"
    );
    for (page, severity) in pages[..3].iter().zip(["critical", "critical", "critical"]) {
        assert_eq!(page["routing_key"], ROUTING_KEY);
        assert_eq!(page["event_action"], "trigger");
        assert_eq!(page["dedup_key"], key.as_str());
        assert_eq!(page["payload"]["severity"], severity);
        assert_eq!(page["payload"]["component"], "ripcord watch");
    }
    assert_eq!(
        pages[3],
        serde_json::json!({ "routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": key })
    );

    // The webhook: the stage as JSON, with the configured header.
    let hooks = rig.webhook.as_ref().unwrap().seen();
    let hook_stages: Vec<Value> = hooks.iter().map(|h| h.json()["stage"].clone()).collect();
    assert_eq!(hook_stages, ["acting", "failed", "held", "resolved"]);
    assert_eq!(hooks[0].path, WEBHOOK_PATH);
    assert_eq!(
        hooks[0].header("authorization"),
        Some(format!("Bearer {BEARER}").as_str())
    );
    assert_eq!(hooks[1].json()["incident"], hooks[0].json()["incident"]);

    // Email: four mails to the on-call address.
    let smtp = rig.smtp.as_ref().unwrap();
    let mails = smtp.mails();
    assert_eq!(mails.len(), 4);
    assert!(
        mails.iter().all(|m| m.to == ["<oncall@example.com>"]),
        "{mails:?}"
    );
    assert!(
        mails[1]
            .data
            .contains("Subject: [ripcord watch] Rollback FAILED for MCP Cortex"),
        "{}",
        mails[1].data
    );
    rig.assert_no_secrets(&["watch.err"]);
}

#[test]
fn receivers_that_are_down_fail_or_hang_hold_up_nothing_and_a_killed_watch_sends_later() {
    let release = Arc::new(AtomicBool::new(false));
    let rig = Rig::new(Setup {
        name: "triggers",
        slack: vec![Reply::Status(500, "internal error")],
        pagerduty: vec![Reply::HoldUntil(release.clone())],
        webhook: None,
        email: false,
        outcome: "ok",
        watch: "notify_timeout = \"100s\"\nnotify_retries = 1",
    });
    rig.level("P0");
    let watch = rig.spawn("first.err");
    rig.wait("the action to end", |r| {
        !r.events("watch.action.end").is_empty()
    });
    // PagerDuty still holds the first notice: the evaluations and the action went on.
    assert!(rig.deliveries("pagerduty").is_empty());
    assert_eq!(rig.events("watch.action.end")[0]["status"], "ok");
    rig.wait("slack's failed delivery", |r| {
        !r.deliveries("slack").is_empty()
    });
    let slack = &rig.deliveries("slack")[0];
    assert_eq!(slack["ok"], false);
    let error = slack["error"].as_str().unwrap();
    assert!(
        error.contains("did not take the notification after 2 attempt(s): HTTP 500"),
        "{error}"
    );
    assert_eq!(rig.slack.seen().len(), 2, "one retry after a 500");

    // Killed while PagerDuty hangs: the notice is journaled, its delivery is not.
    rig.wait("PagerDuty to hold the first page", |r| {
        !r.pagerduty.seen().is_empty()
    });
    watch.kill();
    let acting = rig.events("watch.notice")[0].clone();
    assert_eq!(acting["stage"], "acting");
    release.store(true, Ordering::SeqCst);

    let watch = rig.spawn("second.err");
    rig.wait("the acting notice delivered by the next watch", |r| {
        r.deliveries("pagerduty")
            .iter()
            .any(|d| d["notice"] == acting["_id"] && d["ok"] == true)
    });
    rig.wait("the webhook that is down, tried", |r| {
        r.deliveries("webhook")
            .iter()
            .any(|d| d["notice"] == acting["_id"])
    });
    let down = rig
        .deliveries("webhook")
        .into_iter()
        .find(|d| d["notice"] == acting["_id"])
        .unwrap();
    assert_eq!(down["ok"], false);
    assert!(
        down["error"].as_str().unwrap().contains("cannot connect"),
        "{down}"
    );
    rig.wait("the hold of the restarted watch", |r| {
        stages(r).contains(&"held".to_string())
    });
    assert_eq!(watch.stop(), Some(130));
    assert_eq!(rig.marks(), 1, "the restarted watch acted again");
    assert_eq!(rig.events("watch.action.start").len(), 1);
    let acting_pages = rig
        .pagerduty
        .seen()
        .iter()
        .filter(|s| s.json()["payload"]["summary"] == acting["notice"]["subject"])
        .count();
    assert_eq!(acting_pages, 2, "sent, cut off by the kill, sent again");
    assert!(
        rig.stderr("first.err")
            .contains("slack did not take the notice")
    );
    rig.assert_no_secrets(&["first.err", "second.err"]);
}

/// The installed watch unit, stopped and removed however the test ends (by its guard).
struct WatchUnit<'a> {
    mgr: &'static UserManager,
    name: String,
    rig: &'a Rig,
    _guard: Unit,
}

impl Rig {
    /// `ripcord watch install NAME --now` for the test's user manager.
    fn install(&self, mgr: &'static UserManager) -> WatchUnit<'_> {
        let guard = mgr.adopt(&format!("ripcord-watch-{}.service", self.name));
        let config_home = mgr.unit_dir.parent().unwrap().parent().unwrap();
        let out = self
            .sb
            .command(&[
                "--scripts",
                self.sb.path().to_str().unwrap(),
                "watch",
                "install",
                &format!("{}.rhai", self.name),
                "--config",
                "ripcord.toml",
                "--now",
            ])
            .env("XDG_RUNTIME_DIR", &mgr.runtime_dir)
            .env("XDG_CONFIG_HOME", config_home)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .expect("install");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        WatchUnit {
            mgr,
            name: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            rig: self,
            _guard: guard,
        }
    }

    fn slack_texts(&self) -> Vec<String> {
        self.slack
            .seen()
            .iter()
            .map(|s| s.json()["text"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

impl WatchUnit<'_> {
    /// SIGKILL the watch's main process and wait for systemd to start the next one.
    fn kill_and_wait_restart(&self) {
        let starts = self.rig.events("watch.start").len();
        let out = self
            .mgr
            .systemctl(&["kill", "--signal=SIGKILL", "--kill-whom=main", &self.name]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        self.rig.wait("systemd to restart the watch", |r| {
            r.events("watch.start").len() > starts
        });
    }
}

#[test]
fn a_watch_killed_mid_action_and_mid_evaluation_under_systemd_acts_once_and_reports_it() {
    let mgr = manager();
    let rig = Rig::new(Setup {
        name: "killwatch",
        slack: vec![Reply::Status(200, "ok")],
        pagerduty: vec![Reply::Status(202, r#"{"status":"success"}"#)],
        webhook: Some(vec![Reply::Status(204, "")]),
        email: false,
        outcome: "slow",
        watch: "heartbeat = \"1s\"\nnotify_timeout = \"10s\"",
    });
    rig.level("P0");
    let unit = rig.install(mgr);
    assert_eq!(unit.name, "ripcord-watch-killwatch.service");

    // Mid-action: the action (which runs inside the watch) is sleeping when the watch dies.
    rig.wait("the action to start", |r| r.marks() == 1);
    rig.wait("the acting message", |r| r.slack.seen().len() == 1);
    unit.kill_and_wait_restart();
    rig.wait("the interrupted action reported", |r| {
        r.events("watch.action.end")
            .iter()
            .any(|e| e["status"] == "interrupted" && e["recovered"] == true)
    });
    rig.wait("the hold and three messages", |r| r.slack.seen().len() >= 3);
    let texts = rig.slack_texts();
    assert!(
        texts[0].contains("running fix automatically"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with(
            "Rollback FAILED for MCP Cortex - Reason: ripcord watch: P0 gateway_critical storm"
        ),
        "{}",
        texts[1]
    );
    assert!(
        texts[1]
            .contains("was interrupted: the watch stopped during it (killed or crashed); its run "),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("NOT acting: an automatic action already ran for this incident"),
        "{}",
        texts[2]
    );

    // Mid-evaluation: each evaluation now takes 2 s against --every 1s, so the watch is inside
    // one nearly all the time; the next watch neither acts nor repeats a message.
    let mut config = std::fs::read_to_string(rig.sb.join("ripcord.toml")).unwrap();
    config = config.replace("[watch.params]\n", "[watch.params]\npause = \"2s\"\n");
    std::fs::write(rig.sb.join("ripcord.toml"), config).unwrap();
    unit.kill_and_wait_restart();
    let beats = rig.events("watch.heartbeat").len();
    rig.wait("two slow evaluations of the third watch", |r| {
        r.events("watch.heartbeat").len() >= beats + 2
    });
    unit.kill_and_wait_restart();
    let beats = rig.events("watch.heartbeat").len();
    rig.wait("two evaluations of the fourth watch", |r| {
        r.events("watch.heartbeat").len() >= beats + 2
    });
    // Delivery is at least once across kills: a message in flight when the watch was killed may
    // arrive twice, so identical consecutive messages count once.
    let mut texts = rig.slack_texts();
    texts.dedup();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert_eq!(rig.marks(), 1, "acted again after a restart");
    assert_eq!(rig.events("watch.action.start").len(), 1);
    assert_eq!(rig.events("watch.action.end").len(), 1);

    rig.level("none");
    rig.wait("the resolution on Slack and PagerDuty", |r| {
        r.slack_texts()
            .last()
            .is_some_and(|t| t.starts_with("[ripcord watch] healthy again on "))
            && r.pagerduty
                .seen()
                .last()
                .is_some_and(|s| s.json()["event_action"] == "resolve")
    });
    let mut texts = rig.slack_texts();
    texts.dedup();
    assert_eq!(texts.len(), 4, "{texts:#?}");
    let mut pages: Vec<Value> = rig.pagerduty.seen().iter().map(|s| s.json()).collect();
    pages.dedup();
    let actions: Vec<&str> = pages
        .iter()
        .map(|p| p["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "trigger", "trigger", "resolve"]);
    assert!(
        pages
            .iter()
            .all(|p| p["dedup_key"] == pages[0]["dedup_key"])
    );
    drop(unit);
    rig.assert_no_secrets(&[]);
}

#[test]
fn a_shadow_watch_tells_what_it_would_do_once_and_a_second_watch_is_refused() {
    let rig = Rig::new(Setup {
        name: "triggers",
        slack: vec![Reply::Status(200, "ok")],
        pagerduty: vec![Reply::Status(202, "{}")],
        webhook: Some(vec![Reply::Status(200, "")]),
        email: false,
        outcome: "ok",
        watch: "shadow = true\nheartbeat = \"1s\"",
    });
    rig.level("P0");
    let watch = rig.spawn("shadow.err");
    rig.wait("the shadow decision told", |r| {
        !r.deliveries("slack").is_empty()
    });
    // Two watches on one trigger runbook would both act: the second one does not start.
    let level = rig.sb.join("level").display().to_string();
    let second = rig.sb.run(&[
        "--scripts",
        rig.sb.path().to_str().unwrap(),
        "watch",
        "triggers.rhai",
        "-p",
        &format!("level_file={level}"),
        "--config",
        "ripcord.toml",
    ]);
    assert_ne!(second.code, 0);
    assert!(
        second
            .stderr
            .contains("another watch:triggers is running (pid "),
        "{}",
        second.stderr
    );
    let beats = rig.events("watch.heartbeat").len();
    rig.wait("more sustained evaluations", |r| {
        r.events("watch.heartbeat").len() >= beats + 2
    });
    assert_eq!(watch.stop(), Some(130));
    assert_eq!(stages(&rig), ["would_act"]);
    let texts = rig.slack_texts();
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert!(
        texts[0].starts_with("[ripcord watch, shadow] P0 sustained on "),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains(
        "would run fix - gateway_critical storm (12 events in 15 min) (shadow: nothing done)"
    ));
    assert_eq!(rig.marks(), 0, "a shadow watch acted");
    rig.assert_no_secrets(&["shadow.err"]);
}

#[test]
fn bad_notify_and_watch_settings_are_named_and_start_nothing() {
    let sb = Sandbox::new();
    sb.write("triggers.rhai", TRIGGERS);
    sb.write("level", "none");
    let cases = [
        (
            "[notify.slack]\nchannel = \"#ops\"\n",
            "config: [notify.slack] has no `webhook`\n |\n = help: set webhook in [notify.slack], or remove the table",
        ),
        (
            "[notify.webhook]\nurl = \"ftp://127.0.0.1/h\"\n",
            "[notify.webhook] url: the URL is not http(s)",
        ),
        (
            "[notify.webhook]\nurl = \"http://127.0.0.1:9/h\"\nheaders = { X-Count = 3 }\n",
            "config: [notify.webhook] headers: `X-Count` is not a string",
        ),
        (
            "[notify.email]\nserver = \"127.0.0.1\"\n",
            "config: [notify.email]: missing field `from`",
        ),
        (
            "[watch]\nnotify_retries = 50\n",
            "watch notify_retries: 50 is too many",
        ),
        (
            "[watch]\nnotify_timeout = \"soon\"\n",
            "watch notify_timeout: ",
        ),
        (
            "[watch.params]\nlevel_file = 3\n",
            "config: [watch]: invalid type: integer `3`, expected a string",
        ),
    ];
    for (config, expected) in cases {
        sb.write("bad.toml", config);
        let out = sb.run(&[
            "watch",
            "triggers.rhai",
            "-p",
            "level_file=level",
            "--config",
            "bad.toml",
        ]);
        assert_eq!(out.code, 2, "{config}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{config}: {}", out.stderr);
    }
    let runs: i64 = rusqlite::Connection::open(sb.journal())
        .and_then(|c| c.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)))
        .unwrap_or(0);
    assert_eq!(runs, 0, "a watch with a bad config was journaled");
}
