//! `step "name" { ... }` without reserving the word `step`.
//!
//! Rhai's custom syntax makes its first word a statement keyword everywhere, so `print(step)`,
//! `o.step` and `range(0, 10, step)` would stop compiling. Instead, every compile goes through
//! [`compile`]: it first lexes the text and notes where the word `step` is directly followed by a
//! string literal (never valid Rhai otherwise), then compiles with a token mapper that turns only
//! those words into the custom syntax's key. Every other `step` stays an ordinary identifier.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;

use rhai::{AST, Engine, ParseError, Position, Token};

/// The custom syntax's key: a word the tokenizer never produces from script text.
pub const KEY: &str = "$step";

/// Where the current thread's compile has step forms.
#[derive(Clone)]
enum Forms {
    /// A compile that did not go through [`compile`]: every `step` starts a step form (the
    /// behaviour before identifiers were allowed), so `step "x" { }` keeps working there.
    Unknown,
    /// Lexing to find the forms: no mapping.
    Scanning,
    /// `(line, column)` of each `step` that starts a form.
    At(HashSet<(usize, usize)>),
}

thread_local! {
    static FORMS: RefCell<Forms> = const { RefCell::new(Forms::Unknown) };
}

/// Sets the thread's forms for one compile and restores the previous value after it.
struct Scoped(Option<Forms>);

impl Scoped {
    fn set(forms: Forms) -> Scoped {
        Scoped(Some(FORMS.with(|f| f.replace(forms))))
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            FORMS.with(|f| *f.borrow_mut() = previous);
        }
    }
}

fn key(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

/// The token mapper the engine is built with.
pub fn map_token(token: Token, pos: Position) -> Token {
    match &token {
        Token::Identifier(word) if word.as_str() == "step" => {
            let starts_form = FORMS.with(|f| match &*f.borrow() {
                Forms::Unknown => true,
                Forms::Scanning => false,
                Forms::At(set) => set.contains(&key(pos)),
            });
            if starts_form {
                Token::Identifier(Box::new(KEY.into()))
            } else {
                token
            }
        }
        _ => token,
    }
}

/// Compile `text` with `step` forms recognised and every other `step` an identifier. A `#!`
/// first line is blanked (not removed), so line numbers stay those of the file.
pub fn compile(engine: &Engine, text: &str) -> Result<AST, ParseError> {
    let text = without_shebang(text);
    let forms = scan(engine, &text);
    let _scoped = Scoped::set(Forms::At(forms));
    engine.compile(&*text)
}

fn without_shebang(text: &str) -> Cow<'_, str> {
    if text.starts_with("#!") {
        let end = text.find('\n').unwrap_or(text.len());
        Cow::Owned(text[end..].to_string())
    } else {
        Cow::Borrowed(text)
    }
}

/// Positions of each `step` word directly followed by a string literal.
fn scan(engine: &Engine, text: &str) -> HashSet<(usize, usize)> {
    let _scoped = Scoped::set(Forms::Scanning);
    let mut forms = HashSet::new();
    let inputs = [text];
    let (tokens, control) = engine.lex(&inputs);
    // Brace depth inside each open `${ ... }`: at its closing brace the tokenizer must be told
    // to read text again, as the parser does.
    let mut interpolations: Vec<usize> = Vec::new();
    let mut previous_step: Option<Position> = None;
    for (token, pos) in tokens {
        if let Token::StringConstant(_) | Token::InterpolatedString(_) = token
            && let Some(at) = previous_step
        {
            forms.insert(key(at));
        }
        previous_step = None;
        match token {
            Token::EOF => break,
            Token::InterpolatedString(_) => interpolations.push(0),
            Token::LeftBrace | Token::MapStart => {
                if let Some(depth) = interpolations.last_mut() {
                    *depth += 1;
                }
            }
            Token::RightBrace => {
                if let Some(depth) = interpolations.last_mut() {
                    *depth = depth.saturating_sub(1);
                    if *depth == 0 {
                        interpolations.pop();
                        control.borrow_mut().is_within_text = true;
                    }
                }
            }
            Token::Identifier(ref word) if word.as_str() == "step" => previous_step = Some(pos),
            _ => {}
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut engine = Engine::new();
        #[allow(deprecated)]
        engine.on_parse_token(|token, pos, _| map_token(token, pos));
        engine.register_custom_syntax_with_state_raw(
            KEY,
            |symbols, _, _| {
                Ok(match symbols.len() {
                    1 => Some("$string$".into()),
                    2 => Some("$block$".into()),
                    _ => None,
                })
            },
            false,
            |ctx, inputs, _| ctx.eval_expression_tree(&inputs[1]),
        );
        engine
    }

    fn run(code: &str) -> i64 {
        let engine = engine();
        let ast = compile(&engine, code).unwrap_or_else(|e| panic!("{code}: {e}"));
        engine
            .eval_ast::<i64>(&ast)
            .unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    #[test]
    fn step_is_both_a_form_and_an_identifier() {
        assert_eq!(run(r#"let step = 2; step "a" { step += 1; } step"#), 3);
        assert_eq!(run("let o = #{ step: 4 }; o.step"), 4);
        assert_eq!(
            run("let step = 3; let n = 0; for i in range(0, 10, step) { n += 1; } n"),
            4
        );
        assert_eq!(run("fn step(x) { x * 2 } step(21)"), 42);
        // A step's name is a plain string, as before; an interpolated one says so.
        let err = compile(&engine(), "let x = 5; step `at ${x}` { x += 1; }").unwrap_err();
        assert_eq!(err.err_type().to_string(), "Expecting a string");
        // Text after an interpolation is lexed as text, so later forms are still found.
        assert_eq!(
            run(
                "let x = 1; step \"a\" { let s = `${#{ a: `${x}` }.a} }`; } step \"b\" { x += 1; } step \"c\" { x += 1; } x"
            ),
            3
        );
        assert_eq!(run("let f = |step| step + 1; f.call(1)"), 2);
    }

    #[test]
    fn a_shebang_line_keeps_line_numbers() {
        let engine = engine();
        let err = compile(&engine, "#!/usr/bin/env ripcord run\nlet x = ;\n").unwrap_err();
        assert_eq!(err.position().line(), Some(2));
        assert_eq!(run("#!/usr/bin/env ripcord\n40 + 2"), 42);
    }
}
