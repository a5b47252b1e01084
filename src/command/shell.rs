//! `ripcord completions SHELL` and `ripcord man`: generated from the one command-line
//! declaration in `cli.rs`, so they never drift from the flags.

use std::io::Write;

use clap::CommandFactory;
use ripcord_runtime::run::exit;

use crate::app::fail;
use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ripcord", &mut out);
    emit(&out)
}

pub fn man() -> i32 {
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
        return fail(exit::FAILED, &format!("cannot render the man page: {e}"));
    }
    emit(&out)
}

/// Write to stdout; a reader that went away (`| head`) ends the command quietly.
fn emit(bytes: &[u8]) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => fail(exit::FAILED, &format!("cannot write to stdout: {e}")),
    }
}
