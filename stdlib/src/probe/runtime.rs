//! The tokio runtime a probe runs on: one per probe call, created only when a probe runs.
//!
//! A probe blocks its Rhai caller, so it drives its own current-thread runtime; that is enough
//! for hundreds of concurrent requests, which are all waiting on sockets. If the caller is
//! itself a runtime's thread, blocking there would panic, so the probe runs on a fresh thread.

use std::future::Future;
use std::time::Duration;

use ripcord_runtime::{Failure, Host, NativeResult};

/// Why a probe's future did not finish.
pub const STOPPED: &str = "stopped before the probe finished";

/// Run `future` to completion on a new runtime, giving up when the run is stopped (Ctrl-C,
/// `--timeout`); the caller's seam then turns the stop into the run's own outcome.
pub fn block_on<F>(host: &Host, future: F) -> NativeResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let drive = || -> NativeResult<F::Output> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(format!("probe: cannot start the network runtime: {e}")))?;
        runtime.block_on(async {
            tokio::select! {
                out = future => Ok(out),
                () = until_stopped(host) => Err(Failure::new(STOPPED)),
            }
        })
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(drive)
                .join()
                .unwrap_or_else(|_| Err(Failure::new("probe: the probe thread panicked")))
        })
    } else {
        drive()
    }
}

async fn until_stopped(host: &Host) {
    while host.check_stop().is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
