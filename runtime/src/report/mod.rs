//! Run reports: what a drill (or any journaled run) did, step by step, against the runbook's
//! recovery-time target, as Markdown for people, JSON for tools and an SVG timeline.
//!
//! One model, two sources: [`Report::from_outcome`] right after a run, and
//! [`Report::from_journal`] for a past run, rebuilt from its events.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::host::{ChangeRecord, Gate, ObservationRecord};
use crate::run::RunOutcome;
use crate::status::{ChangeOutcome, EventKind, RunStatus, StepStatus};
use crate::time::human;

mod markdown;
mod replay;
mod svg;

pub use svg::xml;

/// A run as its report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub script: String,
    pub path: String,
    pub run: Option<i64>,
    /// `run`, `dry-run` or `drill` ([`crate::Mode`]); as journaled, so a run recorded by
    /// another command keeps its own word.
    pub mode: String,
    pub operator: String,
    pub host: String,
    pub started: String,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub total_ms: u64,
    /// The `@rto` target as written in the runbook header.
    pub rto: Option<String>,
    #[serde(rename = "rto_ms", serialize_with = "duration_ms")]
    pub rto_duration: Option<Duration>,
    /// `None` when the runbook declares no target.
    pub rto_met: Option<bool>,
    /// Params as journaled (secrets already masked).
    pub params: Value,
    /// The `--inject` faults of a drill.
    pub injected: Vec<String>,
    pub steps: Vec<ReportStep>,
    pub prompts: Vec<ReportPrompt>,
    /// The `confirm` gates a real run stops at, as the dry run or drill answered them itself.
    pub gates: Vec<Gate>,
    pub error: Option<String>,
}

/// One step: when it started (ms since the run started), how long it took, what it did.
#[derive(Debug, Clone, Serialize)]
pub struct ReportStep {
    pub name: String,
    pub status: StepStatus,
    pub start_ms: u64,
    /// The step's own duration, without the operator's wait.
    pub ms: u64,
    /// Time spent waiting for the operator (step-through pauses, `confirm`).
    pub wait_ms: u64,
    pub error: Option<String>,
    pub changes: Vec<ChangeRecord>,
    /// Probes, and reads that a drill made fail.
    pub probes: Vec<ObservationRecord>,
}

/// A question the run asked and the answer it got.
#[derive(Debug, Clone, Serialize)]
pub struct ReportPrompt {
    pub step: Option<String>,
    pub kind: String,
    pub message: String,
    /// `yes`, `no`, or the decision at a pause; `None` (JSON null, as in the journal) when
    /// nobody answered.
    pub answer: Option<String>,
}

fn duration_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() as u64)),
        None => s.serialize_none(),
    }
}

/// The kind of event a drill adds after its run ends, naming the faults it injected and where
/// the report went (the run itself does not know it is being reported on).
pub const REPORT_EVENT: EventKind = EventKind::Report;

impl Report {
    /// The report of a run that just ended. `started` is when it started (RFC 3339);
    /// `injected` the `--inject` values as typed.
    pub fn from_outcome(outcome: &RunOutcome, started: &str, injected: &[String]) -> Report {
        let steps = outcome
            .steps
            .iter()
            .map(|s| ReportStep {
                name: s.name.clone(),
                status: s.status,
                start_ms: s.start_ms,
                ms: s.ms,
                wait_ms: s.wait_ms,
                error: s.error.clone(),
                changes: s.changes.clone(),
                probes: s.observations.clone(),
            })
            .collect();
        let mut report = Report {
            schema_version: crate::run::SCHEMA_VERSION,
            script: outcome.script.clone(),
            path: outcome.path.clone(),
            run: outcome.run,
            mode: outcome.mode.to_string(),
            operator: crate::who::operator(),
            host: crate::who::hostname(),
            started: started.to_string(),
            status: outcome.status,
            exit_code: Some(outcome.exit_code),
            total_ms: outcome.ms,
            rto: outcome.rto.clone(),
            rto_duration: outcome.rto_duration,
            rto_met: None,
            params: Value::Object(Default::default()),
            injected: injected.to_vec(),
            steps,
            prompts: Vec::new(),
            gates: outcome.gates.clone(),
            error: outcome.error.as_ref().map(|e| match &e.location {
                Some(at) => format!("{} (at {at})", e.message),
                None => e.message.clone(),
            }),
        };
        report.rto_met = report.judge_rto();
        report
    }

    fn judge_rto(&self) -> Option<bool> {
        let target = self.rto_duration?;
        Some(self.status == RunStatus::Ok && Duration::from_millis(self.total_ms) <= target)
    }

    pub fn passed(&self) -> bool {
        self.status == RunStatus::Ok
    }

    fn simulated_changes(&self) -> usize {
        self.steps
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.outcome == ChangeOutcome::Simulated)
            .count()
    }

    /// "RTO 15m: met (2.1s)", "RTO 15m: missed (17m02s)", "RTO: no target".
    pub fn rto_line(&self) -> String {
        let took = human(Duration::from_millis(self.total_ms));
        match (&self.rto, self.rto_duration, self.rto_met) {
            (Some(rto), Some(_), Some(true)) => format!("RTO {rto}: met ({took})"),
            (Some(rto), Some(_), _) if !self.passed() => {
                format!("RTO {rto}: missed (the run {} after {took})", self.status)
            }
            (Some(rto), Some(_), _) => format!("RTO {rto}: missed ({took})"),
            (Some(rto), None, _) => format!("RTO `{rto}`: not a duration, not judged ({took})"),
            (None, _, _) => format!("RTO: no target ({took}; add `//! @rto 15m` to the header)"),
        }
    }

    /// Problems the run exposed, one line each.
    pub fn gaps(&self) -> Vec<String> {
        let mut gaps = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            // The change whose failure failed the step is named on the step's line, not twice.
            let cause = s.changes.iter().find(|c| {
                c.outcome == ChangeOutcome::Failed && c.error.is_some() && c.error == s.error
            });
            if s.status.is_failure() {
                let at = cause
                    .map(|c| format!(" at `{}`", c.summary))
                    .unwrap_or_default();
                let why = s
                    .error
                    .as_deref()
                    .map(|e| format!(": {}", first_line(e)))
                    .unwrap_or_default();
                gaps.push(format!("Step {} `{}` {}{at}{why}", i + 1, s.name, s.status));
            }
            for c in s.changes.iter().filter(|c| {
                c.outcome == ChangeOutcome::Failed && !cause.is_some_and(|k| std::ptr::eq(*c, k))
            }) {
                let why = c.error.as_deref().map(first_line).unwrap_or("failed");
                gaps.push(format!(
                    "Change `{}` in step `{}` failed: {why}",
                    c.summary, s.name
                ));
            }
            for p in s.probes.iter().filter(|p| !p.ok) {
                let why = p.error.as_deref().map(first_line).unwrap_or("not ok");
                gaps.push(format!(
                    "Probe `{}` in step `{}` failed: {why}",
                    p.function, s.name
                ));
            }
        }
        if self.error.is_some() && self.steps.iter().all(|s| !s.status.is_failure()) {
            let e = self.error.as_deref().map(first_line).unwrap_or_default();
            gaps.push(format!("The run {} outside any step: {e}", self.status));
        }
        if self.rto_met == Some(false) && self.passed() {
            gaps.push(self.rto_line());
        }
        gaps
    }

    // ---- JSON -----------------------------------------------------------------------------

    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    // ---- files ----------------------------------------------------------------------------

    /// Write `report.md`, `report.json` and `timeline.svg` into `dir` (created if needed), each
    /// through a temp file and a rename so a reader never sees half a report.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the report folder {}: {e}", dir.display()))?;
        let json = serde_json::to_string_pretty(&self.json())
            .map_err(|e| format!("cannot encode the report as JSON: {e}"))?;
        let mut written = Vec::new();
        for (name, text) in [
            ("report.md", self.markdown()),
            ("report.json", json + "\n"),
            ("timeline.svg", self.svg()),
        ] {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            fs::write(&tmp, text)
                .and_then(|()| fs::rename(&tmp, &path))
                .map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    format!("cannot write {}: {e}", path.display())
                })?;
            written.push(path);
        }
        Ok(written)
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, status: StepStatus, start_ms: u64, ms: u64) -> ReportStep {
        ReportStep {
            name: name.to_string(),
            status,
            start_ms,
            ms,
            wait_ms: 0,
            error: None,
            changes: Vec::new(),
            probes: Vec::new(),
        }
    }

    fn report(steps: Vec<ReportStep>, rto: Option<&str>) -> Report {
        let mut r = Report {
            schema_version: crate::run::SCHEMA_VERSION,
            script: "restore <db>".to_string(),
            path: "scripts/restore.rhai".to_string(),
            run: Some(7),
            mode: "drill".to_string(),
            operator: "ops".to_string(),
            host: "box".to_string(),
            started: "2026-02-18T05:15:00.000+00:00".to_string(),
            status: RunStatus::Ok,
            exit_code: Some(0),
            total_ms: steps.iter().map(|s| s.start_ms + s.ms).max().unwrap_or(0),
            rto: rto.map(str::to_string),
            rto_duration: rto.and_then(|r| crate::time::parse_duration(r).ok()),
            rto_met: None,
            params: Value::Object(Default::default()),
            injected: Vec::new(),
            steps,
            prompts: Vec::new(),
            gates: Vec::new(),
            error: None,
        };
        r.rto_met = r.judge_rto();
        r
    }

    #[test]
    fn rto_line_says_met_missed_or_no_target() {
        let r = report(vec![step("a", StepStatus::Ok, 0, 2_000)], Some("15m"));
        assert_eq!(r.rto_line(), "RTO 15m: met (2.0s)");
        let r = report(vec![step("a", StepStatus::Ok, 0, 2_000)], Some("1s"));
        assert_eq!(r.rto_line(), "RTO 1s: missed (2.0s)");
        assert!(r.gaps().iter().any(|g| g.contains("missed")));
        let r = report(vec![step("a", StepStatus::Ok, 0, 2_000)], None);
        assert!(r.rto_line().starts_with("RTO: no target"));
        assert_eq!(r.rto_met, None);
    }

    #[test]
    fn svg_has_one_bar_per_step_escapes_names_and_shows_a_near_rto() {
        let r = report(
            vec![
                step("Back <up> & \"go\"", StepStatus::Ok, 0, 400),
                step("Stop", StepStatus::Failed, 400, 0),
            ],
            Some("500ms"),
        );
        let svg = r.svg();
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert!(svg.contains("Back &lt;up&gt; &amp; &quot;go&quot;"));
        assert!(svg.contains(r#"class="rto""#));
        assert!(svg.contains("RTO 500ms"));
        let far = report(vec![step("a", StepStatus::Ok, 0, 400)], Some("15m"));
        assert!(!far.svg().contains(r#"class="rto""#));
    }

    #[test]
    fn markdown_lists_steps_gaps_and_injections() {
        let mut failed = step("Stop service", StepStatus::Failed, 10, 5);
        failed.error = Some("service::stop failed: fault injected".to_string());
        failed.changes.push(ChangeRecord {
            function: "service::stop".to_string(),
            summary: "stop cortex.service".to_string(),
            outcome: ChangeOutcome::Failed,
            ms: 0,
            error: failed.error.clone(),
        });
        let mut r = report(
            vec![step("Backup", StepStatus::Ok, 0, 10), failed],
            Some("15m"),
        );
        r.status = RunStatus::Failed;
        r.rto_met = r.judge_rto();
        r.injected = vec!["service::stop=fail".to_string()];
        let md = r.markdown();
        assert!(md.contains("❌ FAIL"), "{md}");
        assert!(md.contains("| 2 | Stop service | ❌ failed |"), "{md}");
        assert!(md.contains("- `--inject service::stop=fail`"), "{md}");
        assert!(md.contains("1. Step 2 `Stop service` failed"), "{md}");
        assert!(md.contains("RTO 15m: missed (the run failed"), "{md}");
    }
}
