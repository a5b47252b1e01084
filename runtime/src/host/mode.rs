//! How a run treats changes: made, or printed and simulated.

use serde::Serialize;

/// How changes are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Changes are made.
    Run,
    /// Changes are printed and simulated.
    DryRun,
    /// A dry run that also writes a report.
    Drill,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::DryRun => "dry-run",
            Mode::Drill => "drill",
        }
    }

    pub fn simulates_changes(self) -> bool {
        self != Mode::Run
    }
}
