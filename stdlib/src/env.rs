//! The `env` module: reading the process environment (a read: it runs in dry runs too, and its
//! values are not journaled).

use ripcord_runtime::rhai::NativeCallContext;
use ripcord_runtime::{Decl, Effect, Failure, Host, NativeModule, RhaiResult};

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("env", "The environment: variables the run was started with");
    let get = Decl {
        name: "get",
        effect: Effect::Read,
        params: &["name: String", "String"],
        doc: "The value of the environment variable `name`; an error if it is not set.\n\n\
              An unset variable stops the run here, before it can become an empty path or \
              an empty argument further down; give a default to make it optional. A value \
              that is not UTF-8 is an error too.",
        example: r#"let region = env::get("AWS_REGION");"#,
    };
    m.function(get, get_required);
    m.function(
        Decl {
            params: &["name: String", "default: String", "String"],
            doc: "The value of the environment variable `name`, or `default` when it is not set.",
            example: r#"let editor = env::get("EDITOR", "vi");"#,
            ..get
        },
        get_or,
    );
    m
}

fn get_required(ctx: NativeCallContext, name: &str) -> RhaiResult<String> {
    Host::of(&ctx)?.read(&ctx, "env::get", || {
        lookup(name)?.ok_or_else(|| {
            Failure::new(format!(
                "env::get: the environment variable `{name}` is not set"
            ))
            .hint(format!(
                "export {name}=... before the run, or give a default: env::get(\"{name}\", \"...\")"
            ))
        })
    })
}

fn get_or(ctx: NativeCallContext, name: &str, default: &str) -> RhaiResult<String> {
    Host::of(&ctx)?.read(&ctx, "env::get", || {
        Ok(lookup(name)?.unwrap_or_else(|| default.to_string()))
    })
}

/// `Ok(None)` when unset; an error for a name no variable can have or a non-UTF-8 value.
fn lookup(name: &str) -> Result<Option<String>, Failure> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(
            Failure::new(format!("env::get: `{name}` is not a variable name"))
                .hint("a name is not empty and has no `=` or NUL, e.g. env::get(\"HOME\")"),
        );
    }
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::new(format!(
            "env::get: the value of `{name}` is not UTF-8 text"
        ))
        .hint("set it to UTF-8 text, or read it another way, e.g. sh(\"printenv NAME\")")),
    }
}
