//! What a run did, step by step, as kept for progress, reports and `--json`.

use serde::Serialize;

use crate::status::{ChangeOutcome, StepStatus};

/// What happened to one change: kept by the host as it runs, rebuilt from the journal for a
/// past run's report.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    pub function: String,
    pub summary: String,
    pub outcome: ChangeOutcome,
    pub ms: u64,
    pub error: Option<String>,
}

/// What one read or probe observed (in reports: the step's `probes`).
#[derive(Debug, Clone, Serialize)]
pub struct ObservationRecord {
    pub function: String,
    pub ok: bool,
    pub ms: u64,
    pub error: Option<String>,
}

/// One step as it ran, for progress, the report and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub name: String,
    pub position: String,
    /// Milliseconds since the run started.
    pub start_ms: u64,
    /// The step's own duration: the time spent waiting for the operator is not in it.
    pub ms: u64,
    /// Milliseconds spent waiting for the operator: the pause before the step (step-through),
    /// and pauses before its changes and at its `confirm`s.
    pub wait_ms: u64,
    pub status: StepStatus,
    pub error: Option<String>,
    pub changes: Vec<ChangeRecord>,
    pub observations: Vec<ObservationRecord>,
}

/// The journaled answer of a `confirm` that a dry run or drill answered itself.
pub const WOULD_ASK: &str = "would ask";

/// A `confirm` gate a real run would stop at, as a dry run or drill met it.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    /// The step it is in; `None` outside any step.
    pub step: Option<String>,
    pub message: String,
}
