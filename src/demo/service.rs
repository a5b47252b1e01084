//! The demo's stand-in for the Cortex service: a small HTTP API over the SQLite state DB.
//!
//! `/health` answers `{"status": "healthy"}` (200) unless the release is faulty, in which case
//! it answers `{"status": "critical"}` (503) and records a `gateway_critical` event every
//! second — the storm the seeds' P0 trigger looks for. `/status` reports counts from the DB.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::json;

pub struct ServiceArgs {
    pub db: PathBuf,
    pub port: u16,
    pub release: String,
    pub faulty: bool,
}

pub fn serve(args: ServiceArgs) -> i32 {
    let listener = match TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cortex-demo: cannot listen on 127.0.0.1:{}: {e}", args.port);
            return 1;
        }
    };
    eprintln!(
        "cortex-demo {} listening on 127.0.0.1:{} (db {})",
        args.release,
        args.port,
        args.db.display()
    );
    let started = Instant::now();
    if args.faulty {
        let db = args.db.clone();
        std::thread::spawn(move || {
            loop {
                if let Ok(conn) = open(&db) {
                    let _ = conn.execute(
                        "INSERT INTO health_events (kind, severity, message, created_at) VALUES ('gateway_critical', 'critical', 'dispatch failure cascade', strftime('%s','now'))",
                        [],
                    );
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }
    for stream in listener.incoming().flatten() {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = handle(stream, &args, started);
    }
    0
}

fn open(db: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    Ok(conn)
}

fn handle(mut stream: TcpStream, args: &ServiceArgs, started: Instant) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (code, body) = match path {
        "/health" => health(args),
        "/status" => status(args, started),
        _ => (404, json!({ "error": "not found" })),
    };
    let body = body.to_string();
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn health(args: &ServiceArgs) -> (u16, serde_json::Value) {
    let db = open(&args.db).and_then(|c| {
        let ok: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        let critical: i64 = c.query_row(
            "SELECT count(*) FROM health_events WHERE kind = 'gateway_critical' AND created_at >= strftime('%s','now') - 900",
            [],
            |r| r.get(0),
        )?;
        Ok((ok, critical))
    });
    match db {
        Ok((integrity, critical)) if integrity == "ok" && !args.faulty => (
            200,
            json!({ "status": "healthy", "version": args.release, "database": "ok", "recent_critical": critical }),
        ),
        Ok((integrity, critical)) => (
            503,
            json!({ "status": "critical", "version": args.release, "database": integrity, "recent_critical": critical }),
        ),
        Err(e) => (
            503,
            json!({ "status": "critical", "version": args.release, "database": e.to_string() }),
        ),
    }
}

fn status(args: &ServiceArgs, started: Instant) -> (u16, serde_json::Value) {
    let counts = open(&args.db).and_then(|c| {
        let dispatches: i64 = c.query_row("SELECT count(*) FROM dispatches", [], |r| r.get(0))?;
        let running: i64 = c.query_row(
            "SELECT count(*) FROM dispatches WHERE status = 'running'",
            [],
            |r| r.get(0),
        )?;
        Ok((dispatches, running))
    });
    match counts {
        Ok((dispatches, running)) => (
            200,
            json!({ "version": args.release, "uptime_s": started.elapsed().as_secs(), "dispatches": dispatches, "running_count": running }),
        ),
        Err(e) => (
            503,
            json!({ "version": args.release, "error": e.to_string() }),
        ),
    }
}
