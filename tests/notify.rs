//! `notify::*` through the real binary against real receivers on 127.0.0.1 (see
//! `support/receiver.rs`): the exact bodies Slack and PagerDuty document, headers, retries
//! after 5xx, a timeout, an SMTP dialogue, dry runs that send nothing, and secrets (webhook
//! URLs, routing keys, SMTP passwords, bearer tokens) absent from every output and the journal.

use std::time::Duration;

use crate::support::receiver::{Http, Reply, Smtp};
use crate::support::{Outcome, Sandbox};

const HOOK_PATH: &str = "/services/T0001/B0002/S3cretHookToken";
const ROUTING_KEY: &str = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey12";
const SMTP_PASSWORD: &str = "smtp-Pa55word";
const BEARER: &str = "b3arer-t0ken-value";

/// Everything a run left where an operator or an attacker could read it.
fn assert_no_secrets(sb: &Sandbox, out: &Outcome, secrets: &[&str]) {
    let mut journal = Vec::new();
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", sb.journal().display());
        journal.extend(std::fs::read(path).unwrap_or_default());
    }
    let journal = String::from_utf8_lossy(&journal);
    for secret in secrets {
        assert!(
            !out.stdout.contains(secret),
            "{secret} in stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(secret),
            "{secret} in stderr:\n{}",
            out.stderr
        );
        assert!(!journal.contains(secret), "{secret} in the journal");
    }
}

fn config(sb: &Sandbox, http: &Http, extra: &str) {
    sb.write(
        "ripcord.toml",
        &format!(
            "[notify.slack]\nwebhook = \"{}\"\n\n[notify.pagerduty]\nrouting_key = \"{ROUTING_KEY}\"\nurl = \"{}\"\n{extra}",
            http.url(HOOK_PATH),
            http.url("/v2/enqueue"),
        ),
    );
}

#[test]
fn slack_posts_the_documented_json_and_the_webhook_never_shows() {
    let http = Http::start(vec![Reply::Status(200, "ok")]);
    let sb = Sandbox::new();
    config(&sb, &http, "");
    sb.write(
        "slack.rhai",
        r#"print(cfg.notify);
let a = notify::slack(cfg.notify.slack.webhook, "Rollback initiated for MCP Cortex - Reason: storm - ETA: 5m");
let b = notify::slack(cfg.notify.slack.webhook, #{ text: "fallback", blocks: [#{ type: "section", text: #{ type: "mrkdwn", text: "*rolled back*" } }] });
#{ a: a, b: b }
"#,
    );
    let out = sb.test().args(["run", "slack.rhai", "--json"]).run();
    let seen = http.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, HOOK_PATH);
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert!(
        seen[0]
            .header("user-agent")
            .unwrap()
            .starts_with("ripcord/")
    );
    assert_eq!(
        seen[0].json(),
        serde_json::json!({ "text": "Rollback initiated for MCP Cortex - Reason: storm - ETA: 5m" })
    );
    assert_eq!(
        seen[1].json(),
        serde_json::json!({ "text": "fallback", "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": "*rolled back*" } }] })
    );
    let result = &out.json()["result"];
    assert_eq!(result["a"]["ok"], true);
    assert_eq!(result["a"]["status"], 200);
    assert_eq!(result["a"]["attempts"], 1);
    assert_eq!(result["a"]["response"], "ok");
    assert!(
        out.json()["output"]
            .as_str()
            .is_some_and(|o| o.contains(r#"#{"webhook": "***"}"#)),
        "print(cfg.notify) shows the webhook masked:\n{}",
        out.stdout
    );
    assert_no_secrets(&sb, &out, &[HOOK_PATH, "S3cretHookToken", ROUTING_KEY]);
}

#[test]
fn pagerduty_trigger_and_resolve_send_events_api_v2_bodies() {
    let http = Http::start(vec![Reply::Status(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"cortex-rollback"}"#,
    )]);
    let sb = Sandbox::new();
    config(&sb, &http, "");
    sb.write(
        "page.rhai",
        r#"let key = cfg.notify.pagerduty.routing_key;
let t = notify::pagerduty(key, #{ summary: "MCP Cortex emergency rollback", severity: "critical",
    source: "cortex-1", dedup_key: "cortex-rollback", custom_details: #{ priority: "P0" } });
let r = notify::pagerduty(key, #{ action: "resolve", dedup_key: t.dedup_key });
#{ t: t, r: r }
"#,
    );
    let out = sb.test().args(["run", "page.rhai", "--json"]).run();
    let seen = http.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/v2/enqueue");
    assert_eq!(
        seen[0].json(),
        serde_json::json!({
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": "cortex-rollback",
            "payload": {
                "summary": "MCP Cortex emergency rollback",
                "severity": "critical",
                "source": "cortex-1",
                "custom_details": { "priority": "P0" }
            }
        })
    );
    assert_eq!(
        seen[1].json(),
        serde_json::json!({ "routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "cortex-rollback" })
    );
    assert_eq!(out.json()["result"]["t"]["dedup_key"], "cortex-rollback");
    assert_eq!(out.json()["result"]["t"]["status"], 202);
    assert_no_secrets(&sb, &out, &[ROUTING_KEY]);
}

#[test]
fn bad_pagerduty_events_and_options_are_refused_before_sending() {
    let http = Http::start(vec![Reply::Status(202, "{}")]);
    let sb = Sandbox::new();
    config(&sb, &http, "");
    let cases = [
        (
            r#"#{ summary: "x" }"#,
            "notify::pagerduty: severity `` is not one PagerDuty knows",
        ),
        (
            r#"#{ action: "resolve" }"#,
            "notify::pagerduty: to resolve an incident, give its `dedup_key`",
        ),
        (
            r#"#{ action: "escalate", dedup_key: "k" }"#,
            "notify::pagerduty: `escalate` is not an event action",
        ),
        (
            r#"#{ severity: "critical" }"#,
            "notify::pagerduty: a trigger needs a `summary`",
        ),
        (
            r#"#{ summary: "x", severity: "info", sevrity: "x" }"#,
            "notify::pagerduty: unknown event field `sevrity`",
        ),
    ];
    for (event, expected) in cases {
        sb.write(
            "bad.rhai",
            &format!("notify::pagerduty(cfg.notify.pagerduty.routing_key, {event});\n"),
        );
        let test = sb.test().args(["run", "bad.rhai"]).context(event);
        test.status(1).stderr_contains(expected).run();
    }
    sb.write(
        "opt.rhai",
        "notify::slack(cfg.notify.slack.webhook, \"x\", #{ retry: 2 });\n",
    );
    sb.test()
        .args(["run", "opt.rhai"])
        .status(1)
        .stderr_contains("notify::slack: unknown option `retry`")
        .run();
    assert!(http.seen().is_empty(), "{:?}", http.seen());
}

#[test]
fn a_5xx_is_retried_until_accepted_and_a_4xx_is_not() {
    let http = Http::start(vec![
        Reply::Status(500, "oops"),
        Reply::Status(503, "busy"),
        Reply::Status(200, "ok"),
    ]);
    let sb = Sandbox::new();
    config(&sb, &http, "");
    sb.write(
        "retry.rhai",
        "notify::slack(cfg.notify.slack.webhook, \"hello\", #{ backoff: \"50ms\" })\n",
    );
    let out = sb.test().args(["run", "retry.rhai", "--json"]).run();
    assert_eq!(out.json()["result"]["attempts"], 3);
    let seen = http.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.body == r#"{"text":"hello"}"#));

    let refused = Http::start(vec![Reply::Status(404, "no_service")]);
    config(&sb, &refused, "");
    let refusal = "the Slack webhook refused the notification: HTTP 404 (no_service)";
    let test = sb.test().args(["run", "retry.rhai", "--json"]);
    let test = test.stderr_contains(format!("notify::slack: not delivered, going on: {refusal}"));
    let out = test.run();
    let result = &out.json()["result"];
    assert_eq!(result["ok"], false);
    assert_eq!(result["error"], refusal);
    assert_eq!(refused.seen().len(), 1, "a 4xx is not retried");
    assert_no_secrets(&sb, &out, &["S3cretHookToken"]);
}

#[test]
fn a_silent_receiver_times_out_and_required_fails_the_run() {
    let http = Http::start(vec![Reply::Silence(Duration::from_secs(5))]);
    let sb = Sandbox::new();
    config(&sb, &http, "");
    sb.write(
        "slow.rhai",
        r#"step "Tell" {
    notify::slack(cfg.notify.slack.webhook, "hello", #{ timeout: "300ms", retries: 1, backoff: "10ms", required: true });
}
"#,
    );
    let out = sb
        .test()
        .args(["run", "slow.rhai", "--json"])
        .status(1)
        .run();
    let error = out.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        error.contains(
            "the Slack webhook did not take the notification after 2 attempt(s): timed out after 300ms"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(http.seen().len(), 2);
    // The failed change is in the journal, redacted.
    let conn = rusqlite::Connection::open(sb.journal()).unwrap();
    let data: String = conn
        .query_row(
            "SELECT data FROM events WHERE kind = 'change.end' ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(data.contains("\"ok\":false"), "{data}");
    assert!(data.contains("timed out after 300ms"), "{data}");
    assert_no_secrets(&sb, &out, &["S3cretHookToken"]);
}

#[test]
fn webhook_sends_headers_method_and_text_and_hides_the_bearer_token() {
    let http = Http::start(vec![Reply::Status(204, "")]);
    let sb = Sandbox::new();
    sb.write(
        "hook.rhai",
        &format!(
            r#"//! hook
//! @param secret token
let j = notify::webhook("{}", #{{ service: "cortex", status: "started" }},
    #{{ headers: #{{ Authorization: "Bearer " + token, "X-Team": "ops" }} }});
let t = notify::webhook("{}", "plain words", #{{ method: "put" }});
#{{ j: j, t: t }}
"#,
            http.url("/hooks/a?sig=S1gnature"),
            http.url("/hooks/b")
        ),
    );
    let arg = format!("token={BEARER}");
    let out = sb
        .test()
        .args(["run", "hook.rhai", "-p", &arg, "--json"])
        .run();
    let seen = http.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/hooks/a?sig=S1gnature");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {BEARER}").as_str())
    );
    assert_eq!(seen[0].header("x-team"), Some("ops"));
    assert_eq!(
        seen[0].json(),
        serde_json::json!({ "service": "cortex", "status": "started" })
    );
    assert_eq!(seen[1].method, "PUT");
    assert_eq!(
        seen[1].header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(seen[1].body, "plain words");
    assert_eq!(out.json()["result"]["j"]["status"], 204);
    assert_no_secrets(&sb, &out, &[BEARER, "S1gnature"]);
}

#[test]
fn a_dry_run_sends_nothing_and_says_what_it_would_send() {
    let http = Http::start(vec![Reply::Status(200, "ok")]);
    let sb = Sandbox::new();
    config(&sb, &http, "");
    sb.write(
        "dry.rhai",
        r#"let s = notify::slack(cfg.notify.slack.webhook, "Rollback initiated for Cortex");
notify::pagerduty(cfg.notify.pagerduty.routing_key, #{ summary: "Cortex down", severity: "critical" });
s
"#,
    );
    let out = sb
        .test()
        .args(["run", "dry.rhai", "--dry-run", "--json"])
        .stderr_contains("post to Slack: Rollback initiated for Cortex")
        .stderr_contains("PagerDuty trigger: Cortex down")
        .run();
    assert!(http.seen().is_empty());
    assert_eq!(out.json()["result"]["simulated"], true);
    assert_no_secrets(&sb, &out, &["S3cretHookToken", ROUTING_KEY]);
}

#[test]
fn email_goes_through_a_real_smtp_dialogue_with_login_and_retries_a_451() {
    let smtp = Smtp::start(vec!["451 4.3.0 try again later", "250 2.0.0 queued as 42"]);
    let http = Http::start(vec![Reply::Status(200, "ok")]);
    let sb = Sandbox::new();
    config(
        &sb,
        &http,
        &format!(
            "\n[notify.email]\nserver = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"ripcord@example.com\"\nusername = \"ripcord\"\npassword = \"{SMTP_PASSWORD}\"\n",
            smtp.port
        ),
    );
    sb.write(
        "mail.rhai",
        r#"let body = notify::message("succeeded", #{ service: "MCP Cortex", reason: "storm", took: "41s", time: "2026-03-14T02:17:09Z" });
notify::email("oncall@example.com, lead@example.com", "Cortex rolled back", body, #{ backoff: "50ms" })
"#,
    );
    let out = sb.test().args(["run", "mail.rhai", "--json"]).run();
    let result = &out.json()["result"];
    assert_eq!(result["attempts"], 2, "{result}");
    assert_eq!(result["reply"], "250 2.0.0 queued as 42");
    smtp.wait_sessions(2);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "<ripcord@example.com>");
    assert_eq!(mail.to, ["<oncall@example.com>", "<lead@example.com>"]);
    assert!(
        mail.data.contains("Subject: Cortex rolled back\r\n"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("Rollback completed for MCP Cortex - Reason: storm - Took: 41s"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Status: COMPLETED"), "{}", mail.data);
    // AUTH PLAIN carries "\0user\0password" in base64: the server got the password.
    let auth = mail.auth.clone().expect("the client logged in");
    assert_eq!(auth, "AHJpcGNvcmQAc210cC1QYTU1d29yZA==");
    assert_no_secrets(&sb, &out, &[SMTP_PASSWORD, &auth]);
}

#[test]
fn email_refused_for_good_is_not_retried_and_a_missing_server_is_named() {
    let smtp = Smtp::start(vec!["550 5.1.1 no such user"]);
    let sb = Sandbox::new();
    sb.write(
        "ripcord.toml",
        &format!(
            "[notify.email]\nserver = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"ripcord@example.com\"\n",
            smtp.port
        ),
    );
    sb.write(
        "mail.rhai",
        "notify::email(\"nobody@example.com\", \"x\", \"y\", #{ required: true })\n",
    );
    let port = smtp.port;
    let refused = format!(
        "the mail server 127.0.0.1:{port} refused the message: permanent error (550): 5.1.1 no such user"
    );
    let test = sb.test().args(["run", "mail.rhai"]).status(1);
    test.stderr_contains(refused).run();
    smtp.wait_sessions(1);
    assert_eq!(smtp.dialogues.lock().unwrap().len(), 1, "not retried");

    std::fs::remove_file(sb.join("ripcord.toml")).unwrap();
    sb.test()
        .args(["run", "mail.rhai"])
        .status(1)
        .stderr_contains("notify::email: the config has no [notify.email] table")
        .run();
}
