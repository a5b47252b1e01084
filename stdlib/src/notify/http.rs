//! Posting a notification over HTTP, with retries: Slack, PagerDuty and plain webhooks all
//! end here.
//!
//! A notification is retried when the receiver may accept it later — the connection failed,
//! the request timed out, the answer was a 5xx or a 429 — and not when it said no for good
//! (any other 4xx: a wrong key or a malformed body will not fix itself).

use std::time::{Duration, Instant};

use reqwest::{Client, Method, Url};
use ripcord_runtime::{Failure, Host, NativeResult};

use super::policy::Policy;
use crate::probe::observation::client;
use crate::probe::runtime::block_on;

/// One HTTP notification, ready to send.
pub(crate) struct Post {
    pub url: Url,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

/// What the receiver answered on the attempt that counted.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    pub attempts: u32,
    pub ms: u64,
}

/// How one attempt ended.
enum Attempt {
    Accepted(u16, String),
    /// Worth another try, with what went wrong.
    Transient(String),
    /// The receiver refused it; trying again will not help.
    Refused(u16, String),
}

/// Send `post`, retrying transient failures with a doubling backoff. `what` names the
/// receiver in errors ("the Slack webhook").
pub(crate) fn send(host: &Host, post: &Post, policy: &Policy, what: &str) -> NativeResult<Answer> {
    let client = client()?;
    block_on(host, deliver(&client, post, policy, what))?
}

async fn deliver(
    client: &Client,
    post: &Post,
    policy: &Policy,
    what: &str,
) -> NativeResult<Answer> {
    let started = Instant::now();
    let mut last = String::new();
    for attempt in 1..=policy.attempts() {
        if attempt > 1 {
            tokio::time::sleep(policy.backoff_before(attempt)).await;
        }
        match once(client, post, policy.timeout).await {
            Attempt::Accepted(status, body) => {
                return Ok(Answer {
                    status,
                    body,
                    attempts: attempt,
                    ms: started.elapsed().as_millis() as u64,
                });
            }
            Attempt::Refused(status, body) => {
                return Err(Failure::new(format!(
                    "{what} refused the notification: HTTP {status}{}",
                    body_note(&body)
                ))
                .hint("a 4xx answer is not retried: check the URL, key and message"));
            }
            Attempt::Transient(why) => last = why,
        }
    }
    Err(Failure::new(format!(
        "{what} did not take the notification after {} attempt(s): {last}",
        policy.attempts()
    ))
    .hint("check that the receiver is reachable from this host; `retries` and `timeout` options tune the attempts"))
}

async fn once(client: &Client, post: &Post, timeout: Duration) -> Attempt {
    let mut builder = client
        .request(post.method.clone(), post.url.clone())
        .timeout(timeout)
        .header("content-type", post.content_type);
    for (name, value) in &post.headers {
        builder = builder.header(name, value);
    }
    let response = match builder.body(post.body.clone()).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Attempt::Transient(format!("timed out after {}", show(timeout)));
        }
        Err(e) if e.is_connect() => {
            return Attempt::Transient(format!("cannot connect ({})", root(&e)));
        }
        Err(e) => return Attempt::Transient(root(&e)),
    };
    let status = response.status().as_u16();
    let body = match tokio::time::timeout(timeout, response.text()).await {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => return Attempt::Transient(format!("HTTP {status}, then {}", root(&e))),
        Err(_) => return Attempt::Transient(format!("HTTP {status}, then the body timed out")),
    };
    match status {
        200..=299 => Attempt::Accepted(status, body),
        429 | 500..=599 => Attempt::Transient(format!("HTTP {status}{}", body_note(&body))),
        _ => Attempt::Refused(status, body),
    }
}

/// The innermost cause, without the URL reqwest puts in its own message (a webhook URL is a
/// secret; it is redacted anyway, but the cause alone reads better).
fn root(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

fn body_note(body: &str) -> String {
    let text = body.trim();
    if text.is_empty() {
        String::new()
    } else {
        let cut: String = text.chars().take(200).collect();
        format!(" ({cut})")
    }
}

fn show(d: Duration) -> String {
    crate::probe::request::show_duration(d)
}
