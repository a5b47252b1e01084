//! A small builder around the real binary: each test gets its own temp dir, journal and state.

#![allow(dead_code)]

pub mod child;
pub mod receiver;
pub mod systemd;
mod test;

pub use child::{Detached, Guarded};
pub use test::Test;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

/// A sandbox for one test: a temp working directory with its own journal and XDG state.
pub struct Sandbox {
    pub dir: TempDir,
}

/// What a finished `ripcord` process left.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Outcome {
    fn from(out: std::process::Output) -> Outcome {
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// The `--json` result object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn journal(&self) -> PathBuf {
        self.join(".state/ripcord/journal.db")
    }

    /// Write a file (creating parent folders) and return its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A `ripcord` command run in the sandbox, no terminal, no colour, in a time zone far from
    /// UTC: every time ripcord writes or reads is UTC whatever the host's zone.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ripcord"));
        cmd.args(args)
            .current_dir(self.path())
            .env("XDG_STATE_HOME", self.join(".state"))
            .env("XDG_CONFIG_HOME", self.join(".config"))
            .env("XDG_CACHE_HOME", self.join(".cache"))
            .env_remove("RIPCORD_CONFIG")
            .env_remove("RIPCORD_JOURNAL")
            .env_remove("RIPCORD_PATH")
            .env("NO_COLOR", "1")
            .env("TZ", "Asia/Kolkata")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        self.command(args).output().expect("run ripcord").into()
    }
}
