//! The error type native functions return, and its conversion into a positioned Rhai error.
//!
//! A script's `catch (e)` sees a failure as a string (its message, then `help: ...` on a
//! second line). The structured failure travels beside that string: the string's tag names
//! an entry of a per-thread record of recent failures, and the entry counts only while the
//! string is still exactly the one raised. A rethrown `e` therefore keeps its help, and a
//! string the script built itself (`throw "text"`, `throw "x: " + e`) is just that text.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;

use rhai::{Dynamic, EvalAltResult, ImmutableString, NativeCallContext, Position};

/// A native function's failure: what went wrong, and what the operator can do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    /// A failure of `message`. Lower layers' `String` errors carry their help on a last
    /// `help: ...` line; it is kept apart as the hint here, once, when the failure is made.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        match message.split_once("\nhelp: ") {
            Some((message, hint)) => Failure::new_as_is(message).hint(hint),
            None => Failure::new_as_is(message),
        }
    }

    /// A failure of exactly this text, a `help:` line in it included (what a script threw).
    pub fn new_as_is(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
        }
    }

    /// What to try next; rendered as `help: ...` under the error.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A Rhai runtime error at the native call's position (Rhai leaves it empty otherwise).
    pub fn at(self, ctx: &NativeCallContext) -> Box<EvalAltResult> {
        self.at_position(ctx.call_position())
    }

    pub fn at_position(self, pos: Position) -> Box<EvalAltResult> {
        EvalAltResult::ErrorRuntime(self.into_value(), pos).into()
    }

    /// The string a script sees, tagged with this failure's entry in the record.
    pub fn into_value(self) -> Dynamic {
        let text = ImmutableString::from(self.to_string());
        let mut value = Dynamic::from(text.clone());
        value.set_tag(RECORD.with(|r| r.borrow_mut().remember(text, self)));
        value
    }

    /// The failure a thrown value was raised as: `None` for a value no native raised, or
    /// one the script has changed since.
    pub fn of_value(value: &Dynamic) -> Option<Failure> {
        let text = value.read_lock::<ImmutableString>()?;
        RECORD.with(|r| r.borrow().find(value.tag(), &text))
    }
}

/// The type of `Dynamic::tag`.
type Tag = i32;

/// Recent failures by tag, newest first; the oldest is forgotten past `KEPT`.
#[derive(Default)]
struct Record {
    entries: VecDeque<(Tag, ImmutableString, Failure)>,
    last_tag: Tag,
}

/// How many failures a thread remembers: far more than a script holds caught at once.
const KEPT: usize = 256;

thread_local! {
    static RECORD: RefCell<Record> = RefCell::new(Record::default());
}

impl Record {
    fn remember(&mut self, text: ImmutableString, failure: Failure) -> Tag {
        // Tags start at 1: 0 is every value's default tag.
        self.last_tag = self.last_tag.checked_add(1).unwrap_or(1);
        self.entries.push_front((self.last_tag, text, failure));
        self.entries.truncate(KEPT);
        self.last_tag
    }

    fn find(&self, tag: Tag, text: &ImmutableString) -> Option<Failure> {
        self.entries
            .iter()
            .find(|(t, s, _)| *t == tag && s == text)
            .map(|(_, _, failure)| failure.clone())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhelp: {hint}")?;
        }
        Ok(())
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::new(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::new(message)
    }
}

/// Result of a native function body.
pub type NativeResult<T> = Result<T, Failure>;

/// Result of a function registered with Rhai.
pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// A native body's result as the registered function's, the failure placed at the call:
/// `body().at(&ctx)` for `body().map_err(|f| f.at(&ctx))`.
pub trait At<T> {
    fn at(self, ctx: &NativeCallContext) -> RhaiResult<T>;
}

impl<T> At<T> for NativeResult<T> {
    fn at(self, ctx: &NativeCallContext) -> RhaiResult<T> {
        self.map_err(|f| f.at(ctx))
    }
}

/// Turn any error into a positioned Rhai error with a leading context sentence.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> NativeResult<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> NativeResult<T> {
        self.map_err(|e| Failure::new(format!("{}: {e}", what())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Failure {
        Failure::new("cannot remove d: it is a folder").hint("pass #{ recursive: true }")
    }

    #[test]
    fn a_help_line_of_a_lower_layers_message_is_the_hint() {
        assert_eq!(
            Failure::new("a\nhelp: b"),
            Failure::new_as_is("a").hint("b")
        );
        assert_eq!(Failure::new_as_is("a\nhelp: b").hint, None);
    }

    #[test]
    fn a_raised_value_is_the_rendered_string_and_finds_its_failure() {
        let value = failure().into_value();
        assert_eq!(
            value.to_string(),
            "cannot remove d: it is a folder\nhelp: pass #{ recursive: true }"
        );
        assert_eq!(Failure::of_value(&value), Some(failure()));
        assert_eq!(Failure::of_value(&value.clone()), Some(failure()));
    }

    #[test]
    fn a_string_with_the_same_text_but_not_raised_is_no_failure() {
        let raised = failure().into_value();
        let typed = Dynamic::from(raised.to_string());
        assert_eq!(Failure::of_value(&typed), None);
    }

    #[test]
    fn a_changed_string_keeping_the_tag_is_no_failure() {
        let raised = failure().into_value();
        let mut changed = Dynamic::from(format!("{raised}!"));
        changed.set_tag(raised.tag());
        assert_eq!(Failure::of_value(&changed), None);
        assert_eq!(Failure::of_value(&Dynamic::from(1_i64)), None);
    }
}
