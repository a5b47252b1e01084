//! `ripcord watch TRIGGERS`: evaluate a trigger runbook every `--every`, and when an
//! auto-execute priority holds for `sustain` evaluations in a row, run the configured runbook
//! once — then only observe until an operator re-arms the watch.
//!
//! Each evaluation is a dry run of the trigger runbook (its reads and probes run for real, a
//! change it might make is only simulated) with no journal record of its own: the watch
//! journals state changes, a heartbeat, and its actions (see [`state`]). The action is a normal
//! run whose parent in the journal is the watch run that decided it.
//!
//! An incident opens after `sustain` troubled evaluations and closes after `sustain` healthy
//! ones; the watch acts at most once per incident (until re-armed) and tells `[notify]`'s
//! channels about it (see [`notice`]).

mod notice;
mod policy;
mod state;
mod status;
mod unit;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use ripcord_runtime::Mode;
use ripcord_runtime::config::Config;
use ripcord_runtime::run::{RunOutcome, RunRequest, exit};
use ripcord_runtime::script::Script;
use ripcord_runtime::secrets::Secrets;
use ripcord_stdlib::notify::outbound::Channels;
use serde_json::{Value, json};

use crate::app::Context;
use crate::error::Error;
use notice::{Facts, Notifier, Stage};
use policy::{Policy, PolicyArgs};
use state::{Event, Incident, Memory, Record};

/// How long a stopping watch lets queued notices go out before leaving them to the next one.
const NOTIFY_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WatchArgs {
    #[command(subcommand)]
    pub action: Option<WatchAction>,
    /// The trigger runbook (path or name), returning #{ priority, decision, findings }
    pub triggers: Option<String>,
    /// A param of the trigger runbook: -p name=value (repeatable)
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Config file (its [watch] table is the policy; flags override it)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Debug, Subcommand)]
pub enum WatchAction {
    /// The watch's state, its last evaluations and its last action, from the journal
    Status {
        /// The trigger runbook the watch evaluates
        triggers: String,
        #[arg(long)]
        json: bool,
    },
    /// Allow automatic actions again after `max_actions` were taken
    Rearm {
        /// The trigger runbook the watch evaluates
        triggers: String,
    },
    /// Write a systemd unit that runs the watch (Restart=on-failure) and reload the manager
    Install(unit::InstallArgs),
}

pub fn watch(ctx: &Context, args: WatchArgs) -> crate::error::Result {
    match args.action {
        Some(WatchAction::Status { triggers, json }) => status::status(ctx, &triggers, json),
        Some(WatchAction::Rearm { triggers }) => rearm(ctx, &triggers),
        Some(WatchAction::Install(install)) => unit::install(ctx, &install),
        None => match Watcher::start(ctx, &args) {
            Ok(mut watcher) => watcher.run(),
            Err(message) => Err(Error::usage(message)),
        },
    }
}

fn rearm(ctx: &Context, triggers: &str) -> crate::error::Result {
    match state::rearm(&ctx.journal, &state::key(&name_of(triggers))) {
        Ok(before) => {
            eprintln!(
                "watch on {triggers} re-armed: {} automatic action(s) before; it may act again",
                before.actions
            );
            Ok(())
        }
        Err(message) => Err(Error::failed(message)),
    }
}

/// The name a watch is known by: the trigger runbook's file stem.
fn name_of(spec: &str) -> String {
    std::path::Path::new(spec)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.to_string())
}

/// What one evaluation decided.
#[derive(Debug, Clone, PartialEq)]
struct Decision {
    priority: String,
    decision: String,
    findings: Value,
    /// The trigger runbook failed: no decision.
    error: Option<String>,
}

/// Where the watch is, journaled when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Quiet,
    /// An auto-execute priority, not yet sustained.
    Alert,
    Sustained,
    /// A non-auto priority (warn or alert only).
    Observing,
    Error,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Quiet => "quiet",
            Phase::Alert => "alert",
            Phase::Sustained => "sustained",
            Phase::Observing => "observing",
            Phase::Error => "error",
        }
    }
}

struct Watcher<'a> {
    ctx: &'a Context,
    triggers: Script,
    then: Option<Script>,
    params: Vec<(String, String)>,
    config: Option<PathBuf>,
    policy: Policy,
    record: Record,
    notifier: Notifier,
    /// The name in messages: `[notify] service`, else the config's `unit`, else the watch's.
    service: String,
    evaluations: u64,
    /// Consecutive evaluations with an auto-execute priority.
    streak: u32,
    /// Consecutive evaluations with a priority other than none, and with none.
    trouble: u32,
    calm: u32,
    phase: Option<(Phase, String)>,
    /// Whether this streak's hold or shadow decision was journaled already.
    announced: bool,
    last_beat: Instant,
    incident: Option<Incident>,
    /// (incident, key) of every notice journaled, by this watch or an earlier one.
    noticed: BTreeSet<(String, String)>,
}

impl<'a> Watcher<'a> {
    fn start(ctx: &'a Context, args: &WatchArgs) -> Result<Watcher<'a>, String> {
        let spec = args.triggers.as_deref().ok_or(
            "ripcord watch needs a trigger runbook\nhelp: ripcord watch triggers --every 30s (or: watch status|rearm|install TRIGGERS)",
        )?;
        let (triggers, _) = crate::shipped::find(spec, &ctx.scripts)?;
        let config = Config::load(args.config.as_deref())?;
        let policy = Policy::resolve(&args.policy, &config.value)?;
        let then = match &policy.then {
            Some(name) => Some(crate::shipped::find(name, &ctx.scripts)?.0),
            None => None,
        };
        let params = policy::merge_params(&policy.params, &args.params)?;
        let secrets = Secrets::default();
        secrets.learn_config(&config.value)?;
        let channels = if policy.notify {
            Channels::from_config(&config.value, &secrets)?
        } else {
            Channels::default()
        };
        let mode = if policy.shadow { "shadow" } else { "watch" };
        let record = Record::open(
            &ctx.journal,
            &state::key(&triggers.name),
            &triggers.display_path(),
            mode,
            policy_json(&policy),
            secrets.clone(),
        )?;
        let send = notice::policy(policy.notify_timeout, policy.notify_retries);
        let notifier = Notifier::start(
            channels,
            &config.value,
            &secrets,
            ctx.journal.clone(),
            record.run,
            send,
        )?;
        let service = service_name(&config.value, &triggers.name);
        Ok(Watcher {
            ctx,
            triggers,
            then,
            params,
            config: args.config.clone(),
            policy,
            record,
            notifier,
            service,
            evaluations: 0,
            streak: 0,
            trouble: 0,
            calm: 0,
            phase: None,
            announced: false,
            last_beat: Instant::now(),
            incident: None,
            noticed: BTreeSet::new(),
        })
    }

    fn run(&mut self) -> crate::error::Result {
        let code = match self.resume() {
            Ok(()) => self.evaluate_until_stopped(),
            Err(message) => Err(message),
        };
        self.notifier.finish(NOTIFY_GRACE);
        match code {
            Ok(()) => {
                self.record.finish("interrupted", exit::INTERRUPTED);
                eprintln!("watch stopped");
                Err(Error::Exit(exit::INTERRUPTED))
            }
            Err(message) => {
                self.record.finish("failed", exit::FAILED);
                Err(Error::failed(message))
            }
        }
    }

    /// Take up where the last watch on these triggers stopped: its open incident, its notices
    /// (sending those it did not deliver), and an action it did not see end.
    fn resume(&mut self) -> Result<(), String> {
        let memory = self.record.memory()?;
        self.incident = memory.incident.clone();
        self.noticed = memory.noticed.clone();
        self.record.event(
            Event::Start,
            json!({ "pid": std::process::id(), "actions_since_rearm": memory.actions, "last_action": memory.last_action,
                    "incident": memory.incident.as_ref().map(|i| &i.id), "undelivered_notices": memory.undelivered.len(),
                    "notify": self.notifier.channels() }),
        )?;
        self.announce_start(&memory);
        self.notifier.resend(&memory.undelivered);
        self.recover_unfinished(&memory)
    }

    fn announce_start(&self, memory: &Memory) {
        let channels: Vec<&str> = self.notifier.channels().iter().map(|c| c.name()).collect();
        eprintln!(
            "watching {} every {} ({}; {} action(s) taken since the last re-arm, max {}; notifies {})",
            self.triggers.name,
            ripcord_runtime::time::human(self.policy.every),
            if self.policy.shadow {
                "shadow: never acts"
            } else {
                "acts on sustained auto-execute priorities"
            },
            memory.actions,
            self.policy.max_actions,
            if channels.is_empty() {
                "nobody: no [notify] channel".to_string()
            } else {
                channels.join(", ")
            }
        );
    }

    /// An action journaled as started, never as ended: its watch died during it (the action
    /// runs inside the watch process). Say so, to the journal and to people, once.
    fn recover_unfinished(&mut self, memory: &Memory) -> Result<(), String> {
        let Some(unfinished) = &memory.unfinished else {
            return Ok(());
        };
        let data = &unfinished.data;
        let runbook = data["runbook"].as_str().unwrap_or("");
        let child = self
            .record
            .journal()
            .runs_of(runbook, 50)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|r| r.parent == Some(unfinished.watch_run));
        let why = format!(
            "the watch stopped during it (killed or crashed){}",
            child
                .as_ref()
                .map(|r| format!("; its run {} is {}", r.id, r.status))
                .unwrap_or_default()
        );
        eprintln!("the last automatic action ({runbook}) did not finish: {why}");
        let facts = Facts {
            incident: data["incident"].as_str().unwrap_or("").to_string(),
            priority: data["priority"].as_str().unwrap_or("").to_string(),
            reason: data["reason"].as_str().unwrap_or("").to_string(),
            findings: data["findings"].clone(),
            run: child.as_ref().map(|r| r.id),
            why: Some(why.clone()),
            ..self.facts_base()
        };
        self.tell(Stage::Interrupted, result_key(unfinished.event), facts)?;
        self.record
            .event(
                Event::ActionEnd,
                json!({ "run": child.as_ref().map(|r| r.id), "status": "interrupted", "recovered": true,
                        "action": unfinished.event, "error": why }),
            )
            .map(|_| ())
    }

    fn evaluate_until_stopped(&mut self) -> Result<(), String> {
        loop {
            let tick = Instant::now();
            let decision = self.evaluate();
            if self.interrupted() {
                return Ok(());
            }
            self.observe(&decision)?;
            if !self.pause_until(tick + self.policy.every) {
                return Ok(());
            }
        }
    }

    fn interrupted(&self) -> bool {
        self.ctx.interrupt.load(Ordering::Relaxed)
    }

    /// Sleep until `at`; false when interrupted meanwhile.
    fn pause_until(&self, at: Instant) -> bool {
        while Instant::now() < at {
            if self.interrupted() {
                return false;
            }
            std::thread::sleep((at - Instant::now()).min(Duration::from_millis(100)));
        }
        !self.interrupted()
    }

    fn evaluate(&mut self) -> Decision {
        self.evaluations += 1;
        let mut request = RunRequest::new(self.triggers.clone());
        request.params = self.params.clone();
        request.config = self.config.clone();
        request.mode = Mode::DryRun;
        request.journal = Some(PathBuf::from("off"));
        request.quiet = true;
        request.interrupt = self.ctx.interrupt.clone();
        request.sub_modules = Some(ripcord_stdlib::modules);
        request.script_dirs = self.ctx.scripts.clone();
        decision_of(&ripcord_runtime::run::run(
            request,
            ripcord_stdlib::modules(),
        ))
    }

    /// Journal what changed, track the incident, and act when the policy says so.
    fn observe(&mut self, d: &Decision) -> Result<(), String> {
        let auto = d.error.is_none() && self.policy.auto_executes(&d.priority);
        self.streak = if auto { self.streak + 1 } else { 0 };
        if self.streak == 0 {
            self.announced = false;
        }
        let phase = match (&d.error, auto) {
            (Some(_), _) => Phase::Error,
            (None, true) if self.streak >= self.policy.sustain => Phase::Sustained,
            (None, true) => Phase::Alert,
            (None, false) if d.priority == "none" => Phase::Quiet,
            (None, false) => Phase::Observing,
        };
        self.journal_phase(d, phase)?;
        self.track_incident(d, phase)?;
        if phase == Phase::Sustained {
            self.sustained(d)?;
        }
        Ok(())
    }

    /// A state event when the phase or priority changes, else a heartbeat now and then.
    fn journal_phase(&mut self, d: &Decision, phase: Phase) -> Result<(), String> {
        let now = (phase, d.priority.clone());
        if self.phase.as_ref() != Some(&now) {
            self.phase = Some(now);
            eprintln!(
                "evaluation {}: {} ({}; {})",
                self.evaluations,
                phase.as_str(),
                d.priority,
                d.error.as_deref().unwrap_or(&d.decision)
            );
            self.record.event(
                Event::State,
                json!({ "evaluation": self.evaluations, "phase": phase.as_str(), "priority": d.priority,
                        "decision": d.decision, "findings": d.findings, "streak": self.streak, "error": d.error }),
            )?;
        } else if self.last_beat.elapsed() >= self.policy.heartbeat {
            self.record.event(
                Event::Heartbeat,
                json!({ "evaluation": self.evaluations, "phase": phase.as_str(), "priority": d.priority }),
            )?;
            self.last_beat = Instant::now();
        }
        Ok(())
    }

    /// Open an incident after `sustain` troubled evaluations, close it after `sustain`
    /// healthy ones; warn about a sustained priority that does not act. A failed evaluation
    /// counts for neither.
    fn track_incident(&mut self, d: &Decision, phase: Phase) -> Result<(), String> {
        if d.error.is_some() {
            return Ok(());
        }
        if d.priority == "none" {
            (self.calm, self.trouble) = (self.calm + 1, 0);
        } else {
            (self.calm, self.trouble) = (0, self.trouble + 1);
        }
        let sustain = self.policy.sustain;
        if self.incident.is_none() && self.trouble >= sustain {
            let id = format!(
                "{}-{}",
                self.triggers.name,
                jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
            );
            self.record.event(
                Event::IncidentOpen,
                json!({ "incident": id, "priority": d.priority, "evaluation": self.evaluations }),
            )?;
            self.incident = Some(Incident { id, acted: false });
        }
        let Some(incident) = self.incident.clone() else {
            return Ok(());
        };
        if phase == Phase::Observing && self.trouble >= sustain {
            self.tell(Stage::Warn, "warn".into(), self.facts(d))?;
        }
        if self.calm >= sustain {
            eprintln!(
                "healthy for {} evaluations: incident {} closed",
                self.calm, incident.id
            );
            self.tell(Stage::Resolved, "resolved".into(), self.facts(d))?;
            self.record.event(
                Event::IncidentClose,
                json!({ "incident": incident.id, "evaluation": self.evaluations }),
            )?;
            self.incident = None;
        }
        Ok(())
    }

    fn sustained(&mut self, d: &Decision) -> Result<(), String> {
        let memory = self.record.memory()?;
        match self.hold(&memory) {
            Some((event, why)) => {
                if !self.announced {
                    self.announced = true;
                    eprintln!(
                        "{} sustained for {} evaluations; not acting: {why}",
                        d.priority, self.streak
                    );
                    self.record.event(
                        event,
                        json!({ "evaluation": self.evaluations, "priority": d.priority, "incident": self.incident_id(),
                                "findings": d.findings, "then": self.policy.then, "why": why }),
                    )?;
                }
                let stage = if event == Event::WouldAct {
                    Stage::WouldAct
                } else {
                    Stage::Held
                };
                let facts = Facts {
                    why: Some(why),
                    ..self.facts(d)
                };
                self.tell(stage, stage.as_str().into(), facts)
            }
            None => self.act(d),
        }
    }

    /// Why the watch does not act on a sustained priority now, if it does not.
    fn hold(&self, memory: &Memory) -> Option<(Event, String)> {
        let name = &self.triggers.name;
        let acted = memory
            .incident
            .as_ref()
            .filter(|i| Some(i.id.as_str()) == self.incident_id().as_deref())
            .is_some_and(|i| i.acted);
        let why = if self.policy.shadow {
            return Some((Event::WouldAct, "shadow: the watch never acts".to_string()));
        } else if self.then.is_none() {
            "no `then` runbook is configured".to_string()
        } else if acted {
            format!(
                "an automatic action already ran for this incident: one per incident; `ripcord watch rearm {name}` allows another"
            )
        } else if memory.actions >= self.policy.max_actions {
            format!(
                "{} automatic action(s) taken, max_actions is {}: `ripcord watch rearm {name}` allows more",
                memory.actions, self.policy.max_actions
            )
        } else if in_cooldown(memory.last_action.as_deref(), self.policy.cooldown) {
            "in cooldown after the last action".to_string()
        } else {
            return None;
        };
        Some((Event::Held, why))
    }

    fn act(&mut self, d: &Decision) -> Result<(), String> {
        let Some(script) = self.then.clone() else {
            return Ok(());
        };
        let params = self.action_params(&script, d);
        // Journaled before the runbook starts: a watch killed now counts this action.
        let action = self.record.event(
            Event::ActionStart,
            json!({ "evaluation": self.evaluations, "priority": d.priority, "findings": d.findings,
                    "incident": self.incident_id(), "reason": reason_line(d),
                    "runbook": script.name, "params": params.iter().map(|(k, _)| k).collect::<Vec<_>>() }),
        )?;
        if let Some(incident) = self.incident.as_mut() {
            incident.acted = true;
        }
        self.tell(
            Stage::Acting,
            format!("action:{action}:acting"),
            self.facts(d),
        )?;
        eprintln!(
            "{} sustained for {} evaluations: running {}",
            d.priority, self.streak, script.name
        );
        let started = Instant::now();
        let outcome = self.run_action(script, params);
        eprintln!("{}", outcome.summary);
        self.streak = 0;
        let why = outcome.error.as_ref().map(|e| e.message.clone());
        let stage = match outcome.status {
            ripcord_runtime::RunStatus::Ok => Stage::Succeeded,
            ripcord_runtime::RunStatus::Interrupted => Stage::Interrupted,
            _ => Stage::Failed,
        };
        let facts = Facts {
            run: outcome.run,
            why: why.clone().or_else(|| Some(outcome.status.to_string())),
            took: Some(ripcord_runtime::time::human(started.elapsed())),
            ..self.facts(d)
        };
        // The result's notice first: a watch killed before the end event reports the action
        // interrupted under the same key, so people hear of it once, not never.
        self.tell(stage, result_key(action), facts)?;
        self.record
            .event(
                Event::ActionEnd,
                json!({ "run": outcome.run, "status": outcome.status, "exit_code": outcome.exit_code,
                        "action": action, "error": why }),
            )
            .map(|_| ())
    }

    fn run_action(&self, script: Script, params: Vec<(String, String)>) -> RunOutcome {
        let mut request = RunRequest::new(script);
        request.params = params;
        request.config = self.config.clone();
        request.yes = self.policy.confirm_yes;
        request.journal = Some(self.ctx.journal.clone());
        request.parent = Some(self.record.run);
        request.interrupt = self.ctx.interrupt.clone();
        request.sub_modules = Some(ripcord_stdlib::modules);
        request.script_dirs = self.ctx.scripts.clone();
        ripcord_runtime::run::run(request, ripcord_stdlib::modules())
    }

    fn incident_id(&self) -> Option<String> {
        self.incident.as_ref().map(|i| i.id.clone())
    }

    /// What every notice of this watch says, whatever the decision.
    fn facts_base(&self) -> Facts {
        Facts {
            watch: self.triggers.name.clone(),
            incident: self.incident_id().unwrap_or_default(),
            service: self.service.clone(),
            then: self.policy.then.clone(),
            ..Facts::default()
        }
    }

    fn facts(&self, d: &Decision) -> Facts {
        Facts {
            priority: d.priority.clone(),
            reason: reason_line(d),
            findings: d.findings.clone(),
            ..self.facts_base()
        }
    }

    /// Journal and queue the notice for `stage` unless this incident had it already.
    fn tell(&mut self, stage: Stage, key: String, facts: Facts) -> Result<(), String> {
        if !self.noticed.insert((facts.incident.clone(), key.clone())) {
            return Ok(());
        }
        let notice = notice::compose(stage, &facts);
        self.notifier
            .tell(&mut self.record, &facts.incident, &key, stage, notice)
    }

    /// The configured params, and `reason` from the findings when the runbook declares one
    /// and the policy does not set it.
    fn action_params(&self, script: &Script, d: &Decision) -> Vec<(String, String)> {
        let mut params = self.policy.then_params.clone();
        let declares_reason = ripcord_runtime::header::parse(&script.text)
            .map(|h| h.params.iter().any(|p| p.name == "reason"))
            .unwrap_or(false);
        if declares_reason && !params.iter().any(|(k, _)| k == "reason") {
            params.push(("reason".into(), reason_of(d)));
        }
        params
    }
}
/// The name in messages: `[notify] service`, else the config's `unit`, else the watch's.
fn service_name(config: &Value, watch: &str) -> String {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    config
        .get("notify")
        .and_then(|n| text(n, "service"))
        .or_else(|| text(config, "unit"))
        .unwrap_or_else(|| watch.to_string())
}

/// The dedup key of an action's result (succeeded, failed or interrupted: one of them).
fn result_key(action: i64) -> String {
    format!("action:{action}:result")
}

fn decision_of(outcome: &RunOutcome) -> Decision {
    let text = |key: &str| {
        outcome
            .result
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let error = if outcome.exit_code != exit::OK {
        Some(
            outcome
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| outcome.status.to_string()),
        )
    } else if text("priority").is_none() {
        Some("the trigger runbook returned no `priority` (expected #{ priority, decision, findings })".into())
    } else {
        None
    };
    Decision {
        priority: text("priority").unwrap_or_else(|| "none".into()),
        decision: text("decision").unwrap_or_default(),
        findings: outcome
            .result
            .get("findings")
            .cloned()
            .unwrap_or(Value::Null),
        error,
    }
}

/// "watch: P0 gateway_critical storm (12 events in 15 min)".
fn reason_of(d: &Decision) -> String {
    format!("watch: {} {}", d.priority, reason_line(d))
}

/// The findings behind the priority, one line: "gateway_critical storm (12 events in 15 min)".
fn reason_line(d: &Decision) -> String {
    let found: Vec<String> = d
        .findings
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|f| f["priority"] == d.priority.as_str())
                .map(|f| {
                    format!(
                        "{} ({})",
                        f["check"].as_str().unwrap_or("?"),
                        f["detail"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if found.is_empty() {
        d.decision.clone()
    } else {
        found.join("; ")
    }
}

fn in_cooldown(last_action: Option<&str>, cooldown: Duration) -> bool {
    let Some(at) = last_action.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return false;
    };
    let since = jiff::Timestamp::now().duration_since(at);
    since.as_secs_f64() < cooldown.as_secs_f64()
}

fn policy_json(p: &Policy) -> Value {
    json!({
        "every": ripcord_runtime::time::human(p.every), "shadow": p.shadow, "sustain": p.sustain,
        "auto": p.auto, "then": p.then, "then_params": p.then_params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "max_actions": p.max_actions, "cooldown": ripcord_runtime::time::human(p.cooldown),
        "confirm": if p.confirm_yes { "yes" } else { "no" },
        "notify": p.notify, "notify_timeout": ripcord_runtime::time::human(p.notify_timeout),
        "notify_retries": p.notify_retries,
    })
}
