//! Run reports: what a drill (or any journaled run) did, step by step, against the runbook's
//! recovery-time target, as Markdown for people, JSON for tools and an SVG timeline.
//!
//! One model, two sources: [`Report::from_outcome`] right after a run, and
//! [`Report::from_journal`] for a past run, rebuilt from its events.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::host::{Gate, WOULD_ASK};
use crate::journal::{EventRow, Journal};
use crate::run::RunOutcome;
use crate::time::human;

/// A run as its report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub script: String,
    pub path: String,
    pub run: Option<i64>,
    pub mode: String,
    pub operator: String,
    pub host: String,
    pub started: String,
    pub status: String,
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
    pub status: String,
    pub start_ms: u64,
    /// The step's own duration, without the operator's wait.
    pub ms: u64,
    /// Time spent waiting for the operator (step-through pauses, `confirm`).
    pub wait_ms: u64,
    pub error: Option<String>,
    pub changes: Vec<ReportChange>,
    pub probes: Vec<ReportProbe>,
}

/// One change: `made`, `simulated`, `skipped`, `failed`, or `unfinished` (started, no outcome
/// recorded: the run was killed during it).
#[derive(Debug, Clone, Serialize)]
pub struct ReportChange {
    pub function: String,
    pub summary: String,
    pub outcome: String,
    pub ms: u64,
    pub error: Option<String>,
}

/// One probe (or a read that a drill made fail).
#[derive(Debug, Clone, Serialize)]
pub struct ReportProbe {
    pub function: String,
    pub ok: bool,
    pub ms: u64,
    pub error: Option<String>,
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
pub const REPORT_EVENT: &str = "report";

impl Report {
    /// The report of a run that just ended. `started` is when it started (RFC 3339);
    /// `injected` the `--inject` values as typed.
    pub fn from_outcome(outcome: &RunOutcome, started: &str, injected: &[String]) -> Report {
        let steps = outcome
            .steps
            .iter()
            .map(|s| ReportStep {
                name: s.name.clone(),
                status: s.status.clone(),
                start_ms: s.start_ms,
                ms: s.ms,
                wait_ms: s.wait_ms,
                error: s.error.clone(),
                changes: s
                    .changes
                    .iter()
                    .map(|c| ReportChange {
                        function: c.function.clone(),
                        summary: c.summary.clone(),
                        outcome: c.outcome.clone(),
                        ms: c.ms,
                        error: c.error.clone(),
                    })
                    .collect(),
                probes: s
                    .observations
                    .iter()
                    .map(|o| ReportProbe {
                        function: o.function.clone(),
                        ok: o.ok,
                        ms: o.ms,
                        error: o.error.clone(),
                    })
                    .collect(),
            })
            .collect();
        let mut report = Report {
            schema_version: crate::run::SCHEMA_VERSION,
            script: outcome.script.clone(),
            path: outcome.path.clone(),
            run: outcome.run,
            mode: outcome.mode.clone(),
            operator: crate::who::operator(),
            host: crate::who::hostname(),
            started: started.to_string(),
            status: outcome.status.clone(),
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

    fn judge_rto(&self) -> Option<bool> {
        let target = self.rto_duration?;
        Some(self.status == "ok" && Duration::from_millis(self.total_ms) <= target)
    }

    pub fn passed(&self) -> bool {
        self.status == "ok"
    }

    fn simulated_changes(&self) -> usize {
        self.steps
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.outcome == "simulated")
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
            let cause = s
                .changes
                .iter()
                .find(|c| c.outcome == "failed" && c.error.is_some() && c.error == s.error);
            if is_failure(&s.status) {
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
            for c in s
                .changes
                .iter()
                .filter(|c| c.outcome == "failed" && !cause.is_some_and(|k| std::ptr::eq(*c, k)))
            {
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
        if self.error.is_some() && self.steps.iter().all(|s| !is_failure(&s.status)) {
            let e = self.error.as_deref().map(first_line).unwrap_or_default();
            gaps.push(format!("The run {} outside any step: {e}", self.status));
        }
        if self.rto_met == Some(false) && self.passed() {
            gaps.push(self.rto_line());
        }
        gaps
    }

    // ---- Markdown -------------------------------------------------------------------------

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let kind = if self.mode == "drill" { "Drill" } else { "Run" };
        let date = self
            .started
            .get(..16)
            .unwrap_or(&self.started)
            .replace('T', " ");
        let _ = writeln!(md, "# {kind} report: {} — {date}\n", self.script);
        let verdict = if self.passed() {
            "✅ PASS"
        } else {
            "❌ FAIL"
        };
        let _ = writeln!(
            md,
            "**{verdict}** · {} · {} step(s) · {}\n",
            self.status,
            self.steps.len(),
            self.rto_line()
        );
        let simulated = self.simulated_changes();
        if simulated > 0 {
            let _ = writeln!(
                md,
                "> {simulated} change(s) were simulated, not made: a real run also spends the time those changes take.\n"
            );
        }

        md.push_str("## Environment\n\n| | |\n|---|---|\n");
        let mode = match self.mode.as_str() {
            "drill" => "drill (reads and probes real, changes simulated)",
            "dry-run" => "dry run (changes simulated)",
            "run" => "run (changes made)",
            other => other,
        };
        let run = match self.run {
            Some(id) => format!("{id} (`ripcord show {id}`)"),
            None => "not journaled".to_string(),
        };
        let exit = self
            .exit_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "—".to_string());
        for (k, v) in [
            ("Script", format!("`{}`", self.path)),
            ("Operator", self.operator.clone()),
            ("Host", self.host.clone()),
            ("Mode", mode.to_string()),
            ("Started", self.started.clone()),
            ("Journal run", run),
            ("Exit code", exit),
            ("Params", params_text(&self.params)),
        ] {
            let _ = writeln!(md, "| {k} | {} |", cell(&v));
        }

        md.push_str("\n## Steps\n\n");
        if self.steps.is_empty() {
            md.push_str("No step started.\n");
        } else {
            md.push_str(
                "| # | Step | Status | Start | Duration | Changes | Probes | Operator wait |\n",
            );
            md.push_str("|---|---|---|---|---|---|---|---|\n");
            for (i, s) in self.steps.iter().enumerate() {
                let wait = match s.wait_ms {
                    0 => "—".to_string(),
                    ms => human(Duration::from_millis(ms)),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} {} | +{} | {} | {} | {} | {wait} |",
                    i + 1,
                    cell(&s.name),
                    icon(&s.status),
                    s.status,
                    human(Duration::from_millis(s.start_ms)),
                    human(Duration::from_millis(s.ms)),
                    count_changes(&s.changes),
                    count_probes(&s.probes),
                );
            }
            let _ = writeln!(
                md,
                "| | **Total** | {} | | **{}** | | | |",
                icon(if self.passed() { "ok" } else { "failed" }),
                human(Duration::from_millis(self.total_ms))
            );
        }

        for (i, s) in self.steps.iter().enumerate() {
            if s.changes.is_empty() && s.probes.is_empty() && s.error.is_none() {
                continue;
            }
            let _ = writeln!(
                md,
                "\n### {}. {} {} ({})\n",
                i + 1,
                s.name,
                icon(&s.status),
                human(Duration::from_millis(s.ms))
            );
            for c in &s.changes {
                let line = match c.outcome.as_str() {
                    "made" => format!(
                        "✅ made: {} ({})",
                        c.summary,
                        human(Duration::from_millis(c.ms))
                    ),
                    "simulated" => format!("⏭ simulated: would {}", c.summary),
                    "skipped" => format!("⏭ skipped by the operator: {}", c.summary),
                    "failed" => format!(
                        "❌ failed: {} — {}",
                        c.summary,
                        c.error
                            .as_deref()
                            .map(first_line)
                            .unwrap_or("no reason recorded")
                    ),
                    other => format!("⚠️ {other}: {}", c.summary),
                };
                let _ = writeln!(md, "- {line} `{}`", c.function);
            }
            for p in &s.probes {
                let line = if p.ok {
                    format!("✅ probe `{}` ok ({}ms)", p.function, p.ms)
                } else {
                    format!(
                        "❌ probe `{}` failed ({}ms): {}",
                        p.function,
                        p.ms,
                        p.error.as_deref().map(first_line).unwrap_or("not ok")
                    )
                };
                let _ = writeln!(md, "- {line}");
            }
            if let Some(e) = &s.error {
                let _ = writeln!(md, "- error: {}", first_line(e));
            }
        }

        if !self.gates.is_empty() {
            md.push_str("\n## Gates a real run stops at\n\n");
            md.push_str("Answered by the preview itself; a real run waits for the operator (or `--yes`) at each:\n\n");
            for g in &self.gates {
                let step = g
                    .step
                    .as_deref()
                    .map(|s| format!(" (step `{s}`)"))
                    .unwrap_or_default();
                let _ = writeln!(md, "- confirm{step}: {}", g.message);
            }
        }
        if !self.prompts.is_empty() {
            md.push_str("\n## Prompts\n\n");
            for p in &self.prompts {
                let step = p
                    .step
                    .as_deref()
                    .map(|s| format!(" (step `{s}`)"))
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "- {}{step}: {} → {}",
                    p.kind,
                    p.message,
                    p.answer.as_deref().unwrap_or("no answer")
                );
            }
        }
        if let Some(e) = &self.error {
            let _ = writeln!(md, "\n## Error\n\n```\n{e}\n```");
        }
        if !self.injected.is_empty() {
            md.push_str("\n## Injected faults\n\n");
            for i in &self.injected {
                let _ = writeln!(md, "- `--inject {i}`");
            }
        }
        md.push_str("\n## Gaps found\n\n");
        let gaps = self.gaps();
        if gaps.is_empty() {
            md.push_str("None: every step passed and every probe answered.\n");
        }
        for (i, g) in gaps.iter().enumerate() {
            let _ = writeln!(md, "{}. {g}", i + 1);
        }
        md
    }

    // ---- JSON -----------------------------------------------------------------------------

    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    // ---- SVG ------------------------------------------------------------------------------

    /// A timeline: one bar per step, an axis in seconds, the RTO as a dashed line when it is
    /// on the scale.
    pub fn svg(&self) -> String {
        const LABEL_W: f64 = 230.0;
        const CHART_W: f64 = 520.0;
        const RIGHT_W: f64 = 90.0;
        const ROW_H: f64 = 26.0;
        const TOP: f64 = 48.0;
        const MIN_BAR: f64 = 3.0;
        let width = LABEL_W + CHART_W + RIGHT_W;
        let rows = self.steps.len().max(1) as f64;
        let axis_y = TOP + rows * ROW_H + 6.0;
        let height = axis_y + 70.0;

        let end = self
            .steps
            .iter()
            .map(|s| s.start_ms + s.ms)
            .max()
            .unwrap_or(0)
            .max(self.total_ms)
            .max(1);
        let rto_ms = self.rto_duration.map(|d| d.as_millis() as u64);
        // Show the RTO line when it is within the run's span or just beyond it.
        let rto_on_scale = rto_ms.filter(|&r| r <= end.saturating_mul(5) / 4);
        let span = end.max(rto_on_scale.unwrap_or(0));
        let tick = nice_tick(span);
        let span = span.div_ceil(tick) * tick;
        let x = |ms: u64| LABEL_W + CHART_W * ms as f64 / span as f64;

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            s,
            r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"##
        );
        let title = format!(
            "{} {} — {} — {}",
            self.script,
            self.mode,
            if self.passed() { "PASS" } else { "FAIL" },
            self.rto_line()
        );
        let _ = writeln!(
            s,
            r#"<text x="10" y="22" font-size="14" font-weight="bold">{}</text>"#,
            xml(&title)
        );
        // Grid and axis.
        let mut t = 0;
        while t <= span {
            let tx = x(t);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{axis_y}" stroke="#e3e3e3"/>"##
            );
            let _ = writeln!(
                s,
                r##"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                axis_y + 16.0,
                tick_label(t, tick)
            );
            t += tick;
        }
        let _ = writeln!(
            s,
            r##"<line x1="{LABEL_W}" y1="{axis_y}" x2="{:.1}" y2="{axis_y}" stroke="#333"/>"##,
            LABEL_W + CHART_W
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">seconds since start</text>"##,
            LABEL_W + CHART_W / 2.0,
            axis_y + 32.0
        );
        // Bars.
        for (i, step) in self.steps.iter().enumerate() {
            let y = TOP + i as f64 * ROW_H;
            let bx = x(step.start_ms);
            let bw = (x(step.start_ms + step.ms) - bx).max(MIN_BAR);
            let (fill, label) = bar_style(step);
            let duration = human(Duration::from_millis(step.ms));
            let _ = writeln!(
                s,
                r#"<g class="step" data-status="{}"><title>{}</title>"#,
                xml(&step.status),
                xml(&format!("{} — {} ({duration})", step.name, label))
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LABEL_W - 8.0,
                y + 17.0,
                xml(&format!("{}. {}", i + 1, truncate(&step.name, 32)))
            );
            let _ = writeln!(
                s,
                r#"<rect class="bar" x="{bx:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" rx="2" fill="{fill}"/>"#,
                y + 4.0,
                ROW_H - 8.0
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#333">{}</text></g>"##,
                bx + bw + 4.0,
                y + 17.0,
                xml(&duration)
            );
        }
        if self.steps.is_empty() {
            let _ = writeln!(
                s,
                r##"<text x="{LABEL_W}" y="{:.1}" fill="#555">no step started</text>"##,
                TOP + 17.0
            );
        }
        // RTO.
        match (rto_on_scale, &self.rto) {
            (Some(r), Some(text)) => {
                let rx = x(r);
                let _ = writeln!(
                    s,
                    r##"<line class="rto" x1="{rx:.1}" y1="{:.1}" x2="{rx:.1}" y2="{axis_y}" stroke="#b00020" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
                    TOP - 10.0
                );
                let _ = writeln!(
                    s,
                    r##"<text x="{rx:.1}" y="{:.1}" text-anchor="middle" fill="#b00020">{}</text>"##,
                    TOP - 13.0,
                    xml(&format!("RTO {text}"))
                );
            }
            (None, Some(text)) if rto_ms.is_some() => {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#b00020">{}</text>"##,
                    LABEL_W + CHART_W,
                    TOP - 13.0,
                    xml(&format!("RTO {text} is off this scale →"))
                );
            }
            _ => {}
        }
        // Legend.
        let ly = height - 14.0;
        for (i, (fill, label)) in [
            (OK, "ok"),
            (FAILED, "failed"),
            (GREY, "skipped / simulated only"),
        ]
        .iter()
        .enumerate()
        {
            let lx = 10.0 + i as f64 * 110.0;
            let _ = writeln!(
                s,
                r#"<rect x="{lx}" y="{:.1}" width="12" height="12" fill="{fill}"/><text x="{:.1}" y="{ly}">{label}</text>"#,
                ly - 10.0,
                lx + 16.0
            );
        }
        s.push_str("</svg>\n");
        s
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

const OK: &str = "#2e9e44";
const FAILED: &str = "#d64541";
const GREY: &str = "#a0a4a8";

fn bar_style(step: &ReportStep) -> (&'static str, &'static str) {
    if is_failure(&step.status) {
        return (FAILED, "failed");
    }
    if step.status != "ok" {
        return (GREY, "skipped");
    }
    let simulated_only = !step.changes.is_empty()
        && step.changes.iter().all(|c| c.outcome == "simulated")
        && step.probes.is_empty();
    if simulated_only {
        (GREY, "changes simulated")
    } else {
        (OK, "ok")
    }
}

fn is_failure(status: &str) -> bool {
    !matches!(status, "ok" | "skipped" | "resumed" | "running")
}

fn icon(status: &str) -> &'static str {
    match status {
        "ok" => "✅",
        "skipped" | "resumed" => "⏭",
        "running" => "⏳",
        _ => "❌",
    }
}

fn count_changes(changes: &[ReportChange]) -> String {
    if changes.is_empty() {
        return "—".to_string();
    }
    let mut parts = Vec::new();
    for outcome in ["made", "simulated", "skipped", "failed", "unfinished"] {
        let n = changes.iter().filter(|c| c.outcome == outcome).count();
        if n > 0 {
            parts.push(format!("{n} {outcome}"));
        }
    }
    parts.join(", ")
}

fn count_probes(probes: &[ReportProbe]) -> String {
    if probes.is_empty() {
        return "—".to_string();
    }
    let failed = probes.iter().filter(|p| !p.ok).count();
    if failed == 0 {
        format!("{} ok", probes.len())
    } else {
        format!("{} ok, {failed} failed", probes.len() - failed)
    }
}

fn params_text(params: &Value) -> String {
    match params {
        Value::Object(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("`{k}={s}`"),
                other => format!("`{k}={other}`"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => "—".to_string(),
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Escape text for XML content and attribute values.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A round tick spacing (ms) giving at most eight ticks: 1-2-5 below a second, then whole
/// seconds and minutes.
fn nice_tick(span_ms: u64) -> u64 {
    const TICKS: [u64; 21] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 900_000, 1_800_000,
    ];
    let mut tick = TICKS
        .into_iter()
        .find(|&t| span_ms / t <= 8)
        .unwrap_or(3_600_000);
    while span_ms / tick > 8 {
        tick = tick.saturating_mul(2);
    }
    tick
}

fn tick_label(ms: u64, tick: u64) -> String {
    if tick >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if tick >= 100 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if tick >= 10 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        format!("{:.3}s", ms as f64 / 1000.0)
    }
}

/// Milliseconds since the epoch of an RFC 3339 timestamp as the journal writes them.
fn parse_ts(ts: &str) -> Option<u64> {
    let t: jiff::Timestamp = ts.parse().ok()?;
    u64::try_from(t.as_millisecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, status: &str, start_ms: u64, ms: u64) -> ReportStep {
        ReportStep {
            name: name.to_string(),
            status: status.to_string(),
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
            status: "ok".to_string(),
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
        let r = report(vec![step("a", "ok", 0, 2_000)], Some("15m"));
        assert_eq!(r.rto_line(), "RTO 15m: met (2.0s)");
        let r = report(vec![step("a", "ok", 0, 2_000)], Some("1s"));
        assert_eq!(r.rto_line(), "RTO 1s: missed (2.0s)");
        assert!(r.gaps().iter().any(|g| g.contains("missed")));
        let r = report(vec![step("a", "ok", 0, 2_000)], None);
        assert!(r.rto_line().starts_with("RTO: no target"));
        assert_eq!(r.rto_met, None);
    }

    #[test]
    fn svg_has_one_bar_per_step_escapes_names_and_shows_a_near_rto() {
        let r = report(
            vec![
                step("Back <up> & \"go\"", "ok", 0, 400),
                step("Stop", "failed", 400, 0),
            ],
            Some("500ms"),
        );
        let svg = r.svg();
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert!(svg.contains("Back &lt;up&gt; &amp; &quot;go&quot;"));
        assert!(svg.contains(r#"class="rto""#));
        assert!(svg.contains("RTO 500ms"));
        let far = report(vec![step("a", "ok", 0, 400)], Some("15m"));
        assert!(!far.svg().contains(r#"class="rto""#));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_tick(1), 1);
        assert_eq!(nice_tick(2_100), 500);
        assert_eq!(nice_tick(900_000), 120_000);
        assert!(36_000_000 / nice_tick(36_000_000) <= 8);
        assert_eq!(tick_label(1_500, 500), "1.5s");
        assert_eq!(tick_label(120_000, 60_000), "2m");
    }

    #[test]
    fn markdown_lists_steps_gaps_and_injections() {
        let mut failed = step("Stop service", "failed", 10, 5);
        failed.error = Some("service::stop failed: fault injected".to_string());
        failed.changes.push(ReportChange {
            function: "service::stop".to_string(),
            summary: "stop cortex.service".to_string(),
            outcome: "failed".to_string(),
            ms: 0,
            error: failed.error.clone(),
        });
        let mut r = report(vec![step("Backup", "ok", 0, 10), failed], Some("15m"));
        r.status = "failed".to_string();
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
