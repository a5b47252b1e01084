//! `probe::tcp`: can a connection to `host:port` be opened?

use std::time::{Duration, Instant};

use ripcord_runtime::rhai::{Dynamic, Map};
use ripcord_runtime::{Failure, NativeResult};
use tokio::net::{TcpStream, lookup_host};

use super::request::show_duration;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Connect {
    addr: String,
    peer: Option<String>,
    ms: u64,
    /// `refused`, `timeout`, `dns` or `connect`, with the words for it.
    failure: Option<(&'static str, String)>,
}

impl Connect {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    pub fn error(&self) -> Option<String> {
        self.failure.as_ref().map(|(_, m)| m.clone())
    }

    pub fn to_map(&self) -> Map {
        let mut map = Map::new();
        map.insert("ok".into(), self.ok().into());
        map.insert("ms".into(), Dynamic::from_int(self.ms as i64));
        map.insert("addr".into(), self.addr.clone().into());
        map.insert(
            "peer".into(),
            self.peer.clone().map_or(Dynamic::UNIT, Dynamic::from),
        );
        map.insert(
            "error".into(),
            self.error().map_or(Dynamic::UNIT, Dynamic::from),
        );
        map.insert(
            "kind".into(),
            self.failure.as_ref().map_or("ok", |(k, _)| k).into(),
        );
        map
    }
}

/// `host:port` with a numeric port; anything else is a script error, not a failed probe.
pub fn check_addr(addr: &str) -> NativeResult<()> {
    let bad = || {
        Failure::new(format!("probe::tcp: `{addr}` is not host:port"))
            .hint("write it like \"127.0.0.1:5432\" or \"db.internal:5432\"")
    };
    if addr.contains("://") {
        return Err(bad().hint("probe::tcp takes host:port; for a URL use probe::http"));
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

pub async fn connect(addr: &str, timeout: Duration) -> Connect {
    let started = Instant::now();
    let mut result = Connect {
        addr: addr.to_string(),
        peer: None,
        ms: 0,
        failure: None,
    };
    let timed_out = || {
        (
            "timeout",
            format!("timed out after {}", show_duration(timeout)),
        )
    };
    result.failure = match tokio::time::timeout(timeout, attempt(addr, &mut result.peer)).await {
        Ok(outcome) => outcome.err(),
        Err(_) => Some(timed_out()),
    };
    result.ms = started.elapsed().as_millis() as u64;
    result
}

/// Try every address the name resolves to, as a client library would.
async fn attempt(addr: &str, peer: &mut Option<String>) -> Result<(), (&'static str, String)> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let addresses: Vec<_> = lookup_host(addr)
        .await
        .map_err(|e| ("dns", format!("dns lookup failed for {host}: {e}")))?
        .collect();
    let mut last = (
        "dns",
        format!("dns lookup for {host} returned no addresses"),
    );
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(_) => {
                *peer = Some(address.to_string());
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = ("refused", format!("connection refused by {address}"));
            }
            Err(e) => last = ("connect", format!("cannot connect to {address}: {e}")),
        }
    }
    Err(last)
}
