//! `ripcord completions SHELL` and `ripcord man`: generated from the one command-line
//! declaration in `cli.rs`, so they never drift from the flags.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::machine::write_stdout;

pub fn completions(shell: clap_complete::Shell) -> Result {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ripcord", &mut out);
    write_stdout(&out)
}

pub fn man() -> Result {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::failed(format!("cannot render the man page: {e}")))?;
    write_stdout(&out)
}
