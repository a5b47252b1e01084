//! The rollback messages operators expect in the incident channel: the MCP Cortex runbook's
//! one-liner ("Rollback initiated for MCP Cortex - Reason: ... - ETA: ...") followed by the
//! rollback runbook's communication template (time, status, reason, impact, ETA, next update).

use std::collections::BTreeMap;

use ripcord_runtime::rhai::{Dynamic, Map};
use ripcord_runtime::{Failure, NativeResult};

/// Where a rollback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Started,
    Succeeded,
    Failed,
}

impl Stage {
    pub fn parse(text: &str) -> NativeResult<Stage> {
        match text {
            "started" => Ok(Stage::Started),
            "succeeded" => Ok(Stage::Succeeded),
            "failed" => Ok(Stage::Failed),
            other => Err(Failure::new(format!(
                "notify::message: `{other}` is not a rollback stage"
            ))
            .hint("use \"started\", \"succeeded\" or \"failed\"")),
        }
    }

    /// The communication template's status word.
    fn status(self) -> &'static str {
        match self {
            Stage::Started => "IN_PROGRESS",
            Stage::Succeeded => "COMPLETED",
            Stage::Failed => "FAILED",
        }
    }
}

const FIELDS: &[&str] = &[
    "service",
    "reason",
    "eta",
    "impact",
    "next_update",
    "error",
    "took",
    "time",
];

/// The message for `stage`, from the facts a runbook knows.
pub(crate) fn render(stage: Stage, facts: &Map) -> NativeResult<String> {
    let mut known = BTreeMap::new();
    for (key, value) in facts {
        if !FIELDS.contains(&key.as_str()) {
            return Err(
                Failure::new(format!("notify::message: unknown field `{key}`"))
                    .hint(format!("known fields: {}", FIELDS.join(", "))),
            );
        }
        if !value.is_unit() {
            known.insert(key.as_str(), text(value));
        }
    }
    Ok(compose(stage, &known))
}

/// The same message for a sender that is not a script; facts outside the template's
/// fields are left out.
pub fn rollback_text(stage: Stage, facts: &[(&str, String)]) -> String {
    let known: BTreeMap<&str, String> = facts
        .iter()
        .filter(|(k, _)| FIELDS.contains(k))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    compose(stage, &known)
}

fn compose(stage: Stage, known: &BTreeMap<&str, String>) -> String {
    let get = |key: &str, default: &str| {
        known
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let service = get("service", "the service");
    let reason = get("reason", "not given");
    let headline = match stage {
        Stage::Started => format!(
            "Rollback initiated for {service} - Reason: {reason} - ETA: {}",
            get("eta", "unknown")
        ),
        Stage::Succeeded => format!(
            "Rollback completed for {service} - Reason: {reason} - Took: {}",
            get("took", "unknown")
        ),
        Stage::Failed => format!(
            "Rollback FAILED for {service} - Reason: {reason} - Error: {}",
            get("error", "unknown")
        ),
    };
    let eta = match stage {
        Stage::Started => get("eta", "unknown"),
        Stage::Succeeded | Stage::Failed => "-".to_string(),
    };
    let time = known
        .get("time")
        .cloned()
        .unwrap_or_else(ripcord_runtime::time::now_rfc3339);
    format!(
        "{headline}\n\nRollback Status Update\nTime: {time}\nStatus: {}\nReason: {reason}\n\
         Impact: {}\nETA: {eta}\nNext Update: {}",
        stage.status(),
        get("impact", "being assessed"),
        get(
            "next_update",
            match stage {
                Stage::Started => "when the rollback ends",
                Stage::Succeeded => "none planned",
                Stage::Failed => "after the next attempt",
            }
        ),
    )
}

fn text(value: &Dynamic) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pairs: &[(&str, &str)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), Dynamic::from(v.to_string())))
            .collect()
    }

    #[test]
    fn started_reads_like_the_seed() {
        let text = render(
            Stage::Started,
            &facts(&[
                ("service", "MCP Cortex"),
                ("reason", "gateway_critical storm"),
                ("eta", "5m"),
                ("time", "2026-03-14T02:17:09Z"),
                ("impact", "API down"),
            ]),
        )
        .unwrap();
        assert_eq!(
            text,
            "Rollback initiated for MCP Cortex - Reason: gateway_critical storm - ETA: 5m\n\n\
             Rollback Status Update\nTime: 2026-03-14T02:17:09Z\nStatus: IN_PROGRESS\n\
             Reason: gateway_critical storm\nImpact: API down\nETA: 5m\n\
             Next Update: when the rollback ends"
        );
    }

    #[test]
    fn failed_names_the_error_and_unknown_fields_are_refused() {
        let text = render(
            Stage::Failed,
            &facts(&[("service", "cortex"), ("error", "health check timed out")]),
        )
        .unwrap();
        assert!(text.starts_with(
            "Rollback FAILED for cortex - Reason: not given - Error: health check timed out\n"
        ));
        assert!(text.contains("\nStatus: FAILED\n"));
        let err = render(Stage::Started, &facts(&[("sevice", "x")])).unwrap_err();
        assert_eq!(err.message, "notify::message: unknown field `sevice`");
        assert_eq!(
            Stage::parse("done").unwrap_err().message,
            "notify::message: `done` is not a rollback stage"
        );
    }
}
