//! Timestamps and durations as operators write them ("30s", "5m", "1h30m").

use std::time::Duration;

use jiff::Zoned;

/// Local time, RFC 3339 with offset, to the millisecond.
pub fn now_rfc3339() -> String {
    Zoned::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// Local time as `%Y%m%d-%H%M%S`, for file names.
pub fn stamp() -> String {
    Zoned::now().strftime("%Y%m%d-%H%M%S").to_string()
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
