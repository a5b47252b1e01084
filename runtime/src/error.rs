//! Errors rendered once: `path:line:col`, the source line with a caret, notes for the calls the
//! error passed through, and a `help:` line saying what to do next.

use std::collections::HashMap;
use std::path::Path;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use rhai::{EvalAltResult, ParseError, Position};

use crate::failure::Failure;

/// An error ready to show: the innermost message, where it happened, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub help: Option<String>,
    /// Source file (as given to the engine) and position of the innermost error.
    pub source: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub notes: Vec<String>,
    /// A warning (shown, but not a problem that stops `check` or a run).
    pub warning: bool,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            help: None,
            source: None,
            line: None,
            column: None,
            notes: Vec::new(),
            warning: false,
        }
    }

    /// A diagnostic of a lower layer's `String` error (config, params, lock, journal, the
    /// command line), read as [`Failure::new`] reads it. Errors of a script's run come through
    /// [`Diagnostic::from_eval`], from the failure raised, not from the text a script saw.
    pub fn from_text(message: impl Into<String>) -> Diagnostic {
        Diagnostic::from(Failure::new(message))
    }

    pub fn warning(mut self) -> Diagnostic {
        self.warning = true;
        self
    }

    pub fn at(mut self, source: &str, pos: Position) -> Diagnostic {
        if let (Some(line), col) = (pos.line(), pos.position()) {
            self.source = Some(source.to_string());
            self.line = Some(line);
            self.column = Some(col.unwrap_or(1));
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// `path:line:col`, if known.
    pub fn location(&self) -> Option<String> {
        match (&self.source, self.line) {
            (Some(s), Some(l)) => Some(format!("{s}:{l}:{}", self.column.unwrap_or(1))),
            _ => None,
        }
    }

    /// From a parse error in `source`.
    pub fn from_parse(err: &ParseError, source: &str) -> Diagnostic {
        let d =
            Diagnostic::new(format!("syntax error: {}", err.err_type())).at(source, err.position());
        match err.err_type() {
            rhai::ParseErrorType::ExprTooDeep => d.help(
                "the code nests deeper than the engine's expression limit; raise it with `--limit expr-depth=N` or `//! @limit expr-depth=N`",
            ),
            _ => d,
        }
    }

    /// From a runtime error; `main` is the main script's source name.
    pub fn from_eval(err: &EvalAltResult, main: &str) -> Diagnostic {
        let mut notes = Vec::new();
        let mut source = main.to_string();
        let mut current = err;
        loop {
            match current {
                EvalAltResult::ErrorInFunctionCall(name, fn_source, inner, pos) => {
                    let at = location_text(&source, *pos);
                    notes.push(format!("in a call to `{}` at {at}", display_fn(name)));
                    if !fn_source.is_empty() {
                        source = fn_source.clone();
                    }
                    current = inner;
                }
                EvalAltResult::ErrorInModule(path, inner, pos) => {
                    let at = location_text(&source, *pos);
                    notes.push(format!("while loading module `{path}` imported at {at}"));
                    source = path.clone();
                    current = inner;
                }
                _ => break,
            }
        }
        notes.reverse();
        let mut d = Diagnostic::from(failure_of(current)).at(&source, current.position());
        d.notes = notes;
        d
    }

    /// Render with the source line and a caret; `sources` caches file texts by name.
    pub fn render(&self, sources: &mut SourceCache, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut groups = Vec::new();
        let snippet_line = match (&self.source, self.line) {
            (Some(src), Some(line)) => sources
                .line(src, line)
                .map(|text| (src.clone(), line, text)),
            _ => None,
        };
        let level = if self.warning {
            Level::WARNING
        } else {
            Level::ERROR
        };
        let title = level.primary_title(self.message.as_str());
        let mut group = match &snippet_line {
            Some((src, line, text)) => {
                let col = self.column.unwrap_or(1).saturating_sub(1);
                let start = text
                    .char_indices()
                    .nth(col)
                    .map(|(i, _)| i)
                    .unwrap_or(text.len());
                let end = token_end(text, start);
                title.element(
                    Snippet::source(text.as_str())
                        .line_start(*line)
                        .path(src.as_str())
                        .annotation(AnnotationKind::Primary.span(start..end)),
                )
            }
            None => Group::with_title(title),
        };
        if snippet_line.is_none()
            && let Some(loc) = self.location()
        {
            group = group.element(Level::NOTE.message(format!("at {loc}")));
        }
        for note in &self.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        groups.push(group);
        renderer.render(&groups).to_string()
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Diagnostic {
        Diagnostic {
            help: failure.hint,
            ..Diagnostic::new(failure.message)
        }
    }
}

/// Texts of the scripts an error may point into, read once.
#[derive(Debug, Default)]
pub struct SourceCache {
    files: HashMap<String, Option<String>>,
}

impl SourceCache {
    pub fn insert(&mut self, name: &str, text: &str) {
        self.files.insert(name.to_string(), Some(text.to_string()));
    }

    pub fn line(&mut self, name: &str, line: usize) -> Option<String> {
        let text = self
            .files
            .entry(name.to_string())
            .or_insert_with(|| std::fs::read_to_string(Path::new(name)).ok())
            .as_ref()?;
        text.lines().nth(line.checked_sub(1)?).map(str::to_string)
    }
}

/// The innermost message of an error, without Rhai's "(line N, position M)" suffix, as a
/// script's `catch (e)` and the journal show it: the help, if any, on a `help:` line.
pub fn message_of(err: &EvalAltResult) -> String {
    failure_of(err).to_string()
}

/// The innermost failure of an error, its help kept apart: a native's failure as it was raised
/// (also when a script caught and rethrew it unchanged), anything else thrown as its text.
pub fn failure_of(err: &EvalAltResult) -> Failure {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => match Failure::of_value(value) {
            Some(failure) => failure,
            None if value.is_string() => Failure::new_as_is(value.to_string()),
            None => Failure::new_as_is(format!("script threw {value}")),
        },
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
            failure_of(inner)
        }
        EvalAltResult::ErrorParsing(kind, _) => Failure::new(format!("syntax error: {kind}")),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => Failure::new(format!("unknown function: {sig}"))
            .hint("`ripcord doc` lists the native functions; `ripcord check` finds these before a run"),
        EvalAltResult::ErrorVariableNotFound(name, _) => Failure::new(format!("undefined variable `{name}`"))
            .hint(format!("declare it with `let`, or as a param in the `//!` header (`//! @param {name}: ...`)")),
        EvalAltResult::ErrorTooManyOperations(_) => {
            Failure::new("the script ran more operations than its limit allows (a runaway loop?)")
                .hint("the limit was set with `--limit operations=N` or `//! @limit operations=N`; raise it, or pass `--limit operations=off`")
        }
        EvalAltResult::ErrorStackOverflow(_) => Failure::new("too many nested calls (runaway recursion?)")
            .hint("raise the depth with `--limit call-depth=N` or `//! @limit call-depth=N` if the recursion is meant"),
        other => Failure::new_as_is(strip_position(&other.to_string())),
    }
}

/// Rhai's Display appends ` (line N, position M)`; the rendered snippet shows that already.
fn strip_position(text: &str) -> String {
    match text.rfind(" (line ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text.to_string(),
    }
}

fn location_text(source: &str, pos: Position) -> String {
    match pos.line() {
        Some(line) => format!("{source}:{line}:{}", pos.position().unwrap_or(1)),
        None => source.to_string(),
    }
}

fn display_fn(name: &str) -> &str {
    name
}

/// The end of the token starting at `start` (identifiers and `::` paths), at least one char.
fn token_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let mut len = 0;
    let chars = rest.char_indices().peekable();
    for (i, c) in chars {
        if c.is_alphanumeric()
            || c == '_'
            || (c == ':' && rest[i..].starts_with("::"))
            || (c == ':' && i > 0 && rest[..i].ends_with(':'))
        {
            len = i + c.len_utf8();
        } else {
            break;
        }
    }
    if len == 0 {
        len = rest.chars().next().map(char::len_utf8).unwrap_or(0);
    }
    start + len
}
