//! `ripcord report --fleet MERGED`: one fleet run across hosts, from a merged journal
//! (`journal merge`): per host how its run ended, how long it took, what it changed and where it
//! stopped (a run that was resumed ends where its last resume ended); the batches the orchestrator
//! ran (as it recorded them with `--fleet-batch`, else guessed from runs overlapping in time); and
//! the hosts that were expected (`--hosts`) but never ran, because the rollout stopped before
//! reaching them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::journal::{EventRow, Journal, RunRow};
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

/// One host's run, and the runs that resumed it.
#[derive(Debug, Clone, Serialize)]
pub struct HostRun {
    pub host_id: String,
    /// The run's id in the merged journal (`ripcord --journal MERGED show RUN`).
    pub run: i64,
    /// The `ripcord resume` runs that continued it, in order; status, exit, end, where it stopped
    /// and the error are the last one's, changes count the whole chain.
    pub resumed_by: Vec<i64>,
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
    /// The batch and play the orchestrator recorded on the run (`--fleet-batch`, `--fleet-play`).
    pub fleet_batch: Option<u32>,
    pub fleet_play: Option<String>,
    /// When the first run (not its resumes) ended: what overlapping-time batches are made of.
    #[serde(skip)]
    pub first_ended: Option<String>,
}

/// One of the orchestrator's batches: the runs that recorded the same `--fleet-batch` (and
/// `--fleet-play`), or, for runs that recorded none, runs that overlapped in time.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub number: usize,
    pub started: String,
    pub ended: Option<String>,
    pub hosts: Vec<String>,
    /// true: recorded by the orchestrator; false: guessed from overlapping run times.
    pub recorded: bool,
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
        let resumes = resumes(&journal, &all).map_err(unreadable)?;
        let mut lines = Vec::new();
        for r in &runs {
            let mut chain = vec![*r];
            while let Some(next) = chain.last().and_then(|last| resumes.get(&last.id)) {
                chain.push(next);
            }
            lines.push(host_run(&journal, &chain).map_err(unreadable)?);
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

/// Each run that a `ripcord resume` run continued, and the (latest) run that resumed it.
fn resumes<'a>(
    journal: &Journal,
    all: &'a [RunRow],
) -> rusqlite::Result<BTreeMap<i64, &'a RunRow>> {
    let mut by_parent: BTreeMap<i64, &RunRow> = BTreeMap::new();
    for run in all {
        let Some(parent) = run.parent else { continue };
        // A resume's first events mark it; a `runbook::run` sub-run has no such event.
        let is_resume = journal
            .events(run.id)?
            .iter()
            .take(4)
            .any(|e| e.is(EventKind::Resume));
        if is_resume
            && by_parent
                .get(&parent)
                .is_none_or(|seen| seen.started <= run.started)
        {
            by_parent.insert(parent, run);
        }
    }
    Ok(by_parent)
}

/// A host's line: its first run, continued by the resumes in `chain[1..]`.
fn host_run(journal: &Journal, chain: &[&RunRow]) -> rusqlite::Result<HostRun> {
    let (Some(first), Some(last)) = (chain.first(), chain.last()) else {
        return Err(rusqlite::Error::QueryReturnedNoRows);
    };
    let mut events: Vec<EventRow> = Vec::new();
    for r in chain {
        events.extend(journal.events(r.id)?);
    }
    let count = |kind: EventKind, ok: Option<bool>| {
        events
            .iter()
            .filter(|e| e.is(kind) && ok.is_none_or(|ok| e.data["ok"] == ok))
            .count()
    };
    let start = events
        .iter()
        .find(|e| e.run == first.id && e.is(EventKind::RunStart));
    let recorded = |field: &str| start.map(|e| e.data[field].clone());
    Ok(HostRun {
        host_id: first.host_id.clone().unwrap_or_default(),
        run: first.id,
        resumed_by: chain[1..].iter().map(|r| r.id).collect(),
        run_uuid: first.run_uuid.clone().unwrap_or_default(),
        script: first.script.clone(),
        mode: first.mode.clone(),
        status: last.status.clone(),
        exit_code: last.exit_code,
        started: first.started.clone(),
        ended: last.ended.clone(),
        duration_ms: last
            .ended
            .as_deref()
            .and_then(|end| millis_between(&first.started, end)),
        changes: count(EventKind::ChangeEnd, Some(true)),
        changes_failed: count(EventKind::ChangeEnd, Some(false)),
        simulated: count(EventKind::ChangeSimulated, None),
        stopped_at: if last.status == "ok" {
            None
        } else {
            last.step.clone()
        },
        error: last.error.clone(),
        batch: 0,
        fleet_batch: recorded("fleet_batch")
            .and_then(|v| v.as_u64())
            .and_then(|n| u32::try_from(n).ok()),
        fleet_play: recorded("fleet_play").and_then(|v| v.as_str().map(str::to_string)),
        first_ended: first.ended.clone(),
    })
}

fn millis_between(start: &str, end: &str) -> Option<i64> {
    let start: jiff::Timestamp = start.parse().ok()?;
    let end: jiff::Timestamp = end.parse().ok()?;
    Some(end.as_millisecond() - start.as_millisecond())
}

/// Group runs (sorted by start) into batches, numbering each run's: runs that recorded a batch
/// by (play, batch); the others by overlapping in time. Batches are numbered by their first start.
fn batches(lines: &mut [HostRun]) -> Vec<Batch> {
    let mut recorded: BTreeMap<(Option<String>, u32), Vec<usize>> = BTreeMap::new();
    let mut unrecorded = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match line.fleet_batch {
            Some(n) => recorded
                .entry((line.fleet_play.clone(), n))
                .or_default()
                .push(i),
            None => unrecorded.push(i),
        }
    }
    let mut groups: Vec<(bool, Vec<usize>)> = recorded.into_values().map(|g| (true, g)).collect();
    groups.extend(
        overlapping(lines, &unrecorded)
            .into_iter()
            .map(|g| (false, g)),
    );
    // Indices follow the start order, so a group's first index is its first run.
    groups.sort_by_key(|(_, g)| g.first().copied());
    let mut batches = Vec::new();
    for (recorded, group) in groups {
        let number = batches.len() + 1;
        let mut batch = Batch {
            number,
            started: String::new(),
            ended: None,
            hosts: Vec::new(),
            recorded,
        };
        let mut open_ended = false;
        for &i in &group {
            let line = &mut lines[i];
            line.batch = number;
            if batch.hosts.is_empty() {
                batch.started = line.started.clone();
            }
            batch.hosts.push(line.host_id.clone());
            match &line.ended {
                Some(end) if batch.ended.as_ref().is_none_or(|e| end > e) => {
                    batch.ended = Some(end.clone())
                }
                Some(_) => {}
                None => open_ended = true,
            }
        }
        if open_ended {
            batch.ended = None;
        }
        batches.push(batch);
    }
    batches
}

/// The runs at `indices` (in start order) grouped by overlapping in time: a guess at the
/// orchestrator's batches for runs that did not record theirs. A run still going (its first run
/// not ended) takes every later run into its group.
fn overlapping(lines: &[HostRun], indices: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    // The latest end seen in the current group; a run still going ends "never".
    let mut until: Option<&str> = None;
    let mut open_ended = false;
    for &i in indices {
        let line = &lines[i];
        let overlaps = match (until, open_ended) {
            (_, true) => !groups.is_empty(),
            (Some(end), false) => line.started.as_str() < end,
            (None, false) => false,
        };
        if !overlaps {
            groups.push(Vec::new());
            until = None;
            open_ended = false;
        }
        match line.first_ended.as_deref() {
            Some(end) if until.is_none_or(|u| end > u) => until = Some(end),
            Some(_) => {}
            None => open_ended = true,
        }
        if let Some(group) = groups.last_mut() {
            group.push(i);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(host: &str, started: &str, ended: Option<&str>) -> HostRun {
        HostRun {
            host_id: host.into(),
            run: 0,
            resumed_by: Vec::new(),
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
            fleet_batch: None,
            fleet_play: None,
            first_ended: ended.map(str::to_string),
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
    fn recorded_batches_win_over_times_and_the_rest_are_guessed() {
        let recorded = |host: &str, s: u32, e: u32, play: &str, n: u32| HostRun {
            fleet_batch: Some(n),
            fleet_play: Some(play.into()),
            ..line(host, &t(s), Some(&t(e)))
        };
        let mut lines = vec![
            // Batch 1 of play p: one after the other in time, still one batch.
            recorded("a", 0, 1, "p", 1),
            recorded("b", 2, 3, "p", 1),
            // No batch recorded: overlapping ones are grouped.
            line("x", &t(4), Some(&t(8))),
            line("y", &t(5), Some(&t(6))),
            // Overlaps x and y in time, but recorded batch 3.
            recorded("c", 6, 9, "p", 3),
            // Same number in another play: another batch.
            recorded("d", 10, 11, "q", 1),
        ];
        let batches = batches(&mut lines);
        let hosts: Vec<(Vec<String>, bool)> = batches
            .iter()
            .map(|b| (b.hosts.clone(), b.recorded))
            .collect();
        assert_eq!(
            hosts,
            [
                (vec!["a".to_string(), "b".to_string()], true),
                (vec!["x".to_string(), "y".to_string()], false),
                (vec!["c".to_string()], true),
                (vec!["d".to_string()], true),
            ]
        );
        assert_eq!(batches[0].ended.as_deref(), Some(t(3).as_str()));
        let numbers: Vec<usize> = lines.iter().map(|l| l.batch).collect();
        assert_eq!(numbers, [1, 1, 2, 2, 3, 4]);
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
