//! What the operator watches while a step waits, on a terminal only: a command's output live
//! under its step (the last few lines in a window redrawn in place as lines arrive, left
//! collapsed to those lines when the command ends), and a spinner line with the attempt count and
//! the time so far for waits. The full text is still returned and journaled; every line is
//! redacted before it is drawn.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::secrets::Secrets;

/// How many of the latest lines the window shows.
const WINDOW: usize = 5;

/// True if stderr is a terminal that understands cursor movement (not `TERM=dumb`).
pub fn enabled() -> bool {
    crate::term::cursor(crate::term::Stream::Stderr)
}

/// The live window of one running command.
pub struct LiveTail {
    secrets: Secrets,
    lines: VecDeque<String>,
    partial: Vec<u8>,
    drawn: usize,
    width: usize,
}

impl LiveTail {
    pub fn new(secrets: Secrets) -> LiveTail {
        LiveTail {
            secrets,
            lines: VecDeque::new(),
            partial: Vec::new(),
            drawn: 0,
            width: terminal_width(),
        }
    }

    /// Take more output; the window is redrawn when a line completes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let mut complete = false;
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.push(&line[..line.len() - 1]);
            complete = true;
        }
        if complete {
            self.draw();
        }
    }

    /// The command ended: show its last, unterminated line too, and leave the window as it is.
    pub fn finish(mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.push(&rest);
            self.draw();
        }
    }

    fn push(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = self.secrets.redact(text.trim_end_matches('\r'));
        self.lines.push_back(text);
        if self.lines.len() > WINDOW {
            self.lines.pop_front();
        }
    }

    fn draw(&mut self) {
        let mut err = std::io::stderr().lock();
        if self.drawn > 0 {
            // Back to the window's first line, and clear from there down.
            let _ = write!(err, "\x1b[{}F\x1b[J", self.drawn);
        }
        // Cut to the terminal's width so every line takes exactly one row to move back over.
        let room = self.width.saturating_sub(6).max(10);
        for line in &self.lines {
            let shown: String = line
                .chars()
                .filter(|c| !c.is_control())
                .take(room)
                .collect();
            let _ = writeln!(err, "    │ {shown}");
        }
        let _ = err.flush();
        self.drawn = self.lines.len();
    }
}

/// One line redrawn in place while something is waited for: what, which attempt (once one is
/// reported), how long so far and the latest observation. Cleared when dropped, so the step's
/// own lines follow it. Start one only where [`enabled`] (or `Output::spinner`) says so.
pub struct Spinner {
    state: Arc<Mutex<SpinnerState>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

struct SpinnerState {
    label: String,
    attempt: usize,
    last: String,
}

impl Spinner {
    /// Start drawing `label` (already redacted) on stderr, ten times a second.
    pub fn start(label: String) -> Spinner {
        let state = Arc::new(Mutex::new(SpinnerState {
            label,
            attempt: 0,
            last: String::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || tick(&state, &stop))
        };
        Spinner {
            state,
            stop,
            ticker: Some(ticker),
        }
    }

    /// Attempt `n` was made and saw `last` (already redacted).
    pub fn attempt(&self, n: usize, last: String) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.attempt = n;
        state.last = last;
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}

fn tick(state: &Mutex<SpinnerState>, stop: &AtomicBool) {
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let started = Instant::now();
    let width = terminal_width().saturating_sub(1);
    let mut frame = 0;
    while !stop.load(Ordering::Relaxed) {
        let line = {
            let s = state.lock().unwrap_or_else(|p| p.into_inner());
            // A wait that counts no attempts (a service settling, a verification) shows the
            // time alone.
            let attempt = match s.attempt {
                0 => String::new(),
                n => format!("attempt {n}, "),
            };
            let mut line = format!(
                "  {} {} — {attempt}{:.1}s",
                FRAMES[frame % FRAMES.len()],
                s.label,
                started.elapsed().as_secs_f64()
            );
            if !s.last.is_empty() {
                line.push_str(&format!(" (last: {})", s.last));
            }
            line.chars()
                .filter(|c| !c.is_control())
                .take(width)
                .collect::<String>()
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
        drop(err);
        frame += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn terminal_width() -> usize {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it for a terminal fd or fails.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_redacted() {
        let secrets = Secrets::default();
        secrets.add("hunter22");
        let mut tail = LiveTail::new(secrets);
        tail.width = 200;
        for i in 0..8 {
            tail.push(format!("line {i} token=hunter22").as_bytes());
        }
        assert_eq!(tail.lines.len(), WINDOW);
        assert_eq!(
            tail.lines[0],
            format!("line 3 token={}", crate::secrets::MASK)
        );
        assert!(tail.lines.iter().all(|l| !l.contains("hunter22")));
    }
}
