//! What the watch tells people (`[notify]` in the config), and the worker thread that tells
//! them so a slow or dead receiver never holds up an evaluation or an action.
//!
//! A notice is journaled (`watch.notice`) before it is queued and each channel's delivery
//! after it is tried (`watch.delivery`), so a watch killed in between leaves the notice
//! undelivered in the journal and the next watch sends it: at least once, never lost
//! (PagerDuty's dedup key makes a repeated page harmless). Notices are deduplicated per
//! incident and stage (per action for an action's stages), across restarts.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ripcord_runtime::Host;
use ripcord_runtime::host::HostOptions;
use ripcord_runtime::journal::Journal;
use ripcord_runtime::output::Output;
use ripcord_runtime::secrets::Secrets;
use ripcord_stdlib::notify::outbound::{
    Channel, Channels, Notice, Page, PageAction, Policy, RollbackStage, rollback_text,
};
use serde_json::{Value, json};

use super::state::{Event, Record, Undelivered};

/// Why the watch tells people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A sustained priority that does not act automatically: a human decides.
    Warn,
    Acting,
    /// Shadow mode: what the watch would have done.
    WouldAct,
    /// Sustained, but max_actions, the cooldown or an earlier action holds it back.
    Held,
    Succeeded,
    Failed,
    /// The watch stopped during the action (killed, crashed, or stopped by an operator).
    Interrupted,
    Resolved,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Warn => "warn",
            Stage::Acting => "acting",
            Stage::WouldAct => "would_act",
            Stage::Held => "held",
            Stage::Succeeded => "succeeded",
            Stage::Failed => "failed",
            Stage::Interrupted => "interrupted",
            Stage::Resolved => "resolved",
        }
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub watch: String,
    pub incident: String,
    pub priority: String,
    /// The findings behind the priority, one line.
    pub reason: String,
    pub findings: Value,
    pub service: String,
    pub then: Option<String>,
    /// The action's run in the journal.
    pub run: Option<i64>,
    /// Why the watch does not act (held), or why the action failed.
    pub why: Option<String>,
    pub took: Option<String>,
}

/// The notice for `stage`: a headline, the facts, and for the action's result the rollback
/// communication template.
pub fn compose(stage: Stage, f: &Facts) -> Notice {
    let host = ripcord_runtime::who::hostname();
    let (subject, head) = match result_template(stage, f) {
        Some(template) => (
            format!("[ripcord watch] {}", template.lines().next().unwrap_or("")),
            template,
        ),
        None => {
            let line = headline(stage, f, &host);
            (line.clone(), line)
        }
    };
    let action = f
        .run
        .map(|r| format!("\nAction run: {r} (`ripcord show {r}`)"))
        .unwrap_or_default();
    let text = format!(
        "{head}\n\nIncident: {}\nWatch: {} on {host}\nPriority: {}{action}",
        f.incident, f.watch, f.priority
    );
    let details = json!({
        "source": "ripcord watch", "watch": f.watch, "host": host, "incident": f.incident,
        "stage": stage.as_str(), "priority": f.priority, "subject": subject, "text": text,
        "findings": f.findings, "run": f.run, "why": f.why,
    });
    Notice {
        subject,
        text,
        page: page(stage, f),
        details,
    }
}

/// The one line of a decision or of the end of an incident.
fn headline(stage: Stage, f: &Facts, host: &str) -> String {
    let then = f.then.as_deref().unwrap_or("the configured runbook");
    let (p, reason) = (&f.priority, &f.reason);
    match stage {
        Stage::Warn => format!(
            "[ripcord watch] {p} on {host}: {reason} - not an automatic priority, a human decides"
        ),
        Stage::Acting => {
            format!(
                "[ripcord watch] {p} sustained on {host}: running {then} automatically - {reason}"
            )
        }
        Stage::WouldAct => format!(
            "[ripcord watch, shadow] {p} sustained on {host}: would run {then} - {reason} (shadow: nothing done)"
        ),
        Stage::Held => format!(
            "[ripcord watch] {p} sustained on {host}, NOT acting: {} - {reason}",
            f.why.as_deref().unwrap_or("unknown")
        ),
        Stage::Resolved => format!(
            "[ripcord watch] healthy again on {host}: incident {} resolved",
            f.incident
        ),
        Stage::Succeeded | Stage::Failed | Stage::Interrupted => String::new(),
    }
}

/// The rollback communication template for an action's result (none for a decision).
fn result_template(stage: Stage, f: &Facts) -> Option<String> {
    let then = f.then.as_deref().unwrap_or("the configured runbook");
    let run = f.run.map(|r| format!(" (run {r})")).unwrap_or_default();
    let why = f.why.as_deref().unwrap_or("unknown");
    let mut facts = template_facts(f);
    let (template, error) = match stage {
        Stage::Succeeded => (RollbackStage::Succeeded, None),
        Stage::Failed => (
            RollbackStage::Failed,
            Some(format!("{then}{run} failed: {why}")),
        ),
        Stage::Interrupted => (
            RollbackStage::Failed,
            Some(format!("{then}{run} was interrupted: {why}")),
        ),
        _ => return None,
    };
    if let Some(error) = error {
        facts.push(("error", error));
    }
    Some(rollback_text(template, &facts))
}

fn template_facts(f: &Facts) -> Vec<(&'static str, String)> {
    let mut facts = vec![
        ("service", f.service.clone()),
        (
            "reason",
            format!("ripcord watch: {} {}", f.priority, f.reason),
        ),
    ];
    if let Some(took) = &f.took {
        facts.push(("took", took.clone()));
    }
    facts
}

/// One PagerDuty incident per watch incident: triggered (and updated) while it lasts,
/// resolved when healthy again. A successful action leaves the page open until then.
fn page(stage: Stage, f: &Facts) -> Option<Page> {
    let dedup_key = format!(
        "ripcord-watch:{}:{}",
        ripcord_runtime::who::hostname(),
        f.incident
    );
    let severity = match (stage, f.priority.as_str()) {
        (Stage::Succeeded, _) => return None,
        (Stage::Resolved, _) => {
            return Some(Page {
                action: PageAction::Resolve,
                dedup_key,
                severity: String::new(),
            });
        }
        (Stage::Failed | Stage::Interrupted, _) | (_, "P0") => "critical",
        (_, "P1") => "error",
        _ => "warning",
    };
    Some(Page {
        action: PageAction::Trigger,
        dedup_key,
        severity: severity.to_string(),
    })
}

/// How hard the watch tries each channel (`[watch] notify_timeout`, `notify_retries`).
pub fn policy(timeout: Duration, retries: u32) -> Policy {
    Policy {
        required: false,
        timeout,
        retries,
        backoff: Duration::from_secs(1),
    }
}

/// One notice for the worker.
struct Job {
    /// Its `watch.notice` event.
    event: i64,
    notice: Notice,
    channels: Vec<Channel>,
}

/// The watch's side of the worker.
pub struct Notifier {
    channels: Vec<Channel>,
    queue: Option<Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    /// Set when the grace period at the end is over: the worker stops trying.
    give_up: Arc<AtomicBool>,
}

impl Notifier {
    /// Start the worker for `channels` (none when there is no channel); `config` and
    /// `secrets` are the run's, for the mail server and redaction.
    pub fn start(
        channels: Channels,
        config: &Value,
        secrets: &Secrets,
        journal: PathBuf,
        run: i64,
        policy: Policy,
    ) -> Result<Notifier, String> {
        let list = channels.list();
        let give_up = Arc::new(AtomicBool::new(false));
        if list.is_empty() {
            return Ok(Notifier {
                channels: list,
                queue: None,
                worker: None,
                give_up,
            });
        }
        let (queue, jobs) = channel();
        let host = Host::new(
            HostOptions {
                secrets: secrets.clone(),
                config: config.clone(),
                interrupt: give_up.clone(),
                ..HostOptions::default()
            },
            Output::new(secrets.clone()).quiet(true),
        );
        let worker = Worker {
            channels,
            host,
            journal,
            run,
            policy,
        };
        let handle = std::thread::Builder::new()
            .name("watch-notify".into())
            .spawn(move || worker.serve(jobs))
            .map_err(|e| format!("cannot start the notification thread: {e}"))?;
        Ok(Notifier {
            channels: list,
            queue: Some(queue),
            worker: Some(handle),
            give_up,
        })
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Journal `notice` under `key` (its dedup key within `incident`) and queue it.
    pub fn tell(
        &self,
        record: &mut Record,
        incident: &str,
        key: &str,
        stage: Stage,
        notice: Notice,
    ) -> Result<(), String> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let channels: Vec<Channel> = self
            .channels
            .iter()
            .copied()
            .filter(|c| *c != Channel::PagerDuty || notice.page.is_some())
            .collect();
        let event = record.event(
            Event::Notice,
            json!({ "incident": incident, "key": key, "stage": stage.as_str(),
                    "channels": channels, "notice": notice }),
        )?;
        // A closed queue means the worker died; the notice stays undelivered in the journal.
        let _ = queue.send(Job {
            event,
            notice,
            channels,
        });
        Ok(())
    }

    /// Queue the notices an earlier watch journaled and did not deliver everywhere.
    pub fn resend(&self, undelivered: &std::collections::BTreeMap<i64, Undelivered>) {
        let Some(queue) = &self.queue else {
            return;
        };
        for (event, pending) in undelivered {
            let Ok(notice) = serde_json::from_value::<Notice>(pending.data["notice"].clone())
            else {
                continue;
            };
            let channels = self
                .channels
                .iter()
                .copied()
                .filter(|c| pending.channels.contains(c.name()))
                .collect();
            let _ = queue.send(Job {
                event: *event,
                notice,
                channels,
            });
        }
    }

    /// Let the worker finish the queue for up to `grace`, then stop it: what it did not
    /// send stays undelivered in the journal for the next watch.
    pub fn finish(&mut self, grace: Duration) {
        self.queue = None;
        let Some(worker) = self.worker.take() else {
            return;
        };
        let until = Instant::now() + grace;
        while !worker.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.give_up.store(true, Ordering::Relaxed);
        let _ = worker.join();
    }
}

/// The worker: its own journal connection, and a host for the stop flag and the secrets.
struct Worker {
    channels: Channels,
    host: Host,
    journal: PathBuf,
    run: i64,
    policy: Policy,
}

impl Worker {
    fn serve(self, jobs: Receiver<Job>) {
        let mut journal = match Journal::open(&self.journal) {
            Ok(j) => Some(j),
            Err(e) => {
                eprintln!("watch: notifications are sent but not journaled: {e}");
                None
            }
        };
        for job in jobs {
            for channel in &job.channels {
                if self.host.check_stop().is_some() {
                    return;
                }
                self.deliver(journal.as_mut(), &job, *channel);
            }
        }
    }

    fn deliver(&self, journal: Option<&mut Journal>, job: &Job, channel: Channel) {
        let sent = self
            .channels
            .send(&self.host, channel, &job.notice, &self.policy);
        if self.host.check_stop().is_some() {
            // Given up at the end of the grace period: not a delivery, the next watch retries.
            return;
        }
        let data = match &sent {
            Ok(d) => json!({ "notice": job.event, "channel": channel, "ok": true,
                             "attempts": d.attempts, "ms": d.ms }),
            Err(error) => {
                eprintln!(
                    "watch: {} did not take the notice \"{}\": {error}",
                    channel.name(),
                    self.host.secrets.redact(&job.notice.subject)
                );
                json!({ "notice": job.event, "channel": channel, "ok": false, "error": error })
            }
        };
        if let Some(journal) = journal {
            let data = self.host.secrets.redact_json(data);
            if let Err(e) = journal.event(self.run, Event::Delivery.kind(), None, &data) {
                eprintln!("watch: cannot journal a delivery: {e}");
            }
        }
    }
}
