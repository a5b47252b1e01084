//! The error type native functions return, and its conversion into a positioned Rhai error.

use std::fmt;

use rhai::{EvalAltResult, NativeCallContext, Position};

/// A native function's failure: what went wrong, and what the operator can do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
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
        EvalAltResult::ErrorRuntime(self.to_string().into(), pos).into()
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
