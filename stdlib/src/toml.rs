//! The `toml` module: parse TOML text into a map and write a map back as TOML.

use ripcord_runtime::rhai::{Array, Dynamic, Map, NativeCallContext};
use ripcord_runtime::{At, Decl, Effect, Failure, NativeModule, NativeResult};

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("toml", "TOML: parse and write");

    let parse = Decl {
        name: "parse",
        effect: Effect::Pure,
        params: &["text: String", "Map"],
        doc: "Parse a TOML document into a map.\n\nDates and times become RFC 3339 strings. Bad input \
              fails with the line and column of the problem.",
        example: r#"let conf = toml::parse(fs::read("cortex.toml"));
print(`cortex listens on port ${conf.server.port}`);"#,
    };
    m.function(parse, |ctx: NativeCallContext, text: &str| {
        parse_toml(text).at(&ctx)
    });

    let to_string = Decl {
        name: "to_string",
        effect: Effect::Pure,
        params: &["value: Map", "String"],
        doc: "Write a map as a TOML document.\n\nTOML has no null: a `()` value anywhere fails, naming its key.",
        example: r#"let conf = toml::parse(fs::read("cortex.toml"));
conf.server.port = 8081;
fs::write("cortex.toml", toml::to_string(conf));"#,
    };
    m.function(to_string, |ctx: NativeCallContext, value: Map| {
        write_toml(value).at(&ctx)
    });
    m
}

fn parse_toml(text: &str) -> NativeResult<Map> {
    let table: ::toml::Table = text.parse().map_err(|e: ::toml::de::Error| {
        // The parser's message already shows the line, column and a caret under the problem.
        Failure::new(format!(
            "toml::parse: invalid TOML: {}",
            e.to_string().trim_end()
        ))
    })?;
    Ok(table
        .into_iter()
        .map(|(k, v)| (k.into(), to_dynamic(v)))
        .collect())
}

fn to_dynamic(value: ::toml::Value) -> Dynamic {
    use ::toml::Value;
    match value {
        Value::String(s) => s.into(),
        Value::Integer(i) => Dynamic::from_int(i),
        Value::Float(f) => Dynamic::from_float(f),
        Value::Boolean(b) => Dynamic::from_bool(b),
        Value::Datetime(d) => d.to_string().into(),
        Value::Array(items) => Dynamic::from_array(items.into_iter().map(to_dynamic).collect()),
        Value::Table(table) => Dynamic::from_map(
            table
                .into_iter()
                .map(|(k, v)| (k.into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

fn write_toml(map: Map) -> NativeResult<String> {
    let mut table = ::toml::Table::new();
    for (key, value) in map {
        let converted = to_toml(&value, key.as_str())?;
        table.insert(key.to_string(), converted);
    }
    ::toml::to_string(&table).map_err(|e| Failure::new(format!("toml::to_string: {e}")))
}

fn to_toml(value: &Dynamic, key: &str) -> NativeResult<::toml::Value> {
    use ::toml::Value;
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Integer(i));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Value::Float(f));
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Boolean(b));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(items) = value.read_lock::<Array>() {
        let converted = items
            .iter()
            .enumerate()
            .map(|(i, v)| to_toml(v, &format!("{key}[{i}]")))
            .collect::<NativeResult<_>>()?;
        return Ok(Value::Array(converted));
    }
    if let Some(map) = value.read_lock::<Map>() {
        let mut table = ::toml::Table::new();
        for (k, v) in map.iter() {
            table.insert(k.to_string(), to_toml(v, &format!("{key}.{k}"))?);
        }
        return Ok(Value::Table(table));
    }
    let why = if value.is_unit() {
        "TOML has no null".to_string()
    } else {
        format!("TOML cannot hold a {}", value.type_name())
    };
    Err(Failure::new(format!(
        "toml::to_string: `{key}` is {}: {why}",
        if value.is_unit() {
            "()"
        } else {
            value.type_name()
        }
    ))
    .hint("remove the key or give it a value"))
}

#[cfg(test)]
mod tests {
    use ripcord_runtime::Mode;
    use ripcord_runtime::engine::standalone;
    use ripcord_runtime::rhai::Dynamic;

    use super::module;

    const CONFIG: &str = "name = \"cortex\"\nratio = 0.5\nstarted = 2026-03-14T02:17:09Z\n\n[server]\nport = 8080\ntags = [\"a\", \"b\"]\n";

    #[test]
    fn parse_then_write_round_trips() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let port: i64 = engine
            .eval(&format!("toml::parse(`{CONFIG}`).server.port"))
            .unwrap();
        assert_eq!(port, 8080);
        let started: String = engine
            .eval(&format!("toml::parse(`{CONFIG}`).started"))
            .unwrap();
        assert_eq!(started, "2026-03-14T02:17:09Z");
        let text: String = engine
            .eval(&format!(
                "let c = toml::parse(`{CONFIG}`); c.server.port = 8081; toml::to_string(c)"
            ))
            .unwrap();
        let back: ::toml::Table = text.parse().unwrap();
        assert_eq!(back["server"]["port"].as_integer(), Some(8081));
        assert_eq!(back["server"]["tags"].as_array().unwrap().len(), 2);
        assert_eq!(back["name"].as_str(), Some("cortex"));
        assert_eq!(back["ratio"].as_float(), Some(0.5));
    }

    #[test]
    fn bad_toml_names_line_and_column() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let err = engine
            .eval::<Dynamic>("toml::parse(`name = \"cortex\"\nport = = 8080`)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("toml::parse: invalid TOML"), "{err}");
        assert!(err.contains("line 2, column 8"), "{err}");
    }

    #[test]
    fn null_values_are_refused_naming_the_key() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let err = engine
            .eval::<Dynamic>("toml::to_string(#{ server: #{ port: () } })")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`server.port` is (): TOML has no null"),
            "{err}"
        );
    }
}
