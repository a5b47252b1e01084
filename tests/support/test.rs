//! A fluent test of one `ripcord` command, in the style of the `just` crate's tests:
//!
//! ```ignore
//! sb.test()
//!     .args(["run", "b.rhai", "--json"])
//!     .status(1)
//!     .stderr_contains("old.db already exists")
//!     .run();
//! ```
//!
//! Every expectation is checked after the command ends and all the unmet ones are reported
//! together, with the command line, its folder, its exit status, stdout and stderr, so a failure
//! says what happened without a rerun. A test that sets no status expects 0.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::Stdio;

use super::{Outcome, Sandbox};

/// The sandbox a test runs in: its own, or one the caller keeps for later commands.
enum Place<'a> {
    Owned(Sandbox),
    Borrowed(&'a Sandbox),
}

/// One expectation on a finished command.
enum Expect {
    StderrContains(String),
    StderrLacks(String),
    StdoutContains(String),
    StdoutLacks(String),
    Stdout(String),
}

impl Expect {
    /// What is wrong, or None when the outcome meets it.
    fn unmet(&self, out: &Outcome) -> Option<String> {
        let (stream, text, needle, wanted) = match self {
            Expect::StderrContains(s) => ("stderr", &out.stderr, s, true),
            Expect::StderrLacks(s) => ("stderr", &out.stderr, s, false),
            Expect::StdoutContains(s) => ("stdout", &out.stdout, s, true),
            Expect::StdoutLacks(s) => ("stdout", &out.stdout, s, false),
            Expect::Stdout(s) => {
                return (out.stdout != *s).then(|| format!("stdout is not exactly:\n{s}"));
            }
        };
        match (text.contains(needle.as_str()), wanted) {
            (false, true) => Some(format!("{stream} lacks `{needle}`")),
            (true, false) => Some(format!("{stream} has `{needle}`, which it must not")),
            _ => None,
        }
    }
}

/// A `ripcord` command with its inputs and what it must do; `run` runs and checks it.
#[must_use = "a Test does nothing until `.run()`"]
pub struct Test<'a> {
    place: Place<'a>,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    dir: Option<String>,
    stdin: Option<Vec<u8>>,
    status: i32,
    expects: Vec<Expect>,
    context: Option<String>,
}

impl Sandbox {
    /// A test of a `ripcord` command in this sandbox (which outlives it, for later checks).
    pub fn test(&self) -> Test<'_> {
        Test::with_place(Place::Borrowed(self))
    }

    /// Write the runbook `name` and test `ripcord run NAME` on it (more args may follow).
    pub fn runbook(&self, name: &str, code: &str) -> Test<'_> {
        self.test().write(name, code).args(["run", name])
    }
}

impl Default for Test<'static> {
    fn default() -> Self {
        Test::new()
    }
}

impl Test<'static> {
    /// A test in a fresh sandbox of its own.
    pub fn new() -> Test<'static> {
        Test::with_place(Place::Owned(Sandbox::new()))
    }
}

impl<'a> Test<'a> {
    fn with_place(place: Place<'a>) -> Test<'a> {
        Test {
            place,
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            stdin: None,
            status: 0,
            expects: Vec::new(),
            context: None,
        }
    }

    fn sandbox(&self) -> &Sandbox {
        match &self.place {
            Place::Owned(sb) => sb,
            Place::Borrowed(sb) => sb,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Write a file into the sandbox (creating parent folders) before the command runs.
    pub fn write(self, rel: &str, text: &str) -> Self {
        self.sandbox().write(rel, text);
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env.push((key.into(), None));
        self
    }

    /// Run in this folder of the sandbox rather than its root.
    pub fn current_dir(mut self, rel: &str) -> Self {
        self.dir = Some(rel.to_string());
        self
    }

    /// Feed this to standard input (the default is no input at all: /dev/null).
    pub fn stdin(mut self, text: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// Which case of a table this is, for the failure message.
    pub fn context(mut self, text: impl AsRef<str>) -> Self {
        self.context = Some(text.as_ref().to_string());
        self
    }

    /// The exit status the command must end with (0 unless set).
    pub fn status(mut self, code: i32) -> Self {
        self.status = code;
        self
    }

    pub fn stderr_contains(mut self, text: impl AsRef<str>) -> Self {
        self.expects
            .push(Expect::StderrContains(text.as_ref().to_string()));
        self
    }

    pub fn stderr_lacks(mut self, text: impl AsRef<str>) -> Self {
        self.expects
            .push(Expect::StderrLacks(text.as_ref().to_string()));
        self
    }

    pub fn stdout_contains(mut self, text: impl AsRef<str>) -> Self {
        self.expects
            .push(Expect::StdoutContains(text.as_ref().to_string()));
        self
    }

    pub fn stdout_lacks(mut self, text: impl AsRef<str>) -> Self {
        self.expects
            .push(Expect::StdoutLacks(text.as_ref().to_string()));
        self
    }

    /// Standard output must be exactly this.
    pub fn stdout(mut self, text: impl AsRef<str>) -> Self {
        self.expects.push(Expect::Stdout(text.as_ref().to_string()));
        self
    }

    /// Run the command, check every expectation and return what it left for further checks.
    #[track_caller]
    pub fn run(self) -> Outcome {
        let out = self.output();
        let mut unmet: Vec<String> = self.expects.iter().filter_map(|e| e.unmet(&out)).collect();
        if out.code != self.status {
            unmet.insert(
                0,
                format!("exit status {}, expected {}", out.code, self.status),
            );
        }
        if !unmet.is_empty() {
            panic!("{}", self.report(&out, &unmet));
        }
        out
    }

    fn output(&self) -> Outcome {
        let sb = self.sandbox();
        let args: Vec<&std::ffi::OsStr> = self.args.iter().map(OsString::as_os_str).collect();
        let mut cmd = sb.command(&[]);
        cmd.args(&args);
        if let Some(dir) = &self.dir {
            cmd.current_dir(sb.join(dir));
        }
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        if self.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.command_line()));
        if let Some(input) = &self.stdin {
            // A command that exits before reading all its input is not this helper's failure.
            let mut pipe = child.stdin.take().expect("piped stdin");
            let _ = pipe.write_all(input);
        }
        child.wait_with_output().expect("wait for ripcord").into()
    }

    fn command_line(&self) -> String {
        let mut line = String::from("ripcord");
        for arg in &self.args {
            let arg = arg.to_string_lossy();
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'') {
                let _ = write!(line, " '{}'", arg.replace('\'', r"'\''"));
            } else {
                let _ = write!(line, " {arg}");
            }
        }
        line
    }

    fn report(&self, out: &Outcome, unmet: &[String]) -> String {
        let mut text = self
            .context
            .as_ref()
            .map_or_else(String::new, |c| format!("{c}: "));
        let _ = writeln!(
            text,
            "`{}` in {} did not do what the test expects:",
            self.command_line(),
            self.sandbox()
                .path()
                .join(self.dir.as_deref().unwrap_or(""))
                .display()
        );
        for problem in unmet {
            let _ = writeln!(text, "  - {problem}");
        }
        let _ = write!(
            text,
            "exit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            out.code, out.stdout, out.stderr
        );
        text
    }
}

/// The helper itself must fail a test whose command does not do what it expects, and say why.
#[test]
fn unmet_expectations_fail_with_the_command_status_and_output() {
    let failure = std::panic::catch_unwind(|| {
        Test::new()
            .args(["doc", "fs::wirte"])
            .stderr_contains("no such text")
            .stdout_contains("")
            .run()
    })
    .expect_err("a wrong status and a missing text must fail the test");
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    for part in [
        "`ripcord doc fs::wirte` in ",
        "  - exit status 2, expected 0\n",
        "  - stderr lacks `no such text`\n",
        "--- stderr ---\nerror: no function `fs::wirte`",
    ] {
        assert!(message.contains(part), "`{part}` is not in:\n{message}");
    }
    let met = Test::new().args(["doc", "fs::wirte"]).status(2);
    met.stderr_contains("did you mean `fs::write`?")
        .stdout("")
        .run();
}
