//! What a host is built from, and what it keeps for sub-runs and undo.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rhai::FnPtr;
use serde_json::Value;

use super::{Injection, Mode, Prompter};
use crate::limits::Limits;
use crate::replay::Replay;
use crate::secrets::Secrets;

/// A compensation registered by `undo(|| ...)`.
#[derive(Clone)]
pub struct UndoAction {
    pub step: String,
    pub action: FnPtr,
}

/// What `runbook::run` needs to start a sub-run like the current run.
#[derive(Clone)]
pub struct SubRunner {
    pub modules: fn() -> Vec<crate::native::NativeModule>,
    pub config: Option<std::path::PathBuf>,
    pub journal: Option<std::path::PathBuf>,
    pub dirs: Vec<std::path::PathBuf>,
    pub yes: bool,
    pub interrupt: Arc<AtomicBool>,
    pub prompter: Option<Arc<dyn Prompter>>,
    /// The caller's `--limit` settings, which apply to its sub-runs too.
    pub limits: Vec<crate::limits::Setting>,
}

/// Settings for one run's host.
pub struct HostOptions {
    pub mode: Mode,
    pub yes: bool,
    pub injections: Vec<Injection>,
    pub secrets: Secrets,
    /// The `cfg` map as JSON, for natives that read settings (e.g. `[service] scope`).
    pub config: Value,
    pub deadline: Option<Duration>,
    pub interrupt: Arc<AtomicBool>,
    /// Steps done by an earlier run (`ripcord resume`), by ordinal.
    pub completed_steps: Vec<(usize, String)>,
    /// The step the resumed run was in when it stopped, and the changes it made there.
    pub replay: Option<Replay>,
    pub limits: Limits,
    /// `--json`: keep `print` output for the result object instead of writing it to stdout.
    pub capture_output: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            mode: Mode::Run,
            yes: false,
            injections: Vec::new(),
            secrets: Secrets::default(),
            config: Value::Object(Default::default()),
            deadline: None,
            interrupt: Arc::new(AtomicBool::new(false)),
            completed_steps: Vec::new(),
            replay: None,
            limits: Limits::default(),
            capture_output: false,
        }
    }
}
