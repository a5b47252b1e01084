//! When is an input complete? Decided by parsing: an error at the very end of the input (an
//! unclosed block, bracket or string) asks for another line; any other error is shown.

use ripcord_runtime::rhai::{Engine, LexError, ParseError, ParseErrorType};

/// True if `text` is code (not blank, not a `:command`) that `engine` cannot parse only because
/// it stops too early: the input needs another line.
pub fn is_incomplete(engine: &Engine, text: &str) -> bool {
    if text.trim().is_empty() || text.trim_start().starts_with(':') {
        return false;
    }
    match ripcord_runtime::engine::compile(engine, text) {
        Err(e) => needs_more(text, &e),
        Ok(_) => false,
    }
}

/// True if `err` only says that `text` stops too early.
pub fn needs_more(text: &str, err: &ParseError) -> bool {
    if let ParseErrorType::BadInput(LexError::UnterminatedString) = err.err_type() {
        return unterminated_string_continues(text, err);
    }
    let (Some(line), Some(col)) = (err.position().line(), err.position().position()) else {
        // Rhai reports some end-of-input errors without a position.
        return matches!(err.err_type(), ParseErrorType::UnexpectedEOF);
    };
    let (last_line, last_len) = end_of(text);
    line > last_line || (line == last_line && col > last_len)
}

/// A back-tick string may span lines; a quoted one continues only after a trailing `\`.
fn unterminated_string_continues(text: &str, err: &ParseError) -> bool {
    let opening = err
        .position()
        .line()
        .and_then(|l| text.lines().nth(l - 1))
        .and_then(|l| l.chars().nth(err.position().position().unwrap_or(1) - 1));
    match opening {
        Some('`') => true,
        _ => text.trim_end_matches('\n').ends_with('\\'),
    }
}

/// The line number of the input's end and the length (in chars) of that line.
fn end_of(text: &str) -> (usize, usize) {
    let lines = text.split('\n').count();
    let last = text.rsplit('\n').next().unwrap_or("");
    (lines, last.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_runtime::rhai::Engine;

    fn more(text: &str) -> bool {
        match Engine::new().compile(text) {
            Ok(_) => false,
            Err(e) => needs_more(text, &e),
        }
    }

    #[test]
    fn unclosed_blocks_brackets_and_strings_continue() {
        assert!(more("fn f(x) {"));
        assert!(more("fn f(x) {\n    x + 1\n"));
        assert!(more("let a = [1,"));
        assert!(more("let m = #{ a: 1,"));
        assert!(more("let a = (1 +"));
        assert!(more("foo(1"));
        assert!(more("let s = `first line"));
        assert!(more("let s = \"first \\"));
    }

    #[test]
    fn errors_before_the_end_are_shown() {
        assert!(!more("let a = ;"));
        assert!(!more("let a = ;\nlet b = {"));
        assert!(!more("1 +* 2"));
        assert!(!more("let s = \"abc"));
    }

    #[test]
    fn complete_input_is_complete() {
        assert!(!more("40 + 2"));
        assert!(!more("fn f(x) {\n    x + 1\n}"));
    }
}
