//! The `probe` module: HTTP and TCP health checks, one at a time, many at once, or waited on.
//!
//! A probe reports what it saw instead of failing: a refused connection, a timeout, a DNS failure
//! and a body that is not JSON each come back in the result map, told apart in `kind` and
//! `error`. Only `probe::wait` fails, when its expectation is not met in time, and it shows the
//! last observation. Bad inputs (a malformed URL, an unknown option) fail at once.

mod expect;
pub(crate) mod observation;
pub(crate) mod request;
pub(crate) mod runtime;
mod tcp;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ripcord_runtime::live::Spinner;
use ripcord_runtime::rhai::{Array, Dynamic, Map, NativeCallContext};
use ripcord_runtime::{At, Decl, Effect, Failure, Host, NativeModule, NativeResult, RhaiResult};
use serde_json::json;

use expect::Expect;
use observation::{Observation, client, send};
use request::{REQUEST_OPTIONS, Request, duration_option, show_duration};

use crate::options::check_known;

const ALL_OPTIONS: &[&str] = &["method", "headers", "body", "timeout", "concurrency"];
const SPEC_OPTIONS: &[&str] = &["url", "method", "headers", "body", "timeout"];
const DEFAULT_CONCURRENCY: usize = 256;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "probe",
        "Health probes: HTTP requests, waiting for a healthy answer, TCP ports",
    );

    declare_http(&mut m);
    declare_all_and_tcp(&mut m);
    m
}

/// `probe::http`, `probe::wait`.
fn declare_http(m: &mut NativeModule) {
    let http = Decl {
        name: "http",
        effect: Effect::Probe,
        params: &["url: String", "opts: Map", "Map"],
        doc: "Send one HTTP request and describe the answer; never fails on an HTTP or network error.\n\n\
              Options: `method` (default GET), `headers` (map), `body` (string, or a map sent as JSON), \
              `timeout` (default \"10s\").\n\n\
              Returns `#{ ok, status, ms, json, body, error, kind, json_error, headers, url, method }`: \
              `ok` is a 2xx answer; `status` is 0 when no answer came; `json` is the parsed body or `()` \
              with the reason in `json_error`; `kind` is `ok`, `status` (an answer that is not 2xx), \
              `refused`, `timeout`, `dns`, `tls`, `connect` or `error`, and `error` says it in words. \
              Authorization, Cookie and API-key header values are secrets: never shown or journaled.",
        example: r#"let r = probe::http("http://127.0.0.1:8900/health", #{ timeout: "2s" });
if !r.ok { log::warn(`health: ${r.error}`); }"#,
    };
    m.function(http, probe_http);
    m.function(
        Decl {
            params: &["url: String", "Map"],
            ..http
        },
        |ctx: NativeCallContext, url: &str| probe_http(ctx, url, Map::new()),
    );

    let wait = Decl {
        name: "wait",
        effect: Effect::Probe,
        params: &["url: String", "expect: Map", "Map"],
        doc: "Probe `url` every `interval` until the answer meets `expect`; fail if it does not in time.\n\n\
              Expectations: `status` (a code or an array of codes; default any 2xx), `json` (field values \
              the JSON body must have; nested maps match nested objects), `max_ms` (latency bound), \
              `successes` (`3` for three in a row, `\"3/5\"` for three of the last five attempts). \
              Timing: `timeout` (default \"60s\"), `interval` (default \"1s\"), `request_timeout` (each \
              request, default \"10s\"). `method`, `headers` and `body` are sent with every attempt.\n\n\
              Returns the last observation (as `probe::http`) with `attempts` and `waited_ms`. The \
              failure shows the last observation and what did not match.",
        example: r#"probe::wait("http://127.0.0.1:8900/health", #{ status: 200, json: #{ status: "healthy" }, timeout: "60s" });"#,
    };
    m.function(wait, probe_wait);
    m.function(
        Decl {
            params: &["url: String", "Map"],
            ..wait
        },
        |ctx: NativeCallContext, url: &str| probe_wait(ctx, url, Map::new()),
    );
}

/// `probe::all`, `probe::tcp`.
fn declare_all_and_tcp(m: &mut NativeModule) {
    let all = Decl {
        name: "all",
        effect: Effect::Probe,
        params: &["probes: Array", "opts: Map", "Array"],
        doc: "Send many HTTP probes at once and return their results in the same order.\n\n\
              Each entry is a URL or a map `#{ url, method, headers, body, timeout }`. `opts` gives \
              defaults for the entries (`method`, `headers`, `body`, `timeout`) and `concurrency` \
              (default 256 requests in flight). Each result is a `probe::http` map.",
        example: r#"let rs = probe::all(["http://127.0.0.1:8900/health", #{ url: "http://127.0.0.1:8900/status", timeout: "2s" }]);
let down = rs.filter(|r| !r.ok);
if down.len() > 0 { log::warn(`${down.len()} endpoints down`); }"#,
    };
    m.function(all, probe_all);
    m.function(
        Decl {
            params: &["probes: Array", "Array"],
            ..all
        },
        |ctx: NativeCallContext, list: Array| probe_all(ctx, list, Map::new()),
    );

    let tcp = Decl {
        name: "tcp",
        effect: Effect::Probe,
        params: &["addr: String", "timeout: String", "Map"],
        doc: "Open a TCP connection to `host:port` and close it; never fails on a network error.\n\n\
              Returns `#{ ok, ms, addr, peer, error, kind }` with `kind` `ok`, `refused`, `timeout`, `dns` \
              or `connect`. The timeout defaults to \"5s\".",
        example: r#"let db = probe::tcp("127.0.0.1:5432", "2s");
if !db.ok { log::error(`database port: ${db.error}`); }"#,
    };
    m.function(tcp, probe_tcp);
    m.function(
        Decl {
            params: &["addr: String", "Map"],
            ..tcp
        },
        |ctx: NativeCallContext, addr: &str| probe_tcp_for(ctx, addr, tcp::DEFAULT_TIMEOUT),
    );
}

// ---- functions ------------------------------------------------------------------------------

fn probe_http(ctx: NativeCallContext, url: &str, opts: Map) -> RhaiResult<Map> {
    const F: &str = "probe::http";
    let host = Host::of(&ctx)?;
    let req = (|| {
        check_known(F, &opts, REQUEST_OPTIONS)?;
        Request::parse(&host, F, url, &opts, &Map::new())
    })()
    .at(&ctx)?;
    let req = capped(&host, req);
    observed(&ctx, &host, F, || {
        let client = client()?;
        let obs = runtime::block_on(&host, send(&host, &client, &req))?;
        Ok((obs.to_map(), obs.ok(), obs.error()))
    })
}

fn probe_wait(ctx: NativeCallContext, url: &str, expect: Map) -> RhaiResult<Map> {
    const F: &str = "probe::wait";
    let host = Host::of(&ctx)?;
    let (expect, req) = (|| {
        let (expect, request) = Expect::parse(&expect)?;
        let req = Request::parse(&host, F, url, &request, &Map::new())?;
        Ok::<_, Failure>((expect, req))
    })()
    .at(&ctx)?;
    observed(&ctx, &host, F, || {
        let client = client()?;
        let waited = runtime::block_on(&host, wait_until(&host, &client, &req, &expect))?;
        if waited.met {
            let mut map = waited.last.to_map();
            map.insert("attempts".into(), Dynamic::from_int(waited.attempts as i64));
            map.insert(
                "waited_ms".into(),
                Dynamic::from_int(waited.elapsed.as_millis() as i64),
            );
            Ok((map, true, None))
        } else {
            Err(not_met(&req, &expect, &waited))
        }
    })
}

fn probe_all(ctx: NativeCallContext, list: Array, opts: Map) -> RhaiResult<Array> {
    const F: &str = "probe::all";
    let host = Host::of(&ctx)?;
    let (requests, concurrency) = (|| {
        check_known(F, &opts, ALL_OPTIONS)?;
        let concurrency = match opts.get("concurrency") {
            None => DEFAULT_CONCURRENCY,
            Some(v) => v
                .as_int()
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Failure::new(format!(
                        "{F}: `concurrency` must be a positive number, not {v}"
                    ))
                })?,
        };
        let requests = list
            .iter()
            .enumerate()
            .map(|(i, entry)| spec(&host, i, entry, &opts))
            .collect::<NativeResult<Vec<_>>>()?;
        Ok::<_, Failure>((requests, concurrency))
    })()
    .at(&ctx)?;
    let requests: Vec<Request> = requests.into_iter().map(|r| capped(&host, r)).collect();
    observed(&ctx, &host, F, || {
        let client = client()?;
        let observations =
            runtime::block_on(&host, send_all(host.clone(), client, requests, concurrency))?;
        let failed: Vec<&Observation> = observations.iter().filter(|o| !o.ok()).collect();
        let error = failed.first().map(|first| {
            format!(
                "{} of {} failed; first: {} {}: {}",
                failed.len(),
                observations.len(),
                first.method,
                first.url,
                first.error().unwrap_or_default()
            )
        });
        Ok((
            observations.iter().map(|o| o.to_map().into()).collect(),
            failed.is_empty(),
            error,
        ))
    })
}

fn probe_tcp(ctx: NativeCallContext, addr: &str, timeout: &str) -> RhaiResult<Map> {
    let timeout =
        duration_option("probe::tcp", "timeout", &Dynamic::from(timeout.to_string())).at(&ctx)?;
    probe_tcp_for(ctx, addr, timeout)
}

fn probe_tcp_for(ctx: NativeCallContext, addr: &str, timeout: Duration) -> RhaiResult<Map> {
    const F: &str = "probe::tcp";
    let host = Host::of(&ctx)?;
    tcp::check_addr(addr).at(&ctx)?;
    let timeout = host.remaining().map_or(timeout, |left| timeout.min(left));
    observed(&ctx, &host, F, || {
        let result = runtime::block_on(&host, tcp::connect(addr, timeout))?;
        Ok((result.to_map(), result.ok(), result.error()))
    })
}

// ---- helpers --------------------------------------------------------------------------------

/// Probes return their verdict (`ok: false`) rather than failing, so they pass through the seam
/// as reads (fault injection, Ctrl-C, `--timeout`) and record that verdict themselves for the
/// report and the journal.
fn observed<T>(
    ctx: &NativeCallContext,
    host: &Arc<Host>,
    function: &str,
    probe: impl FnOnce() -> NativeResult<(T, bool, Option<String>)>,
) -> RhaiResult<T> {
    host.read(ctx, function, || {
        let started = Instant::now();
        let result = probe();
        let ms = started.elapsed().as_millis() as u64;
        let verdict = match &result {
            Ok((_, ok, error)) => Some((*ok, error.clone())),
            Err(f) if f.message == runtime::STOPPED => None,
            Err(f) => Some((false, Some(f.message.clone()))),
        };
        if let Some((ok, error)) = verdict {
            let error = error.map(|e| host.secrets.redact(&e));
            host.note_probe(function, ok, ms, error.clone());
            let _ = host.journal(
                "probe",
                json!({ "function": function, "ok": ok, "ms": ms, "error": error }),
            );
        }
        result.map(|(value, _, _)| value)
    })
}

/// A request's timeout never outlasts the run's `--timeout`.
fn capped(host: &Host, mut req: Request) -> Request {
    if let Some(left) = host.remaining() {
        req.timeout = req.timeout.min(left);
    }
    req
}

/// One entry of `probe::all`: a URL, or a map with `url` and request options.
fn spec(host: &Host, index: usize, entry: &Dynamic, defaults: &Map) -> NativeResult<Request> {
    const F: &str = "probe::all";
    if entry.is_string() {
        return Request::parse(host, F, &entry.to_string(), &Map::new(), defaults);
    }
    let Some(map) = entry.read_lock::<Map>() else {
        return Err(Failure::new(format!(
            "{F}: entry {index} must be a URL or a map with `url`, not {}",
            entry.type_name()
        )));
    };
    check_known(F, &map, SPEC_OPTIONS)?;
    let url = map
        .get("url")
        .filter(|u| u.is_string())
        .map(|u| u.to_string())
        .ok_or_else(|| {
            Failure::new(format!("{F}: entry {index} has no `url`"))
                .hint("write it as #{ url: \"http://...\" }")
        })?;
    Request::parse(host, F, &url, &map, defaults)
}

async fn send_all(
    host: Arc<Host>,
    client: reqwest::Client,
    requests: Vec<Request>,
    concurrency: usize,
) -> Vec<Observation> {
    let mut results: Vec<Option<Observation>> = vec![None; requests.len()];
    let mut pending = requests.clone().into_iter().enumerate();
    let mut running = tokio::task::JoinSet::new();
    let spawn = |running: &mut tokio::task::JoinSet<(usize, Observation)>,
                 (i, req): (usize, Request)| {
        let (host, client) = (host.clone(), client.clone());
        running.spawn(async move { (i, send(&host, &client, &req).await) });
    };
    for next in pending.by_ref().take(concurrency) {
        spawn(&mut running, next);
    }
    while let Some(joined) = running.join_next().await {
        if let Ok((i, obs)) = joined {
            results[i] = Some(obs);
        }
        if let Some(next) = pending.next() {
            spawn(&mut running, next);
        }
    }
    results
        .into_iter()
        .zip(&requests)
        .map(|(o, req)| o.unwrap_or_else(|| Observation::lost(req)))
        .collect()
}

struct Waited {
    met: bool,
    last: Observation,
    attempts: usize,
    passed: usize,
    elapsed: Duration,
}

async fn wait_until(
    host: &Host,
    client: &reqwest::Client,
    template: &Request,
    expect: &Expect,
) -> Waited {
    let started = Instant::now();
    let limit = host
        .remaining()
        .map_or(expect.timeout, |left| expect.timeout.min(left));
    let deadline = started + limit;
    let mut window = VecDeque::with_capacity(expect.of);
    let mut attempts = 0;
    let spinner = host.out.live().then(|| {
        Spinner::start(
            host.secrets
                .redact(&format!("probe::wait {}", template.url)),
        )
    });
    loop {
        attempts += 1;
        let mut req = template.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        req.timeout = req.timeout.min(left.max(Duration::from_millis(200)));
        let last = send(host, client, &req).await;
        if let Some(spinner) = &spinner {
            let seen = last
                .error()
                .unwrap_or_else(|| format!("HTTP {}", last.status));
            spinner.attempt(attempts, host.secrets.redact(&seen));
        }
        window.push_back(expect.misses(&last).is_empty());
        if window.len() > expect.of {
            window.pop_front();
        }
        let passed = window.iter().filter(|p| **p).count();
        if expect.satisfied(&window) {
            return Waited {
                met: true,
                last,
                attempts,
                passed,
                elapsed: started.elapsed(),
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Waited {
                met: false,
                last,
                attempts,
                passed,
                elapsed: started.elapsed(),
            };
        }
        tokio::time::sleep(expect.interval.min(left)).await;
    }
}

fn not_met(req: &Request, expect: &Expect, waited: &Waited) -> Failure {
    let attempts = if waited.attempts == 1 {
        "1 attempt".to_string()
    } else {
        format!("{} attempts", waited.attempts)
    };
    let tally = if expect.of > 1 {
        format!(
            "; {} of the last {} passed, {} needed",
            waited.passed, expect.of, expect.need
        )
    } else {
        String::new()
    };
    let mut message = format!(
        "probe::wait {}: not met within {} ({attempts}{tally})\nlast: {}",
        req.label(),
        show_duration(expect.timeout),
        waited.last.describe()
    );
    let misses = expect.misses(&waited.last);
    if waited.last.failure.is_none() && !misses.is_empty() {
        message.push_str(&format!("\nexpected: {}", misses.join("; ")));
    }
    let hint = match waited.last.kind() {
        "refused" => {
            "nothing listens there: is the service running? (service::status, service::logs)"
        }
        "dns" => "the host name does not resolve: check the URL (cfg.api?)",
        "timeout" => {
            "the service accepts connections but does not answer in time: check its logs, or raise `request_timeout`"
        }
        _ => "check the service's logs (service::logs), or give it longer with `timeout`",
    };
    Failure::new(message).hint(hint)
}
