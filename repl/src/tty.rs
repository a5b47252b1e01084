//! The controlling terminal: is there one, and one key at a time from it.
//!
//! Keys are read from `/dev/tty` (not stdin, which a pipeline may own) in raw mode; the previous
//! terminal settings come back when the read ends, also if it panics.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Read};
use std::os::fd::AsRawFd;

/// A key the operator pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    /// Ctrl-C or Ctrl-D at a pause.
    Cancel,
}

/// True if stdin is a terminal and `/dev/tty` can be opened: someone can answer prompts.
pub fn has_terminal() -> bool {
    std::io::stdin().is_terminal() && open().is_ok()
}

fn open() -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open("/dev/tty")
}

/// Restores the terminal settings it saved when dropped.
struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: i32) -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it for a valid fd or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // No line editing, no echo, and Ctrl-C arrives as a key so a pause can answer it.
        raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: fd is open for the life of this guard; raw is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter` on the same fd.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Read one key from the terminal. `None` when there is no terminal.
pub fn read_key() -> Option<Key> {
    let mut tty = open().ok()?;
    let _raw = RawMode::enter(tty.as_raw_fd())?;
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte) {
            Ok(0) => return Some(Key::Cancel),
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    Some(match byte[0] {
        b'\r' | b'\n' => Key::Enter,
        0x03 | 0x04 => Key::Cancel,
        b => Key::Char((b as char).to_ascii_lowercase()),
    })
}
