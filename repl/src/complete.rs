//! Tab completion and hints from the catalog of native functions, the session's variables and
//! functions, and the meta-command table; and the validator that keeps an incomplete input in the
//! same edit buffer.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use ripcord_runtime::rhai::Engine;
use ripcord_runtime::term::{self, style};
use ripcord_runtime::{Catalog, FnDoc};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::input::is_incomplete;
use crate::meta::COMMANDS;

/// Names the session defined so far (variables, script functions), refreshed after each input.
pub type Names = Arc<Mutex<Vec<String>>>;

pub struct ReplHelper {
    catalog: Catalog,
    names: Names,
    color: bool,
    /// An engine with the session's syntax (`step`), used only to parse.
    parser: Rc<Engine>,
}

impl ReplHelper {
    pub fn new(catalog: Catalog, names: Names, color: bool, parser: Rc<Engine>) -> Self {
        ReplHelper {
            catalog,
            names,
            color,
            parser,
        }
    }

    /// Candidates for the word `word` (identifiers and `module::` paths).
    fn candidates(&self, word: &str) -> Vec<Pair> {
        if let Some((module, partial)) = word.split_once("::") {
            return self
                .catalog
                .in_module(module)
                .filter(|f| f.name.starts_with(partial))
                .map(|f| Pair {
                    display: describe(f),
                    replacement: f.qualified(),
                })
                .collect();
        }
        let mut out: Vec<Pair> = Vec::new();
        for (module, summary) in &self.catalog.modules {
            if !module.is_empty() && module.starts_with(word) {
                out.push(Pair {
                    display: format!("{module}::  {summary}"),
                    replacement: format!("{module}::"),
                });
            }
        }
        for f in self.catalog.in_module("") {
            if f.name.starts_with(word) {
                out.push(Pair {
                    display: describe(f),
                    replacement: f.name.to_string(),
                });
            }
        }
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        for name in names.iter().filter(|n| n.starts_with(word)) {
            if !out.iter().any(|p| &p.replacement == name) {
                out.push(Pair {
                    display: name.clone(),
                    replacement: name.clone(),
                });
            }
        }
        out
    }

    /// The native function named by the word ending at `pos`, if the word is complete.
    fn function_at(&self, line: &str, pos: usize) -> Option<&FnDoc> {
        let start = word_start(line, pos);
        let word = &line[start..pos];
        let (module, name) = word.split_once("::").unwrap_or(("", word));
        self.catalog.find(module, name)
    }
}

fn describe(f: &FnDoc) -> String {
    let signature = f.signatures.first().map(String::as_str).unwrap_or(f.name);
    let more = match f.signatures.len() {
        0 | 1 => String::new(),
        n => format!(" (+{} overload{})", n - 1, if n > 2 { "s" } else { "" }),
    };
    format!("{signature}{more}  {}", f.summary())
}

/// Where the identifier or `module::name` path that ends at `pos` starts.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == ':')
        .last()
        .map(|(i, _)| i)
        .unwrap_or(pos)
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if line.starts_with(':') && !line[..pos].contains(char::is_whitespace) {
            let commands = COMMANDS
                .iter()
                .filter(|m| m.name.starts_with(&line[..pos]))
                .map(|m| Pair {
                    display: format!("{} {}  {}", m.name, m.args, m.help),
                    replacement: m.name.to_string(),
                })
                .collect();
            return Ok((0, commands));
        }
        let start = word_start(line, pos);
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        Ok((start, self.candidates(word)))
    }
}

/// A hint that is only shown: accepting a hint must not paste a signature into the code.
pub struct SignatureHint(String);

impl Hint for SignatureHint {
    fn display(&self) -> &str {
        &self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Hinter for ReplHelper {
    type Hint = SignatureHint;

    /// After a complete native function name, show its first signature and summary.
    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<SignatureHint> {
        if pos < line.len() {
            return None;
        }
        let f = self.function_at(line, pos)?;
        let signature = f.signatures.first()?;
        let args = signature.strip_prefix(f.name).unwrap_or(signature);
        Some(SignatureHint(format!("{args}  {}", f.summary())))
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(term::paint(true, style::FAINT, hint))
        } else {
            Cow::Borrowed(hint)
        }
    }
}

/// Enter on an input that stops too early (an open block, bracket or back-tick string) inserts a
/// newline into the same buffer instead of accepting it. One `readline` then takes a whole
/// multi-line input, so lines pasted or typed ahead arrive together: between two `readline`
/// calls the terminal's pending input would be lost when the editor leaves raw mode.
impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_incomplete(&self.parser, ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_runtime::{Decl, Effect, NativeModule};

    fn helper() -> ReplHelper {
        let mut m = NativeModule::new("store", "A test module");
        for name in ["backup", "bail", "verify"] {
            m.function(
                Decl {
                    name,
                    effect: Effect::Read,
                    params: &["path: String", "bool"],
                    doc: "Check a thing.\n\nMore.",
                    example: "",
                },
                |_: &str| true,
            );
        }
        let names = Arc::new(Mutex::new(vec!["stamp".to_string()]));
        let parser = Rc::new(Engine::new());
        ReplHelper::new(Catalog::from_modules(&[m]), names, false, parser)
    }

    #[test]
    fn module_functions_complete_with_signature_and_summary() {
        let h = helper();
        let got = h.candidates("store::ba");
        let replacements: Vec<_> = got.iter().map(|p| p.replacement.as_str()).collect();
        assert_eq!(replacements, ["store::backup", "store::bail"]);
        assert_eq!(
            got[0].display,
            "backup(path: String) -> bool  Check a thing."
        );
    }

    #[test]
    fn modules_and_variables_complete() {
        let h = helper();
        let got: Vec<_> = h
            .candidates("st")
            .into_iter()
            .map(|p| p.replacement)
            .collect();
        assert_eq!(got, ["store::", "stamp"]);
    }

    #[test]
    fn words_start_after_operators() {
        assert_eq!(word_start("let x = store::ba", 17), 8);
        assert_eq!(word_start("f(a", 3), 2);
        assert_eq!(word_start("f(", 2), 2);
    }
}
