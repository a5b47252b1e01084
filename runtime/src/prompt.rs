//! Asking the operator on the controlling terminal (not stdin, which a pipeline may own).

use std::io::{BufRead, BufReader, IsTerminal, Write};

/// Ask a yes/no question on `/dev/tty`. `None` when there is no terminal to ask on.
pub fn ask_yes_no(message: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let mut writer = tty.try_clone().ok()?;
    let mut reader = BufReader::new(tty);
    loop {
        write!(writer, "? {message} [y/N] ").ok()?;
        writer.flush().ok()?;
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Some(true),
            "" | "n" | "no" => return Some(false),
            _ => {
                let _ = writeln!(writer, "  please answer y or n");
            }
        }
    }
}
