//! The `notify` module: tell people — Slack, PagerDuty, any webhook, email — and the rollback
//! messages to tell them.
//!
//! Sending is a change: a dry run or drill prints what would be sent and sends nothing.
//! Webhook URLs, routing keys and SMTP passwords become secrets of the run the moment they
//! are seen, so the journal, the terminal and reports show `***`. A notification that cannot
//! be delivered (after its retries) is journaled and warned about and the run goes on: an
//! outage of the chat service must not stop a rollback. With `required: true` it fails the run.

mod email;
mod http;
mod message;
pub mod outbound;
mod policy;

use reqwest::{Method, Url};
use ripcord_runtime::rhai::{Dynamic, EvalAltResult, Map, NativeCallContext};
use ripcord_runtime::secrets::Secrets;
use ripcord_runtime::{
    At, Change, Decl, Effect, Failure, Host, NativeModule, NativeResult, RhaiResult,
};
use serde_json::{Value, json};

use http::Post;
use policy::{Options, Policy};

const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const COMMON: &[&str] = &["required", "timeout", "retries", "backoff"];
const WEBHOOK_OPTIONS: &[&str] = &[
    "required", "timeout", "retries", "backoff", "headers", "method",
];
const PAGERDUTY_OPTIONS: &[&str] = &["required", "timeout", "retries", "backoff", "url"];

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "notify",
        "Notifications: Slack, PagerDuty, webhooks, email; rollback message templates",
    );
    declare_slack(&mut m);
    declare_pagerduty_and_webhook(&mut m);
    declare_email_and_message(&mut m);
    m
}

/// `notify::slack` with a text or a message map, with and without options.
fn declare_slack(m: &mut NativeModule) {
    m.function(SLACK, |ctx: NativeCallContext, url: &str, text: &str| {
        slack(&ctx, url, text_payload(text), Map::new())
    });
    m.function(
        Decl {
            params: &["webhook: String", "text: String", "opts: Map", "Map"],
            ..SLACK
        },
        |ctx: NativeCallContext, url: &str, text: &str, opts: Map| {
            slack(&ctx, url, text_payload(text), opts)
        },
    );
    m.function(
        Decl {
            params: &["webhook: String", "message: Map", "Map"],
            ..SLACK
        },
        |ctx: NativeCallContext, url: &str, message: Map| slack(&ctx, url, message, Map::new()),
    );
    m.function(
        Decl {
            params: &["webhook: String", "message: Map", "opts: Map", "Map"],
            ..SLACK
        },
        |ctx: NativeCallContext, url: &str, message: Map, opts: Map| {
            slack(&ctx, url, message, opts)
        },
    );
}

/// `notify::pagerduty` and `notify::webhook`, with and without options.
fn declare_pagerduty_and_webhook(m: &mut NativeModule) {
    m.function(
        PAGERDUTY,
        |ctx: NativeCallContext, key: &str, event: Map| pagerduty(&ctx, key, event, Map::new()),
    );
    m.function(
        Decl {
            params: &["routing_key: String", "event: Map", "opts: Map", "Map"],
            ..PAGERDUTY
        },
        pagerduty_opts,
    );
    m.function(
        WEBHOOK,
        |ctx: NativeCallContext, url: &str, body: Dynamic| webhook(&ctx, url, body, Map::new()),
    );
    m.function(
        Decl {
            params: &["url: String", "body: ?", "opts: Map", "Map"],
            ..WEBHOOK
        },
        webhook_opts,
    );
}

/// `notify::email` with and without options, and `notify::message`.
fn declare_email_and_message(m: &mut NativeModule) {
    m.function(
        EMAIL,
        |ctx: NativeCallContext, to: &str, subject: &str, body: &str| {
            email(&ctx, to, subject, body, Map::new())
        },
    );
    m.function(
        Decl {
            params: &[
                "to: String",
                "subject: String",
                "body: String",
                "opts: Map",
                "Map",
            ],
            ..EMAIL
        },
        email_opts,
    );
    m.function(
        MESSAGE,
        |ctx: NativeCallContext, stage: &str, facts: Map| {
            message::Stage::parse(stage)
                .and_then(|s| message::render(s, &facts))
                .at(&ctx)
        },
    );
}

macro_rules! options_doc {
    () => {
        "\n\nOptions (all optional): `required: true` fails the run when the notification cannot \
be delivered (default: warn, journal, go on); `timeout` per attempt (default \"10s\"); \
`retries` after the first attempt (default 3) when the receiver cannot be reached, times out, \
or answers 5xx or 429; `backoff` before the first retry, doubled each time (default \"1s\").\n\n\
Returns `#{ ok, status, attempts, ms, response }`; `ok` is false (and `error` says why) when \
it was not delivered. A dry run sends nothing and returns `#{ ok: true, simulated: true }`."
    };
}

const SLACK: Decl = Decl {
    name: "slack",
    effect: Effect::Change,
    params: &["webhook: String", "text: String", "Map"],
    doc: concat!(
        "Post to a Slack channel through an incoming webhook.\n\n\
With a string, posts `{\"text\": ...}`; with a map, posts it as the message (`text`, `blocks`, \
... as Slack documents; `text` is the fallback shown in notifications). The webhook URL is a \
secret: keep it in the config (`[notify.slack] webhook = \"...\"`).",
        options_doc!()
    ),
    example: r#"notify::slack(cfg.notify.slack.webhook, "Rollback initiated for Cortex - Reason: storm - ETA: 5m");"#,
};

const PAGERDUTY: Decl = Decl {
    name: "pagerduty",
    effect: Effect::Change,
    params: &["routing_key: String", "event: Map", "Map"],
    doc: concat!(
        "Send an event to PagerDuty (Events API v2).\n\n\
`event`: `action` (\"trigger\", \"acknowledge\" or \"resolve\"; default \"trigger\"), \
`dedup_key` (required to acknowledge or resolve; the same key ties the events of one \
incident), and for a trigger `summary`, `severity` (\"critical\", \"error\", \"warning\" or \
\"info\") and `source` (default: this host's name); optional `component`, `group`, `class`, \
`custom_details`. The routing key is a secret. The endpoint is PagerDuty's own unless the \
option `url` or the config's `[notify.pagerduty] url` says otherwise. The result adds the \
`dedup_key` PagerDuty answered.",
        options_doc!()
    ),
    example: r#"let page = notify::pagerduty(cfg.notify.pagerduty.routing_key, #{
    summary: "MCP Cortex emergency rollback", severity: "critical", dedup_key: "cortex-rollback",
});
notify::pagerduty(cfg.notify.pagerduty.routing_key, #{ action: "resolve", dedup_key: "cortex-rollback" });"#,
};

const WEBHOOK: Decl = Decl {
    name: "webhook",
    effect: Effect::Change,
    params: &["url: String", "body: ?", "Map"],
    doc: concat!(
        "Send a notification to any HTTP endpoint (POST unless `method` says otherwise).\n\n\
A map or array body is sent as JSON, a string as plain text. `headers: #{ ... }` adds \
headers; the URL and the values of `Authorization`-like headers are secrets.",
        options_doc!()
    ),
    example: r#"notify::webhook("https://ops.example.com/hooks/rollback", #{ service: "cortex", status: "started" },
    #{ headers: #{ Authorization: "Bearer " + cfg.ops_token }, required: true });"#,
};

const EMAIL: Decl = Decl {
    name: "email",
    effect: Effect::Change,
    params: &["to: String", "subject: String", "body: String", "Map"],
    doc: concat!(
        "Send a plain-text email over SMTP (one address, or several separated by commas).\n\n\
An empty `to` sends to the config's `[notify.email] to`. The server comes from the config:\n\n```toml\n[notify.email]\nserver = \"smtp.example.com\"\n\
port = 587                 # default: 587 for starttls, 465 for tls, 25 for none\n\
tls = \"starttls\"           # or \"tls\", or \"none\" (a relay on this host only)\n\
from = \"ripcord@example.com\"\nto = \"oncall@example.com\"       # default recipients\nusername = \"ripcord\"\npassword = \"...\"        # a secret\n```\n\n\
A permanent refusal (5xx: unknown recipient, bad login) is not retried. The result has `reply` \
(the server's last answer) instead of `status` and `response`.",
        options_doc!()
    ),
    example: r#"notify::email("oncall@example.com", "Cortex rolled back", notify::message("succeeded", #{ service: "Cortex" }));"#,
};

const MESSAGE: Decl = Decl {
    name: "message",
    effect: Effect::Pure,
    params: &["stage: String", "facts: Map", "String"],
    doc: "The rollback message for a stage: \"started\", \"succeeded\" or \"failed\".\n\n\
A headline (\"Rollback initiated for MCP Cortex - Reason: ... - ETA: ...\") then the \
communication template: Time, Status (IN_PROGRESS, COMPLETED, FAILED), Reason, Impact, ETA, \
Next Update. Facts (all optional): `service`, `reason`, `eta`, `impact`, `next_update`, \
`error` (failed), `took` (succeeded), `time` (default now, UTC).",
    example: r#"let text = notify::message("started", #{ service: "MCP Cortex", reason: "gateway_critical storm", eta: "5m" });
print(text);"#,
};

// ---- the functions ------------------------------------------------------------------------

fn text_payload(text: &str) -> Map {
    let mut map = Map::new();
    map.insert("text".into(), text.into());
    map
}

fn slack(ctx: &NativeCallContext, webhook: &str, message: Map, opts: Map) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let (options, post, preview) =
        prepare_slack(&host, webhook, message, &opts).map_err(|f| f.at(ctx))?;
    let change =
        Change::new("notify::slack", format!("post to Slack: {preview}")).arg("text", preview);
    let policy = options.policy;
    send_http(
        ctx,
        &host,
        change,
        post,
        policy,
        "the Slack webhook",
        |_| Map::new(),
    )
}

/// Check the options and the message; the post and its one-line preview.
fn prepare_slack(
    host: &Host,
    webhook: &str,
    message: Map,
    opts: &Map,
) -> NativeResult<(Options, Post, String)> {
    let options = Options::parse("notify::slack", opts, COMMON)?;
    let url = secret_url(&host.secrets, "notify::slack", webhook)?;
    if !message.contains_key("text") && !message.contains_key("blocks") {
        return Err(
            Failure::new("notify::slack: the message has neither `text` nor `blocks`")
                .hint("pass a string, or a map with `text` (and `blocks`)"),
        );
    }
    let body = to_json("notify::slack", &Dynamic::from_map(message))?;
    let preview = headline(
        body.get("text")
            .and_then(Value::as_str)
            .unwrap_or("(blocks)"),
    );
    Ok((
        options,
        Post::json(url, Method::POST, Vec::new(), &body),
        preview,
    ))
}

fn pagerduty_opts(ctx: NativeCallContext, key: &str, event: Map, opts: Map) -> RhaiResult<Map> {
    pagerduty(&ctx, key, event, opts)
}

fn pagerduty(ctx: &NativeCallContext, key: &str, event: Map, opts: Map) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let (options, body, url) =
        prepare_pagerduty(&host, key, event, &opts).map_err(|f| f.at(ctx))?;
    let action = body["event_action"].as_str().unwrap_or("trigger");
    let what = body["payload"]["summary"]
        .as_str()
        .or(body["dedup_key"].as_str())
        .map(headline)
        .unwrap_or_default();
    let change = Change::new("notify::pagerduty", format!("PagerDuty {action}: {what}"))
        .arg("action", action)
        .arg("dedup_key", body["dedup_key"].clone());
    let post = Post::json(url, Method::POST, Vec::new(), &body);
    send_http(
        ctx,
        &host,
        change,
        post,
        options.policy,
        "PagerDuty",
        dedup_key_of,
    )
}

/// Check the options, the key and the event; the Events API v2 body and the endpoint.
fn prepare_pagerduty(
    host: &Host,
    key: &str,
    event: Map,
    opts: &Map,
) -> NativeResult<(Options, Value, Url)> {
    let options = Options::parse("notify::pagerduty", opts, PAGERDUTY_OPTIONS)?;
    if key.trim().is_empty() {
        return Err(Failure::new("notify::pagerduty: the routing key is empty")
            .hint("set [notify.pagerduty] routing_key in the config (an Events API v2 integration key)"));
    }
    host.secrets.add(key);
    let event = to_json("notify::pagerduty", &Dynamic::from_map(event))?;
    let body = pagerduty_body(key, &event.as_object().cloned().unwrap_or_default())?;
    let endpoint = options
        .url
        .clone()
        .or_else(|| config_text(&host.config, "pagerduty", "url"))
        .unwrap_or_else(|| PAGERDUTY_URL.to_string());
    let url = parse_url("notify::pagerduty", &endpoint)?;
    Ok((options, body, url))
}

/// The incident key PagerDuty answered with, for the script to resolve it later.
fn dedup_key_of(answer: &http::Answer) -> Map {
    let mut extra = Map::new();
    let answered = serde_json::from_str::<Value>(&answer.body).ok();
    if let Some(key) = answered
        .as_ref()
        .and_then(|v| v.get("dedup_key"))
        .and_then(Value::as_str)
    {
        extra.insert("dedup_key".into(), key.into());
    }
    extra
}

/// The Events API v2 body for `event`, checked as PagerDuty checks it.
fn pagerduty_body(key: &str, map: &serde_json::Map<String, Value>) -> NativeResult<Value> {
    const KNOWN: &[&str] = &[
        "action",
        "dedup_key",
        "summary",
        "severity",
        "source",
        "component",
        "group",
        "class",
        "custom_details",
    ];
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Failure::new(format!(
            "notify::pagerduty: unknown event field `{unknown}`"
        ))
        .hint(format!("known fields: {}", KNOWN.join(", "))));
    }
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
    let action = text("action").unwrap_or_else(|| "trigger".to_string());
    let mut body = json!({ "routing_key": key, "event_action": action });
    if let Some(dedup) = text("dedup_key") {
        body["dedup_key"] = dedup.into();
    }
    match action.as_str() {
        "trigger" => body["payload"] = trigger_payload(map)?,
        "acknowledge" | "resolve" if body.get("dedup_key").is_none() => {
            return Err(Failure::new(format!(
                "notify::pagerduty: to {action} an incident, give its `dedup_key`"
            ))
            .hint("use the dedup_key of the trigger (its result has it)"));
        }
        "acknowledge" | "resolve" => {}
        other => {
            return Err(Failure::new(format!(
                "notify::pagerduty: `{other}` is not an event action"
            ))
            .hint("use \"trigger\", \"acknowledge\" or \"resolve\""));
        }
    }
    Ok(body)
}

fn trigger_payload(map: &serde_json::Map<String, Value>) -> NativeResult<Value> {
    let summary = map.get("summary").and_then(Value::as_str).ok_or_else(|| {
        Failure::new("notify::pagerduty: a trigger needs a `summary`")
            .hint("e.g. #{ summary: \"Cortex rollback started\", severity: \"critical\" }")
    })?;
    let severity = map.get("severity").and_then(Value::as_str).unwrap_or("");
    if !matches!(severity, "critical" | "error" | "warning" | "info") {
        return Err(Failure::new(format!(
            "notify::pagerduty: severity `{severity}` is not one PagerDuty knows"
        ))
        .hint("use \"critical\", \"error\", \"warning\" or \"info\""));
    }
    // PagerDuty cuts summaries at 1024 characters; cut here so the journal shows what was sent.
    let summary: String = summary.chars().take(1024).collect();
    let source = map
        .get("source")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(ripcord_runtime::who::hostname);
    let mut payload = json!({ "summary": summary, "severity": severity, "source": source });
    for key in ["component", "group", "class", "custom_details"] {
        if let Some(v) = map.get(key) {
            payload[key] = v.clone();
        }
    }
    Ok(payload)
}

fn webhook_opts(ctx: NativeCallContext, url: &str, body: Dynamic, opts: Map) -> RhaiResult<Map> {
    webhook(&ctx, url, body, opts)
}

fn webhook(ctx: &NativeCallContext, url: &str, body: Dynamic, opts: Map) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let (options, post) = prepare_webhook(&host, url, &body, &opts).map_err(|f| f.at(ctx))?;
    let change = Change::new(
        "notify::webhook",
        format!(
            "{} a notification to a webhook ({} bytes)",
            post.method,
            post.body.len()
        ),
    );
    let policy = options.policy;
    send_http(ctx, &host, change, post, policy, "the webhook", |_| {
        Map::new()
    })
}

/// Check the options, URL and method; a string body goes as text, anything else as JSON.
fn prepare_webhook(
    host: &Host,
    url: &str,
    body: &Dynamic,
    opts: &Map,
) -> NativeResult<(Options, Post)> {
    let options = Options::parse("notify::webhook", opts, WEBHOOK_OPTIONS)?;
    let url = secret_url(&host.secrets, "notify::webhook", url)?;
    let method = match &options.method {
        None => Method::POST,
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| Failure::new(format!("notify::webhook: `{m}` is not an HTTP method")))?,
    };
    learn_header_secrets(&host.secrets, &options.headers);
    let headers = options.headers.clone();
    let post = if body.is_string() {
        Post {
            url,
            method,
            headers,
            body: body.to_string().into_bytes(),
            content_type: "text/plain; charset=utf-8",
        }
    } else {
        Post::json(url, method, headers, &to_json("notify::webhook", body)?)
    };
    Ok((options, post))
}

/// `Authorization: Bearer X` and the like: the value and the credential after the scheme.
fn learn_header_secrets(secrets: &Secrets, headers: &[(String, String)]) {
    for (name, value) in headers {
        if ripcord_runtime::secrets::is_secret_header(name) {
            secrets.add(value);
            if let Some((_, credential)) = value.split_once(' ') {
                secrets.add(credential.trim());
            }
        }
    }
}

fn email_opts(
    ctx: NativeCallContext,
    to: &str,
    subject: &str,
    body: &str,
    opts: Map,
) -> RhaiResult<Map> {
    email(&ctx, to, subject, body, opts)
}

fn email(
    ctx: &NativeCallContext,
    to: &str,
    subject: &str,
    body: &str,
    opts: Map,
) -> RhaiResult<Map> {
    let host = Host::of(ctx)?;
    let (options, server, message) =
        prepare_email(&host, to, subject, body, &opts).map_err(|f| f.at(ctx))?;
    let change = Change::new(
        "notify::email",
        format!(
            "email {to} via {}: {}",
            server.describe(),
            headline(subject)
        ),
    )
    .arg("to", to)
    .arg("subject", subject);
    let policy = options.policy.clone();
    deliver(ctx, &host, change, &policy, || {
        let sent = email::send(&host, &server, &message, &policy)?;
        let mut map = Map::new();
        map.insert("ok".into(), true.into());
        map.insert("reply".into(), sent.reply.into());
        map.insert("attempts".into(), Dynamic::from_int(sent.attempts.into()));
        map.insert("ms".into(), Dynamic::from_int(sent.ms as i64));
        Ok(map)
    })
}

/// Check the options, the `[notify.email]` server and every address.
fn prepare_email(
    host: &Host,
    to: &str,
    subject: &str,
    body: &str,
    opts: &Map,
) -> NativeResult<(Options, email::Server, lettre::Message)> {
    let options = Options::parse("notify::email", opts, COMMON)?;
    let server = email::Server::from_config(&host.config, &host.secrets)?;
    let message = email::build(&server, to, subject, body)?;
    Ok((options, server, message))
}

// ---- delivery -----------------------------------------------------------------------------

impl Post {
    fn json(url: Url, method: Method, headers: Vec<(String, String)>, body: &Value) -> Post {
        Post {
            url,
            method,
            headers,
            body: body.to_string().into_bytes(),
            content_type: "application/json",
        }
    }
}

fn send_http(
    ctx: &NativeCallContext,
    host: &Host,
    change: Change,
    post: Post,
    policy: Policy,
    what: &str,
    extra: impl FnOnce(&http::Answer) -> Map,
) -> RhaiResult<Map> {
    deliver(ctx, host, change, &policy, || {
        let answer = http::send(host, &post, &policy, what)?;
        let mut map = extra(&answer);
        map.insert("ok".into(), true.into());
        map.insert("status".into(), Dynamic::from_int(answer.status.into()));
        map.insert("attempts".into(), Dynamic::from_int(answer.attempts.into()));
        map.insert("ms".into(), Dynamic::from_int(answer.ms as i64));
        map.insert("response".into(), answer.body.into());
        Ok(map)
    })
}

/// Make the change; a failure that is not `required` becomes `#{ ok: false, error }` and a
/// warning (the host has journaled the failed change already). A stop (Ctrl-C, timeout)
/// always ends the run.
fn deliver(
    ctx: &NativeCallContext,
    host: &Host,
    change: Change,
    policy: &Policy,
    perform: impl FnOnce() -> NativeResult<Map>,
) -> RhaiResult<Map> {
    let function = change.function.clone();
    let mut simulated = Map::new();
    simulated.insert("ok".into(), true.into());
    simulated.insert("simulated".into(), true.into());
    let change = change.simulated(Dynamic::from_map(simulated));
    match host.change(ctx, change, perform) {
        Ok(value) => Ok(value),
        Err(e) if !policy.required && matches!(*e, EvalAltResult::ErrorRuntime(..)) => {
            let error = host.secrets.redact(&first_line(&e));
            host.out
                .warn(&format!("{function}: not delivered, going on: {error}"));
            let mut map = Map::new();
            map.insert("ok".into(), false.into());
            map.insert("error".into(), error.into());
            Ok(map)
        }
        Err(e) => Err(e),
    }
}

fn first_line(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        other => other.to_string(),
    }
    .lines()
    .next()
    .unwrap_or("")
    .to_string()
}

// ---- helpers ------------------------------------------------------------------------------

fn parse_url(function: &str, text: &str) -> NativeResult<Url> {
    let url = Url::parse(text.trim()).map_err(|e| {
        Failure::new(format!("{function}: the URL is not valid ({e})"))
            .hint("write it with its scheme, e.g. https://hooks.slack.com/services/...")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::new(format!("{function}: the URL is not http(s)")));
    }
    Ok(url)
}

/// A webhook URL carries its credential in the path: the URL and the path are secrets.
fn secret_url(secrets: &Secrets, function: &str, text: &str) -> NativeResult<Url> {
    secrets.add(text.trim());
    let url = parse_url(function, text)?;
    secrets.add(url.as_str());
    let tail = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    if tail.len() > 1 {
        secrets.add(&tail);
    }
    if let Some(password) = url.password() {
        secrets.add(password);
    }
    Ok(url)
}

fn config_text(config: &Value, table: &str, key: &str) -> Option<String> {
    config
        .get("notify")?
        .get(table)?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

fn to_json(function: &str, value: &Dynamic) -> NativeResult<Value> {
    ripcord_runtime::rhai::serde::from_dynamic::<Value>(value).map_err(|e| {
        Failure::new(format!(
            "{function}: the message cannot be sent as JSON: {e}"
        ))
    })
}

/// The first line of a message, cut to 80 characters, for summaries.
fn headline(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 80 {
        format!("{}...", line.chars().take(77).collect::<String>())
    } else {
        line.to_string()
    }
}
