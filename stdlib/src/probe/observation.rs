//! Sending a request and describing what came back: a status and body, or which of the ways a
//! request can fail it met (refused, timed out, DNS, TLS), told apart in words and in `kind`.

use std::error::Error as _;
use std::time::{Duration, Instant};

use reqwest::Client;
use ripcord_runtime::rhai::{Dynamic, Map};
use ripcord_runtime::secrets::is_secret_header;
use ripcord_runtime::{Failure, Host, NativeResult};
use serde_json::Value;

use super::request::{Request, show_duration};

/// Bodies beyond this are cut: a health probe does not need more, and a runaway endpoint must
/// not fill the memory of the host that is trying to recover it.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// What one request observed.
#[derive(Debug, Clone)]
pub struct Observation {
    pub url: String,
    pub method: String,
    /// 0 when no response arrived.
    pub status: u16,
    pub ms: u64,
    pub body: String,
    pub json: Option<Value>,
    /// Why the body is not JSON, when it is not.
    pub json_error: Option<String>,
    pub headers: Vec<(String, String)>,
    pub truncated: bool,
    /// `None` for a response; else `refused`, `timeout`, `dns`, `tls`, `connect` or `error`.
    pub failure: Option<(&'static str, String)>,
}

impl Observation {
    fn empty(req: &Request) -> Observation {
        Observation {
            url: req.url.to_string(),
            method: req.method.to_string(),
            status: 0,
            ms: 0,
            body: String::new(),
            json: None,
            json_error: None,
            headers: Vec::new(),
            truncated: false,
            failure: None,
        }
    }

    /// A probe whose task died without a result (a panic inside the HTTP stack).
    pub fn lost(req: &Request) -> Observation {
        Observation {
            failure: Some((
                "error",
                "the probe's task stopped without a result".to_string(),
            )),
            ..Observation::empty(req)
        }
    }

    /// A response arrived with a 2xx status.
    pub fn ok(&self) -> bool {
        self.failure.is_none() && (200..300).contains(&self.status)
    }

    /// The reason the probe is not ok: the transport error, or the status.
    pub fn error(&self) -> Option<String> {
        match &self.failure {
            Some((_, message)) => Some(message.clone()),
            None if !self.ok() => Some(format!("HTTP status {}", self.status)),
            None => None,
        }
    }

    /// `ok`, `status` (a response, not 2xx), or the transport failure's kind.
    pub fn kind(&self) -> &'static str {
        match &self.failure {
            Some((kind, _)) => kind,
            None if self.ok() => "ok",
            None => "status",
        }
    }

    pub fn to_map(&self) -> Map {
        let mut map = Map::new();
        map.insert("ok".into(), self.ok().into());
        map.insert("status".into(), Dynamic::from_int(i64::from(self.status)));
        map.insert("ms".into(), Dynamic::from_int(self.ms as i64));
        let json = self
            .json
            .as_ref()
            .and_then(|j| ripcord_runtime::rhai::serde::to_dynamic(j).ok())
            .unwrap_or(Dynamic::UNIT);
        map.insert("json".into(), json);
        map.insert("body".into(), self.body.clone().into());
        map.insert(
            "error".into(),
            self.error().map_or(Dynamic::UNIT, Dynamic::from),
        );
        map.insert("kind".into(), self.kind().into());
        map.insert(
            "json_error".into(),
            self.json_error.clone().map_or(Dynamic::UNIT, Dynamic::from),
        );
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            headers.insert(name.as_str().into(), value.clone().into());
        }
        map.insert("headers".into(), headers.into());
        map.insert("truncated".into(), self.truncated.into());
        map.insert("url".into(), self.url.clone().into());
        map.insert("method".into(), self.method.clone().into());
        map
    }

    /// One line for a failure message: `status 500 in 3ms, body: {...}`.
    pub fn describe(&self) -> String {
        match &self.failure {
            Some((_, message)) => format!("{message} (after {}ms)", self.ms),
            None => {
                let mut text = format!("status {} in {}ms", self.status, self.ms);
                let body = self.body.trim();
                if !body.is_empty() {
                    let cut: String = body.chars().take(200).collect();
                    let more = if cut.len() < body.len() { "…" } else { "" };
                    text.push_str(&format!(", body: {}{more}", cut.replace('\n', " ")));
                }
                text
            }
        }
    }
}

/// A client for one probe call. Connections are not kept: a health probe after a restart must
/// open a fresh one, not reuse a socket to the old process.
pub fn client() -> NativeResult<Client> {
    // Another part of the process may have installed a provider already; either is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .user_agent(concat!("ripcord/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| Failure::new(format!("probe: cannot build the HTTP client: {e}")))
}

/// Send `req` and read the response, never failing: every outcome is an observation.
pub async fn send(host: &Host, client: &Client, req: &Request) -> Observation {
    let started = Instant::now();
    let mut obs = Observation::empty(req);
    // The request's own timeout covers connect, headers and body; the outer one is a backstop.
    let outcome = tokio::time::timeout(
        req.timeout + Duration::from_millis(250),
        exchange(host, client, req, &mut obs),
    )
    .await;
    obs.ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(Ok(bytes)) => read_body(&mut obs, bytes),
        Ok(Err(e)) => obs.failure = Some(classify(&e, req)),
        Err(_) => {
            obs.failure = Some((
                "timeout",
                format!("timed out after {}", show_duration(req.timeout)),
            ))
        }
    }
    obs
}

async fn exchange(
    host: &Host,
    client: &Client,
    req: &Request,
    obs: &mut Observation,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut builder = client
        .request(req.method.clone(), req.url.clone())
        .timeout(req.timeout);
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &req.body {
        if body.json
            && !req
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            builder = builder.header("content-type", "application/json");
        }
        builder = builder.body(body.bytes.clone());
    }
    let mut response = builder.send().await?;
    obs.status = response.status().as_u16();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if is_secret_header(name.as_str()) {
            host.secrets.add(&value);
        }
        match obs.headers.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            None => obs.headers.push((name.as_str().to_string(), value)),
        }
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            obs.truncated = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn read_body(obs: &mut Observation, bytes: Vec<u8>) {
    obs.body = String::from_utf8_lossy(&bytes).into_owned();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        obs.json_error = Some("body is empty, not JSON".to_string());
        return;
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(json) => obs.json = Some(json),
        Err(e) if obs.truncated => {
            obs.json_error = Some(format!("body is not JSON: cut at {MAX_BODY} bytes ({e})"))
        }
        Err(e) => obs.json_error = Some(format!("body is not JSON: {e}")),
    }
}

/// Tell apart the ways a request fails, in words an operator acts on.
fn classify(e: &reqwest::Error, req: &Request) -> (&'static str, String) {
    let host = req.url.host_str().unwrap_or("?");
    let addr = match req.url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let root = root_cause(e);
    if e.is_timeout() {
        (
            "timeout",
            format!("timed out after {}", show_duration(req.timeout)),
        )
    } else if e.is_dns() {
        ("dns", format!("dns lookup failed for {host}: {root}"))
    } else if io_kind(e) == Some(std::io::ErrorKind::ConnectionRefused) {
        ("refused", format!("connection refused by {addr}"))
    } else if has_source::<rustls::Error>(e) {
        ("tls", format!("TLS with {addr} failed: {root}"))
    } else if e.is_connect() {
        ("connect", format!("cannot connect to {addr}: {root}"))
    } else {
        ("error", format!("request to {addr} failed: {root}"))
    }
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message = s.to_string();
        source = s.source();
    }
    message
}

fn io_kind(e: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

fn has_source<T: std::error::Error + 'static>(e: &reqwest::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<T>() {
            return true;
        }
        source = s.source();
    }
    false
}
