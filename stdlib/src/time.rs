//! The `time` module: timestamps for logs and file names, pauses, and phase timings.

use std::time::Duration;

use ripcord_runtime::rhai::NativeCallContext;
use ripcord_runtime::time::{now_rfc3339, parse_duration, parse_time, stamp, stamp_of};
use ripcord_runtime::{Decl, Effect, Failure, Host, NativeModule, RhaiResult};

pub fn module() -> NativeModule {
    let mut m = NativeModule::new("time", "Time: timestamps, sleep, elapsed time");

    declare_stamps(&mut m);
    declare_clock(&mut m);
    m
}

/// `time::now`, `time::stamp`, `time::unique`.
fn declare_stamps(m: &mut NativeModule) {
    let now = Decl {
        name: "now",
        effect: Effect::Pure,
        params: &["String"],
        doc: "The time now in UTC as RFC 3339, to the millisecond.\n\nFor log lines, e.g. \
              `2026-03-14T02:17:09.412Z`: UTC keeps timelines from several hosts comparable.",
        example: r#"log::info(`rollback started at ${time::now()}`);"#,
    };
    m.function(now, now_rfc3339);

    let stamp_decl = Decl {
        name: "stamp",
        effect: Effect::Pure,
        params: &["String"],
        doc: "The time now in UTC as `%Y%m%d-%H%M%S`, for file names that sort by time.",
        example: r#"let backup = `backups/cortex-${time::stamp()}.db`;"#,
    };
    m.function(stamp_decl, stamp);
    m.function(
        Decl {
            params: &["time: String", "String"],
            doc: "The stamp (`%Y%m%d-%H%M%S`, UTC) of a time written as RFC 3339 \
                  (`2025-11-05T14:30:00Z`), as a date and time taken as UTC (`2025-11-05 14:30`, \
                  `2025-11-05`), or as a stamp: to compare with the stamps in file names.",
            example: r#"let point = time::stamp("2025-11-05 14:30");
let older = fs::glob("backups/cortex-*.db").filter(|p| p.sub_string(p.len() - 18, 15) <= point);"#,
            ..stamp_decl
        },
        stamp_at,
    );

    m.function(
        Decl {
            name: "unique",
            effect: Effect::Pure,
            params: &["String"],
            doc: "A stamp no other run gets: `%Y%m%d-%H%M%S` (UTC), microseconds and the process id, \
                  e.g. `20251105-143000-123456-4711`.\n\nFor names that must be new (evidence \
                  folders, safety copies): two runs in the same second get different names, and \
                  the names still sort by time.",
            example: r#"fs::mkdir(`backups/evidence-${time::unique()}`, #{ fresh: true });"#,
        },
        || -> String { unique() },
    );
}

/// `time::epoch`, `time::sleep`, `time::ms`, `time::since`.
fn declare_clock(m: &mut NativeModule) {
    let epoch = Decl {
        name: "epoch",
        effect: Effect::Pure,
        params: &["time: String", "int"],
        doc: "Seconds since 1970-01-01 UTC of a time written as `time::stamp(time)` accepts.\n\n\
              For the distance between two times, e.g. a backup's stamp and a recovery point.",
        example: r#"let age = time::epoch(time::now()) - time::epoch("20251105-143000");
log::info(`the backup is ${age / 3600} h old`);"#,
    };
    m.function(epoch, epoch_secs);

    let sleep = Decl {
        name: "sleep",
        effect: Effect::Pure,
        params: &["duration: String", "()"],
        doc: "Pause for a duration (\"30s\", \"2m\", \"500ms\") or a number of seconds.\n\nCtrl-C and \
              the run's `--timeout` end the pause. A dry run pauses too, so drill timings stay honest.",
        example: r#"service::restart("cortex.service");
time::sleep("5s");
time::sleep(2);"#,
    };
    m.function(sleep, sleep_text);
    m.function(
        Decl {
            params: &["seconds: int", "()"],
            ..sleep
        },
        sleep_secs,
    );

    let ms = Decl {
        name: "ms",
        effect: Effect::Pure,
        params: &["int"],
        doc: "Milliseconds since the run started, for timing phases of a runbook.",
        example: r#"let t0 = time::ms();
sh("make build", #{ cwd: "cortex" });
log::info(`build took ${time::ms() - t0} ms`);"#,
    };
    m.function(ms, elapsed_ms);

    let since = Decl {
        name: "since",
        effect: Effect::Pure,
        params: &["time: String", "int"],
        doc: "Milliseconds from an RFC 3339 time (as `time::now()` gives) until now.\n\nNegative if \
              the time is in the future.",
        example: r#"let started = time::now();
time::sleep("1s");
log::info(`waited ${time::since(started)} ms`);"#,
    };
    m.function(since, since_ms);
}

fn unique() -> String {
    let now = jiff::Timestamp::now();
    format!(
        "{}-{:06}-{}",
        stamp_of(now),
        now.subsec_microsecond(),
        std::process::id()
    )
}

fn sleep_text(ctx: NativeCallContext, duration: &str) -> RhaiResult<()> {
    let d =
        parse_duration(duration).map_err(|e| Failure::new(format!("time::sleep: {e}")).at(&ctx))?;
    Host::of(&ctx)?.sleep(&ctx, d)
}

fn stamp_at(ctx: NativeCallContext, time: &str) -> RhaiResult<String> {
    let at = parse_time(time).map_err(|e| Failure::new(format!("time::stamp: {e}")).at(&ctx))?;
    Ok(stamp_of(at))
}

fn epoch_secs(ctx: NativeCallContext, time: &str) -> RhaiResult<i64> {
    let at = parse_time(time).map_err(|e| Failure::new(format!("time::epoch: {e}")).at(&ctx))?;
    Ok(at.as_second())
}

fn sleep_secs(ctx: NativeCallContext, seconds: i64) -> RhaiResult<()> {
    let secs = u64::try_from(seconds).map_err(|_| {
        Failure::new(format!("time::sleep: {seconds} seconds is negative"))
            .hint("pass 0 or more seconds")
            .at(&ctx)
    })?;
    Host::of(&ctx)?.sleep(&ctx, Duration::from_secs(secs))
}

fn elapsed_ms(ctx: NativeCallContext) -> RhaiResult<i64> {
    Ok(Host::of(&ctx)?.elapsed().as_millis() as i64)
}

fn since_ms(ctx: NativeCallContext, time: &str) -> RhaiResult<i64> {
    let then: jiff::Timestamp = time.trim().parse().map_err(|e| {
        Failure::new(format!(
            "time::since: `{time}` is not an RFC 3339 time ({e})"
        ))
        .hint("pass a value from time::now(), like 2026-03-14T02:17:09.412+01:00")
        .at(&ctx)
    })?;
    let ms = jiff::Timestamp::now().as_millisecond() - then.as_millisecond();
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use ripcord_runtime::Mode;
    use ripcord_runtime::engine::standalone;
    use ripcord_runtime::rhai::Dynamic;

    use super::module;

    #[test]
    fn stamp_and_now_have_their_formats() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let stamp: String = engine.eval("time::stamp()").unwrap();
        assert_eq!(stamp.len(), 15, "{stamp}");
        assert_eq!(&stamp[8..9], "-");
        assert!(
            stamp
                .chars()
                .filter(|c| *c != '-')
                .all(|c| c.is_ascii_digit()),
            "{stamp}"
        );
        let now: String = engine.eval("time::now()").unwrap();
        assert!(now.parse::<jiff::Timestamp>().is_ok(), "{now}");
    }

    #[test]
    fn stamp_and_epoch_read_times_as_operators_write_them() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        for (text, stamp) in [
            ("2025-11-05T14:30:00Z", "20251105-143000"),
            ("2025-11-05T16:30:00+02:00", "20251105-143000"),
            ("2025-11-05 14:30", "20251105-143000"),
            ("2025-11-05", "20251105-000000"),
            ("20251105-143000", "20251105-143000"),
        ] {
            let got: String = engine.eval(&format!("time::stamp({text:?})")).unwrap();
            assert_eq!(got, stamp, "{text}");
        }
        let secs: i64 = engine
            .eval(r#"time::epoch("20251105-143000") - time::epoch("2025-11-04T14:30:00Z")"#)
            .unwrap();
        assert_eq!(secs, 86_400);
        let zero: i64 = engine.eval(r#"time::epoch("1970-01-01")"#).unwrap();
        assert_eq!(zero, 0);
        let err = engine
            .eval::<Dynamic>(r#"time::stamp("someday")"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`someday` is not a time"), "{err}");
    }

    #[test]
    fn sleep_accepts_text_and_seconds_and_since_measures_it() {
        let (engine, _host) = standalone(vec![module()], Mode::DryRun);
        let waited: i64 = engine
            .eval(r#"let t = time::now(); time::sleep("30ms"); time::sleep(0); time::since(t)"#)
            .unwrap();
        assert!(waited >= 30, "{waited}");
        let ms: i64 = engine.eval("time::ms()").unwrap();
        assert!(ms >= 30, "{ms}");
    }

    #[test]
    fn bad_durations_and_times_say_what_to_write() {
        let (engine, _host) = standalone(vec![module()], Mode::Run);
        let err = engine
            .eval::<Dynamic>(r#"time::sleep("soon")"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`soon` is not a duration"), "{err}");
        let err = engine
            .eval::<Dynamic>("time::sleep(-1)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("-1 seconds is negative"), "{err}");
        let err = engine
            .eval::<Dynamic>(r#"time::since("yesterday")"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`yesterday` is not an RFC 3339 time"), "{err}");
    }
}
