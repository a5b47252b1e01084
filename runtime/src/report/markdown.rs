//! The report as Markdown, for people: verdict, environment, steps, gates, prompts, gaps.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use super::{Report, ReportStep, first_line};
use crate::host::{ChangeRecord, Mode, ObservationRecord};
use crate::status::{ChangeOutcome, StepStatus};
use crate::time::human;

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        self.md_title(&mut md);
        self.md_environment(&mut md);
        self.md_steps_table(&mut md);
        for (i, s) in self.steps.iter().enumerate() {
            md_step_details(&mut md, i + 1, s);
        }
        self.md_gates(&mut md);
        self.md_prompts(&mut md);
        self.md_error(&mut md);
        self.md_injected(&mut md);
        self.md_gaps(&mut md);
        md
    }

    /// The title, the verdict line and the note on simulated changes.
    fn md_title(&self, md: &mut String) {
        let kind = if Mode::parse(&self.mode) == Some(Mode::Drill) {
            "Drill"
        } else {
            "Run"
        };
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
    }

    fn md_environment(&self, md: &mut String) {
        md.push_str("## Environment\n\n| | |\n|---|---|\n");
        let mode = match Mode::parse(&self.mode) {
            Some(Mode::Drill) => "drill (reads and probes real, changes simulated)",
            Some(Mode::DryRun) => "dry run (changes simulated)",
            Some(Mode::Run) => "run (changes made)",
            None => &self.mode,
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
    }

    fn md_steps_table(&self, md: &mut String) {
        md.push_str("\n## Steps\n\n");
        if self.steps.is_empty() {
            md.push_str("No step started.\n");
            return;
        }
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
                icon(s.status),
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
            icon(if self.passed() {
                StepStatus::Ok
            } else {
                StepStatus::Failed
            }),
            human(Duration::from_millis(self.total_ms))
        );
    }

    fn md_gates(&self, md: &mut String) {
        if self.gates.is_empty() {
            return;
        }
        md.push_str("\n## Gates a real run stops at\n\n");
        md.push_str("Answered by the preview itself; a real run waits for the operator (or `--yes`) at each:\n\n");
        for g in &self.gates {
            let _ = writeln!(md, "- confirm{}: {}", in_step(g.step.as_deref()), g.message);
        }
    }

    fn md_prompts(&self, md: &mut String) {
        if self.prompts.is_empty() {
            return;
        }
        md.push_str("\n## Prompts\n\n");
        for p in &self.prompts {
            let _ = writeln!(
                md,
                "- {}{}: {} → {}",
                p.kind,
                in_step(p.step.as_deref()),
                p.message,
                p.answer.as_deref().unwrap_or("no answer")
            );
        }
    }

    fn md_error(&self, md: &mut String) {
        if let Some(e) = &self.error {
            let _ = writeln!(md, "\n## Error\n\n```\n{e}\n```");
        }
    }

    fn md_injected(&self, md: &mut String) {
        if self.injected.is_empty() {
            return;
        }
        md.push_str("\n## Injected faults\n\n");
        for i in &self.injected {
            let _ = writeln!(md, "- `--inject {i}`");
        }
    }

    fn md_gaps(&self, md: &mut String) {
        md.push_str("\n## Gaps found\n\n");
        let gaps = self.gaps();
        if gaps.is_empty() {
            md.push_str("None: every step passed and every probe answered.\n");
        }
        for (i, g) in gaps.iter().enumerate() {
            let _ = writeln!(md, "{}. {g}", i + 1);
        }
    }
}

/// One step's changes, probes and error, under a heading numbered `n`; nothing for a step
/// that has none of them.
fn md_step_details(md: &mut String, n: usize, s: &ReportStep) {
    if s.changes.is_empty() && s.probes.is_empty() && s.error.is_none() {
        return;
    }
    let _ = writeln!(
        md,
        "\n### {}. {} {} ({})\n",
        n,
        s.name,
        icon(s.status),
        human(Duration::from_millis(s.ms))
    );
    for c in &s.changes {
        let _ = writeln!(md, "- {} `{}`", change_line(c), c.function);
    }
    for p in &s.probes {
        let _ = writeln!(md, "- {}", probe_line(p));
    }
    if let Some(e) = &s.error {
        let _ = writeln!(md, "- error: {}", first_line(e));
    }
}

fn change_line(c: &ChangeRecord) -> String {
    match c.outcome {
        ChangeOutcome::Made => format!(
            "✅ made: {} ({})",
            c.summary,
            human(Duration::from_millis(c.ms))
        ),
        ChangeOutcome::Simulated => format!("⏭ simulated: would {}", c.summary),
        ChangeOutcome::Skipped => format!("⏭ skipped by the operator: {}", c.summary),
        ChangeOutcome::Failed => format!(
            "❌ failed: {} — {}",
            c.summary,
            c.error
                .as_deref()
                .map(first_line)
                .unwrap_or("no reason recorded")
        ),
        other @ (ChangeOutcome::Replayed | ChangeOutcome::Unfinished) => {
            format!("⚠️ {other}: {}", c.summary)
        }
    }
}

fn probe_line(p: &ObservationRecord) -> String {
    if p.ok {
        format!("✅ probe `{}` ok ({}ms)", p.function, p.ms)
    } else {
        format!(
            "❌ probe `{}` failed ({}ms): {}",
            p.function,
            p.ms,
            p.error.as_deref().map(first_line).unwrap_or("not ok")
        )
    }
}

/// ` (step `name`)` when a gate or prompt came from inside a step.
fn in_step(step: Option<&str>) -> String {
    step.map(|s| format!(" (step `{s}`)")).unwrap_or_default()
}

fn icon(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Ok => "✅",
        StepStatus::Skipped | StepStatus::Resumed => "⏭",
        StepStatus::Running => "⏳",
        _ => "❌",
    }
}

fn count_changes(changes: &[ChangeRecord]) -> String {
    if changes.is_empty() {
        return "—".to_string();
    }
    let mut parts = Vec::new();
    // Replayed changes are listed under their step, not counted here.
    for outcome in [
        ChangeOutcome::Made,
        ChangeOutcome::Simulated,
        ChangeOutcome::Skipped,
        ChangeOutcome::Failed,
        ChangeOutcome::Unfinished,
    ] {
        let n = changes.iter().filter(|c| c.outcome == outcome).count();
        if n > 0 {
            parts.push(format!("{n} {outcome}"));
        }
    }
    parts.join(", ")
}

fn count_probes(probes: &[ObservationRecord]) -> String {
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
