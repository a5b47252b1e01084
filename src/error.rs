//! The command line's one error type. Every command returns `Result<(), Error>`; `app` shows
//! the error once and exits with its code, so no command prints its own failure.

use ripcord_runtime::error::{Diagnostic, SourceCache};
use ripcord_runtime::run::{ErrorReport, exit};

#[derive(Debug)]
pub enum Error {
    /// What the command could not do: its message and `help:` on stderr, and with `--json`
    /// the error object (docs/json.md) on stdout as well.
    Failed {
        code: i32,
        // Boxed: every command returns this, and a large `Err` would make each `Ok` large too.
        diagnostic: Box<Diagnostic>,
        json: bool,
    },
    /// The command has already said what happened (a run's summary, `check`'s findings): only
    /// its exit code is left.
    Exit(i32),
}

pub type Result<T = (), E = Error> = std::result::Result<T, E>;

impl Error {
    /// Exit 2: the command line asked for something that cannot be done; nothing was changed.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(exit::USAGE, message)
    }

    /// Exit 1: the command was right but could not finish (a file, the journal, stdout).
    pub fn failed(message: impl Into<String>) -> Error {
        Error::new(exit::FAILED, message)
    }

    /// A message from a lower layer may carry its own `help:` line; it is kept as help.
    pub fn new(code: i32, message: impl Into<String>) -> Error {
        Error::Failed {
            code,
            diagnostic: Box::new(Diagnostic::from_text(message)),
            json: false,
        }
    }

    /// What to do next, shown as the `help:` line.
    pub fn help(self, help: impl Into<String>) -> Error {
        match self {
            Error::Failed {
                code,
                diagnostic,
                json,
            } => Error::Failed {
                code,
                diagnostic: Box::new(diagnostic.help(help)),
                json,
            },
            exit => exit,
        }
    }

    /// With `--json` the error object also goes to stdout, for the pipeline reading it.
    pub fn json(self, on: bool) -> Error {
        match self {
            Error::Failed {
                code, diagnostic, ..
            } => Error::Failed {
                code,
                diagnostic,
                json: on,
            },
            exit => exit,
        }
    }

    /// `Ok` for exit code 0, else the code of an outcome the command has already shown.
    pub fn exit(code: i32) -> Result {
        match code {
            exit::OK => Ok(()),
            code => Err(Error::Exit(code)),
        }
    }

    /// Show the error (the one place a command's failure is printed) and return its exit code.
    pub fn report(&self) -> i32 {
        match self {
            Error::Exit(code) => *code,
            Error::Failed {
                code,
                diagnostic,
                json,
            } => {
                if *json {
                    crate::machine::print_error(*code, error_object(diagnostic));
                }
                let mut sources = SourceCache::default();
                let color = ripcord_runtime::output::use_color();
                // Through the stream that strips colour where stderr takes none.
                ripcord_runtime::output::eprint_line(&diagnostic.render(&mut sources, color));
                *code
            }
        }
    }
}

fn error_object(d: &Diagnostic) -> ErrorReport {
    ErrorReport {
        message: d.message.clone(),
        location: d.location(),
        step: None,
        notes: d.notes.clone(),
        help: d.help.clone(),
    }
}
