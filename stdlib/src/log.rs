//! The `log` module: messages for the operator, also kept in the run's journal.

use ripcord_runtime::rhai::{Dynamic, NativeCallContext};
use ripcord_runtime::{Decl, Effect, Host, NativeModule, RhaiResult};
use serde_json::json;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("log", "Messages to the operator, kept in the journal");

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
    m
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
    fn every_level_accepts_text_and_other_values() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let result = engine
            .eval::<Dynamic>(r#"log::info("hello"); log::warn(42); log::error(#{ a: 1 }); 7"#)
            .unwrap();
        assert_eq!(result.as_int().unwrap(), 7);
    }
}
