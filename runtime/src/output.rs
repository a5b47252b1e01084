//! Human progress on stderr: steps with outcome and duration, changes made or simulated.
//!
//! Colour as `term` decides for stderr; every text is redacted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::secrets::Secrets;
use crate::status::StepStatus;
use crate::term::{self, Stream, Style, style};
use crate::time::human;

#[derive(Debug, Clone)]
pub struct Output {
    color: bool,
    quiet: bool,
    secrets: Secrets,
}

/// Set when a write to stdout or stderr finds the reader gone (`ripcord run x | head`): the run
/// stops at its next safe point instead of writing into the void or panicking.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// True once stdout or stderr has been found closed.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Note a failed write; only a broken pipe means the reader is gone.
pub fn note_write(result: std::io::Result<()>) {
    if let Err(e) = result
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// One line of the script's own output on stdout (escape codes stripped unless stdout may be
/// coloured).
pub fn print_stdout(text: &str) {
    note_write(term::println(text));
}

/// A line on stderr that must not panic when stderr is closed.
pub fn eprint_line(text: &str) {
    note_write(term::eprintln(text));
}

/// True if what goes to stderr may be coloured (see `term`).
pub fn use_color() -> bool {
    term::colors(Stream::Stderr)
}

impl Output {
    pub fn new(secrets: Secrets) -> Output {
        Output {
            color: use_color(),
            quiet: false,
            secrets,
        }
    }

    pub fn quiet(mut self, quiet: bool) -> Output {
        self.quiet = quiet;
        self
    }

    /// True if a running command's output is drawn live under its step: on a terminal that
    /// can move its cursor, unless the run is quiet.
    pub fn live(&self) -> bool {
        !self.quiet && crate::live::enabled()
    }

    /// A spinner line for a wait (label redacted) when live output is drawn; cleared when the
    /// returned value is dropped.
    pub fn spinner(&self, label: &str) -> Option<crate::live::Spinner> {
        self.live()
            .then(|| crate::live::Spinner::start(self.secrets.redact(label)))
    }

    pub fn color(&self) -> bool {
        self.color
    }

    fn paint(&self, style: Style, text: &str) -> String {
        term::paint(self.color, style, text)
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        eprint_line(&self.secrets.redact(text));
    }

    pub fn step_start(&self, name: &str) {
        self.line(&format!(
            "{} {}",
            self.paint(style::ACTIVE, "▶"),
            self.paint(style::STRONG, name)
        ));
    }

    /// A step's end with its own duration, and the operator's wait apart when there was one.
    pub fn step_end(&self, name: &str, status: StepStatus, d: Duration, wait: Duration) {
        let (mark, style) = match status {
            StepStatus::Ok => ("✓", style::GOOD),
            StepStatus::Skipped | StepStatus::Resumed => ("↷", style::NOTICE),
            _ => ("✗", style::BAD),
        };
        let dur = if wait.is_zero() {
            format!("({})", human(d))
        } else {
            format!("({}; waited {} for the operator)", human(d), human(wait))
        };
        let dur = self.paint(style::FAINT, &dur);
        let status = if status == StepStatus::Ok {
            String::new()
        } else {
            format!(" — {status}")
        };
        self.line(&format!("{} {name}{status} {dur}", self.paint(style, mark)));
    }

    pub fn step_skipped(&self, name: &str) {
        self.line(&format!(
            "{} {name} — skipped",
            self.paint(style::NOTICE, "↷")
        ));
    }

    pub fn step_resumed(&self, name: &str) {
        self.line(&format!(
            "{} {name} — done by the interrupted run, skipped",
            self.paint(style::NOTICE, "↷")
        ));
    }

    /// A change that a dry run does not make.
    pub fn would(&self, summary: &str) {
        self.line(&format!(
            "  {} {summary}",
            self.paint(style::NOTICE, "would:")
        ));
    }

    /// A `confirm` a dry run answers itself: a real run stops here for the operator.
    pub fn would_ask(&self, message: &str) {
        self.line(&format!(
            "  {} {message}",
            self.paint(style::NOTICE, "would ask:")
        ));
    }

    pub fn change(&self, summary: &str) {
        self.line(&format!("  {} {summary}", self.paint(style::FAINT, "→")));
    }

    pub fn skipped_change(&self, summary: &str) {
        self.line(&format!(
            "  {} {summary}",
            self.paint(style::NOTICE, "skipped:")
        ));
    }

    pub fn change_failed(&self, summary: &str, error: &str) {
        self.line(&format!(
            "  {} {summary}: {error}",
            self.paint(style::BAD, "failed:")
        ));
    }

    pub fn note(&self, text: &str) {
        self.line(&format!("  {}", self.paint(style::FAINT, text)));
    }

    pub fn info(&self, text: &str) {
        self.line(&format!("  {text}"));
    }

    pub fn warn(&self, text: &str) {
        self.line(&format!(
            "  {} {text}",
            self.paint(style::NOTICE, "warning:")
        ));
    }

    pub fn error(&self, text: &str) {
        self.line(&format!("  {} {text}", self.paint(style::BAD, "error:")));
    }

    /// A block of text printed as is (rendered errors, summaries).
    pub fn raw(&self, text: &str) {
        self.line(text);
    }
}
