//! Reads and probes through the host, and the records of what changes and probes did.

use std::time::Instant;

use rhai::NativeCallContext;
use serde_json::json;

use super::{ChangeRecord, Host, ObservationRecord};
use crate::failure::{Failure, RhaiResult};
use crate::status::{ChangeOutcome, EventKind};

impl Host {
    /// Run a read. Reads run in every mode; a drill can inject a fault.
    pub fn read<T>(
        &self,
        ctx: &NativeCallContext,
        function: &str,
        read: impl FnOnce() -> Result<T, Failure>,
    ) -> RhaiResult<T> {
        self.observe(ctx, function, false, read)
    }

    /// Run a probe. Probes run in every mode; results are kept for the report and the journal.
    pub fn probe<T>(
        &self,
        ctx: &NativeCallContext,
        function: &str,
        probe: impl FnOnce() -> Result<T, Failure>,
    ) -> RhaiResult<T> {
        self.observe(ctx, function, true, probe)
    }

    fn observe<T>(
        &self,
        ctx: &NativeCallContext,
        function: &str,
        record: bool,
        f: impl FnOnce() -> Result<T, Failure>,
    ) -> RhaiResult<T> {
        let pos = ctx.call_position();
        if let Some(stop) = self.check_stop() {
            return Err(self.terminate(stop, pos));
        }
        if let Some(failure) = self.injected(function) {
            self.record_observation(function, false, 0, Some(failure.message.clone()));
            return Err(failure.at_position(pos));
        }
        let started = Instant::now();
        let result = f();
        let ms = started.elapsed().as_millis() as u64;
        if record {
            let error = result
                .as_ref()
                .err()
                .map(|f| self.secrets.redact(&f.message));
            self.record_observation(function, result.is_ok(), ms, error.clone());
            let _ = self.journal(
                EventKind::Probe,
                json!({ "function": function, "ok": result.is_ok(), "ms": ms, "error": error }),
            );
        }
        if let Some(stop) = self.check_stop() {
            return Err(self.terminate(stop, pos));
        }
        result.map_err(|f| f.at_position(pos))
    }

    /// Record a probe's own verdict (e.g. `probe::http` returns `ok: false` without failing).
    pub fn note_probe(&self, function: &str, ok: bool, ms: u64, error: Option<String>) {
        self.record_observation(function, ok, ms, error);
    }

    pub(super) fn record_change(
        &self,
        function: &str,
        summary: &str,
        outcome: ChangeOutcome,
        ms: u64,
        error: Option<String>,
    ) {
        let mut state = self.state();
        if let Some(i) = state.current {
            state.steps[i].changes.push(ChangeRecord {
                function: function.to_string(),
                summary: summary.to_string(),
                outcome,
                ms,
                error,
            });
        }
    }

    pub(super) fn record_observation(
        &self,
        function: &str,
        ok: bool,
        ms: u64,
        error: Option<String>,
    ) {
        let mut state = self.state();
        if let Some(i) = state.current {
            state.steps[i].observations.push(ObservationRecord {
                function: function.to_string(),
                ok,
                ms,
                error,
            });
        }
    }
}
