//! `--events ndjson[=FILE]`: one JSON object per line as the run goes — its start and end, each
//! step's start and end, each change and each prompt — for a fleet controller or a log shipper
//! to follow while the run is still going. The journal stays the record; this is a view of it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::fleet::RunIdentity;

/// The version of the event line format, in every line as `"v"`.
pub const FORMAT_VERSION: u32 = 1;

/// Where `--events` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTarget {
    Stdout,
    File(PathBuf),
}

impl EventTarget {
    /// `ndjson` (stdout) or `ndjson=FILE`.
    pub fn parse(spec: &str) -> Result<EventTarget, String> {
        match spec.split_once('=') {
            None if spec == "ndjson" => Ok(EventTarget::Stdout),
            Some(("ndjson", path)) if !path.is_empty() => Ok(EventTarget::File(path.into())),
            _ => Err(format!(
                "--events `{spec}`: expected `ndjson` (stdout) or `ndjson=FILE`"
            )),
        }
    }
}

/// Whether a journal event kind is streamed.
fn streamed(kind: &str) -> bool {
    matches!(kind, "run.start" | "run.end" | "prompt")
        || kind.starts_with("step.")
        || kind.starts_with("change.")
}

struct Sink {
    writer: Box<dyn Write + Send>,
    /// Set after the first write error: warned about once, then the stream is dropped.
    broken: bool,
}

/// An open event stream. Lines are written whole and flushed one by one.
pub struct EventStream {
    sink: Mutex<Sink>,
}

impl EventStream {
    /// Open the target: a file is created owner-only (0600) and appended to; a symlink there is
    /// refused rather than followed.
    pub fn open(target: &EventTarget) -> Result<EventStream, String> {
        let writer: Box<dyn Write + Send> = match target {
            EventTarget::Stdout => Box::new(std::io::stdout()),
            EventTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path)
                    .map_err(|e| format!("--events: cannot open {}: {e}", path.display()))?,
            ),
        };
        Ok(EventStream::from_writer(writer))
    }

    pub fn from_writer(writer: Box<dyn Write + Send>) -> EventStream {
        EventStream {
            sink: Mutex::new(Sink {
                writer,
                broken: false,
            }),
        }
    }

    /// Stream one event if its kind is streamed. A failed write (a closed pipe, a full disk) is
    /// reported once on stderr and ends the stream; the run and its journal go on.
    /// `run` is the journal's run id (`None` with `--journal off`); sub-runs share the stream
    /// and name their own run.
    pub fn emit(
        &self,
        identity: &RunIdentity,
        run: Option<i64>,
        kind: &str,
        step: Option<&str>,
        data: &Value,
    ) {
        if !streamed(kind) {
            return;
        }
        let line = json!({
            "v": FORMAT_VERSION,
            "ts": crate::time::now_rfc3339(),
            "host_id": identity.host_id,
            "run_uuid": identity.run_uuid,
            "correlation_id": identity.correlation_id,
            "run": run,
            "kind": kind,
            "step": step,
            "data": data,
        });
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if sink.broken {
            return;
        }
        let written = writeln!(sink.writer, "{line}").and_then(|()| sink.writer.flush());
        if let Err(e) = written {
            sink.broken = true;
            eprintln!(
                "warning: --events: cannot write the event stream ({e}); the journal still has every event"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(EventTarget::parse("ndjson"), Ok(EventTarget::Stdout));
        assert_eq!(
            EventTarget::parse("ndjson=/tmp/e.ndjson"),
            Ok(EventTarget::File("/tmp/e.ndjson".into()))
        );
        for bad in ["json", "ndjson=", "", "xml=f"] {
            assert!(EventTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_run_step_change_and_prompt_events_stream() {
        for kind in [
            "run.start",
            "step.start",
            "step.end",
            "change.start",
            "prompt",
        ] {
            assert!(streamed(kind), "{kind}");
        }
        for kind in ["probe", "lock", "inspect", "undo.start", "error"] {
            assert!(!streamed(kind), "{kind}");
        }
    }
}
