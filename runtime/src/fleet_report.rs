//! `ripcord report --fleet MERGED`: one fleet run across hosts, from a merged journal
//! (`journal merge`): per host how its run ended, how long it took, what it changed and where it
//! stopped; the batches the orchestrator ran (runs overlapping in time); and the hosts that were
//! expected (`--hosts`) but never ran, because the rollout stopped before reaching them.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::journal::{Journal, RunRow};
use crate::status::EventKind;

/// Why there is no report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetReportError {
    /// The file or the selection is wrong (exit 2).
    Usage(String),
    /// The journal could not be read (exit 1).
    Failed(String),
}

/// The fleet report.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub journal: String,
    pub correlation_id: Option<String>,
    pub hosts: Vec<HostRun>,
    pub batches: Vec<Batch>,
    /// Hosts given with `--hosts` that have no run: never touched.
    pub never_touched: Vec<String>,
    pub counts: Counts,
}

/// One host's run.
#[derive(Debug, Clone, Serialize)]
pub struct HostRun {
    pub host_id: String,
    /// The run's id in the merged journal (`ripcord --journal MERGED show RUN`).
    pub run: i64,
    pub run_uuid: String,
    pub script: String,
    pub mode: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub started: String,
    pub ended: Option<String>,
    pub duration_ms: Option<i64>,
    /// Changes made, changes that failed, and changes simulated (dry run, drill).
    pub changes: usize,
    pub changes_failed: usize,
    pub simulated: usize,
    /// The step it was in when it stopped, for a run that did not end ok.
    pub stopped_at: Option<String>,
    pub error: Option<String>,
    /// Its batch, counted from 1.
    pub batch: usize,
}

/// Runs that overlapped in time: what one of the orchestrator's batches looks like in the journal.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub number: usize,
    pub started: String,
    pub ended: Option<String>,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub hosts: usize,
    pub ok: usize,
    pub failed: usize,
    pub never_touched: usize,
}

impl FleetReport {
    /// The report of fleet run `correlation` (needed only when the file holds several) in the
    /// journal at `path`, expecting `hosts` (may be empty).
    pub fn build(
        path: &Path,
        correlation: Option<&str>,
        hosts: &[String],
    ) -> Result<FleetReport, FleetReportError> {
        let journal = Journal::open_read_only(path).map_err(FleetReportError::Usage)?;
        let unreadable = |e: rusqlite::Error| {
            FleetReportError::Failed(format!("cannot read {}: {e}", path.display()))
        };
        let all = journal.runs(i64::MAX as usize).map_err(unreadable)?;
        // Top-level runs with a host id: sub-runs belong to the run that started them.
        let fleet: Vec<&RunRow> = all
            .iter()
            .filter(|r| r.parent.is_none() && r.host_id.is_some())
            .collect();
        let correlation = pick_correlation(path, &fleet, correlation)?;
        let mut runs: Vec<&RunRow> = fleet
            .into_iter()
            .filter(|r| r.correlation_id.as_deref() == correlation.as_deref())
            .collect();
        runs.sort_by(|a, b| {
            (a.started.as_str(), a.host_id.as_deref())
                .cmp(&(b.started.as_str(), b.host_id.as_deref()))
        });
        let mut lines = Vec::new();
        for r in &runs {
            lines.push(host_run(&journal, r).map_err(unreadable)?);
        }
        let batches = batches(&mut lines);
        let seen: BTreeSet<&str> = lines.iter().map(|l| l.host_id.as_str()).collect();
        let never_touched: Vec<String> = hosts
            .iter()
            .filter(|h| !seen.contains(h.as_str()))
            .cloned()
            .collect();
        let counts = Counts {
            hosts: seen.len(),
            ok: lines.iter().filter(|l| l.status == "ok").count(),
            failed: lines.iter().filter(|l| l.status != "ok").count(),
            never_touched: never_touched.len(),
        };
        Ok(FleetReport {
            journal: path.display().to_string(),
            correlation_id: correlation,
            hosts: lines,
            batches,
            never_touched,
            counts,
        })
    }
}

/// The fleet run to report: the one asked for, or the only one in the file.
fn pick_correlation(
    path: &Path,
    runs: &[&RunRow],
    asked: Option<&str>,
) -> Result<Option<String>, FleetReportError> {
    let ids: BTreeSet<Option<&str>> = runs.iter().map(|r| r.correlation_id.as_deref()).collect();
    let listed = || {
        ids.iter()
            .map(|c| c.unwrap_or("(none)"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match asked {
        Some(id) if ids.contains(&Some(id)) => Ok(Some(id.to_string())),
        Some(id) => Err(FleetReportError::Usage(format!(
            "no run in {} has correlation id `{id}`; it holds: {}",
            path.display(),
            if ids.is_empty() {
                "no fleet runs".to_string()
            } else {
                listed()
            }
        ))),
        None if ids.is_empty() => Err(FleetReportError::Usage(format!(
            "{} holds no runs with a host id\nhelp: merge the hosts' journals with `ripcord journal merge OUT FILES...` and report on OUT",
            path.display()
        ))),
        None if ids.len() > 1 => Err(FleetReportError::Usage(format!(
            "{} holds {} fleet runs ({}): pick one with --correlation-id ID",
            path.display(),
            ids.len(),
            listed()
        ))),
        None => Ok(ids.into_iter().next().flatten().map(str::to_string)),
    }
}

fn host_run(journal: &Journal, r: &RunRow) -> rusqlite::Result<HostRun> {
    let events = journal.events(r.id)?;
    let count = |kind: EventKind, ok: Option<bool>| {
        events
            .iter()
            .filter(|e| e.is(kind) && ok.is_none_or(|ok| e.data["ok"] == ok))
            .count()
    };
    Ok(HostRun {
        host_id: r.host_id.clone().unwrap_or_default(),
        run: r.id,
        run_uuid: r.run_uuid.clone().unwrap_or_default(),
        script: r.script.clone(),
        mode: r.mode.clone(),
        status: r.status.clone(),
        exit_code: r.exit_code,
        started: r.started.clone(),
        ended: r.ended.clone(),
        duration_ms: r
            .ended
            .as_deref()
            .and_then(|end| millis_between(&r.started, end)),
        changes: count(EventKind::ChangeEnd, Some(true)),
        changes_failed: count(EventKind::ChangeEnd, Some(false)),
        simulated: count(EventKind::ChangeSimulated, None),
        stopped_at: if r.status == "ok" {
            None
        } else {
            r.step.clone()
        },
        error: r.error.clone(),
        batch: 0,
    })
}

fn millis_between(start: &str, end: &str) -> Option<i64> {
    let start: jiff::Timestamp = start.parse().ok()?;
    let end: jiff::Timestamp = end.parse().ok()?;
    Some(end.as_millisecond() - start.as_millisecond())
}

/// Group runs (sorted by start) into batches of runs overlapping in time, numbering each run's.
fn batches(lines: &mut [HostRun]) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    // The latest end seen in the current batch; a run still going ends "never".
    let mut until: Option<String> = None;
    let mut open_ended = false;
    for line in lines.iter_mut() {
        let overlaps = match (&until, open_ended) {
            (_, true) => !batches.is_empty(),
            (Some(end), false) => line.started < *end,
            (None, false) => false,
        };
        if !overlaps {
            batches.push(Batch {
                number: batches.len() + 1,
                started: line.started.clone(),
                ended: None,
                hosts: Vec::new(),
            });
            until = None;
            open_ended = false;
        }
        match &line.ended {
            Some(end) if until.as_ref().is_none_or(|u| end > u) => until = Some(end.clone()),
            Some(_) => {}
            None => open_ended = true,
        }
        if let Some(batch) = batches.last_mut() {
            batch.hosts.push(line.host_id.clone());
            batch.ended = if open_ended { None } else { until.clone() };
            line.batch = batch.number;
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(host: &str, started: &str, ended: Option<&str>) -> HostRun {
        HostRun {
            host_id: host.into(),
            run: 0,
            run_uuid: String::new(),
            script: "rollback".into(),
            mode: "run".into(),
            status: "ok".into(),
            exit_code: Some(0),
            started: started.into(),
            ended: ended.map(str::to_string),
            duration_ms: None,
            changes: 0,
            changes_failed: 0,
            simulated: 0,
            stopped_at: None,
            error: None,
            batch: 0,
        }
    }

    fn t(s: u32) -> String {
        format!("2026-12-01T10:00:{s:02}.000Z")
    }

    #[test]
    fn overlapping_runs_are_one_batch_and_a_later_start_opens_the_next() {
        let mut lines = vec![
            line("a", &t(0), Some(&t(5))),
            line("b", &t(1), Some(&t(9))),
            // Starts after a ended but before b did: same batch.
            line("c", &t(6), Some(&t(7))),
            line("d", &t(9), Some(&t(12))),
            // Still running: every later run joins its batch.
            line("e", &t(20), None),
            line("f", &t(40), Some(&t(41))),
        ];
        let batches = batches(&mut lines);
        let hosts: Vec<Vec<String>> = batches.iter().map(|b| b.hosts.clone()).collect();
        assert_eq!(hosts, [vec!["a", "b", "c"], vec!["d"], vec!["e", "f"]]);
        assert_eq!(batches[0].ended.as_deref(), Some(t(9).as_str()));
        assert_eq!(
            batches[2].ended, None,
            "a batch with a run still going has no end"
        );
        let numbers: Vec<usize> = lines.iter().map(|l| l.batch).collect();
        assert_eq!(numbers, [1, 1, 1, 2, 3, 3]);
    }

    #[test]
    fn durations_come_from_the_recorded_times() {
        assert_eq!(
            millis_between("2026-12-01T10:00:00.250Z", "2026-12-01T10:00:01.000Z"),
            Some(750)
        );
        assert_eq!(
            millis_between("yesterday", "2026-12-01T10:00:01.000Z"),
            None
        );
    }
}
