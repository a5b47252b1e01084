//! Why and how a run stops early: Ctrl-C, `--timeout`, memory, a closed output, the operator.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, NativeCallContext, Position};

use super::Host;
use crate::failure::RhaiResult;
use crate::limits::Size;

/// Why a run stopped before its end without a script error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The operator said no, or aborted at a pause (exit 3).
    Aborted(String),
    /// Ctrl-C or SIGTERM (exit 130).
    Interrupted,
    /// `--timeout` elapsed (exit 1).
    TimedOut(Duration),
    /// `lock(name)` is held by another run (exit 4).
    Locked(String),
    /// Going on could repeat or lose a change (exit 1): a change whose outcome the journal could
    /// not record (history, show and resume say "outcome unknown"); a resume whose script
    /// diverges from the journal; an unknown outcome nobody can decide on.
    Unsafe(String),
    /// A limit of the run (memory) was passed (exit 1); the message says which and how to raise it.
    Limit(String),
    /// stdout or stderr was closed (a broken pipe, e.g. `| head`): stopped like Ctrl-C (exit 130).
    OutputClosed,
}

impl Host {
    /// Called by the engine before every operation, so it must be cheap: two relaxed loads, and
    /// the clock and the memory reading only every few thousand operations.
    pub fn poll(&self, operations: u64) -> Option<Stop> {
        const CLOCK_EVERY: u64 = 1 << 10;
        if !operations.is_multiple_of(CLOCK_EVERY)
            && !self.interrupt.load(Ordering::Relaxed)
            && !self.stopping.load(Ordering::Relaxed)
        {
            return None;
        }
        self.check_stop().or_else(|| self.check_memory(operations))
    }

    /// Stop the run if the process holds more memory than `--limit memory` allows. Read from
    /// `/proc` every 2^16 operations: cheap, and soon enough for values grown a step at a time.
    fn check_memory(&self, operations: u64) -> Option<Stop> {
        const MEMORY_EVERY: u64 = 1 << 16;
        let cap = self.limits.memory?;
        let last = self.memory_checked_at.load(Ordering::Relaxed);
        if operations.wrapping_sub(last) < MEMORY_EVERY {
            return None;
        }
        self.memory_checked_at.store(operations, Ordering::Relaxed);
        let used = crate::limits::resident_bytes()?;
        if used <= cap {
            return None;
        }
        let stop = Stop::Limit(format!(
            "the script uses {} of memory, over the limit of {} (a value growing without end?)\nhelp: raise it with `--limit memory=SIZE` or `//! @limit memory=SIZE` in the header",
            Size(used),
            Size(cap)
        ));
        self.request_stop(stop.clone());
        Some(stop)
    }

    /// Checked by the engine's progress callback and by natives that wait.
    pub fn check_stop(&self) -> Option<Stop> {
        if let Some(stop) = self.state().stop.clone() {
            return Some(stop);
        }
        let stop = if self.interrupt.load(Ordering::Relaxed) {
            Some(Stop::Interrupted)
        } else if crate::output::closed() {
            Some(Stop::OutputClosed)
        } else {
            match self.deadline {
                Some((at, d)) if Instant::now() >= at => Some(Stop::TimedOut(d)),
                _ => None,
            }
        };
        if let Some(s) = &stop {
            self.request_stop(s.clone());
        }
        stop
    }

    pub fn stop_reason(&self) -> Option<Stop> {
        self.state().stop.clone()
    }

    /// Forget a stop and a pending Ctrl-C, so the REPL can evaluate its next input.
    pub fn clear_stop(&self) {
        self.interrupt.store(false, Ordering::Relaxed);
        self.stopping.store(false, Ordering::Relaxed);
        self.state().stop = None;
    }

    pub fn request_stop(&self, stop: Stop) {
        let mut state = self.state();
        if state.stop.is_none() {
            state.stop = Some(stop);
        }
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// An uncatchable error that ends the script (`try`/`catch` cannot swallow it).
    pub fn terminate(&self, stop: Stop, pos: Position) -> Box<EvalAltResult> {
        self.request_stop(stop);
        EvalAltResult::ErrorTerminated(Dynamic::from("ripcord-stop"), pos).into()
    }

    /// Sleep in small slices so Ctrl-C and `--timeout` are honoured while waiting.
    pub fn sleep(&self, ctx: &NativeCallContext, d: Duration) -> RhaiResult<()> {
        let until = Instant::now() + d;
        loop {
            if let Some(stop) = self.check_stop() {
                return Err(self.terminate(stop, ctx.call_position()));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }

    /// Remaining time before `--timeout`, to cap a blocking call's own timeout.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }
}
