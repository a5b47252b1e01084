//! The `json` module: parse JSON text into Rhai values and write values back as JSON.

use ripcord_runtime::rhai::{Array, Dynamic, Map, NativeCallContext};
use ripcord_runtime::{At, Decl, Effect, Failure, NativeModule, NativeResult};
use serde::Deserialize;
use serde_json::Value;

use crate::options;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("json", "JSON: parse and write");

    let parse = Decl {
        name: "parse",
        effect: Effect::Pure,
        params: &["text: String", "?"],
        doc: "Parse JSON text into maps, arrays, strings, numbers, booleans and `()` for null.\n\n\
              Bad input fails with the line and column of the problem.",
        example: r#"let status = json::parse(`{"status": "healthy", "version": "1.4.2"}`);
if status.status != "healthy" { fail(`service reports ${status.status}`); }"#,
    };
    m.function(parse, |ctx: NativeCallContext, text: &str| {
        parse_json(text).at(&ctx)
    });

    let to_string = Decl {
        name: "to_string",
        effect: Effect::Pure,
        params: &["value: ?", "String"],
        doc: "Write a value as compact JSON; `#{ pretty: true }` indents it.\n\nMap keys come out \
              sorted. `()` becomes null.",
        example: r#"let state = #{ target: "abc123", reason: "bad deploy", at: time::now() };
fs::write("rollback-state.json", json::to_string(state, #{ pretty: true }));"#,
    };
    m.function(to_string, |ctx: NativeCallContext, value: Dynamic| {
        learn_secrets(&ctx, &value);
        write_json(&value, false).at(&ctx)
    });
    m.function(
        Decl {
            params: &["value: ?", "opts: Map", "String"],
            ..to_string
        },
        |ctx: NativeCallContext, value: Dynamic, opts: Map| {
            learn_secrets(&ctx, &value);
            pretty_option(&opts)
                .and_then(|pretty| write_json(&value, pretty))
                .at(&ctx)
        },
    );
    m
}

/// Values under secret-named keys (`token`, `authorization`) stay secret in the text made of
/// them, wherever that text is shown later.
fn learn_secrets(ctx: &NativeCallContext, value: &Dynamic) {
    if let Ok(host) = ripcord_runtime::Host::of(ctx) {
        host.secrets.learn(value);
    }
}

fn parse_json(text: &str) -> NativeResult<Dynamic> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let reason = full
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&full);
        Failure::new(format!(
            "json::parse: invalid JSON at line {line}, column {column}: {reason}{}",
            excerpt(text, line, column)
        ))
    })?;
    ripcord_runtime::rhai::serde::to_dynamic(value)
        .map_err(|e| Failure::new(format!("json::parse: {e}")))
}

fn write_json(value: &Dynamic, pretty: bool) -> NativeResult<String> {
    let json = to_json(value, "value")?;
    let text = if pretty {
        serde_json::to_string_pretty(&json)
    } else {
        serde_json::to_string(&json)
    };
    text.map_err(|e| Failure::new(format!("json::to_string: {e}")))
}

/// Convert a Rhai value, naming the path of the part that has no JSON form (`value.hooks[1]`).
fn to_json(value: &Dynamic, path: &str) -> NativeResult<Value> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| {
                Failure::new(format!(
                    "json::to_string: `{path}` is {f}: JSON has no NaN or infinity"
                ))
            });
    }
    if let Some(items) = value.read_lock::<Array>() {
        return items
            .iter()
            .enumerate()
            .map(|(i, v)| to_json(v, &format!("{path}[{i}]")))
            .collect::<NativeResult<_>>()
            .map(Value::Array);
    }
    if let Some(map) = value.read_lock::<Map>() {
        let mut object = serde_json::Map::new();
        for (k, v) in map.iter() {
            object.insert(k.to_string(), to_json(v, &format!("{path}.{k}"))?);
        }
        return Ok(Value::Object(object));
    }
    Err(Failure::new(format!(
        "json::to_string: `{path}` is a {}, which has no JSON form",
        value.type_name()
    ))
    .hint("convert it to a string, number, array or map first"))
}

/// `json::to_string`'s options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct ToStringOptions {
    pretty: bool,
}

fn pretty_option(opts: &Map) -> NativeResult<bool> {
    options::read::<ToStringOptions>("json::to_string", opts).map(|o| o.pretty)
}

/// The offending line of the input with a caret under `column` (1-based), if it is short enough
/// to help; shared with the `toml` module's messages in spirit, not in code (toml has its own).
fn excerpt(text: &str, line: usize, column: usize) -> String {
    let Some(source) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    if source.chars().count() > 200 {
        return String::new();
    }
    let pad: String = source
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("\n  {source}\n  {pad}^")
}

#[cfg(test)]
mod tests {
    use ripcord_runtime::Mode;
    use ripcord_runtime::engine::standalone;
    use ripcord_runtime::rhai::Dynamic;

    use super::module;

    #[test]
    fn parse_then_write_round_trips() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let text = r#"{"a":[1,2.5,"x",true,null],"b":{"c":"d"}}"#;
        let out: String = engine
            .eval(&format!("json::to_string(json::parse(`{text}`))"))
            .unwrap();
        assert_eq!(out, text);
        let field: String = engine
            .eval(r#"json::parse(`{"status":"healthy"}`).status"#)
            .unwrap();
        assert_eq!(field, "healthy");
        let null: Dynamic = engine.eval(r#"json::parse(`{"a":null}`).a"#).unwrap();
        assert!(null.is_unit());
    }

    #[test]
    fn pretty_output_is_indented() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let out: String = engine
            .eval(r#"json::to_string(#{ b: [1], a: "x" }, #{ pretty: true })"#)
            .unwrap();
        assert_eq!(out, "{\n  \"a\": \"x\",\n  \"b\": [\n    1\n  ]\n}");
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let err = engine
            .eval::<Dynamic>("json::parse(`{\"a\": 1,\n \"b\": }`)")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("json::parse: invalid JSON at line 2, column 7: expected value"),
            "{err}"
        );
        assert!(err.contains(" \"b\": }\n        ^"), "{err}");
        let err = engine
            .eval::<Dynamic>(r#"json::parse("")"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid JSON at line 1, column 0: EOF while parsing a value"),
            "{err}"
        );
        let err = engine
            .eval::<Dynamic>(r#"json::to_string(1, #{ indent: 2 })"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown option `indent`"), "{err}");
    }

    #[test]
    fn values_without_json_form_are_refused() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let err = engine
            .eval::<Dynamic>(r#"json::to_string(#{ f: || 1 })"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("json::to_string: `value.f` is a Fn, which has no JSON form"),
            "{err}"
        );
        let err = engine
            .eval::<Dynamic>("json::to_string([1, 0.0 / 0.0])")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`value[1]` is NaN: JSON has no NaN or infinity"),
            "{err}"
        );
    }
}
