//! `ripcord watch TRIGGERS`: evaluate a trigger runbook every `--every`, and when an
//! auto-execute priority holds for `sustain` evaluations in a row, run the configured runbook
//! once — then only observe until an operator re-arms the watch.
//!
//! Each evaluation is a dry run of the trigger runbook (its reads and probes run for real, a
//! change it might make is only simulated) with no journal record of its own: the watch
//! journals state changes, a heartbeat, and its actions (see [`state`]). The action is a normal
//! run whose parent in the journal is the watch run that decided it.

mod policy;
mod state;
mod status;
mod unit;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use ripcord_runtime::Mode;
use ripcord_runtime::config::Config;
use ripcord_runtime::run::{RunOutcome, RunRequest, exit};
use ripcord_runtime::script::Script;
use serde_json::{Value, json};

use crate::app::Context;
use crate::error::Error;
use policy::{Policy, PolicyArgs};
use state::{Event, Record};

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
    evaluations: u64,
    streak: u32,
    phase: Option<(Phase, String)>,
    /// Whether this incident's hold or shadow decision was journaled already.
    announced: bool,
    last_beat: Instant,
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
        let params = args
            .params
            .iter()
            .map(|p| ripcord_runtime::params::split_assignment(p))
            .collect::<Result<_, _>>()?;
        let mode = if policy.shadow { "shadow" } else { "watch" };
        let record = Record::open(
            &ctx.journal,
            &state::key(&triggers.name),
            &triggers.display_path(),
            mode,
            policy_json(&policy),
        )?;
        Ok(Watcher {
            ctx,
            triggers,
            then,
            params,
            config: args.config.clone(),
            policy,
            record,
            evaluations: 0,
            streak: 0,
            phase: None,
            announced: false,
            last_beat: Instant::now(),
        })
    }

    fn run(&mut self) -> crate::error::Result {
        let memory = self.record.memory().unwrap_or_default();
        let _ = self.record.event(
            Event::Start,
            json!({ "pid": std::process::id(), "actions_since_rearm": memory.actions, "last_action": memory.last_action }),
        );
        eprintln!(
            "watching {} every {} ({}; {} action(s) taken since the last re-arm, max {})",
            self.triggers.name,
            ripcord_runtime::time::human(self.policy.every),
            if self.policy.shadow {
                "shadow: never acts"
            } else {
                "acts on sustained auto-execute priorities"
            },
            memory.actions,
            self.policy.max_actions
        );
        loop {
            let tick = Instant::now();
            let decision = self.evaluate();
            if self.interrupted() {
                break;
            }
            if let Err(message) = self.observe(&decision) {
                self.record.finish("failed", exit::FAILED);
                return Err(Error::failed(message));
            }
            if !self.pause_until(tick + self.policy.every) {
                break;
            }
        }
        self.record.finish("interrupted", exit::INTERRUPTED);
        eprintln!("watch stopped");
        Err(Error::Exit(exit::INTERRUPTED))
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

    /// Journal what changed, and act when the policy says so.
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
        if phase == Phase::Sustained {
            self.sustained(d)?;
        }
        Ok(())
    }

    fn sustained(&mut self, d: &Decision) -> Result<(), String> {
        let memory = self.record.memory()?;
        let hold = if self.policy.shadow {
            Some((Event::WouldAct, "shadow: the watch never acts".to_string()))
        } else if self.then.is_none() {
            Some((Event::Held, "no `then` runbook is configured".to_string()))
        } else if memory.actions >= self.policy.max_actions {
            Some((
                Event::Held,
                format!(
                    "{} automatic action(s) taken, max_actions is {}: `ripcord watch rearm {}` allows more",
                    memory.actions, self.policy.max_actions, self.triggers.name
                ),
            ))
        } else if in_cooldown(memory.last_action.as_deref(), self.policy.cooldown) {
            Some((Event::Held, "in cooldown after the last action".to_string()))
        } else {
            None
        };
        match hold {
            Some((event, why)) => {
                if !self.announced {
                    self.announced = true;
                    eprintln!(
                        "{} sustained for {} evaluations; not acting: {why}",
                        d.priority, self.streak
                    );
                    self.record.event(
                        event,
                        json!({ "evaluation": self.evaluations, "priority": d.priority,
                        "findings": d.findings, "then": self.policy.then, "why": why }),
                    )?;
                }
                Ok(())
            }
            None => self.act(d),
        }
    }

    fn act(&mut self, d: &Decision) -> Result<(), String> {
        let Some(script) = self.then.clone() else {
            return Ok(());
        };
        let params = self.action_params(&script, d);
        // Journaled before the runbook starts: a watch killed now counts this action.
        self.record.event(
            Event::ActionStart,
            json!({ "evaluation": self.evaluations, "priority": d.priority, "findings": d.findings,
                    "runbook": script.name, "params": params.iter().map(|(k, _)| k).collect::<Vec<_>>() }),
        )?;
        eprintln!(
            "{} sustained for {} evaluations: running {}",
            d.priority, self.streak, script.name
        );
        let mut request = RunRequest::new(script);
        request.params = params;
        request.config = self.config.clone();
        request.yes = self.policy.confirm_yes;
        request.journal = Some(self.ctx.journal.clone());
        request.parent = Some(self.record.run);
        request.interrupt = self.ctx.interrupt.clone();
        request.sub_modules = Some(ripcord_stdlib::modules);
        request.script_dirs = self.ctx.scripts.clone();
        let outcome = ripcord_runtime::run::run(request, ripcord_stdlib::modules());
        eprintln!("{}", outcome.summary);
        self.streak = 0;
        self.record.event(
            Event::ActionEnd,
            json!({ "run": outcome.run, "status": outcome.status, "exit_code": outcome.exit_code,
                    "error": outcome.error.as_ref().map(|e| e.message.clone()) }),
        )
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
                .unwrap_or_else(|| outcome.status.clone()),
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
    format!("watch: {} {}", d.priority, found.join("; "))
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
    })
}
