//! What a host is built from, and what it keeps for sub-runs and undo.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rhai::{Dynamic, FnPtr};
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

/// What an engine carries for its run (its default tag): the host, shared with the threads a
/// native function may start, and the undo actions, which are Rhai closures and so stay on the
/// engine's thread (Rhai is built without `sync`: its values are not `Send`).
#[derive(Clone)]
pub struct RunTag {
    pub host: Arc<super::Host>,
    undo: Rc<RefCell<Vec<UndoAction>>>,
}

impl RunTag {
    pub fn new(host: Arc<super::Host>) -> RunTag {
        RunTag {
            host,
            undo: Rc::default(),
        }
    }

    /// The run tag of an engine's default tag or a call's tag; `None` for an engine without a
    /// host (e.g. `ripcord check` compiling).
    pub fn from_tag(tag: &Dynamic) -> Option<RunTag> {
        tag.read_lock::<RunTag>().map(|t| t.clone())
    }

    pub fn push_undo(&self, action: FnPtr) {
        let step = self
            .host
            .current_step()
            .unwrap_or_else(|| "(setup)".to_string());
        self.undo.borrow_mut().push(UndoAction { step, action });
    }

    pub fn take_undo(&self) -> Vec<UndoAction> {
        std::mem::take(&mut self.undo.borrow_mut())
    }
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
