//! The watch's memory, kept in the run journal so a restarted watch (systemd `Restart=`) knows
//! what it already did: each watch process is one journal run named `watch:TRIGGERS`, whose
//! events are its state changes, heartbeats and actions. An action is journaled before its
//! runbook starts, so a watch killed mid-action counts it and never acts twice; a notice is
//! journaled before it is sent and each delivery after, so a killed watch's unsent notices
//! are sent by the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ripcord_runtime::fleet::RunIdentity;
use ripcord_runtime::journal::{EventRow, Journal, RunStart};
use ripcord_runtime::secrets::Secrets;
use serde_json::{Value, json};

/// Events of a watch run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Start,
    State,
    Heartbeat,
    WouldAct,
    Held,
    ActionStart,
    ActionEnd,
    Rearm,
    IncidentOpen,
    IncidentClose,
    Notice,
    Delivery,
}

impl Event {
    pub fn kind(self) -> &'static str {
        match self {
            Event::Start => "watch.start",
            Event::State => "watch.state",
            Event::Heartbeat => "watch.heartbeat",
            Event::WouldAct => "watch.would_act",
            Event::Held => "watch.held",
            Event::ActionStart => "watch.action.start",
            Event::ActionEnd => "watch.action.end",
            Event::Rearm => "watch.rearm",
            Event::IncidentOpen => "watch.incident.open",
            Event::IncidentClose => "watch.incident.close",
            Event::Notice => "watch.notice",
            Event::Delivery => "watch.delivery",
        }
    }
}

/// The journal name of the watch on `triggers`.
pub fn key(triggers: &str) -> String {
    format!("watch:{triggers}")
}

/// What earlier watch runs on the same triggers did, as far as acting is concerned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// Actions started since the last re-arm (a killed action counts).
    pub actions: u32,
    /// When the last action started (RFC 3339).
    pub last_action: Option<String>,
    /// The last action's run and how it ended, if it ended.
    pub last_outcome: Option<Value>,
    /// The incident still open when the last watch stopped.
    pub incident: Option<Incident>,
    /// An action journaled as started and never as ended: its watch stopped during it.
    pub unfinished: Option<Unfinished>,
    /// The dedup keys (incident, stage) of every notice journaled.
    pub noticed: BTreeSet<(String, String)>,
    /// Notices some configured channel has not been tried with yet, by notice event id.
    pub undelivered: BTreeMap<i64, Undelivered>,
}

/// An incident: from `sustain` troubled evaluations to `sustain` healthy ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    /// An automatic action started during it since the last re-arm.
    pub acted: bool,
}

/// An action whose end the journal does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// The watch run that started it (the action's parent).
    pub watch_run: i64,
    pub event: i64,
    pub data: Value,
}

/// A journaled notice and the channels not tried with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Undelivered {
    pub data: Value,
    pub channels: BTreeSet<String>,
}

/// The watch events that make up its memory (state changes and heartbeats do not).
const REMEMBERED: &[&str] = &[
    "watch.action.start",
    "watch.action.end",
    "watch.rearm",
    "watch.incident.open",
    "watch.incident.close",
    "watch.notice",
    "watch.delivery",
];

/// The journal as the watch uses it: one run for this watch process.
pub struct Record {
    journal: Journal,
    pub run: i64,
    key: String,
    /// Event data passes through these before it is written.
    secrets: Secrets,
}

impl Record {
    pub fn open(
        path: &Path,
        key: &str,
        script_path: &str,
        mode: &str,
        policy: Value,
        secrets: Secrets,
    ) -> Result<Record, String> {
        if path.as_os_str() == "off" {
            return Err("ripcord watch needs the journal: it is where its state survives a restart\nhelp: drop --journal off".into());
        }
        let mut journal = Journal::open_reaped(path)?;
        if mode != "rearm" {
            refuse_a_second_watch(&journal, key)?;
        }
        let run = journal
            .start_run(&RunStart {
                script: key.to_string(),
                path: script_path.to_string(),
                sha256: String::new(),
                params: policy,
                operator: ripcord_runtime::who::operator(),
                host: ripcord_runtime::who::hostname(),
                mode: mode.to_string(),
                parent: None,
                identity: RunIdentity::new(None, None),
            })
            .map_err(|e| {
                format!(
                    "cannot record the watch in the journal {}: {e}",
                    path.display()
                )
            })?;
        Ok(Record {
            journal,
            run,
            key: key.to_string(),
            secrets,
        })
    }

    /// Journal `event`; its id.
    pub fn event(&mut self, event: Event, data: Value) -> Result<i64, String> {
        let data = self.secrets.redact_json(data);
        self.journal
            .event(self.run, event.kind(), None, &data)
            .map_err(|e| {
                format!(
                    "cannot write to the journal {}: {e}",
                    self.journal.path().display()
                )
            })
    }

    pub fn finish(&mut self, status: &str, code: i32) {
        let _ = self.journal.finish_run(self.run, status, code, None);
    }

    pub fn memory(&self) -> Result<Memory, String> {
        memory(&self.journal, &self.key)
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }
}

/// Two watches on the same triggers would both act: the second one refuses to start.
fn refuse_a_second_watch(journal: &Journal, key: &str) -> Result<(), String> {
    let runs = journal.runs_of(key, 20).map_err(|e| e.to_string())?;
    let live = runs.iter().find(|r| {
        ripcord_runtime::RunStatus::parse(&r.status) == Some(ripcord_runtime::RunStatus::Running)
            && r.mode != "rearm"
            && ripcord_runtime::who::pid_alive(r.pid)
    });
    match live {
        Some(r) => Err(format!(
            "another {key} is running (pid {}, journal run {})\nhelp: stop it first (`systemctl --user stop ripcord-watch-NAME` or Ctrl-C); two watches would both act",
            r.pid, r.id
        )),
        None => Ok(()),
    }
}

/// Read what every watch run on `key` did, oldest first.
pub fn memory(journal: &Journal, key: &str) -> Result<Memory, String> {
    let mut memory = Memory::default();
    let events = journal
        .script_events(key, REMEMBERED)
        .map_err(|e| e.to_string())?;
    for event in events {
        remember(&mut memory, &event);
    }
    Ok(memory)
}

fn remember(memory: &mut Memory, event: &EventRow) {
    let text = |k: &str| event.data[k].as_str().unwrap_or("").to_string();
    match event.kind.as_str() {
        "watch.action.start" => {
            memory.actions += 1;
            memory.last_action = Some(event.ts.clone());
            memory.last_outcome = None;
            memory.unfinished = Some(Unfinished {
                watch_run: event.run,
                event: event.id,
                data: event.data.clone(),
            });
            if let Some(incident) = memory
                .incident
                .as_mut()
                .filter(|i| i.id == text("incident"))
            {
                incident.acted = true;
            }
        }
        "watch.action.end" => {
            memory.last_outcome = Some(event.data.clone());
            memory.unfinished = None;
        }
        "watch.rearm" => {
            memory.actions = 0;
            if let Some(incident) = memory.incident.as_mut() {
                incident.acted = false;
            }
        }
        "watch.incident.open" => {
            memory.incident = Some(Incident {
                id: text("incident"),
                acted: false,
            })
        }
        "watch.incident.close" => memory.incident = None,
        "watch.notice" => remember_notice(memory, event),
        "watch.delivery" => {
            let notice = event.data["notice"].as_i64().unwrap_or(0);
            if let Some(pending) = memory.undelivered.get_mut(&notice) {
                pending.channels.remove(&text("channel"));
                if pending.channels.is_empty() {
                    memory.undelivered.remove(&notice);
                }
            }
        }
        _ => {}
    }
}

/// A notice: its dedup key is taken, and it waits for a delivery to each of its channels.
fn remember_notice(memory: &mut Memory, event: &EventRow) {
    let text = |k: &str| event.data[k].as_str().unwrap_or("").to_string();
    memory.noticed.insert((text("incident"), text("key")));
    let channels = event.data["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    memory.undelivered.insert(
        event.id,
        Undelivered {
            data: event.data.clone(),
            channels,
        },
    );
}

/// `ripcord watch rearm`: a short run that says the operator allows actions again.
pub fn rearm(path: &Path, key: &str) -> Result<Memory, String> {
    let mut record = Record::open(path, key, "", "rearm", json!({}), Secrets::default())?;
    let before = record.memory()?;
    record.event(
        Event::Rearm,
        json!({ "actions_before": before.actions, "operator": ripcord_runtime::who::operator() }),
    )?;
    record.finish("ok", 0);
    Ok(before)
}
