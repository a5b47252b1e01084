//! Mail over SMTP (lettre), with the server from the config's `[notify.email]` table.

use std::time::{Duration, Instant};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use ripcord_runtime::secrets::Secrets;
use ripcord_runtime::{Failure, Host, NativeResult};
use serde::Deserialize;
use serde_json::Value;

use super::policy::Policy;

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Security {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on this host or a test server.
    None,
}

/// `[notify.email]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Server {
    pub server: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: Security,
    pub from: String,
    /// Default recipients, for runbooks that tell "the on-call" without naming them.
    pub to: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Server {
    /// Read `[notify.email]` of `config`; its password becomes a secret of the run.
    pub fn from_config(config: &Value, secrets: &Secrets) -> NativeResult<Server> {
        let Some(table) = config.get("notify").and_then(|n| n.get("email")) else {
            return Err(
                Failure::new("notify::email: the config has no [notify.email] table").hint(
                    "add [notify.email] with server, from (and port, tls, username, password)",
                ),
            );
        };
        let server: Server = serde_json::from_value::<Server>(Value::clone(table)).map_err(|e| {
            Failure::new(format!("config: [notify.email]: {e}"))
                .hint("keys: server, port, tls (\"starttls\", \"tls\" or \"none\"), from, to, username, password")
        })?;
        if let Some(password) = &server.password {
            secrets.add(password);
        }
        Ok(server)
    }

    fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        })
    }

    pub fn describe(&self) -> String {
        format!("{}:{}", self.server, self.port())
    }

    fn transport(&self, timeout: Duration) -> NativeResult<SmtpTransport> {
        let tls = || {
            TlsParameters::new(self.server.clone())
                .map_err(|e| Failure::new(format!("notify::email: TLS for {}: {e}", self.server)))
        };
        let mut builder = SmtpTransport::builder_dangerous(&self.server)
            .port(self.port())
            .timeout(Some(timeout))
            .tls(match self.tls {
                Security::Starttls => Tls::Required(tls()?),
                Security::Tls => Tls::Wrapper(tls()?),
                Security::None => Tls::None,
            });
        if let Some(user) = &self.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                self.password.clone().unwrap_or_default(),
            ));
        }
        Ok(builder.build())
    }
}

/// A built message; building it checks every address before anything is sent.
pub(crate) fn build(server: &Server, to: &str, subject: &str, body: &str) -> NativeResult<Message> {
    let mailbox = |text: &str, what: &str| -> NativeResult<Mailbox> {
        text.trim().parse::<Mailbox>().map_err(|e| {
            Failure::new(format!(
                "notify::email: {what} `{text}` is not an email address ({e})"
            ))
        })
    };
    let mut builder = Message::builder()
        .from(mailbox(&server.from, "[notify.email] from")?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .user_agent(concat!("ripcord/", env!("CARGO_PKG_VERSION")).to_string());
    let to = if to.trim().is_empty() {
        server.to.as_deref().unwrap_or("")
    } else {
        to
    };
    let recipients: Vec<&str> = to.split(',').filter(|s| !s.trim().is_empty()).collect();
    if recipients.is_empty() {
        return Err(Failure::new("notify::email: no recipient")
            .hint("pass one address or several separated by commas, or set [notify.email] to"));
    }
    for r in recipients {
        builder = builder.to(mailbox(r, "recipient")?);
    }
    builder
        .body(body.to_string())
        .map_err(|e| Failure::new(format!("notify::email: cannot build the message: {e}")))
}

/// What the server said when it took the message.
pub(crate) struct Sent {
    pub reply: String,
    pub attempts: u32,
    pub ms: u64,
}

/// Send with retries: a transient reply (4xx) or a lost connection is tried again, a
/// permanent reply (5xx: unknown recipient, refused login) is not.
pub(crate) fn send(
    host: &Host,
    server: &Server,
    message: &Message,
    policy: &Policy,
) -> NativeResult<Sent> {
    let transport = server.transport(policy.timeout)?;
    let started = Instant::now();
    let mut last = String::new();
    for attempt in 1..=policy.attempts() {
        if attempt > 1 {
            crate::service::pause(host, policy.backoff_before(attempt), "the mail server")?;
        }
        match transport.send(message) {
            Ok(response) => {
                return Ok(Sent {
                    reply: format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    ),
                    attempts: attempt,
                    ms: started.elapsed().as_millis() as u64,
                });
            }
            Err(e) if e.is_permanent() => {
                return Err(Failure::new(format!(
                    "the mail server {} refused the message: {e}",
                    server.describe()
                ))
                .hint("a permanent SMTP error is not retried: check the addresses and the login"));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(Failure::new(format!(
        "the mail server {} did not take the message after {} attempt(s): {last}",
        server.describe(),
        policy.attempts()
    ))
    .hint("check [notify.email] server and port, and that the server is reachable from this host"))
}
