//! The watch's memory, kept in the run journal so a restarted watch (systemd `Restart=`) knows
//! what it already did: each watch process is one journal run named `watch:TRIGGERS`, whose
//! events are its state changes, heartbeats and actions. An action is journaled before its
//! runbook starts, so a watch killed mid-action counts it and never acts twice.

use std::path::Path;

use ripcord_runtime::fleet::RunIdentity;
use ripcord_runtime::journal::{Journal, RunStart};
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
        }
    }
}

/// The journal name of the watch on `triggers`.
pub fn key(triggers: &str) -> String {
    format!("watch:{triggers}")
}

/// What earlier watch runs on the same triggers did, as far as acting is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// Actions started since the last re-arm (a killed action counts).
    pub actions: u32,
    /// When the last action started (RFC 3339).
    pub last_action: Option<String>,
    /// The last action's run and how it ended, if it ended.
    pub last_outcome: Option<Value>,
}

/// The journal as the watch uses it: one run for this watch process.
pub struct Record {
    journal: Journal,
    pub run: i64,
    key: String,
}

impl Record {
    pub fn open(
        path: &Path,
        key: &str,
        script_path: &str,
        mode: &str,
        policy: Value,
    ) -> Result<Record, String> {
        if path.as_os_str() == "off" {
            return Err("ripcord watch needs the journal: it is where its state survives a restart\nhelp: drop --journal off".into());
        }
        let mut journal = Journal::open_reaped(path)?;
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
        })
    }

    pub fn event(&mut self, event: Event, data: Value) -> Result<(), String> {
        self.journal
            .event(self.run, event.kind(), None, &data)
            .map(|_| ())
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
}

/// Read what every watch run on `key` did, oldest first.
pub fn memory(journal: &Journal, key: &str) -> Result<Memory, String> {
    let mut memory = Memory::default();
    for event in watch_events(journal, key)? {
        match event.kind.as_str() {
            "watch.action.start" => {
                memory.actions += 1;
                memory.last_action = Some(event.ts.clone());
                memory.last_outcome = None;
            }
            "watch.action.end" => memory.last_outcome = Some(event.data.clone()),
            "watch.rearm" => memory.actions = 0,
            _ => {}
        }
    }
    Ok(memory)
}

/// Every event of every watch run on `key`, in journal order.
pub fn watch_events(
    journal: &Journal,
    key: &str,
) -> Result<Vec<ripcord_runtime::journal::EventRow>, String> {
    let runs = journal.runs(100_000).map_err(|e| e.to_string())?;
    let mut events = Vec::new();
    for run in runs.iter().filter(|r| r.script == key) {
        events.extend(journal.events(run.id).map_err(|e| e.to_string())?);
    }
    events.sort_by_key(|e| e.id);
    Ok(events)
}

/// `ripcord watch rearm`: a short run that says the operator allows actions again.
pub fn rearm(path: &Path, key: &str) -> Result<Memory, String> {
    let mut record = Record::open(path, key, "", "rearm", json!({}))?;
    let before = record.memory()?;
    record.event(
        Event::Rearm,
        json!({ "actions_before": before.actions, "operator": ripcord_runtime::who::operator() }),
    )?;
    record.finish("ok", 0);
    Ok(before)
}
