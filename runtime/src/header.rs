//! The `//!` header of a runbook: a summary, a description, the params it takes, its recovery
//! time objective and the lock it holds.
//!
//! ```text
//! //! Roll the service back to a known-good commit.
//! //! @param target: commit, tag or branch to reset to
//! //! @param unit = "cortex.service": systemd unit of the service
//! //! @param secret token = "": API token (never logged)
//! //! @rto 15m
//! //! @lock cortex
//! ```
//!
//! `@allow NAME ...` (see `allow.rs`) restricts the values of a param declared above it.
//!
//! Only the leading block of `//!` lines counts (after an optional `#!` line).

use std::fmt;
use std::time::Duration;

use rhai::{Dynamic, Position};

use crate::error::Diagnostic;

/// What a runbook says about itself.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The first line.
    pub summary: String,
    /// The lines after the summary that are not `@` tags; empty `//!` lines separate paragraphs.
    pub description: String,
    pub params: Vec<ParamDecl>,
    pub rto: Option<Duration>,
    /// `@rto` as written, e.g. `15m`.
    pub rto_text: Option<String>,
    /// `@lock name`: the run lock taken instead of the script's name.
    pub lock: Option<String>,
    /// `@limit name=value` lines, applied before the run's `--limit` flags.
    pub limits: Vec<crate::limits::Setting>,
    /// Lines that are kept as documentation but look like a mistake (an unknown `@tag`):
    /// `check` shows them as warnings; a run ignores them.
    pub warnings: Vec<HeaderError>,
}

/// `@param [secret] name [= default][: help]`.
#[derive(Debug, Clone)]
pub struct ParamDecl {
    pub name: String,
    /// A string, integer, float or bool; a quoted `"..."` is a string, so is a bare word.
    pub default: Option<Dynamic>,
    pub secret: bool,
    pub help: String,
    /// 1-based line of the declaration in the script.
    pub line: usize,
    /// `@allow name ...`: the values the param accepts.
    pub allow: Option<crate::allow::Allow>,
}

/// A header line that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    /// 1-based line and column.
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
}

impl HeaderError {
    fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        HeaderError {
            line,
            column,
            message: message.into(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// As a diagnostic pointing into `source`.
    pub fn diagnostic(&self, source: &str) -> Diagnostic {
        let mut d =
            Diagnostic::new(self.message.clone()).at(source, position(self.line, self.column));
        d.help = self.help.clone();
        d
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for HeaderError {}

fn position(line: usize, column: usize) -> Position {
    let clamp = |n: usize| u16::try_from(n.max(1)).unwrap_or(u16::MAX);
    Position::new(clamp(line), clamp(column))
}

const TAGS: &str = "@param, @allow, @rto, @lock, @limit";

/// Parse the header; the first problem is an error.
pub fn parse(text: &str) -> Result<Header, HeaderError> {
    let (header, mut errors) = parse_lenient(text);
    if errors.is_empty() {
        Ok(header)
    } else {
        Err(errors.remove(0))
    }
}

/// Parse the header, keeping what could be understood and every problem found (for `check`).
pub fn parse_lenient(text: &str) -> (Header, Vec<HeaderError>) {
    let mut header = Header::default();
    let mut errors = Vec::new();
    let mut description: Vec<&str> = Vec::new();
    let mut seen_summary = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if index == 0 && line.starts_with("#!") {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some(rest) = line.trim_start().strip_prefix("//!") else {
            break;
        };
        // Column (1-based, in chars) of the first non-blank char after `//!`.
        let body_start = indent + 3 + (rest.len() - rest.trim_start().len());
        let column = line[..body_start].chars().count() + 1;
        let body = rest.trim();
        if let Some(tag_line) = body.strip_prefix('@') {
            match header.apply_tag(tag_line, number, column) {
                Ok(true) => {}
                // Doc tags from other tools (`@author`, `@since`) are documentation, as in Rhai.
                Ok(false) => description.push(body),
                Err(e) => errors.push(e),
            }
        } else if !seen_summary {
            if !body.is_empty() {
                header.summary = body.to_string();
                seen_summary = true;
            }
        } else {
            description.push(body);
        }
    }
    while description.last().is_some_and(|l| l.is_empty()) {
        description.pop();
    }
    header.description = description.join("\n");
    (header, errors)
}

impl Header {
    /// Read one `@tag value` line (`tag_line` is what follows the `@`, at `column` of `line`)
    /// into the header. `Ok(false)` for a tag the header does not know: a warning, and the line
    /// is documentation.
    fn apply_tag(
        &mut self,
        tag_line: &str,
        line: usize,
        column: usize,
    ) -> Result<bool, HeaderError> {
        let (tag, value) = split_word(tag_line);
        let value_column =
            column + 1 + tag.chars().count() + (tag_line.len() - tag.len() - value.len());
        match tag {
            "param" => {
                let param = parse_param(value, line, value_column, &self.params)?;
                self.params.push(param);
            }
            "rto" => {
                let (duration, text) = parse_rto(value, line, value_column, self)?;
                self.rto = Some(duration);
                self.rto_text = Some(text);
            }
            "lock" => self.lock = Some(parse_lock(value, line, value_column, self)?),
            "allow" => parse_allow(value, line, value_column, &mut self.params)?,
            "limit" => self.limits.push(
                crate::limits::Setting::parse(value)
                    .map_err(|m| HeaderError::new(line, value_column, m))?,
            ),
            _ => {
                self.warnings.push(
                    HeaderError::new(line, column, format!("unknown header tag `@{tag}`")).help(
                        format!("the header knows {TAGS}; this line is kept as documentation"),
                    ),
                );
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The first whitespace-separated word and the (trimmed) rest.
fn split_word(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    }
}

fn parse_param(
    text: &str,
    line: usize,
    column: usize,
    seen: &[ParamDecl],
) -> Result<ParamDecl, HeaderError> {
    let form = "write it like `@param name: help`, `@param name = default: help` or `@param secret name: help`";
    let (mut word, mut rest) = split_word_at_name(text);
    let mut col = column;
    let mut secret = false;
    if word == "secret" && !rest.is_empty() && !rest.starts_with([':', '=']) {
        secret = true;
        col += text.len() - rest.len();
        (word, rest) = split_word_at_name(rest);
    }
    check_param_name(word, line, col, seen, form)?;
    let after_name = col + word.chars().count();
    let trimmed = rest.trim_start();
    let mut col = after_name + (rest.len() - trimmed.len());
    let mut rest = trimmed;
    let mut default = None;
    if let Some(value) = rest.strip_prefix('=') {
        let value_trimmed = value.trim_start();
        col += 1 + (value.len() - value_trimmed.len());
        let (parsed, remaining) = parse_default(value_trimmed, line, col)?;
        default = Some(parsed);
        col += value_trimmed.len() - remaining.len();
        rest = remaining;
    }
    let help = match rest.strip_prefix(':') {
        Some(h) => h.trim().to_string(),
        None if rest.is_empty() => String::new(),
        None => {
            return Err(HeaderError::new(
                line,
                col,
                format!("unexpected `{rest}` in `@param {word}`"),
            )
            .help(form));
        }
    };
    Ok(ParamDecl {
        name: word.to_string(),
        default,
        secret,
        help,
        line,
        allow: None,
    })
}

/// A param's name: an identifier, not reserved, not declared before.
fn check_param_name(
    word: &str,
    line: usize,
    col: usize,
    seen: &[ParamDecl],
    form: &str,
) -> Result<(), HeaderError> {
    if word.is_empty() {
        return Err(HeaderError::new(line, col, "`@param` needs a name").help(form));
    }
    if !is_identifier(word) {
        return Err(
            HeaderError::new(line, col, format!("`{word}` is not a valid param name"))
                .help("a param name is letters, digits and `_`, not starting with a digit"),
        );
    }
    if word == "cfg" || is_keyword(word) {
        return Err(HeaderError::new(
            line,
            col,
            format!("`{word}` cannot be a param name: it is reserved"),
        )
        .help("pick another name"));
    }
    if seen.iter().any(|p| p.name == word) {
        return Err(
            HeaderError::new(line, col, format!("param `{word}` is declared twice"))
                .help("remove one of the declarations"),
        );
    }
    Ok(())
}

/// The name part of a param declaration: up to whitespace, `=` or `:`.
fn split_word_at_name(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '=' || c == ':')
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

/// A default value and what follows it (`: help`, or nothing).
fn parse_default(text: &str, line: usize, column: usize) -> Result<(Dynamic, &str), HeaderError> {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((Dynamic::from(value), quoted[i + 1..].trim_start())),
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                other => value.push(other),
            }
        }
        return Err(
            HeaderError::new(line, column, "unterminated string in a param default")
                .help("close the string with `\"`"),
        );
    }
    // A bare value ends at a `:` followed by a space (or the end), so `host:8080` stays whole.
    let end = text
        .char_indices()
        .find(|&(i, c)| c == ':' && text[i + 1..].chars().next().is_none_or(char::is_whitespace))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let raw = text[..end].trim();
    if raw.is_empty() {
        return Err(
            HeaderError::new(line, column, "missing default value after `=`")
                .help("write `= \"\"` for an empty string default"),
        );
    }
    let value = if raw == "true" || raw == "false" {
        Dynamic::from(raw == "true")
    } else if let Ok(i) = raw.parse::<rhai::INT>() {
        Dynamic::from(i)
    } else if let Some(f) = raw.parse::<rhai::FLOAT>().ok().filter(|f| f.is_finite()) {
        Dynamic::from(f)
    } else {
        Dynamic::from(raw.to_string())
    };
    Ok((value, &text[end..]))
}

fn parse_rto(
    text: &str,
    line: usize,
    column: usize,
    header: &Header,
) -> Result<(Duration, String), HeaderError> {
    if header.rto_text.is_some() {
        return Err(
            HeaderError::new(line, column, "`@rto` is given twice").help("keep one `@rto` line")
        );
    }
    if text.is_empty() {
        return Err(HeaderError::new(line, column, "`@rto` needs a duration")
            .help("write it like `@rto 15m`"));
    }
    match crate::time::parse_duration(text) {
        Ok(d) => Ok((d, text.to_string())),
        Err(e) => Err(HeaderError::new(line, column, format!("bad `@rto`: {e}"))),
    }
}

/// `@allow NAME in a | b`, `@allow NAME in 1..10`, `@allow NAME is name`: attached to the param
/// declared above; its default must be allowed too.
fn parse_allow(
    text: &str,
    line: usize,
    column: usize,
    params: &mut [ParamDecl],
) -> Result<(), HeaderError> {
    let form = "write it like `@allow option in git | binary`, `@allow keep in 1..100` or `@allow release is name`";
    let (name, rest) = split_word(text);
    let Some(param) = params.iter_mut().find(|p| p.name == name) else {
        return Err(HeaderError::new(
            line,
            column,
            format!("`@allow {name}`: no param `{name}` is declared above it"),
        )
        .help(format!("declare `@param {name}` first; {form}")));
    };
    if param.allow.is_some() {
        return Err(
            HeaderError::new(line, column, format!("`@allow {name}` is given twice"))
                .help("keep one `@allow` line per param"),
        );
    }
    let allow = crate::allow::Allow::parse(rest)
        .map_err(|e| HeaderError::new(line, column, format!("`@allow {name}`: {e}")).help(form))?;
    if let Some(why) = param.default.as_ref().and_then(|d| allow.refuse(d)) {
        return Err(HeaderError::new(
            line,
            column,
            format!("`@allow {name}`: the default of `{name}` {why}"),
        )
        .help("change the default or the allowed values"));
    }
    param.allow = Some(allow);
    Ok(())
}

fn parse_lock(
    text: &str,
    line: usize,
    column: usize,
    header: &Header,
) -> Result<String, HeaderError> {
    if header.lock.is_some() {
        return Err(
            HeaderError::new(line, column, "`@lock` is given twice").help("keep one `@lock` line")
        );
    }
    if text.is_empty() {
        return Err(HeaderError::new(line, column, "`@lock` needs a name")
            .help("write it like `@lock cortex`"));
    }
    let valid = text
        .chars()
        .all(|c| c.is_alphanumeric() || "_-.".contains(c));
    if !valid {
        return Err(
            HeaderError::new(line, column, format!("`{text}` is not a lock name"))
                .help("write it like `@lock cortex` (letters, digits, `_`, `-`, `.`)"),
        );
    }
    Ok(text.to_string())
}

pub(crate) fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn is_keyword(word: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "true",
        "false",
        "let",
        "const",
        "if",
        "else",
        "switch",
        "do",
        "while",
        "until",
        "loop",
        "for",
        "in",
        "continue",
        "break",
        "return",
        "throw",
        "try",
        "catch",
        "fn",
        "private",
        "import",
        "export",
        "as",
        "global",
        "this",
        "Fn",
        "call",
        "curry",
        "print",
        "debug",
        "type_of",
        "eval",
        "is_def_var",
        "is_def_fn",
        "is_shared",
        "step",
    ];
    KEYWORDS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"#!/usr/bin/env ripcord
//! Roll the service back to a known-good commit (Option A: git-based).
//! More summary lines...
//!
//! Second paragraph.
//! @param target: commit, tag or branch to reset to
//! @param unit = "cortex.service": systemd unit of the service
//! @param phase_secs = 30: seconds per phase
//! @param ratio = 0.5
//! @param dry = true: just look
//! @param url = http://localhost:8080: the API
//! @param secret token = "": API token (never logged)
//! @rto 15m
//! @lock cortex
//! @param late: not part of the header
let x = 1;
"#;

    #[test]
    fn parses_the_full_header() {
        let text = EXAMPLE.replace("//! @param late", "// @param late");
        let h = parse(&text).expect("header");
        assert_eq!(
            h.summary,
            "Roll the service back to a known-good commit (Option A: git-based)."
        );
        assert_eq!(h.description, "More summary lines...\n\nSecond paragraph.");
        let names: Vec<_> = h.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "target",
                "unit",
                "phase_secs",
                "ratio",
                "dry",
                "url",
                "token"
            ]
        );
        let p = &h.params;
        assert!(p[0].default.is_none());
        assert_eq!(p[0].help, "commit, tag or branch to reset to");
        assert_eq!(p[0].line, 6);
        assert_eq!(
            p[1].default.clone().unwrap().into_string().unwrap(),
            "cortex.service"
        );
        assert_eq!(p[1].help, "systemd unit of the service");
        assert_eq!(p[2].default.clone().unwrap().as_int().unwrap(), 30);
        assert_eq!(p[3].default.clone().unwrap().as_float().unwrap(), 0.5);
        assert_eq!(p[3].help, "");
        assert!(p[4].default.clone().unwrap().as_bool().unwrap());
        assert_eq!(
            p[5].default.clone().unwrap().into_string().unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(p[5].help, "the API");
        assert!(p[6].secret && !p[5].secret);
        assert_eq!(p[6].default.clone().unwrap().into_string().unwrap(), "");
        assert_eq!(h.rto, Some(Duration::from_secs(15 * 60)));
        assert_eq!(h.rto_text.as_deref(), Some("15m"));
        assert_eq!(h.lock.as_deref(), Some("cortex"));
    }

    #[test]
    fn only_the_leading_block_counts() {
        let h = parse("let a = 1;\n//! @param x: not a header\n").unwrap();
        assert!(h.params.is_empty() && h.summary.is_empty());
        let h = parse("//! Summary\n\n//! @bogus after a gap\n").unwrap();
        assert_eq!(h.summary, "Summary");
    }

    #[test]
    fn a_quoted_default_may_hold_a_colon_and_escapes() {
        let h = parse(r#"//! @param msg = "a: \"b\"": text"#).unwrap();
        assert_eq!(
            h.params[0].default.clone().unwrap().into_string().unwrap(),
            "a: \"b\""
        );
        assert_eq!(h.params[0].help, "text");
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("//! Summary\n//! @param 9lives: bad\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12));
        assert_eq!(e.message, "`9lives` is not a valid param name");

        let e = parse("//! @param a: one\n//! @param a: two\n").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (2, 12, "param `a` is declared twice")
        );

        let e = parse("//! @param secret a-b = 1\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 19));

        let e = parse("//! @rto soon\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 10));
        assert!(
            e.message
                .starts_with("bad `@rto`: `soon` is not a duration"),
            "{}",
            e.message
        );

        let h = parse("//! Summary\n  //! @owner me\n").unwrap();
        let w = &h.warnings[0];
        assert_eq!((w.line, w.column), (2, 7));
        assert_eq!(w.message, "unknown header tag `@owner`");
        assert!(
            w.help
                .clone()
                .unwrap()
                .contains("@param, @allow, @rto, @lock, @limit")
        );
        assert_eq!(h.description, "@owner me");
        let e = parse("//! @limit speed=3\n").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (
                1,
                12,
                "unknown limit `speed`; the limits are operations, imports, call-depth, expr-depth, memory"
            )
        );

        let e = parse("//! @param x = \"open\n").unwrap_err();
        assert_eq!(e.message, "unterminated string in a param default");
        let e = parse("//! @param x =: help\n").unwrap_err();
        assert_eq!(e.message, "missing default value after `=`");
        let e = parse("//! @param cfg\n").unwrap_err();
        assert!(e.message.contains("reserved"));
        let e = parse("//! @param a b: help\n").unwrap_err();
        assert_eq!(e.message, "unexpected `b: help` in `@param a`");
        let e = parse("//! @lock\n").unwrap_err();
        assert_eq!(e.message, "`@lock` needs a name");
    }

    #[test]
    fn lenient_parse_keeps_the_good_params() {
        let (h, errors) = parse_lenient("//! @param a\n//! @param 1x\n//! @param b = 2\n");
        assert_eq!(h.params.len(), 2);
        assert_eq!(errors.len(), 1);
        let d = errors[0].diagnostic("t.rhai");
        assert_eq!(d.location().as_deref(), Some("t.rhai:2:12"));
    }
}
