//! A past run's report, rebuilt by folding its journal events into the model.

use std::fs;

use serde_json::Value;

use super::{REPORT_EVENT, Report, ReportPrompt, ReportStep};
use crate::host::{ChangeRecord, Gate, ObservationRecord, WOULD_ASK};
use crate::journal::{EventRow, Journal, RunRow};
use crate::status::{ChangeOutcome, EventKind, RunStatus, StepStatus};

impl Report {
    /// The report of a past run, rebuilt from the journal. The RTO target is read from the
    /// script's header if the script is still at the recorded path.
    pub fn from_journal(journal: &Journal, run: i64) -> Result<Report, String> {
        let (row, events) = recorded(journal, run)?;
        let status = RunStatus::parse(&row.status).ok_or_else(|| {
            format!(
                "run {run} in {} has the status `{}`, which this version of ripcord does not know",
                journal.path().display(),
                row.status
            )
        })?;
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
        let mut report = Report::of_row(&row, status, total_ms);
        for e in &events {
            report.apply(e, since_start(&e.ts));
        }
        report.cut_short_open_steps();
        report.rto_met = report.judge_rto();
        Ok(report)
    }

    /// The report's frame from the run's row, before any event: no steps yet.
    fn of_row(row: &RunRow, status: RunStatus, total_ms: u64) -> Report {
        let header = fs::read_to_string(&row.path)
            .ok()
            .and_then(|text| crate::header::parse(&text).ok());
        Report {
            schema_version: crate::run::SCHEMA_VERSION,
            script: row.script.clone(),
            path: row.path.clone(),
            run: Some(row.id),
            mode: row.mode.clone(),
            operator: row.operator.clone(),
            host: row.host.clone(),
            started: row.started.clone(),
            status,
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
        }
    }

    /// A step still open when the events stop was cut short with the run.
    fn cut_short_open_steps(&mut self) {
        let unfinished = StepStatus::cut_short_by(self.status);
        for step in self
            .steps
            .iter_mut()
            .filter(|s| s.status == StepStatus::Running)
        {
            step.status = unfinished;
            step.ms = self.total_ms.saturating_sub(step.start_ms);
        }
    }

    /// Fold one journal event into the report. Kinds the report does not show are skipped.
    fn apply(&mut self, e: &EventRow, at_ms: u64) {
        let Some(kind) = EventKind::parse(&e.kind) else {
            return;
        };
        match kind {
            EventKind::StepStart => self.step_started(e, StepStatus::Running, at_ms),
            EventKind::StepSkip => self.step_started(e, StepStatus::Skipped, at_ms),
            EventKind::StepResumed => self.step_started(e, StepStatus::Resumed, at_ms),
            EventKind::StepEnd => self.step_ended(e),
            EventKind::ChangeStart => self.change_started(e, ChangeOutcome::Unfinished),
            EventKind::ChangeSimulated => self.change_started(e, ChangeOutcome::Simulated),
            EventKind::ChangeSkip => self.change_started(e, ChangeOutcome::Skipped),
            EventKind::ChangeInjected => {
                self.note_injection(e.data["error"].as_str());
                self.change_started(e, ChangeOutcome::Failed);
            }
            EventKind::ChangeEnd => self.change_ended(e),
            EventKind::Probe => self.probed(e),
            EventKind::Prompt => self.prompted(e),
            EventKind::Error => self.errored(e),
            REPORT_EVENT => self.reported(e),
            _ => {}
        }
    }

    fn step_started(&mut self, e: &EventRow, status: StepStatus, at_ms: u64) {
        self.steps.push(ReportStep {
            name: text(e, "name").unwrap_or_default(),
            status,
            start_ms: at_ms,
            ms: 0,
            wait_ms: 0,
            error: None,
            changes: Vec::new(),
            probes: Vec::new(),
        });
    }

    fn step_ended(&mut self, e: &EventRow) {
        let name = text(e, "name");
        let Some(step) = self
            .steps
            .iter_mut()
            .rev()
            .find(|s| s.status == StepStatus::Running && Some(&s.name) == name.as_ref())
        else {
            return;
        };
        // A status this version does not know still counts against the run.
        step.status = e.data["status"].as_str().map_or(StepStatus::Ok, |s| {
            StepStatus::parse(s).unwrap_or(StepStatus::Failed)
        });
        step.ms = e.data["ms"].as_u64().unwrap_or(0);
        step.wait_ms = e.data["wait_ms"].as_u64().unwrap_or(0);
    }

    fn change_started(&mut self, e: &EventRow, outcome: ChangeOutcome) {
        let change = ChangeRecord {
            function: text(e, "function").unwrap_or_default(),
            summary: text(e, "summary").unwrap_or_default(),
            outcome,
            ms: 0,
            error: text(e, "error"),
        };
        if let Some(step) = self.step_of(e) {
            step.changes.push(change);
        }
    }

    fn change_ended(&mut self, e: &EventRow) {
        let Some(change) = self.step_of(e).and_then(|s| {
            s.changes
                .iter_mut()
                .rev()
                .find(|c| c.outcome == ChangeOutcome::Unfinished)
        }) else {
            return;
        };
        change.outcome = if e.data["ok"] == true {
            ChangeOutcome::Made
        } else {
            ChangeOutcome::Failed
        };
        change.ms = e.data["ms"].as_u64().unwrap_or(0);
        change.error = text(e, "error");
    }

    fn probed(&mut self, e: &EventRow) {
        let probe = ObservationRecord {
            function: text(e, "function").unwrap_or_default(),
            ok: e.data["ok"] == true,
            ms: e.data["ms"].as_u64().unwrap_or(0),
            error: text(e, "error"),
        };
        if let Some(step) = self.step_of(e) {
            step.probes.push(probe);
        }
    }

    fn prompted(&mut self, e: &EventRow) {
        let prompt = ReportPrompt {
            step: e.step.clone().or_else(|| text(e, "step")),
            kind: text(e, "kind").unwrap_or_default(),
            message: text(e, "message")
                .or_else(|| text(e, "step"))
                .unwrap_or_default(),
            answer: match &e.data["answer"] {
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

    fn errored(&mut self, e: &EventRow) {
        let message = text(e, "message").unwrap_or_default();
        self.note_injection(Some(&message));
        let shown = match text(e, "location") {
            Some(at) => format!("{message} (at {at})"),
            None => message.clone(),
        };
        if let Some(name) = text(e, "step")
            && let Some(step) = self.steps.iter_mut().rev().find(|s| s.name == name)
        {
            step.error.get_or_insert(message);
        }
        self.error = Some(shown);
    }

    /// A drill's own event after its run: the faults it injected, as typed.
    fn reported(&mut self, e: &EventRow) {
        if let Some(list) = e.data["injected"].as_array() {
            self.injected = list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
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

/// A string field of an event's data.
fn text(e: &EventRow, key: &str) -> Option<String> {
    e.data[key].as_str().map(str::to_string)
}

/// Milliseconds since the epoch of an RFC 3339 timestamp as the journal writes them.
/// The run's row and its events.
fn recorded(journal: &Journal, run: i64) -> Result<(RunRow, Vec<EventRow>), String> {
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
    Ok((row, events))
}

fn parse_ts(ts: &str) -> Option<u64> {
    let t: jiff::Timestamp = ts.parse().ok()?;
    u64::try_from(t.as_millisecond()).ok()
}
