//! Human progress on stderr: steps with outcome and duration, changes made or simulated.
//!
//! Colour only on a terminal and never when `NO_COLOR` is set. Every text is redacted.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::secrets::Secrets;
use crate::time::human;

#[derive(Debug, Clone)]
pub struct Output {
    color: bool,
    quiet: bool,
    secrets: Secrets,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

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

/// One line of the script's own output on stdout.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    note_write(writeln!(out, "{text}"));
}

/// A line on stderr that must not panic when stderr is closed.
pub fn eprint_line(text: &str) {
    let mut err = std::io::stderr().lock();
    note_write(writeln!(err, "{text}"));
}

/// True if stderr is a terminal and `NO_COLOR` is unset or empty.
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
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

    pub fn color(&self) -> bool {
        self.color
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
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
            self.paint(CYAN, "▶"),
            self.paint(BOLD, name)
        ));
    }

    /// A step's end with its own duration, and the operator's wait apart when there was one.
    pub fn step_end(&self, name: &str, status: &str, d: Duration, wait: Duration) {
        let (mark, style) = match status {
            "ok" => ("✓", GREEN),
            "skipped" | "resumed" => ("↷", YELLOW),
            _ => ("✗", RED),
        };
        let dur = if wait.is_zero() {
            format!("({})", human(d))
        } else {
            format!("({}; waited {} for the operator)", human(d), human(wait))
        };
        let dur = self.paint(DIM, &dur);
        let status = if status == "ok" {
            String::new()
        } else {
            format!(" — {status}")
        };
        self.line(&format!("{} {name}{status} {dur}", self.paint(style, mark)));
    }

    pub fn step_skipped(&self, name: &str) {
        self.line(&format!("{} {name} — skipped", self.paint(YELLOW, "↷")));
    }

    pub fn step_resumed(&self, name: &str) {
        self.line(&format!(
            "{} {name} — done by the interrupted run, skipped",
            self.paint(YELLOW, "↷")
        ));
    }

    /// A change that a dry run does not make.
    pub fn would(&self, summary: &str) {
        self.line(&format!("  {} {summary}", self.paint(YELLOW, "would:")));
    }

    /// A `confirm` a dry run answers itself: a real run stops here for the operator.
    pub fn would_ask(&self, message: &str) {
        self.line(&format!("  {} {message}", self.paint(YELLOW, "would ask:")));
    }

    pub fn change(&self, summary: &str) {
        self.line(&format!("  {} {summary}", self.paint(DIM, "→")));
    }

    pub fn skipped_change(&self, summary: &str) {
        self.line(&format!("  {} {summary}", self.paint(YELLOW, "skipped:")));
    }

    pub fn change_failed(&self, summary: &str, error: &str) {
        self.line(&format!(
            "  {} {summary}: {error}",
            self.paint(RED, "failed:")
        ));
    }

    pub fn note(&self, text: &str) {
        self.line(&format!("  {}", self.paint(DIM, text)));
    }

    pub fn info(&self, text: &str) {
        self.line(&format!("  {text}"));
    }

    pub fn warn(&self, text: &str) {
        self.line(&format!("  {} {text}", self.paint(YELLOW, "warning:")));
    }

    pub fn error(&self, text: &str) {
        self.line(&format!("  {} {text}", self.paint(RED, "error:")));
    }

    /// A block of text printed as is (rendered errors, summaries).
    pub fn raw(&self, text: &str) {
        self.line(text);
    }
}
