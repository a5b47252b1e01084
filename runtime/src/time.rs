//! Timestamps and durations as operators write them ("30s", "5m", "1h30m").

use std::time::Duration;

use jiff::Timestamp;

/// UTC, RFC 3339, to the millisecond. UTC keeps incident timelines from several hosts
/// comparable, and needs no time-zone database (reading one costs more than a whole run).
pub fn now_rfc3339() -> String {
    Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// UTC as `%Y%m%d-%H%M%S`, for file names.
pub fn stamp() -> String {
    stamp_of(Timestamp::now())
}

/// A time as operators write it, in UTC unless it carries an offset: RFC 3339
/// (`2025-11-05T14:30:00Z`, `…+02:00`), a civil date and time (`2025-11-05 14:30`,
/// `2025-11-05T14:30`, `2025-11-05`), or a file-name stamp (`20251105-143000`, as `stamp` gives).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    let civil = if t.len() == 15 && t.as_bytes().get(8) == Some(&b'-') {
        jiff::civil::DateTime::strptime("%Y%m%d-%H%M%S", t).ok()
    } else {
        None
    };
    let utc = |dt: jiff::civil::DateTime| dt.to_zoned(jiff::tz::TimeZone::UTC).ok();
    civil
        .and_then(utc)
        .map(|z| z.timestamp())
        .or_else(|| t.parse::<Timestamp>().ok())
        .or_else(|| t.parse::<jiff::civil::DateTime>().ok().and_then(utc).map(|z| z.timestamp()))
        .ok_or_else(|| {
            format!(
                "`{text}` is not a time; write it like 2025-11-05T14:30:00Z, 2025-11-05 14:30 (UTC) or 20251105-143000"
            )
        })
}

/// `time` as a UTC `%Y%m%d-%H%M%S` stamp.
pub fn stamp_of(time: Timestamp) -> String {
    time.strftime("%Y%m%d-%H%M%S").to_string()
}

/// Parse "30s", "5m", "1h 30m", "250ms"; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write it like \"30s\", \"5m\" or \"1h30m\"")
    })
}

/// Format a duration for people: `12ms`, `1.4s`, `2m05s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}
