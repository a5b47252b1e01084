//! The limits a run's engine enforces, and how an operator sets them: `--limit NAME=VALUE` on the
//! command line or `//! @limit NAME=VALUE` in the script header (the flag wins).
//!
//! Defaults are no stricter than a stock `rhai::Engine::new()` in a release build, so plain Rhai
//! that stock Rhai runs, ripcord runs too: no operation cap (`--timeout` and Ctrl-C stop a
//! runaway loop), no cap on imported modules, Rhai's own call and expression depths. Rhai's
//! string, array and map size limits are never used: Rhai re-measures the whole value after every
//! call that touches it, which makes growing a value quadratic. Memory is guarded instead by the
//! progress hook, which reads the process's resident size now and then.

use std::fmt;

/// What the engine of one run may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations before the run is stopped; `None`: no cap.
    pub operations: Option<u64>,
    /// Distinct script modules a run may load; `None`: no cap.
    pub imports: Option<usize>,
    /// Nested function calls (Rhai's call stack depth).
    pub call_depth: usize,
    /// Nesting of expressions at the top level (functions get half of it), checked when parsing.
    pub expr_depth: usize,
    /// Resident memory of the process, in bytes; `None`: no cap.
    pub memory: Option<u64>,
}

/// Rhai's release-build defaults (`rhai::Engine::new()`), which the defaults must not undercut.
pub const STOCK_CALL_DEPTH: usize = 64;
pub const STOCK_EXPR_DEPTH: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            operations: None,
            imports: None,
            // Above stock: every run's evaluation has a large stack of its own (see `ripcord`'s
            // main), so deeper recursion than stock's 64 calls is safe.
            call_depth: 256,
            expr_depth: 256,
            memory: default_memory(),
        }
    }
}

/// Four fifths of the host's memory: a script past that would be killed by the kernel anyway,
/// and stopping it first gives the operator a message instead of a dead process.
fn default_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024 / 5 * 4)
}

/// One `NAME=VALUE` setting, from a flag or a header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Operations(Option<u64>),
    Imports(Option<usize>),
    CallDepth(usize),
    ExprDepth(usize),
    Memory(Option<u64>),
}

pub const NAMES: &str = "operations, imports, call-depth, expr-depth, memory";

impl Setting {
    /// Parse `name=value` (spaces allowed around `=`); `off` lifts a cap.
    pub fn parse(text: &str) -> Result<Setting, String> {
        let (name, value) = text
            .split_once('=')
            .map(|(n, v)| (n.trim(), v.trim()))
            .ok_or_else(|| {
                format!("`{text}`: expected NAME=VALUE, e.g. `operations=5000000000`")
            })?;
        let count = |what: &str| -> Result<u64, String> {
            let digits: String = value.chars().filter(|c| *c != '_').collect();
            digits
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("limit `{name}`: `{value}` is not {what}"))
        };
        let off = value.eq_ignore_ascii_case("off");
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match name {
            "operations" if off => Ok(Setting::Operations(None)),
            "operations" => Ok(Setting::Operations(Some(count(
                "a positive count or `off`",
            )?))),
            "imports" if off => Ok(Setting::Imports(None)),
            "imports" => Ok(Setting::Imports(Some(as_usize(count(
                "a positive count or `off`",
            )?)))),
            "call-depth" => Ok(Setting::CallDepth(as_usize(count("a positive count")?))),
            "expr-depth" => Ok(Setting::ExprDepth(as_usize(count("a positive count")?))),
            "memory" if off => Ok(Setting::Memory(None)),
            "memory" => parse_size(value)
                .map(|b| Setting::Memory(Some(b)))
                .ok_or_else(|| {
                    format!("limit `memory`: `{value}` is not a size like `512M`, `4G` or `off`")
                }),
            other => Err(format!("unknown limit `{other}`; the limits are {NAMES}")),
        }
    }
}

impl Limits {
    /// Apply settings in order (header first, then flags, so flags win).
    pub fn with(mut self, settings: &[Setting]) -> Limits {
        for s in settings {
            match *s {
                Setting::Operations(n) => self.operations = n,
                Setting::Imports(n) => self.imports = n,
                Setting::CallDepth(n) => self.call_depth = n,
                Setting::ExprDepth(n) => self.expr_depth = n,
                Setting::Memory(n) => self.memory = n,
            }
        }
        self
    }
}

/// `512M`, `4G`, `1.5G`, `1048576` (bytes); binary units.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB") {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        "T" | "TB" => 1 << 40,
        _ => return None,
    };
    let bytes = number * scale as f64;
    (bytes >= 1.0 && bytes.is_finite()).then_some(bytes as u64)
}

/// A size for messages: `1.5 GiB`.
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < units.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", units[unit])
        }
    }
}

/// Resident memory of this process in bytes, from `/proc/self/statm` (`None` where unavailable).
pub fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf with a valid name has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_apply_in_order() {
        let s = |t: &str| Setting::parse(t).unwrap();
        assert_eq!(s("operations=1_000"), Setting::Operations(Some(1000)));
        assert_eq!(s("operations = off"), Setting::Operations(None));
        assert_eq!(s("imports=3"), Setting::Imports(Some(3)));
        assert_eq!(s("call-depth=500"), Setting::CallDepth(500));
        assert_eq!(s("memory=1.5G"), Setting::Memory(Some(3 << 29)));
        assert_eq!(s("memory=512MiB"), Setting::Memory(Some(512 << 20)));
        let l = Limits::default().with(&[s("operations=5"), s("operations=7")]);
        assert_eq!(l.operations, Some(7));
        for bad in [
            "operations",
            "operations=0",
            "depth=3",
            "memory=lots",
            "imports=-1",
        ] {
            assert!(Setting::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Setting::parse("speed=3").unwrap_err(),
            format!("unknown limit `speed`; the limits are {NAMES}")
        );
    }

    #[test]
    fn defaults_are_no_stricter_than_stock() {
        let l = Limits::default();
        assert!(l.operations.is_none() && l.imports.is_none());
        assert!(l.call_depth >= STOCK_CALL_DEPTH && l.expr_depth >= STOCK_EXPR_DEPTH);
        assert!(resident_bytes().is_some_and(|b| b > 0));
        assert_eq!(Size(3 << 29).to_string(), "1.5 GiB");
    }
}
