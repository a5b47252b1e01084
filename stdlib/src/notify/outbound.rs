//! Sending without a script, for `ripcord watch`: the channels the config's `[notify]` table
//! configures, and one notice sent to one channel with the natives' retries, timeouts and
//! secret handling. The caller journals what happened (it is not a run's change).

use reqwest::{Method, Url};
use ripcord_runtime::secrets::Secrets;
use ripcord_runtime::{Failure, Host, NativeResult};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::Post;
use super::{email, http, learn_header_secrets, pagerduty_body, parse_url, secret_url};

pub use super::message::{Stage as RollbackStage, rollback_text};
pub use super::policy::Policy;

/// A place notices go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Slack,
    PagerDuty,
    Webhook,
    Email,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::PagerDuty => "pagerduty",
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }
}

/// What a page does to the PagerDuty incident its dedup key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageAction {
    Trigger,
    Resolve,
}

/// What PagerDuty is told about a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub action: PageAction,
    pub dedup_key: String,
    /// "critical", "error", "warning" or "info" (a trigger only).
    pub severity: String,
}

/// One thing to tell, in the forms the channels take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// One line: the email subject and the PagerDuty summary.
    pub subject: String,
    /// The whole message: the Slack text and the email body.
    pub text: String,
    /// `None`: this notice does not page.
    pub page: Option<Page>,
    /// The webhook's JSON body.
    pub details: Value,
}

/// How a channel took a notice.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub attempts: u32,
    pub ms: u64,
}

/// The channels of `[notify]`; email only when `[notify.email]` names its recipients (`to`).
#[derive(Debug, Default)]
pub struct Channels {
    slack: Option<Url>,
    pagerduty: Option<(String, Url)>,
    webhook: Option<(Url, Vec<(String, String)>)>,
    email: Option<(email::Server, String)>,
}

impl Channels {
    /// Read `[notify]` of `config`; every credential in it becomes one of `secrets`.
    pub fn from_config(config: &Value, secrets: &Secrets) -> Result<Channels, String> {
        read_channels(config, secrets).map_err(|f| match f.hint {
            Some(hint) => format!("{}\nhelp: {hint}", f.message),
            None => f.message,
        })
    }

    pub fn list(&self) -> Vec<Channel> {
        let mut list = Vec::new();
        if self.slack.is_some() {
            list.push(Channel::Slack);
        }
        if self.pagerduty.is_some() {
            list.push(Channel::PagerDuty);
        }
        if self.webhook.is_some() {
            list.push(Channel::Webhook);
        }
        if self.email.is_some() {
            list.push(Channel::Email);
        }
        list
    }

    /// The configured channels `notice` goes to: one that does not page skips PagerDuty.
    pub fn for_notice(&self, notice: &Notice) -> Vec<Channel> {
        self.list()
            .into_iter()
            .filter(|c| *c != Channel::PagerDuty || notice.page.is_some())
            .collect()
    }

    /// Send `notice` to `channel`, retrying as `policy` says; the error is one line, without
    /// secrets as long as `secrets` came through [`Channels::from_config`].
    pub fn send(
        &self,
        host: &Host,
        channel: Channel,
        notice: &Notice,
        policy: &Policy,
    ) -> Result<Delivered, String> {
        self.try_send(host, channel, notice, policy)
            .map_err(|f| host.secrets.redact(&f.message))
    }

    fn try_send(
        &self,
        host: &Host,
        channel: Channel,
        notice: &Notice,
        policy: &Policy,
    ) -> NativeResult<Delivered> {
        let unconfigured =
            || Failure::new(format!("[notify.{}] is not configured", channel.name()));
        let (post, what) = match channel {
            Channel::Slack => {
                let url = self.slack.clone().ok_or_else(unconfigured)?;
                let body = json!({ "text": notice.text });
                (
                    Post::json(url, Method::POST, Vec::new(), &body),
                    "the Slack webhook",
                )
            }
            Channel::PagerDuty => {
                let (key, url) = self.pagerduty.clone().ok_or_else(unconfigured)?;
                let page = notice.page.as_ref().ok_or_else(unconfigured)?;
                let body = pagerduty_body(&key, &page_event(notice, page))?;
                (
                    Post::json(url, Method::POST, Vec::new(), &body),
                    "PagerDuty",
                )
            }
            Channel::Webhook => {
                let (url, headers) = self.webhook.clone().ok_or_else(unconfigured)?;
                (
                    Post::json(url, Method::POST, headers, &notice.details),
                    "the webhook",
                )
            }
            Channel::Email => {
                let (server, to) = self.email.as_ref().ok_or_else(unconfigured)?;
                let message = email::build(server, to, &notice.subject, &notice.text)?;
                let sent = email::send(host, server, &message, policy)?;
                return Ok(Delivered {
                    attempts: sent.attempts,
                    ms: sent.ms,
                });
            }
        };
        let answer = http::send(host, &post, policy, what)?;
        Ok(Delivered {
            attempts: answer.attempts,
            ms: answer.ms,
        })
    }
}

/// The notice as the event map `notify::pagerduty` takes, so both are checked alike.
fn page_event(notice: &Notice, page: &Page) -> serde_json::Map<String, Value> {
    let event = match page.action {
        PageAction::Trigger => json!({
            "action": "trigger", "dedup_key": page.dedup_key, "summary": notice.subject,
            "severity": page.severity, "component": "ripcord watch", "custom_details": notice.details,
        }),
        PageAction::Resolve => json!({ "action": "resolve", "dedup_key": page.dedup_key }),
    };
    event.as_object().cloned().unwrap_or_default()
}

fn read_channels(config: &Value, secrets: &Secrets) -> NativeResult<Channels> {
    let Some(notify) = config.get("notify") else {
        return Ok(Channels::default());
    };
    let text = |table: &str, key: &str| -> NativeResult<Option<String>> {
        let Some(t) = notify.get(table) else {
            return Ok(None);
        };
        match t.get(key).and_then(Value::as_str) {
            Some(v) => Ok(Some(v.to_string())),
            None => Err(
                Failure::new(format!("config: [notify.{table}] has no `{key}`")).hint(format!(
                    "set {key} in [notify.{table}], or remove the table"
                )),
            ),
        }
    };
    let slack = match text("slack", "webhook")? {
        Some(url) => Some(secret_url(secrets, "[notify.slack] webhook", &url)?),
        None => None,
    };
    let pagerduty = match text("pagerduty", "routing_key")? {
        Some(key) => {
            secrets.add(&key);
            let url = notify["pagerduty"]
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or(super::PAGERDUTY_URL);
            Some((key, parse_url("[notify.pagerduty] url", url)?))
        }
        None => None,
    };
    let webhook = match text("webhook", "url")? {
        Some(url) => Some(webhook_of(secrets, &url, &notify["webhook"])?),
        None => None,
    };
    let email = match notify.get("email") {
        Some(table) => {
            let server = email::Server::from_config(config, secrets)?;
            table
                .get("to")
                .and_then(Value::as_str)
                .map(|to| (server, to.to_string()))
        }
        None => None,
    };
    Ok(Channels {
        slack,
        pagerduty,
        webhook,
        email,
    })
}

/// `[notify.webhook]`: `url` and optional `headers` (string values).
fn webhook_of(
    secrets: &Secrets,
    url: &str,
    table: &Value,
) -> NativeResult<(Url, Vec<(String, String)>)> {
    let url = secret_url(secrets, "[notify.webhook] url", url)?;
    let mut headers = Vec::new();
    for (name, value) in table
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let value = value.as_str().ok_or_else(|| {
            Failure::new(format!(
                "config: [notify.webhook] headers: `{name}` is not a string"
            ))
        })?;
        headers.push((name.clone(), value.to_string()));
    }
    learn_header_secrets(secrets, &headers);
    Ok((url, headers))
}
