//! The host's fleet hooks: the approval policy that answers `confirm()` (`--approve`) and the
//! event stream every journaled event is mirrored to (`--events`).

use std::sync::Arc;

use rhai::Position;
use serde_json::{Value, json};

use super::{Host, Stop};
use crate::approve::{Approvals, Verdict};
use crate::events::EventStream;
use crate::failure::RhaiResult;
use crate::fleet::{FleetOptions, RunIdentity};
use crate::status::EventKind;

#[derive(Default)]
pub(super) struct FleetHooks {
    identity: Option<RunIdentity>,
    approvals: Option<Approvals>,
    events: Option<Arc<EventStream>>,
}

impl Host {
    fn hooks(&self) -> std::sync::MutexGuard<'_, FleetHooks> {
        self.fleet.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attach the run's identity and its fleet options. With an approval policy, `confirm()`
    /// never asks a terminal and never takes `--yes`.
    pub fn set_fleet(&self, identity: RunIdentity, options: &FleetOptions) {
        let mut hooks = self.hooks();
        hooks.identity = Some(identity);
        hooks.approvals = options.approvals.clone();
        hooks.events = options.events.clone();
    }

    /// What a sub-run (`runbook::run`) inherits: the same host id, fleet run, approvals and
    /// event stream; it gets its own run UUID.
    pub fn fleet_for_sub_run(&self) -> FleetOptions {
        let hooks = self.hooks();
        FleetOptions {
            host_id: hooks.identity.as_ref().map(|i| i.host_id.clone()),
            correlation_id: hooks
                .identity
                .as_ref()
                .and_then(|i| i.correlation_id.clone()),
            fleet_batch: hooks.identity.as_ref().and_then(|i| i.fleet_batch),
            fleet_play: hooks.identity.as_ref().and_then(|i| i.fleet_play.clone()),
            approvals: hooks.approvals.clone(),
            events: hooks.events.clone(),
        }
    }

    pub(super) fn approvals(&self) -> Option<Approvals> {
        self.hooks().approvals.clone()
    }

    /// Mirror a journaled event (already redacted) to `--events`.
    /// `run` is passed in: callers may hold the state lock that [`Host::run_id`] takes.
    pub(crate) fn emit_event(
        &self,
        run: Option<i64>,
        kind: &str,
        step: Option<&str>,
        data: &Value,
    ) {
        let (identity, events) = {
            let hooks = self.hooks();
            (hooks.identity.clone(), hooks.events.clone())
        };
        if let (Some(identity), Some(events)) = (identity, events) {
            events.emit(&identity, run, kind, step, data);
        }
    }

    /// Answer a confirm from the approval file: yes if it lists this exact message (journaled
    /// with the approver and ticket), otherwise abort the run (exit 3).
    pub(super) fn confirm_by_policy(
        &self,
        approvals: &Approvals,
        message: &str,
        pos: Position,
    ) -> RhaiResult<bool> {
        let file = approvals.path().display().to_string();
        let verdict = approvals.verdict(message, jiff::Timestamp::now());
        let (answer, approval, why) = match &verdict {
            Verdict::Approved(a) => (Some(true), Some(a), None),
            Verdict::Expired(a) => (None, Some(a), Some("its approval has expired in")),
            Verdict::NotListed => (None, None, Some("it is not listed in")),
        };
        let _ = self.journal(
            EventKind::Prompt,
            json!({
                "kind": "confirm",
                "message": message,
                "answer": answer,
                "policy": file,
                "policy_sha256": approvals.sha256(),
                "approver": approval.map(|a| &a.approver),
                "ticket": approval.map(|a| &a.ticket),
            }),
        );
        match (verdict, why) {
            (Verdict::Approved(a), _) => {
                self.out.note(&format!(
                    "confirm: {message} -> yes (approved by {} under {})",
                    a.approver, a.ticket
                ));
                Ok(true)
            }
            (_, why) => Err(self.terminate(
                Stop::Aborted(format!(
                    "confirm not approved ({} {file}): {message}\nhelp: add this exact message to {file} as an [[approval]] with approver and ticket, or run on a terminal without --approve",
                    why.unwrap_or("not in")
                )),
                pos,
            )),
        }
    }
}
