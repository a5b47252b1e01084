//! What a run carries when it is one of many across a fleet: which host it ran on (`--host-id`,
//! default the hostname), a globally unique run id, and the fleet run it belongs to
//! (`--correlation-id`). Journal numbering is per host (run 7 exists on every host); these ids
//! are what a merged fleet journal keys runs by.

use serde::{Deserialize, Serialize};

use crate::approve::Approvals;
use crate::events::EventStream;

/// The longest host or correlation id accepted: ids go into file names and report tables.
const MAX_ID_LEN: usize = 200;

/// Who and where a run is, across hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// A v4 UUID: unique across hosts and journals.
    pub run_uuid: String,
    /// `--host-id` / `RIPCORD_HOST_ID`, else the hostname.
    pub host_id: String,
    /// The fleet run this run belongs to (`--correlation-id` / `RIPCORD_CORRELATION_ID`).
    pub correlation_id: Option<String>,
    /// The orchestrator's batch this run was part of (`--fleet-batch`): every run of one batch
    /// carries the same number, later batches larger ones. Only in the run's `run.start` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_batch: Option<u32>,
    /// The play (or rollout) that ran the batches (`--fleet-play`): batch numbers count within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_play: Option<String>,
}

impl RunIdentity {
    /// A fresh identity for a new run; the ids are validated by [`check_id`] first.
    pub fn new(host_id: Option<String>, correlation_id: Option<String>) -> RunIdentity {
        RunIdentity {
            run_uuid: uuid::Uuid::new_v4().to_string(),
            host_id: host_id.unwrap_or_else(crate::who::hostname),
            correlation_id,
            fleet_batch: None,
            fleet_play: None,
        }
    }
}

/// The fleet settings of one run, all optional: a plain `ripcord run` uses none of them.
#[derive(Default)]
pub struct FleetOptions {
    pub host_id: Option<String>,
    pub correlation_id: Option<String>,
    /// `--fleet-batch N` and `--fleet-play ID`: the orchestrator's batch, recorded on the run.
    pub fleet_batch: Option<u32>,
    pub fleet_play: Option<String>,
    /// `--approve FILE`: answers `confirm()` without a terminal, or aborts the run.
    pub approvals: Option<Approvals>,
    /// `--events ndjson[=FILE]`.
    pub events: Option<std::sync::Arc<EventStream>>,
}

/// Check a host or correlation id from the command line: printable, no spaces, not too long.
/// `flag` names where it came from, for the error.
pub fn check_id(flag: &str, value: &str) -> Result<String, String> {
    let problem = if value.is_empty() {
        Some("it is empty".to_string())
    } else if value.len() > MAX_ID_LEN {
        Some(format!(
            "it is {} bytes long (at most {MAX_ID_LEN})",
            value.len()
        ))
    } else {
        value
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '/')
            .map(|c| {
                format!("it contains {c:?} (spaces, control characters and `/` are not allowed)")
            })
    };
    match problem {
        None => Ok(value.to_string()),
        Some(why) => Err(format!(
            "{flag} `{}`: {why}\nhelp: use letters, digits, `.`, `-`, `_` or `:`, e.g. {flag} web-01",
            value.escape_debug()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert_eq!(
            check_id("--host-id", "web-01.example"),
            Ok("web-01.example".into())
        );
        for bad in ["", "a b", "a/b", "a\nb", &"x".repeat(201)] {
            assert!(check_id("--host-id", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn each_run_gets_its_own_uuid() {
        let a = RunIdentity::new(Some("h".into()), None);
        let b = RunIdentity::new(Some("h".into()), None);
        assert_ne!(a.run_uuid, b.run_uuid);
        assert_eq!(
            uuid::Uuid::parse_str(&a.run_uuid).map(|u| u.get_version_num()),
            Ok(4)
        );
    }
}
