//! The `log` module: messages for the operator, also kept in the run's journal, and
//! timestamped lines in a log file an operator keeps (the rollback log of the seed runbooks).

use ripcord_runtime::rhai::{Dynamic, NativeCallContext};
use ripcord_runtime::time::now_rfc3339;
use ripcord_runtime::{Decl, Effect, Host, NativeModule, RhaiResult};
use serde_json::json;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "log",
        "Messages to the operator, kept in the journal; lines in a log file",
    );

    let info = Decl {
        name: "info",
        effect: Effect::Pure,
        params: &["message: ?", "()"],
        doc: "Show a message and record it in the journal.",
        example: r#"log::info(`rolling back to ${"abc123"}`);"#,
    };
    m.function(info, |ctx: NativeCallContext, message: Dynamic| {
        emit(&ctx, Level::Info, message)
    });

    let warn = Decl {
        name: "warn",
        effect: Effect::Pure,
        params: &["message: ?", "()"],
        doc: "Show a warning and record it in the journal.",
        example: r#"if fs::exists("maintenance.flag") { log::warn("maintenance flag still set"); }"#,
    };
    m.function(warn, |ctx: NativeCallContext, message: Dynamic| {
        emit(&ctx, Level::Warn, message)
    });

    let error = Decl {
        name: "error",
        effect: Effect::Pure,
        params: &["message: ?", "()"],
        doc: "Show an error and record it in the journal; the run goes on (use `fail(msg)` to stop it).",
        example: r#"log::error("health check failed; trying the previous release");"#,
    };
    m.function(error, |ctx: NativeCallContext, message: Dynamic| {
        emit(&ctx, Level::Error, message)
    });

    let line = Decl {
        name: "line",
        effect: Effect::Change,
        params: &["file: String", "text: ?", "()"],
        doc: "Append one line `<time now, RFC 3339 UTC>: text` to a log file, durably.\n\n\
              A newline, carriage return or other control character in `text` is written escaped \
              (`\\n`, `\\r`, `\\u{1b}`; a backslash as `\\\\`), so a param cannot forge or hide a \
              line; secrets are masked. The line is one change: journaled, simulated in dry runs \
              and drills, appended with fsync, and a new file is private (0600).",
        example: r#"log::line("rollback-log.txt", `rollback initiated due to: ${"gateway storm"}`);"#,
    };
    m.function(line, log_line);
    m
}

fn log_line(ctx: NativeCallContext, file: &str, text: Dynamic) -> RhaiResult<()> {
    let host = Host::of(&ctx)?;
    host.secrets.learn(&text);
    // Escaped first: the secrets are also known in their escaped forms, and a param's own
    // escaping (for the terminal) must not be escaped a second time.
    let text = host.secrets.redact(&escape(&text.to_string()));
    let what = format!("log \"{}\"", shortened(&text));
    crate::fs::append(
        &ctx,
        "log::line",
        &what,
        file,
        &format!("{}: {text}\n", now_rfc3339()),
    )
}

/// `text` on one line: control characters (a newline first of all) and the backslash escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The start of a long line, for the change's one-line summary (the file gets all of it).
fn shortened(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
    Error,
}

fn emit(ctx: &NativeCallContext, level: Level, message: Dynamic) -> RhaiResult<()> {
    let host = Host::of(ctx)?;
    host.secrets.learn(&message);
    let text = message.to_string();
    let name = match level {
        Level::Info => {
            host.out.info(&text);
            "info"
        }
        Level::Warn => {
            host.out.warn(&text);
            "warn"
        }
        Level::Error => {
            host.out.error(&text);
            "error"
        }
    };
    // A journal that fails stops the run at its next change; a log line is not worth failing for.
    let _ = host.journal("log", json!({ "level": name, "message": text }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use ripcord_runtime::Mode;
    use ripcord_runtime::engine::standalone;
    use ripcord_runtime::rhai::Dynamic;

    use super::module;

    #[test]
    fn a_line_is_escaped_onto_one_line() {
        assert_eq!(
            super::escape("a\nforged: line\r\u{1b}[2J \\n\tend"),
            "a\\nforged: line\\r\\u{1b}[2J \\\\n\tend"
        );
        assert_eq!(
            super::shortened(&"x".repeat(81)),
            format!("{}...", "x".repeat(80))
        );
        assert_eq!(super::shortened("short"), "short");
    }

    #[test]
    fn every_level_accepts_text_and_other_values() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let result = engine
            .eval::<Dynamic>(r#"log::info("hello"); log::warn(42); log::error(#{ a: 1 }); 7"#)
            .unwrap();
        assert_eq!(result.as_int().unwrap(), 7);
    }
}
