//! What to send: a URL with `method`, `headers`, `body` and `timeout` options, checked before
//! anything goes on the wire. Credential headers and URL passwords become run secrets here.

use std::time::Duration;

use reqwest::{Method, Url};
use ripcord_runtime::rhai::{Dynamic, Map};
use ripcord_runtime::secrets::is_secret_header;
use ripcord_runtime::time::parse_duration;
use ripcord_runtime::{Failure, Host, NativeResult};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The options a single request accepts.
pub const REQUEST_OPTIONS: &[&str] = &["method", "headers", "body", "timeout"];

#[derive(Debug, Clone)]
pub struct Request {
    pub url: Url,
    pub method: Method,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// Set when the body was a map or array sent as JSON.
    pub json: bool,
}

impl Request {
    /// Build a request for `function` from a URL and its options; `defaults` fill options the
    /// map leaves out (used by `probe::all`).
    pub fn parse(
        host: &Host,
        function: &str,
        url: &str,
        opts: &Map,
        defaults: &Map,
    ) -> NativeResult<Request> {
        let get = |key: &str| {
            opts.get(key)
                .or_else(|| defaults.get(key))
                .filter(|v| !v.is_unit())
        };
        let url = parse_url(host, function, url)?;
        let method = match get("method") {
            None => Method::GET,
            Some(m) => {
                let text = string_option(function, "method", m)?.to_ascii_uppercase();
                Method::from_bytes(text.as_bytes()).map_err(|_| {
                    Failure::new(format!("{function}: `{text}` is not an HTTP method"))
                        .hint("use GET, HEAD, POST, PUT, PATCH or DELETE")
                })?
            }
        };
        let headers = match get("headers") {
            None => Vec::new(),
            Some(h) => headers(host, function, h)?,
        };
        let body = get("body").map(|b| body(function, b)).transpose()?;
        let timeout = match get("timeout") {
            None => DEFAULT_TIMEOUT,
            Some(t) => duration_option(function, "timeout", t)?,
        };
        Ok(Request {
            url,
            method,
            headers,
            body,
            timeout,
        })
    }

    /// `GET http://host/path`, for messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

fn parse_url(host: &Host, function: &str, text: &str) -> NativeResult<Url> {
    let url = Url::parse(text.trim()).map_err(|e| {
        Failure::new(format!("{function}: `{text}` is not a URL ({e})"))
            .hint("write it with its scheme, e.g. http://127.0.0.1:8080/health")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(
            Failure::new(format!("{function}: `{text}` is not an http(s) URL"))
                .hint("probe::http speaks HTTP; for a bare port use probe::tcp(\"host:port\")"),
        );
    }
    if let Some(password) = url.password() {
        host.secrets.add(password);
    }
    Ok(url)
}

fn headers(host: &Host, function: &str, value: &Dynamic) -> NativeResult<Vec<(String, String)>> {
    let Some(map) = value.read_lock::<Map>() else {
        return Err(Failure::new(format!(
            "{function}: `headers` must be a map, not {}",
            value.type_name()
        ))
        .hint("write headers as #{ \"Accept\": \"application/json\" }"));
    };
    let mut out = Vec::new();
    for (name, value) in map.iter() {
        let value = value.to_string();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(Failure::new(format!(
                "{function}: `{name}` is not a valid header name"
            )));
        }
        if is_secret_header(name) {
            host.secrets.add(&value);
            // `Bearer <token>`: the token alone must not show either.
            if let Some((_, credential)) = value.split_once(' ') {
                host.secrets.add(credential.trim());
            }
        }
        if reqwest::header::HeaderValue::from_str(&value).is_err() {
            return Err(Failure::new(format!(
                "{function}: the value of header `{name}` has characters a header cannot carry"
            )));
        }
        out.push((name.to_string(), value));
    }
    Ok(out)
}

fn body(function: &str, value: &Dynamic) -> NativeResult<Body> {
    if value.is_string() {
        return Ok(Body {
            bytes: value.to_string().into_bytes(),
            json: false,
        });
    }
    if value.is_map() || value.is_array() {
        let json = ripcord_runtime::host::dynamic_to_json(value);
        let bytes = serde_json::to_vec(&json)
            .map_err(|e| Failure::new(format!("{function}: cannot encode `body` as JSON: {e}")))?;
        return Ok(Body { bytes, json: true });
    }
    Err(Failure::new(format!(
        "{function}: `body` must be a string or a map, not {}",
        value.type_name()
    ))
    .hint("a map or array is sent as JSON; a string is sent as it is"))
}

pub fn string_option(function: &str, key: &str, value: &Dynamic) -> NativeResult<String> {
    if value.is_string() {
        Ok(value.to_string())
    } else {
        Err(Failure::new(format!(
            "{function}: option `{key}` must be a string, not {}",
            value.type_name()
        )))
    }
}

/// A duration option: a string like "30s", or a number of seconds.
pub fn duration_option(function: &str, key: &str, value: &Dynamic) -> NativeResult<Duration> {
    let text = if value.is_string() {
        value.to_string()
    } else if let Ok(n) = value.as_int() {
        n.to_string()
    } else if let Ok(f) = value.as_float() {
        f.to_string()
    } else {
        return Err(Failure::new(format!(
            "{function}: option `{key}` must be a duration like \"30s\", not {}",
            value.type_name()
        )));
    };
    parse_duration(&text).map_err(|e| Failure::new(format!("{function}: option `{key}`: {e}")))
}

/// "2s", "300ms", "1.5s": how long a timeout was, as an operator wrote it.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(show_duration(Duration::from_secs(2)), "2s");
        assert_eq!(show_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5s");
    }
}
