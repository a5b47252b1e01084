//! What a native function does to the world, and the description of one change.
//!
//! Every native function is a read, a probe or a change. Reads and probes run in every mode;
//! a change goes through [`crate::Host::change`], the one place that journals it, simulates it
//! in a dry run, or pauses for the operator before it is made.

use rhai::Dynamic;
use serde_json::{Map, Value};

/// The kind of effect a native function has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Looks at local state (files, repositories, databases) without changing it.
    Read,
    /// Looks at a remote service over the network.
    Probe,
    /// Writes, starts, stops, resets, or runs a command.
    Change,
    /// Computation and messages, same in every mode (json::parse, time::stamp, log::info).
    Pure,
    /// Steers the run itself: asks the operator, fails, registers undo, takes a lock, runs a
    /// sub-run (confirm, fail, undo, lock, runbook::run). Its effects are the run's own.
    Control,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Probe => "probe",
            Effect::Change => "change",
            Effect::Pure => "pure",
            Effect::Control => "control",
        }
    }
}

/// One change a native function is about to make.
///
/// `summary` is the sentence an operator reads: the dry run prints it as what would happen, the
/// step-through mode shows it before asking, the journal and the report keep it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Qualified function name, e.g. `fs::write`.
    pub function: String,
    /// What the change does, in words: `write 12 bytes to out.txt`.
    pub summary: String,
    /// Arguments worth recording (secrets are redacted by the host before they are stored).
    pub args: Map<String, Value>,
    /// What the function returns when the change is simulated (dry run, drill, skipped).
    pub simulated: Dynamic,
}

impl Change {
    pub fn new(function: impl Into<String>, summary: impl Into<String>) -> Self {
        Change {
            function: function.into(),
            summary: summary.into(),
            args: Map::new(),
            simulated: Dynamic::UNIT,
        }
    }

    /// Record an argument in the journal.
    pub fn arg(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.args.insert(name.to_string(), value.into());
        self
    }

    /// The plausible result returned when the change is not made.
    pub fn simulated(mut self, value: impl Into<Dynamic>) -> Self {
        self.simulated = value.into();
        self
    }
}

/// What a change returns to the script. The host keeps results as `Dynamic` (the journal
/// records them, a simulated or replayed change stands in with one); a native reads its own
/// type back here instead of casting at every call.
pub trait ScriptValue: Sized {
    fn into_dynamic(self) -> Dynamic;
    /// The value of a simulated, skipped or replayed change. A value of another shape (a
    /// replayed change journaled by an older ripcord) reads as the type's default.
    fn from_dynamic(value: Dynamic) -> Self;
}

impl ScriptValue for Dynamic {
    fn into_dynamic(self) -> Dynamic {
        self
    }

    fn from_dynamic(value: Dynamic) -> Self {
        value
    }
}

impl ScriptValue for rhai::Map {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::from_map(self)
    }

    fn from_dynamic(value: Dynamic) -> Self {
        value.try_cast::<rhai::Map>().unwrap_or_default()
    }
}

impl ScriptValue for () {
    fn into_dynamic(self) -> Dynamic {
        Dynamic::UNIT
    }

    fn from_dynamic(_: Dynamic) -> Self {}
}
