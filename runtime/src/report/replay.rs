//! A past run's report, rebuilt by folding its journal events into the model.

use std::fs;

use serde_json::Value;

use super::{REPORT_EVENT, Report, ReportChange, ReportProbe, ReportPrompt, ReportStep};
use crate::host::{Gate, WOULD_ASK};
use crate::journal::{EventRow, Journal};

impl Report {
    /// The report of a past run, rebuilt from the journal. The RTO target is read from the
    /// script's header if the script is still at the recorded path.
    pub fn from_journal(journal: &Journal, run: i64) -> Result<Report, String> {
        let row = journal
            .run(run)
            .map_err(|e| format!("cannot read the journal: {e}"))?
            .ok_or_else(|| {
                format!(
                    "no run {run} in {}\nhelp: `ripcord history` lists the runs",
                    journal.path().display()
                )
            })?;
        let events = journal
            .events(run)
            .map_err(|e| format!("cannot read the journal: {e}"))?;
        let header = fs::read_to_string(&row.path)
            .ok()
            .and_then(|text| crate::header::parse(&text).ok());
        let start = parse_ts(&row.started);
        let since_start = |ts: &str| match (start, parse_ts(ts)) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let total_ms = row
            .ended
            .as_deref()
            .or(events.last().map(|e| e.ts.as_str()))
            .map(since_start)
            .unwrap_or(0);
        let mut report = Report {
            schema_version: crate::run::SCHEMA_VERSION,
            script: row.script.clone(),
            path: row.path.clone(),
            run: Some(row.id),
            mode: row.mode.clone(),
            operator: row.operator.clone(),
            host: row.host.clone(),
            started: row.started.clone(),
            status: row.status.clone(),
            exit_code: row.exit_code.map(|c| c as i32),
            total_ms,
            rto: header.as_ref().and_then(|h| h.rto_text.clone()),
            rto_duration: header.as_ref().and_then(|h| h.rto),
            rto_met: None,
            params: row.params.clone(),
            injected: Vec::new(),
            steps: Vec::new(),
            prompts: Vec::new(),
            gates: Vec::new(),
            error: row.error.clone(),
        };
        for e in &events {
            report.apply(e, since_start(&e.ts));
        }
        // A step still open when the events stop was cut short with the run.
        let unfinished = match report.status.as_str() {
            "running" => "running",
            "ok" => "unfinished",
            other => other,
        }
        .to_string();
        for step in report.steps.iter_mut().filter(|s| s.status == "running") {
            step.status = unfinished.clone();
            step.ms = total_ms.saturating_sub(step.start_ms);
        }
        report.rto_met = report.judge_rto();
        Ok(report)
    }

    /// Fold one journal event into the report.
    fn apply(&mut self, e: &EventRow, at_ms: u64) {
        let d = &e.data;
        let text = |key: &str| d[key].as_str().map(str::to_string);
        let ms = d["ms"].as_u64().unwrap_or(0);
        match e.kind.as_str() {
            "step.start" | "step.skip" | "step.resumed" => {
                let status = match e.kind.as_str() {
                    "step.start" => "running",
                    "step.skip" => "skipped",
                    _ => "resumed",
                };
                self.steps.push(ReportStep {
                    name: text("name").unwrap_or_default(),
                    status: status.to_string(),
                    start_ms: at_ms,
                    ms: 0,
                    wait_ms: 0,
                    error: None,
                    changes: Vec::new(),
                    probes: Vec::new(),
                });
            }
            "step.end" => {
                let name = text("name");
                if let Some(step) = self
                    .steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.status == "running" && Some(&s.name) == name.as_ref())
                {
                    step.status = text("status").unwrap_or_else(|| "ok".to_string());
                    step.ms = ms;
                    step.wait_ms = d["wait_ms"].as_u64().unwrap_or(0);
                }
            }
            "change.start" | "change.simulated" | "change.injected" | "change.skip" => {
                let outcome = match e.kind.as_str() {
                    "change.start" => "unfinished",
                    "change.simulated" => "simulated",
                    "change.injected" => "failed",
                    _ => "skipped",
                };
                let change = ReportChange {
                    function: text("function").unwrap_or_default(),
                    summary: text("summary").unwrap_or_default(),
                    outcome: outcome.to_string(),
                    ms: 0,
                    error: text("error"),
                };
                if e.kind == "change.injected" {
                    self.note_injection(change.error.as_deref());
                }
                if let Some(step) = self.step_of(e) {
                    step.changes.push(change);
                }
            }
            "change.end" => {
                if let Some(change) = self.step_of(e).and_then(|s| {
                    s.changes
                        .iter_mut()
                        .rev()
                        .find(|c| c.outcome == "unfinished")
                }) {
                    change.outcome = if d["ok"] == true { "made" } else { "failed" }.to_string();
                    change.ms = ms;
                    change.error = text("error");
                }
            }
            "probe" => {
                let probe = ReportProbe {
                    function: text("function").unwrap_or_default(),
                    ok: d["ok"] == true,
                    ms,
                    error: text("error"),
                };
                if let Some(step) = self.step_of(e) {
                    step.probes.push(probe);
                }
            }
            "prompt" => {
                let prompt = ReportPrompt {
                    step: e.step.clone().or_else(|| text("step")),
                    kind: text("kind").unwrap_or_default(),
                    message: text("message").or_else(|| text("step")).unwrap_or_default(),
                    answer: match &d["answer"] {
                        Value::Bool(true) => Some("yes".to_string()),
                        Value::Bool(false) => Some("no".to_string()),
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    },
                };
                if prompt.kind == "confirm" && prompt.answer.as_deref() == Some(WOULD_ASK) {
                    self.gates.push(Gate {
                        step: prompt.step.clone(),
                        message: prompt.message.clone(),
                    });
                }
                self.prompts.push(prompt);
            }
            "error" => {
                let message = text("message").unwrap_or_default();
                self.note_injection(Some(&message));
                let shown = match text("location") {
                    Some(at) => format!("{message} (at {at})"),
                    None => message.clone(),
                };
                if let Some(name) = text("step")
                    && let Some(step) = self.steps.iter_mut().rev().find(|s| s.name == name)
                {
                    step.error.get_or_insert(message);
                }
                self.error = Some(shown);
            }
            REPORT_EVENT => {
                if let Some(list) = d["injected"].as_array() {
                    self.injected = list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect();
                }
            }
            _ => {}
        }
    }

    /// The step an event belongs to: the latest step with the event's step name.
    fn step_of(&mut self, e: &EventRow) -> Option<&mut ReportStep> {
        let name = e.step.as_deref()?;
        self.steps.iter_mut().rev().find(|s| s.name == name)
    }

    /// Recover an injected fault from the runtime's message ("... (--inject fs::write=fail)").
    fn note_injection(&mut self, message: Option<&str>) {
        let Some(fault) = message
            .and_then(|m| m.split_once("(--inject "))
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(fault, _)| fault.to_string())
        else {
            return;
        };
        let function = fault.split('=').next().unwrap_or_default();
        let known = self
            .injected
            .iter()
            .any(|i| i.split('=').next() == Some(function));
        if !known {
            self.injected.push(fault);
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 timestamp as the journal writes them.
fn parse_ts(ts: &str) -> Option<u64> {
    let t: jiff::Timestamp = ts.parse().ok()?;
    u64::try_from(t.as_millisecond()).ok()
}
