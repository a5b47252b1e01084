//! `ripcord watch status TRIGGERS`: the watch's state, last evaluations and last action, read
//! back from the journal (the running watch holds nothing the journal does not have).

use ripcord_runtime::journal::{EventRow, Journal};
use serde_json::{Value, json};

use super::state;
use crate::app::Context;
use crate::error::Error;

/// State changes shown by `status`.
const RECENT: usize = 5;
/// Watch runs read (the newest; `restarts` counts at most this many).
const RUNS: usize = 1000;

pub fn status(ctx: &Context, triggers: &str, as_json: bool) -> crate::error::Result {
    match report(ctx, triggers) {
        Ok(report) => {
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print_report(triggers, &report);
            }
            Ok(())
        }
        Err(message) => Err(Error::failed(message)),
    }
}

fn report(ctx: &Context, triggers: &str) -> Result<Value, String> {
    let key = state::key(&super::name_of(triggers));
    let journal = Journal::open(&ctx.journal)?;
    let runs: Vec<_> = journal
        .runs_of(&key, RUNS)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| r.mode != "rearm")
        .collect();
    let Some(current) = runs.first() else {
        return Err(format!(
            "no watch on {triggers} in the journal {}\nhelp: start one with `ripcord watch {triggers}` (or `ripcord watch install {triggers}`)",
            ctx.journal.display()
        ));
    };
    let memory = state::memory(&journal, &key)?;
    let events = journal
        .script_events(&key, &["watch.state", "watch.heartbeat"])
        .map_err(|e| e.to_string())?;
    let of = |kind: &str| -> Vec<&EventRow> { events.iter().filter(|e| e.kind == kind).collect() };
    let states: Vec<Value> = of("watch.state")
        .iter()
        .rev()
        .take(RECENT)
        .map(|e| json!({ "at": e.ts, "phase": e.data["phase"], "priority": e.data["priority"], "evaluation": e.data["evaluation"] }))
        .collect();
    let alive = ripcord_runtime::RunStatus::parse(&current.status)
        == Some(ripcord_runtime::RunStatus::Running)
        && ripcord_runtime::who::pid_alive(current.pid);
    Ok(json!({
        "watch": key,
        "running": alive,
        "pid": current.pid,
        "run": current.id,
        "mode": current.mode,
        "since": current.started,
        "policy": current.params,
        "state": states.first().cloned().unwrap_or(Value::Null),
        "recent": states,
        "last_heartbeat": of("watch.heartbeat").last().map(|e| e.ts.clone()),
        "actions_since_rearm": memory.actions,
        "last_action": memory.last_action,
        "last_action_outcome": memory.last_outcome,
        "restarts": runs.len().saturating_sub(1),
        "incident": memory.incident.as_ref().map(|i| json!({ "id": i.id, "acted": i.acted })),
        "undelivered_notices": memory.undelivered.len(),
    }))
}

fn print_report(triggers: &str, r: &Value) {
    let running = if r["running"] == true {
        format!(
            "running (pid {}, {} since {})",
            r["pid"],
            r["mode"].as_str().unwrap_or(""),
            r["since"].as_str().unwrap_or("")
        )
    } else {
        "not running".to_string()
    };
    println!("watch on {triggers}: {running}");
    match r["state"].as_object() {
        Some(s) => println!(
            "state: {} ({}) since evaluation {} at {}",
            s["phase"].as_str().unwrap_or("?"),
            s["priority"].as_str().unwrap_or("?"),
            s["evaluation"],
            s["at"].as_str().unwrap_or("?")
        ),
        None => println!("state: no evaluation yet"),
    }
    for s in r["recent"].as_array().into_iter().flatten().skip(1) {
        println!(
            "  before: {} ({}) at {}",
            s["phase"].as_str().unwrap_or("?"),
            s["priority"].as_str().unwrap_or("?"),
            s["at"].as_str().unwrap_or("?")
        );
    }
    println!(
        "actions since the last re-arm: {} (max {})",
        r["actions_since_rearm"], r["policy"]["max_actions"]
    );
    match (
        r["last_action"].as_str(),
        r["last_action_outcome"].as_object(),
    ) {
        (Some(at), Some(o)) => println!(
            "last action: {at}, run {} {}",
            o["run"],
            o["status"].as_str().unwrap_or("?")
        ),
        (Some(at), None) => {
            println!("last action: {at}, did not finish (the watch stopped during it)")
        }
        _ => println!("last action: none"),
    }
    if let Some(id) = r["incident"]["id"].as_str() {
        println!("open incident: {id}");
    }
    if r["undelivered_notices"].as_u64().unwrap_or(0) > 0 {
        println!(
            "notices not yet delivered to every channel: {} (the watch sends them when it runs)",
            r["undelivered_notices"]
        );
    }
}
