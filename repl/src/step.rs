//! Step-through: before every step and every change the operator answers with one key.
//!
//! `c` continues, `s` skips (the step, or that one change), `a` aborts the run, and at a step `i`
//! opens an inspect prompt with the script's variables in scope. Enter alone answers nothing (as
//! Ansible's `--step` does not take it for yes): a stray or typed-ahead Enter must not let a change
//! through, so the prompt is asked again. The host journals every answer, every inspect input and
//! how long the operator took.

use std::io::Write;

use ripcord_runtime::Change;
use ripcord_runtime::host::{Decision, Inspect, Prompter};
use ripcord_runtime::term::{self, Stream, style};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::tty::{Key, read_key};

/// The prompter for `ripcord run --step` and `ripcord repl SCRIPT`.
pub struct StepPrompter {
    color: bool,
}

impl Default for StepPrompter {
    fn default() -> Self {
        Self::new()
    }
}

impl StepPrompter {
    pub fn new() -> StepPrompter {
        StepPrompter {
            color: term::colors(Stream::Stderr),
        }
    }

    fn bold(&self, text: &str) -> String {
        term::paint(self.color, style::STRONG, text)
    }

    /// Ask until one of `keys` is pressed; anything else, Enter included, asks again.
    fn ask(&self, question: &str, inspect: bool) -> Answer {
        let keys = if inspect {
            "[c]ontinue [s]kip [a]bort [i]nspect"
        } else {
            "[c]ontinue [s]kip [a]bort"
        };
        loop {
            say(&format!("{question} — {keys} "));
            let answer = match read_key() {
                Some(Key::Char('c')) => Answer::Decided(Decision::Continue),
                Some(Key::Char('s')) => Answer::Decided(Decision::Skip),
                Some(Key::Char('a') | Key::Cancel) | None => Answer::Decided(Decision::Abort),
                Some(Key::Char('i')) if inspect => Answer::Inspect,
                Some(key) => {
                    let pressed = match key {
                        Key::Char(c) => format!("`{c}`"),
                        _ => "Enter".to_string(),
                    };
                    say_line(&format!(
                        "{pressed} does not answer: press c, s, a{}",
                        if inspect { " or i" } else { "" }
                    ));
                    continue;
                }
            };
            say_line(match answer {
                Answer::Decided(Decision::Continue) => "continue",
                Answer::Decided(Decision::Skip) => "skip",
                Answer::Decided(Decision::Abort) => "abort",
                Answer::Inspect => "inspect",
            });
            return answer;
        }
    }
}

enum Answer {
    Decided(Decision),
    Inspect,
}

impl Prompter for StepPrompter {
    fn before_step(&self, step: &str, position: &str, inspect: &mut dyn Inspect) -> Decision {
        let question = format!("⏸ step {} at {position}", self.bold(&format!("\"{step}\"")));
        loop {
            match self.ask(&question, true) {
                Answer::Decided(d) => return d,
                Answer::Inspect => inspect_loop(inspect),
            }
        }
    }

    fn before_change(&self, change: &Change) -> Decision {
        let question = format!("  change: {}", change.summary);
        match self.ask(&question, false) {
            Answer::Decided(d) => d,
            Answer::Inspect => Decision::Abort,
        }
    }

    fn confirm(&self, message: &str) -> Option<bool> {
        loop {
            say(&format!("? {message} [y/N] "));
            let answer = match read_key()? {
                Key::Char('y') => true,
                Key::Char('n') | Key::Enter | Key::Cancel => false,
                Key::Char(_) => {
                    say_line("press y or n");
                    continue;
                }
            };
            say_line(if answer { "yes" } else { "no" });
            return Some(answer);
        }
    }
}

/// Evaluate operator input with the script's variables in scope until an empty line, `:resume`,
/// or Ctrl-D.
fn inspect_loop(inspect: &mut dyn Inspect) {
    say_line(
        "  inspect: expressions see the script's variables (`x`, `x = 5`); an empty line or :resume goes back",
    );
    let Ok(mut editor) = DefaultEditor::new() else {
        say_line("  cannot open a line editor on this terminal");
        return;
    };
    loop {
        let line = match editor.readline("inspect> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => return,
        };
        let code = line.trim();
        if code.is_empty() || code == ":resume" {
            return;
        }
        let _ = editor.add_history_entry(code);
        match inspect.eval(code) {
            Ok(value) if value.is_empty() => {}
            Ok(value) => say_line(&value),
            Err(message) => say_line(&format!("error: {message}")),
        }
    }
}

fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}

fn say_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
