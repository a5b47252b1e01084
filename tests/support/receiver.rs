//! Real receivers on 127.0.0.1 for the notification tests: an HTTP server that records every
//! request and answers from a script (a status, or silence to force a timeout), and an SMTP
//! server that holds a real SMTP dialogue and records the messages it accepts. Each stops
//! listening when it drops, however its test ends, so a failed test leaves no server behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, &'static str),
    /// Read the request, then say nothing for this long.
    Silence(Duration),
    /// Read the request, answer 200 once the test sets the flag (at most two minutes later).
    HoldUntil(Arc<AtomicBool>),
}

/// Stops a receiver's accept loop when dropped: sets the flag, then wakes `accept` with a
/// connection of its own; the loop returns and its listener closes.
struct Stop {
    port: u16,
    flag: Arc<AtomicBool>,
}

impl Stop {
    fn new(port: u16) -> Stop {
        Stop {
            port,
            flag: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Accept connections on `listener` until `stop` is set; `serve` each (the Nth) on a thread.
fn accept_until(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    serve: impl Fn(usize, TcpStream, Arc<AtomicBool>) + Send + 'static,
) {
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else { continue };
            serve(n, stream, stop.clone());
        }
    });
}

/// An HTTP receiver; the Nth request gets the Nth reply (the last one repeats).
pub struct Http {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    _stop: Stop,
}

impl Http {
    pub fn start(replies: Vec<Reply>) -> Http {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let stop = Stop::new(port);
        accept_until(listener, stop.flag.clone(), move |n, stream, stop| {
            let reply = replies
                .get(n)
                .or(replies.last())
                .cloned()
                .unwrap_or(Reply::Status(200, "ok"));
            let log = log.clone();
            std::thread::spawn(move || serve(stream, reply, &log, &stop));
        });
        Http {
            port,
            seen,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, reply: Reply, log: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.trim_end().split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    log.lock().unwrap().push(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut stream = stream;
    match reply {
        Reply::Status(code, text) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
        Reply::Silence(d) => std::thread::sleep(d),
        Reply::HoldUntil(flag) => {
            let until = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::SeqCst)
                && !stop.load(Ordering::SeqCst)
                && Instant::now() < until
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = write!(
                stream,
                "HTTP/1.1 202 X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    }
}

/// A message the SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub auth: Option<String>,
}

/// An SMTP server; the Nth message gets the Nth final reply to its DATA (e.g. "250 ok",
/// "451 try later", "550 no such user"); the last one repeats.
pub struct Smtp {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    pub dialogues: Arc<Mutex<Vec<String>>>,
    _stop: Stop,
}

impl Smtp {
    pub fn start(finals: Vec<&'static str>) -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let dialogues = Arc::new(Mutex::new(Vec::new()));
        let (m, d) = (mails.clone(), dialogues.clone());
        let stop = Stop::new(port);
        accept_until(listener, stop.flag.clone(), move |n, stream, _| {
            let last = finals.get(n).or(finals.last()).copied().unwrap_or("250 ok");
            let (m, d) = (m.clone(), d.clone());
            std::thread::spawn(move || smtp_session(stream, last, &m, &d));
        });
        Smtp {
            port,
            mails,
            dialogues,
            _stop: stop,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Wait for `n` sessions to end (lettre closes with QUIT after the reply).
    pub fn wait_sessions(&self, n: usize) {
        let until = Instant::now() + Duration::from_secs(20);
        while self.dialogues.lock().unwrap().len() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn smtp_session(
    stream: TcpStream,
    final_reply: &str,
    mails: &Mutex<Vec<Mail>>,
    log: &Mutex<Vec<String>>,
) {
    let mut out = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut dialogue = String::new();
    let say = |out: &mut TcpStream, text: &str, dialogue: &mut String| {
        dialogue.push_str(&format!("S: {text}\n"));
        let _ = out.write_all(format!("{text}\r\n").as_bytes());
    };
    say(&mut out, "220 test.local ESMTP", &mut dialogue);
    let mut mail = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
        auth: None,
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let cmd = line.trim_end().to_string();
        dialogue.push_str(&format!("C: {cmd}\n"));
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            say(&mut out, "250-test.local", &mut dialogue);
            say(&mut out, "250 AUTH PLAIN LOGIN", &mut dialogue);
        } else if upper.starts_with("AUTH PLAIN") {
            mail.auth = cmd.split_whitespace().nth(2).map(str::to_string);
            say(&mut out, "235 ok", &mut dialogue);
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = cmd[10..].to_string();
            say(&mut out, "250 ok", &mut dialogue);
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(cmd[8..].to_string());
            say(&mut out, "250 ok", &mut dialogue);
        } else if upper == "DATA" {
            say(&mut out, "354 go ahead", &mut dialogue);
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                    break;
                }
                mail.data.push_str(&l);
            }
            say(&mut out, final_reply, &mut dialogue);
            if final_reply.starts_with('2') {
                mails.lock().unwrap().push(mail.clone());
            }
        } else if upper == "QUIT" {
            say(&mut out, "221 bye", &mut dialogue);
            break;
        } else {
            say(&mut out, "250 ok", &mut dialogue);
        }
    }
    log.lock().unwrap().push(dialogue);
}

/// A receiver stops listening when it drops, also when its test fails (panics): its port
/// refuses connections afterwards, and a request it was holding open is answered.
#[test]
fn receivers_stop_listening_when_their_test_fails() {
    let mut ports = Vec::new();
    let held = Arc::new(AtomicBool::new(false));
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let http = Http::start(vec![Reply::HoldUntil(Arc::new(AtomicBool::new(false)))]);
        let smtp = Smtp::start(vec!["250 ok"]);
        ports.extend([http.port, smtp.port]);
        let port = http.port;
        let held = held.clone();
        // A client whose request the receiver holds open (up to two minutes unless stopped).
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            held.store(answer.starts_with("HTTP/1.1 202"), Ordering::SeqCst);
        });
        let until = Instant::now() + Duration::from_secs(30);
        while http.seen().is_empty() {
            assert!(
                Instant::now() < until,
                "the receiver saw no request in 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("an assertion of the test fails");
    }));
    assert!(failure.is_err(), "the closure must panic");
    assert_eq!(ports.len(), 2);
    let until = Instant::now() + Duration::from_secs(30);
    while !held.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < until,
            "the held request was not answered after the stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for port in ports {
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(
                Instant::now() < until,
                "port {port} still accepts after the test failed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
