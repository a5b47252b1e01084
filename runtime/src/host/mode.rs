//! How a run treats changes: made, or printed and simulated.

crate::status::spelled! {
    /// How changes are treated (the journal's `runs.mode`).
    pub enum Mode {
        /// Changes are made.
        Run = "run",
        /// Changes are printed and simulated.
        DryRun = "dry-run",
        /// A dry run that also writes a report.
        Drill = "drill",
    }
}

impl Mode {
    pub fn simulates_changes(self) -> bool {
        self != Mode::Run
    }
}
