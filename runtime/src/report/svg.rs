//! The report as an SVG timeline: one bar per step on a seconds axis, the RTO as a dashed line.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Report, ReportStep};
use crate::status::{ChangeOutcome, StepStatus};
use crate::time::human;

const LABEL_W: f64 = 230.0;
const CHART_W: f64 = 520.0;
const RIGHT_W: f64 = 90.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 48.0;
const MIN_BAR: f64 = 3.0;

/// The chart's geometry: its size, where the axis is, and the span of time it shows.
struct Layout {
    width: f64,
    height: f64,
    axis_y: f64,
    /// Milliseconds the axis covers: a whole number of ticks.
    span: u64,
    tick: u64,
}

impl Layout {
    /// Room for every step (one row at least), and a time axis to the end of the run, or to
    /// the RTO when it is drawn.
    fn new(report: &Report, rto_on_scale: Option<u64>, end: u64) -> Layout {
        let width = LABEL_W + CHART_W + RIGHT_W;
        let rows = report.steps.len().max(1) as f64;
        let axis_y = TOP + rows * ROW_H + 6.0;
        let span = end.max(rto_on_scale.unwrap_or(0));
        let tick = nice_tick(span);
        Layout {
            width,
            height: axis_y + 70.0,
            axis_y,
            span: span.div_ceil(tick) * tick,
            tick,
        }
    }

    /// Where `ms` since the start falls on the x axis.
    fn x(&self, ms: u64) -> f64 {
        LABEL_W + CHART_W * ms as f64 / self.span as f64
    }
}

impl Report {
    /// A timeline: one bar per step, an axis in seconds, the RTO as a dashed line when it is
    /// on the scale.
    pub fn svg(&self) -> String {
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
        let layout = Layout::new(self, rto_on_scale, end);

        let mut s = String::new();
        self.svg_title(&mut s, &layout);
        svg_axis(&mut s, &layout);
        for (i, step) in self.steps.iter().enumerate() {
            svg_bar(&mut s, &layout, i, step);
        }
        if self.steps.is_empty() {
            let _ = writeln!(
                s,
                r##"<text x="{LABEL_W}" y="{:.1}" fill="#555">no step started</text>"##,
                TOP + 17.0
            );
        }
        if let Some(text) = &self.rto {
            match rto_on_scale {
                Some(r) => svg_rto_line(&mut s, &layout, r, text),
                None if rto_ms.is_some() => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#b00020">{}</text>"##,
                        LABEL_W + CHART_W,
                        TOP - 13.0,
                        xml(&format!("RTO {text} is off this scale →"))
                    );
                }
                None => {}
            }
        }
        svg_legend(&mut s, &layout);
        s.push_str("</svg>\n");
        s
    }

    /// The `<svg>` element, a white background and the title line.
    fn svg_title(&self, s: &mut String, layout: &Layout) {
        let Layout { width, height, .. } = layout;
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
    }
}

/// The grid lines with their tick labels, the axis and its caption.
fn svg_axis(s: &mut String, layout: &Layout) {
    let axis_y = layout.axis_y;
    let mut t = 0;
    while t <= layout.span {
        let tx = layout.x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{axis_y}" stroke="#e3e3e3"/>"##
        );
        let _ = writeln!(
            s,
            r##"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            axis_y + 16.0,
            tick_label(t, layout.tick)
        );
        t += layout.tick;
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
}

/// Row `i`: the step's label, its bar and its duration, with a tooltip.
fn svg_bar(s: &mut String, layout: &Layout, i: usize, step: &ReportStep) {
    let y = TOP + i as f64 * ROW_H;
    let bx = layout.x(step.start_ms);
    let bw = (layout.x(step.start_ms + step.ms) - bx).max(MIN_BAR);
    let (fill, label) = bar_style(step);
    let duration = human(Duration::from_millis(step.ms));
    let _ = writeln!(
        s,
        r#"<g class="step" data-status="{}"><title>{}</title>"#,
        xml(step.status.as_str()),
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

/// The RTO at `rto_ms` as a dashed line, labelled with the target as written.
fn svg_rto_line(s: &mut String, layout: &Layout, rto_ms: u64, text: &str) {
    let rx = layout.x(rto_ms);
    let axis_y = layout.axis_y;
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

fn svg_legend(s: &mut String, layout: &Layout) {
    let ly = layout.height - 14.0;
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
}

const OK: &str = "#2e9e44";
const FAILED: &str = "#d64541";
const GREY: &str = "#a0a4a8";

fn bar_style(step: &ReportStep) -> (&'static str, &'static str) {
    if step.status.is_failure() {
        return (FAILED, "failed");
    }
    if step.status != StepStatus::Ok {
        return (GREY, "skipped");
    }
    let simulated_only = !step.changes.is_empty()
        && step
            .changes
            .iter()
            .all(|c| c.outcome == ChangeOutcome::Simulated)
        && step.probes.is_empty();
    if simulated_only {
        (GREY, "changes simulated")
    } else {
        (OK, "ok")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_tick(1), 1);
        assert_eq!(nice_tick(2_100), 500);
        assert_eq!(nice_tick(900_000), 120_000);
        assert!(36_000_000 / nice_tick(36_000_000) <= 8);
        assert_eq!(tick_label(1_500, 500), "1.5s");
        assert_eq!(tick_label(120_000, 60_000), "2m");
    }
}
