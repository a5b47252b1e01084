//! Machine output outside a run: every JSON document carries `schema_version`, and every
//! command that fails with `--json` prints the one error object (docs/json.md). Runs print
//! their own object (`RunOutcome`), which has the same `status`, `exit_code` and `error`.

use std::io::Write;

use ripcord_runtime::run::{ErrorReport, SCHEMA_VERSION, exit};
use serde_json::{Map, Value, json};

use crate::app::fail;

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
pub fn print(value: &Value) -> i32 {
    let text = match serde_json::to_string_pretty(value) {
        Ok(text) => text,
        Err(e) => return fail(exit::FAILED, &format!("cannot encode the JSON output: {e}")),
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            fail(exit::FAILED, &format!("cannot write to stdout: {e}"))
        }
        _ => exit::OK,
    }
}

/// Report a failure: the error object on stdout with `--json`, the message on stderr always.
/// Returns `code`.
pub fn fail_with(json: bool, code: i32, message: &str) -> i32 {
    if json {
        print(&versioned(json!({
            "status": status_of(code),
            "exit_code": code,
            "error": ErrorReport::from_message(message),
        })));
    }
    fail(code, message)
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
