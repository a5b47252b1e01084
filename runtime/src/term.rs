//! The one place that decides what ripcord may send to a terminal: colour (SGR styles) and cursor
//! movement (live command output, spinners, progress bars). Every writer of styled text asks
//! [`colors`]; every writer that redraws lines asks [`cursor`]. Output that is not coloured also
//! passes through an `anstream` stream that strips escape codes, so a style that slipped through
//! (a rendered error, a command's own colours) never reaches a pipe or a log file.
//!
//! Colour, in order (the first rule that applies wins):
//! 1. `NO_COLOR` set and not empty: no colour (<https://no-color.org>);
//! 2. `CLICOLOR_FORCE` set, not empty and not `0`: colour, even into a pipe (for `less -R`);
//! 3. `CLICOLOR=0`: no colour;
//! 4. the stream is not a terminal, or `TERM` is unset or `dumb`: no colour;
//! 5. otherwise colour.
//!
//! Cursor movement needs a terminal whose `TERM` is not `dumb`; the colour variables do not
//! change it (`NO_COLOR` is about colour, and `CLICOLOR_FORCE` must not put redraws into a log).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use anstream::{AutoStream, ColorChoice};
pub use anstyle::Style;
use anstyle::{AnsiColor, Effects};

/// A standard stream; each is decided on its own (`ripcord run x 2>log` may colour stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// True if styled text may be written to `stream`. Decided once per process and stream: the
/// environment and the streams do not change while ripcord runs.
pub fn colors(stream: Stream) -> bool {
    static DECIDED: [OnceLock<bool>; 2] = [OnceLock::new(), OnceLock::new()];
    *DECIDED[stream.index()]
        .get_or_init(|| decide_color(&|name| std::env::var_os(name), stream.is_terminal()))
}

/// True if lines may be redrawn in place on `stream`: a terminal, and `TERM` is not `dumb`.
pub fn cursor(stream: Stream) -> bool {
    stream.is_terminal() && decide_cursor(&|name| std::env::var_os(name))
}

fn decide_color(var: &dyn Fn(&str) -> Option<OsString>, terminal: bool) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if var("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    if var("CLICOLOR").is_some_and(|v| v == "0") {
        return false;
    }
    terminal && var("TERM").is_some_and(|t| !t.is_empty() && t != "dumb")
}

fn decide_cursor(var: &dyn Fn(&str) -> Option<OsString>) -> bool {
    var("TERM").is_none_or(|t| t != "dumb")
}

/// `stream`, stripping every escape code from what is written unless [`colors`] allows them.
pub fn writer<W: anstream::stream::RawStream>(raw: W, stream: Stream) -> AutoStream<W> {
    let choice = if colors(stream) {
        ColorChoice::AlwaysAnsi
    } else {
        ColorChoice::Never
    };
    AutoStream::new(raw, choice)
}

/// Write one line to stderr through [`writer`].
pub fn eprintln(text: &str) -> std::io::Result<()> {
    writeln!(writer(std::io::stderr().lock(), Stream::Stderr), "{text}")
}

/// Write one line to stdout through [`writer`].
pub fn println(text: &str) -> std::io::Result<()> {
    writeln!(writer(std::io::stdout().lock(), Stream::Stdout), "{text}")
}

/// The styles ripcord uses, by meaning.
pub mod style {
    use super::{AnsiColor, Effects, Style};

    pub const STRONG: Style = Style::new().effects(Effects::BOLD);
    pub const FAINT: Style = Style::new().effects(Effects::DIMMED);
    pub const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
    pub const BAD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
    pub const NOTICE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
    pub const ACTIVE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
}

/// `text` in `style` when `color`, else as is.
pub fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the variables, on a terminal and not: the expected answer is the
    /// rule list in the module header, written out again independently.
    #[test]
    fn the_colour_rules_hold_for_every_combination() {
        let values = [None, Some(""), Some("0"), Some("1")];
        let terms = [None, Some("dumb"), Some("xterm-256color")];
        let mut cells = 0;
        for no_color in values {
            for force in values {
                for clicolor in values {
                    for term in terms {
                        for terminal in [false, true] {
                            let env = |name: &str| {
                                match name {
                                    "NO_COLOR" => no_color,
                                    "CLICOLOR_FORCE" => force,
                                    "CLICOLOR" => clicolor,
                                    "TERM" => term,
                                    _ => None,
                                }
                                .map(OsString::from)
                            };
                            let expected = if no_color.is_some_and(|v| !v.is_empty()) {
                                false
                            } else if matches!(force, Some("1")) {
                                true
                            } else if clicolor == Some("0") {
                                false
                            } else {
                                terminal && term == Some("xterm-256color")
                            };
                            assert_eq!(
                                decide_color(&env, terminal),
                                expected,
                                "NO_COLOR={no_color:?} CLICOLOR_FORCE={force:?} CLICOLOR={clicolor:?} TERM={term:?} terminal={terminal}"
                            );
                            assert_eq!(decide_cursor(&env), term != Some("dumb"));
                            cells += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cells, 4 * 4 * 4 * 3 * 2);
    }

    #[test]
    fn a_stream_without_colour_strips_what_slipped_through() {
        let mut out = AutoStream::new(Vec::new(), ColorChoice::Never);
        write!(out, "{}", paint(true, style::BAD, "failed")).unwrap();
        assert_eq!(out.into_inner(), b"failed");
    }
}
