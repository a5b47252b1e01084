//! Output outside a run: stdout written once, a reader gone away (`| head`) not an error; every
//! JSON document carries `schema_version`, and every command that fails with `--json` prints
//! the one error object (docs/json.md). Runs print their own object (`RunOutcome`), which has
//! the same `status`, `exit_code` and `error`.

use std::io::Write;

use ripcord_runtime::run::{ErrorReport, SCHEMA_VERSION, exit};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// `fields` (an object) with `schema_version` added.
pub fn versioned(fields: Value) -> Value {
    let mut map = Map::new();
    map.insert("schema_version".to_string(), json!(SCHEMA_VERSION));
    if let Value::Object(fields) = fields {
        map.extend(fields);
    }
    Value::Object(map)
}

/// Print a JSON document on stdout; a reader that went away (`| head`) is not an error.
pub fn print(value: &Value) -> Result {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::failed(format!("cannot encode the JSON output: {e}")))?;
    write_stdout(format!("{text}\n").as_bytes())
}

/// Write to stdout and flush; a reader that went away (`| head`) ends the command quietly.
pub fn write_stdout(bytes: &[u8]) -> Result {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::failed(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// The error object of a command that failed with `--json`, on stdout.
pub fn print_error(code: i32, error: ErrorReport) {
    let printed = print(&versioned(json!({
        "status": status_of(code),
        "exit_code": code,
        "error": error,
    })));
    if let Err(e) = printed {
        e.report();
    }
}

/// The `status` word that goes with an exit code (docs/json.md).
fn status_of(code: i32) -> &'static str {
    match code {
        exit::OK => "ok",
        exit::USAGE => "usage",
        exit::ABORTED => "aborted",
        exit::LOCKED => "locked",
        exit::INTERRUPTED => "interrupted",
        _ => "failed",
    }
}
