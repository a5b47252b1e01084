//! Options maps (`#{ force: true }`) read into structs. A native declares its options once, as
//! a `#[derive(Deserialize)] #[serde(deny_unknown_fields)]` struct, and `read` turns every
//! problem into the same two messages: an unknown option (a typo is never silently ignored) and
//! an option of the wrong type.

use rhai::serde::DynamicDeserializer;
use rhai::{Dynamic, EvalAltResult, LexError, Map, ParseErrorType};
use ripcord_runtime::Failure;
use serde::de::{self, DeserializeOwned, Visitor};

/// The options in `opts`, as `function` (the name an error starts with) reads them.
pub fn read<T: DeserializeOwned>(function: &str, opts: &Map) -> Result<T, Failure> {
    check_known(function, opts, fields::<T>())?;
    let value = Dynamic::from_map(opts.clone());
    serde_path_to_error::deserialize(DynamicDeserializer::new(&value)).map_err(|e| {
        let key = e.path().to_string();
        match *e.into_inner() {
            EvalAltResult::ErrorMismatchOutputType(wanted, actual, _) => Failure::new(format!(
                "{function}: option `{key}` must be {}, not {actual}",
                in_words(&wanted)
            )),
            EvalAltResult::ErrorParsing(
                ParseErrorType::BadInput(LexError::ImproperSymbol(_, m)),
                _,
            ) => Failure::new(format!("{function}: option `{key}` {m}")),
            other => Failure::new(format!("{function}: option `{key}`: {other}")),
        }
    })
}

/// Fail on an option `function` does not know, so a typo is not silently ignored. For readers
/// that take the map as it is (options shared between calls, values of several types).
pub fn check_known(function: &str, opts: &Map, known: &[&str]) -> Result<(), Failure> {
    let Some(key) = opts.keys().find(|k| !known.contains(&k.as_str())) else {
        return Ok(());
    };
    let near = ripcord_runtime::check::nearest(key, known.iter().copied())
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default();
    Err(
        Failure::new(format!("{function}: unknown option `{key}`{near}"))
            .hint(format!("known options: {}", known.join(", "))),
    )
}

/// The type an option wanted, as an operator writes it.
fn in_words(rust_type: &str) -> String {
    match rust_type {
        "bool" => "true or false".into(),
        "string" | "&str" | "String" | "char" => "a string".into(),
        "map" => "a map".into(),
        "array" => "an array".into(),
        t if t.starts_with('i') || t.starts_with('u') => "a whole number".into(),
        "f32" | "f64" | "float" => "a number".into(),
        other => format!("a {other}"),
    }
}

/// The field names of the options struct `T`, as its derived `Deserialize` declares them.
fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that only listens: a derived struct hands it its field names and stops.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only the field names were wanted"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("options are a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Copy {
        force: bool,
        mode: Option<String>,
    }

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect()
    }

    fn error(opts: &Map) -> String {
        let f = read::<Copy>("fs::copy", opts).expect_err("should fail");
        format!("{} | {}", f.message, f.hint.unwrap_or_default())
    }

    #[test]
    fn reads_given_options_and_defaults_the_rest() {
        let o: Copy = read("fs::copy", &map(&[("force", true.into())])).expect("reads");
        assert!(o.force);
        assert_eq!(o.mode, None);
    }

    #[test]
    fn a_misspelt_option_names_the_nearest_and_lists_the_known_ones() {
        assert_eq!(
            error(&map(&[("forse", true.into())])),
            "fs::copy: unknown option `forse`; did you mean `force`? | known options: force, mode"
        );
        assert_eq!(
            error(&map(&[("colour", true.into())])),
            "fs::copy: unknown option `colour` | known options: force, mode"
        );
    }

    #[test]
    fn a_wrong_type_names_the_option_and_both_types() {
        assert_eq!(
            error(&map(&[("force", "yes".into())])),
            "fs::copy: option `force` must be true or false, not string | "
        );
        assert_eq!(
            error(&map(&[("mode", Dynamic::from(5_i64))])),
            "fs::copy: option `mode` must be a string, not i64 | "
        );
    }
}
