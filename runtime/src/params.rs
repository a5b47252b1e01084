//! Binding `-p name=value` to the params a runbook declares in its header.
//!
//! A missing required param or an undeclared one is a usage error before anything runs. A
//! value takes the type of its declared default (`@param phase_secs = 30` makes `-p
//! phase_secs=5` an integer).

use rhai::Dynamic;

use crate::header::ParamDecl;

/// A param bound to its value.
#[derive(Debug, Clone)]
pub struct Bound {
    pub name: String,
    pub value: Dynamic,
    pub secret: bool,
}

/// Parse `name=value` as given on the command line.
pub fn split_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("-p `{text}`: expected name=value")),
    }
}

/// Bind the given values to the declared params; the error lists the declared params.
pub fn bind(
    declared: &[ParamDecl],
    given: &[(String, String)],
    script: &str,
) -> Result<Vec<Bound>, String> {
    let mut problems = Vec::new();
    for (name, _) in given {
        if !declared.iter().any(|d| &d.name == name) {
            problems.push(format!("`{name}` is not a param of {script}"));
        }
    }
    let mut bound = Vec::new();
    for decl in declared {
        let value = given
            .iter()
            .rev()
            .find(|(n, _)| *n == decl.name)
            .map(|(_, v)| v);
        match (value, &decl.default) {
            (Some(v), default) => match coerce(v, default.as_ref())
                .map_err(|e| shown_with_value(decl, e, v))
                .and_then(|value| allowed(decl, value))
            {
                Ok(value) => bound.push(Bound {
                    name: decl.name.clone(),
                    value,
                    secret: decl.secret,
                }),
                Err(e) => problems.push(format!("`{}`: {e}", decl.name)),
            },
            (None, Some(default)) => bound.push(Bound {
                name: decl.name.clone(),
                value: default.clone(),
                secret: decl.secret,
            }),
            (None, None) => problems.push(format!("missing required param `{}`", decl.name)),
        }
    }
    if problems.is_empty() {
        return Ok(bound);
    }
    let mut msg = problems.join("; ");
    msg.push_str(&format!("\nhelp: {}", usage(declared, script)));
    Err(msg)
}

/// The declared params, as shown in errors and by `ripcord describe`.
pub fn usage(declared: &[ParamDecl], script: &str) -> String {
    if declared.is_empty() {
        return format!("{script} declares no params");
    }
    let mut out = format!("{script} takes:");
    for d in declared {
        let default = match &d.default {
            Some(v) if d.secret => format!(
                " (default: {})",
                if v.to_string().is_empty() {
                    "\"\""
                } else {
                    "***"
                }
            ),
            Some(v) => format!(" (default: {})", show(v)),
            None => " (required)".to_string(),
        };
        let secret = if d.secret { " [secret]" } else { "" };
        let allow = d
            .allow
            .as_ref()
            .map(|a| format!(" [{a}]"))
            .unwrap_or_default();
        let help = if d.help.is_empty() {
            String::new()
        } else {
            format!(" — {}", d.help)
        };
        out.push_str(&format!(
            "\n  -p {}=…{secret}{allow}{default}{help}",
            d.name
        ));
    }
    out
}

fn show(v: &Dynamic) -> String {
    if v.is_string() {
        format!("{:?}", v.to_string())
    } else {
        v.to_string()
    }
}

/// The value if the param's `@allow` accepts it; the reason otherwise (a secret's value is not
/// repeated).
fn allowed(decl: &ParamDecl, value: Dynamic) -> Result<Dynamic, String> {
    match decl.allow.as_ref().and_then(|a| a.refuse(&value)) {
        None => Ok(value),
        Some(why) if decl.secret => Err(why),
        Some(why) => Err(format!("{why}, got {}", quoted(&value.to_string()))),
    }
}

/// A type error with the value given, unless the value is a secret.
fn shown_with_value(decl: &ParamDecl, error: String, text: &str) -> String {
    if decl.secret {
        format!("{error} (the secret value is not shown)")
    } else {
        format!("{error}, got {}", quoted(text))
    }
}

/// A value as shown in an error: quoted, with newlines and control characters escaped so an
/// error cannot forge lines.
fn quoted(text: &str) -> String {
    format!("{text:?}")
}

fn coerce(text: &str, default: Option<&Dynamic>) -> Result<Dynamic, String> {
    let Some(default) = default else {
        return Ok(Dynamic::from(text.to_string()));
    };
    if default.is_int() {
        text.trim()
            .parse::<i64>()
            .map(Dynamic::from)
            .map_err(|_| "expected an integer".to_string())
    } else if default.is_float() {
        text.trim()
            .parse::<f64>()
            .map(Dynamic::from)
            .map_err(|_| "expected a number".to_string())
    } else if default.is_bool() {
        match text.trim() {
            "true" | "yes" | "1" => Ok(Dynamic::TRUE),
            "false" | "no" | "0" => Ok(Dynamic::FALSE),
            _ => Err("expected true or false".to_string()),
        }
    } else {
        Ok(Dynamic::from(text.to_string()))
    }
}
