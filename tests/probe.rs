//! The `probe` module against real HTTP servers on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Sandbox, Test};

/// What the test server does with the Nth request (counting from 0).
enum Reply {
    Answer(u16, &'static str, String),
    /// Read the request and never answer.
    Silent,
}

/// A tiny threaded HTTP/1.1 server on 127.0.0.1, one thread per connection.
struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(reply);
        let (h, r) = (hits.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (reply, hits, requests) = (reply.clone(), h.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &*reply, &hits, &requests));
            }
        });
        Server {
            url,
            hits,
            requests,
        }
    }

    fn json(status: u16, body: &'static str) -> Reply {
        Reply::Answer(status, "application/json", body.to_string())
    }
}

fn serve(
    mut stream: TcpStream,
    reply: &dyn Fn(usize) -> Reply,
    hits: &AtomicUsize,
    requests: &Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    requests.lock().expect("lock").push(head);
    match reply(hits.fetch_add(1, Ordering::SeqCst)) {
        Reply::Answer(status, content_type, body) => {
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
        Reply::Silent => std::thread::sleep(Duration::from_secs(20)),
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn run(script: &str, args: &[&str]) -> (Sandbox, crate::support::Outcome) {
    let sb = Sandbox::new();
    sb.write("t.rhai", &format!("//! probe test.\n{script}\n"));
    let mut all = vec!["run", "t.rhai", "--json"];
    all.extend_from_slice(args);
    let out = sb.run(&all);
    (sb, out)
}

#[test]
fn http_200_with_json_is_ok_and_parsed_and_credentials_stay_secret() {
    let server = Server::start(|_| Server::json(200, r#"{"status":"healthy","db":{"ok":true}}"#));
    let (sb, out) = run(
        &format!(
            r#"let r = probe::http("{}/health", #{{ headers: #{{ Authorization: "Bearer s3cr3t-token" }} }});
print(`sent Bearer s3cr3t-token`);
r"#,
            server.url
        ),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r["ok"], true);
    assert_eq!(r["status"], 200);
    assert_eq!(r["kind"], "ok");
    assert_eq!(r["json"]["status"], "healthy");
    assert_eq!(r["json"]["db"]["ok"], true);
    assert_eq!(r["error"], serde_json::Value::Null);
    assert!(r["ms"].is_u64());
    let seen = server.requests.lock().expect("lock").join("");
    assert!(
        seen.to_ascii_lowercase()
            .contains("authorization: bearer s3cr3t-token"),
        "{seen}"
    );
    assert!(
        !out.stderr.contains("s3cr3t-token"),
        "the token is masked: {}",
        out.stderr
    );
    let journal = std::fs::read(sb.journal()).expect("journal");
    assert!(
        !String::from_utf8_lossy(&journal).contains("s3cr3t-token"),
        "the token never reaches the journal"
    );
}

#[test]
fn wait_retries_through_500s_until_200_and_runs_in_a_dry_run() {
    let server = Server::start(|n| {
        if n < 2 {
            Server::json(500, r#"{"status":"starting"}"#)
        } else {
            Server::json(200, r#"{"status":"healthy"}"#)
        }
    });
    let script = format!(
        r#"probe::wait("{}/health", #{{ status: 200, json: #{{ status: "healthy" }}, interval: "50ms", timeout: "20s" }})"#,
        server.url
    );
    let (_sb, out) = run(&script, &["--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r["attempts"], 3);
    assert_eq!(r["status"], 200);
    assert_eq!(r["json"]["status"], "healthy");
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[test]
fn wait_fails_with_the_last_observation_when_the_service_stays_unhealthy() {
    let server =
        Server::start(|_| Reply::Answer(500, "text/plain", "database is locked".to_string()));
    let script = format!(
        "step \"Verify\" {{\n    probe::wait(\"{}/health\", #{{ status: 200, interval: \"50ms\", timeout: \"300ms\" }});\n}}",
        server.url
    );
    let (_sb, out) = run(&script, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let error = &out.json()["error"];
    let message = error["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!(
            "probe::wait GET {}/health: not met within 300ms (",
            server.url
        )),
        "{message}"
    );
    assert!(message.contains("\nlast: status 500 in "), "{message}");
    assert!(message.contains("body: database is locked"), "{message}");
    assert!(
        message.ends_with("\nexpected: status 500 (expected 200)"),
        "{message}"
    );
    assert_eq!(error["location"], "t.rhai:3:12");
    assert!(server.hits.load(Ordering::SeqCst) >= 2, "it retried");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = Server::start(|_| Reply::Silent);
    let (_sb, out) = run(
        &format!(
            r#"probe::http("{}/health", #{{ timeout: "300ms" }})"#,
            server.url
        ),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r["ok"], false);
    assert_eq!(r["status"], 0);
    assert_eq!(r["kind"], "timeout");
    assert_eq!(r["error"], "timed out after 300ms");
}

#[test]
fn a_closed_port_is_refused_for_http_and_tcp() {
    let port = closed_port();
    let open = Server::start(|_| Server::json(200, "{}"));
    let open_addr = open.url.trim_start_matches("http://");
    let (_sb, out) = run(
        &format!(
            r#"[probe::http("http://127.0.0.1:{port}/health"), probe::tcp("127.0.0.1:{port}", "1s"), probe::tcp("{open_addr}")]"#
        ),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r[0]["ok"], false);
    assert_eq!(r[0]["kind"], "refused");
    assert_eq!(
        r[0]["error"],
        format!("connection refused by 127.0.0.1:{port}")
    );
    assert_eq!(r[1]["kind"], "refused");
    assert_eq!(
        r[1]["error"],
        format!("connection refused by 127.0.0.1:{port}")
    );
    assert_eq!(r[2]["ok"], true);
    assert_eq!(r[2]["peer"], open_addr);
}

#[test]
fn a_non_json_body_is_kept_as_text_with_the_reason() {
    let server = Server::start(|_| Reply::Answer(200, "text/html", "<h1>OK</h1>".to_string()));
    let (_sb, out) = run(&format!(r#"probe::http("{}/")"#, server.url), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r["ok"], true, "a 200 is ok even if the body is not JSON");
    assert_eq!(r["json"], serde_json::Value::Null);
    assert_eq!(r["body"], "<h1>OK</h1>");
    assert!(
        r["json_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("body is not JSON: ")),
        "{r}"
    );
}

#[test]
fn all_probes_in_parallel_and_keeps_the_order() {
    let server = Server::start(|_| Server::json(200, r#"{"up":true}"#));
    let port = closed_port();
    let (_sb, out) = run(
        &format!(
            r#"probe::all(["{0}/a", #{{ url: "http://127.0.0.1:{port}/b", timeout: "2s" }}, #{{ url: "{0}/c", method: "POST", body: #{{ x: 1 }} }}])"#,
            server.url
        ),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.json()["result"].clone();
    let kinds: Vec<&str> = r
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["ok", "refused", "ok"]);
    assert_eq!(r[2]["method"], "POST");
    let seen = server.requests.lock().expect("lock").join("");
    assert!(seen.contains("POST /c HTTP/1.1"), "{seen}");
    assert!(
        seen.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{seen}"
    );
}

#[test]
fn dns_failures_are_told_apart() {
    let (_sb, out) = run(
        r#"[probe::http("http://no-such-host.invalid/health", #{ timeout: "5s" }), probe::tcp("no-such-host.invalid:80")]"#,
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = &out.json()["result"];
    assert_eq!(r[0]["kind"], "dns", "{r}");
    assert!(
        r[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("dns lookup failed for no-such-host.invalid")),
        "{r}"
    );
    assert_eq!(r[1]["kind"], "dns", "{r}");
}

/// Calls of probe natives with bad input against the server at `url`, each with the
/// messages it must fail with.
fn bad_calls(url: &str) -> [(String, &'static [&'static str]); 10] {
    let wait = |opts: &str| format!(r#"probe::wait("{url}/", {opts})"#);
    [
        (
            r#"probe::http("127.0.0.1:8900/health")"#.to_string(),
            &["is not"],
        ),
        (
            format!(r#"probe::http("{url}/", #{{ timout: "2s" }})"#),
            &[
                "probe::http: unknown option `timout`; did you mean `timeout`?",
                "help: known options: method, headers, body, timeout",
            ],
        ),
        (
            r#"probe::tcp("http://127.0.0.1:80")"#.to_string(),
            &["is not host:port"],
        ),
        (
            wait(r#"#{ successes: "6/5" }"#),
            &["`successes` must be N or \"N/M\""],
        ),
        (
            wait("#{ stauts: 200 }"),
            &["probe::wait: unknown option `stauts`; did you mean `status`?"],
        ),
        (
            wait("#{ status: [200, 700] }"),
            &["probe::wait: `status` must be an HTTP status like 200, not 700"],
        ),
        (
            wait(r#"#{ json: "healthy" }"#),
            &[
                "probe::wait: `json` must be a map of expected fields, not string",
                "help: e.g. json: #{ status: \"healthy\" }",
            ],
        ),
        (
            wait("#{ max_ms: -5 }"),
            &["probe::wait: `max_ms` must be a number of milliseconds, not -5"],
        ),
        (
            wait("#{ timeout: [] }"),
            &["probe::wait: option `timeout` must be a duration like \"30s\", not array"],
        ),
        (
            wait(r#"#{ interval: "soon" }"#),
            &["probe::wait: option `interval`: "],
        ),
    ]
}

#[test]
fn bad_inputs_fail_before_anything_is_sent() {
    let server = Server::start(|_| Server::json(200, r#"{"status":"healthy"}"#));
    let url = &server.url;
    let script = |code: &str| {
        Test::new()
            .write("t.rhai", &format!("//! probe test.\n{code}\n"))
            .args(["run", "t.rhai"])
            .context(code)
            .status(1)
    };
    for (code, messages) in &bad_calls(url) {
        let mut test = script(code);
        for message in *messages {
            test = test.stderr_contains(message);
        }
        test.run();
    }
    // Options are read in order: the first bad one is the one reported.
    script(&format!(
        r#"probe::wait("{url}/", #{{ status: 700, json: "x", max_ms: -1 }})"#
    ))
    .stderr_contains("`status` must be an HTTP status like 200, not 700")
    .stderr_lacks("`json`")
    .stderr_lacks("`max_ms`")
    .run();
    assert_eq!(server.hits.load(Ordering::SeqCst), 0, "a request was sent");
}
