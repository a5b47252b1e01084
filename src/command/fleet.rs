//! The fleet flags of `run` and `drill` (`--host-id`, `--correlation-id`, `--approve`,
//! `--events`) turned into the runtime's options; any problem is a usage error.

use std::sync::Arc;

use ripcord_runtime::approve::Approvals;
use ripcord_runtime::events::{EventStream, EventTarget};
use ripcord_runtime::fleet::{FleetOptions, check_id};

use crate::cli::FleetArgs;

pub fn options(args: &FleetArgs, json: bool) -> Result<FleetOptions, String> {
    // An empty value (e.g. `RIPCORD_HOST_ID=` in a unit file) means the default, as for
    // RIPCORD_JOURNAL.
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let host_id = given(&args.host_id)
        .map(|id| check_id("--host-id", &id))
        .transpose()?;
    let correlation_id = given(&args.correlation_id)
        .map(|id| check_id("--correlation-id", &id))
        .transpose()?;
    let fleet_batch = given(&args.fleet_batch)
        .map(|n| {
            n.parse::<u32>().map_err(|_| {
                format!(
                    "--fleet-batch `{}`: not a whole number from 0 to {}\nhelp: pass the batch's number, e.g. --fleet-batch 2",
                    n.escape_debug(),
                    u32::MAX
                )
            })
        })
        .transpose()?;
    let fleet_play = given(&args.fleet_play)
        .map(|id| check_id("--fleet-play", &id))
        .transpose()?;
    let approvals = args.approve.as_deref().map(Approvals::load).transpose()?;
    let events = match args.events.as_deref().map(EventTarget::parse).transpose()? {
        Some(EventTarget::Stdout) if json => {
            return Err("--events ndjson and --json would both write to stdout\nhelp: send the events to a file: --events ndjson=FILE".to_string());
        }
        Some(target) => Some(Arc::new(EventStream::open(&target)?)),
        None => None,
    };
    Ok(FleetOptions {
        host_id,
        correlation_id,
        fleet_batch,
        fleet_play,
        approvals,
        events,
    })
}
