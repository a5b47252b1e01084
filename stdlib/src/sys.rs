//! The `sys` module: the host's capacity — disk space for a path, memory, load, uptime — and
//! one process's memory and CPU, by pid or by the service unit that runs it.
//!
//! Everything here is a read of the local kernel (`statvfs`, `/proc`), so it runs in dry runs
//! and drills too. [`ensure_free`] is the pre-check other modules call before they copy a file
//! somewhere (a backup into a folder): it fails early with the numbers instead of leaving a
//! half-written copy on a full disk.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ripcord_runtime::dirs::expand_tilde;
use ripcord_runtime::rhai::{Dynamic, Map, NativeCallContext};
use ripcord_runtime::{Decl, Effect, Failure, Host, NativeModule, NativeResult, RhaiResult};

use crate::fs::bytes_text;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "sys",
        "Host capacity: disk, memory, load, uptime, a process's memory and CPU",
    );
    m.function(DISK, |ctx: NativeCallContext, path: &str| {
        read(&ctx, "sys::disk", || disk(path).map(|d| d.to_map()))
    });
    m.function(
        ENSURE_FREE,
        |ctx: NativeCallContext, path: &str, bytes: i64| {
            read(&ctx, "sys::ensure_free", || {
                let needed = u64::try_from(bytes).map_err(|_| {
                    Failure::new(format!("sys::ensure_free: {bytes} bytes is negative"))
                        .hint("pass the size the copy will need, e.g. fs::size(cfg.db)")
                })?;
                ensure_free(Path::new(&expand_tilde(path)), needed, "the copy").map(|d| d.to_map())
            })
        },
    );
    m.function(MEMORY, |ctx: NativeCallContext| {
        read(&ctx, "sys::memory", memory)
    });
    m.function(LOAD, |ctx: NativeCallContext| read(&ctx, "sys::load", load));
    m.function(UPTIME, |ctx: NativeCallContext| {
        read(&ctx, "sys::uptime", uptime)
    });
    m.function(PROCESS, |ctx: NativeCallContext, pid: i64| {
        read(&ctx, "sys::process", || process(pid))
    });
    m.function(
        Decl {
            params: &["unit: String", "Map"],
            ..PROCESS
        },
        |ctx: NativeCallContext, unit: &str| unit_process(&ctx, unit, Map::new()),
    );
    m.function(
        Decl {
            params: &["unit: String", "opts: Map", "Map"],
            ..PROCESS
        },
        |ctx: NativeCallContext, unit: &str, opts: Map| unit_process(&ctx, unit, opts),
    );
    m
}

const DISK: Decl = Decl {
    name: "disk",
    effect: Effect::Read,
    params: &["path: String", "Map"],
    doc: "Space on the filesystem that holds `path` (a file or a folder), in bytes.\n\n\
Returns `#{ path, total, free, available, used, used_pct }`: `free` counts blocks reserved for \
root, `available` is what an ordinary user can still write (what `df` shows as Avail); \
`used_pct` is `used / (used + available)` in percent, as `df` computes Use%.",
    example: r#"let d = sys::disk("backups");
if d.used_pct > 90.0 { log::warn(`backups disk ${d.used_pct}% full`); }"#,
};

const ENSURE_FREE: Decl = Decl {
    name: "ensure_free",
    effect: Effect::Read,
    params: &["path: String", "bytes: int", "Map"],
    doc: "Fail unless the filesystem of `path` has `bytes` available; returns `sys::disk(path)`.\n\n\
The pre-check before a copy: the error names the folder, the bytes needed and the bytes \
available, before anything is written.",
    example: r#"sys::ensure_free("backups", fs::size(cfg.db) * 2);
db::backup(cfg.db, `backups/cortex-${time::stamp()}.db`);"#,
};

const MEMORY: Decl = Decl {
    name: "memory",
    effect: Effect::Read,
    params: &["Map"],
    doc: "The host's memory from `/proc/meminfo`, in bytes.\n\n\
Returns `#{ total, available, free, used, used_pct, swap_total, swap_free }`: `available` is \
the kernel's estimate of what can be allocated without swapping (MemAvailable); `used` is \
`total - available` and `used_pct` its share of `total`.",
    example: r#"let mem = sys::memory();
if mem.used_pct > 90.0 { log::warn(`memory ${mem.used_pct}% used`); }"#,
};

const LOAD: Decl = Decl {
    name: "load",
    effect: Effect::Read,
    params: &["Map"],
    doc: "The load averages from `/proc/loadavg` and the number of CPUs.\n\n\
Returns `#{ one, five, fifteen, cpus, per_cpu }` (`per_cpu` is the one-minute load divided by \
the CPUs this process may run on).",
    example: r#"let l = sys::load();
if l.per_cpu > 2.0 { log::warn(`load ${l.one} on ${l.cpus} CPUs`); }"#,
};

const UPTIME: Decl = Decl {
    name: "uptime",
    effect: Effect::Read,
    params: &["Map"],
    doc: "How long the host has been up: `#{ secs, since }` (`since` is the boot time, RFC 3339 UTC).",
    example: r#"if sys::uptime().secs < 300 { log::warn("the host rebooted less than 5 minutes ago"); }"#,
};

const PROCESS: Decl = Decl {
    name: "process",
    effect: Effect::Read,
    params: &["pid: int", "Map"],
    doc: "Memory and CPU of a process on this host, by pid or by the service unit that runs it.\n\n\
Returns `#{ pid, name, state, rss, vsize, threads, cpu_ms, age_ms, cpu_pct }`: `rss` and \
`vsize` in bytes; `cpu_ms` the user and system CPU time it used; `age_ms` how long it has run; \
`cpu_pct` the average CPU over its life (`cpu_ms / age_ms`, 100 = one full CPU).\n\n\
With a unit, the unit's main process (`service::status(unit).main_pid`); options as for \
`service::status` (`user`, `backend`). A unit that is not running, a pid that does not \
exist, or a unit on another host (`host`) is an error.",
    example: r#"let p = sys::process("cortex.service", #{ user: true });
if p.rss > 2 * 1024 * 1024 * 1024 { log::warn(`cortex uses ${p.rss / 1048576} MB`); }
let me = sys::process(sys::process("cortex.service").pid);"#,
};

fn read(
    ctx: &NativeCallContext,
    function: &str,
    f: impl FnOnce() -> NativeResult<Map>,
) -> RhaiResult<Map> {
    Host::of(ctx)?.read(ctx, function, f)
}

// ---- disk ---------------------------------------------------------------------------------

/// Space on one filesystem, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub path: String,
    pub total: u64,
    pub free: u64,
    pub available: u64,
}

impl Disk {
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }

    /// As `df` computes Use%: the reserved blocks count neither as used nor as available.
    pub fn used_pct(&self) -> f64 {
        let base = self.used() + self.available;
        if base == 0 {
            0.0
        } else {
            round1(self.used() as f64 * 100.0 / base as f64)
        }
    }

    fn to_map(&self) -> Map {
        let mut map = Map::new();
        map.insert("path".into(), self.path.clone().into());
        map.insert("total".into(), int(self.total));
        map.insert("free".into(), int(self.free));
        map.insert("available".into(), int(self.available));
        map.insert("used".into(), int(self.used()));
        map.insert("used_pct".into(), Dynamic::from_float(self.used_pct()));
        map
    }
}

/// `statvfs` of the filesystem that holds `path`.
pub fn disk(path: &str) -> NativeResult<Disk> {
    let expanded = expand_tilde(path);
    let c_path = CString::new(Path::new(&expanded).as_os_str().as_bytes())
        .map_err(|_| Failure::new(format!("sys::disk: `{path}` contains a NUL byte")))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `st` is writable for one statvfs.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Failure::new(format!(
            "sys::disk: cannot read the filesystem of {path}: {e}"
        ))
        .hint("pass a path that exists (a file or the folder it will be written to)"));
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    from_statvfs(path, &st)
}

// The field types are 32 bits wide on some targets and 64 on others.
#[allow(clippy::unnecessary_cast)]
fn from_statvfs(path: &str, st: &libc::statvfs) -> NativeResult<Disk> {
    let block = st.f_frsize as u64;
    Ok(Disk {
        path: path.to_string(),
        total: st.f_blocks as u64 * block,
        free: st.f_bfree as u64 * block,
        available: st.f_bavail as u64 * block,
    })
}

/// Fail unless the filesystem of `dir` has `needed` bytes available to this user.
///
/// The pre-check for anything that copies into `dir` (`db::backup`, `db::restore`): `what`
/// names the copy in the error ("the backup of cortex.db").
pub fn ensure_free(dir: &Path, needed: u64, what: &str) -> NativeResult<Disk> {
    let shown = dir.display().to_string();
    let d = disk(&shown)?;
    if d.available < needed {
        return Err(Failure::new(format!(
            "not enough space in {shown} for {what}: {} needed, {} available (of {}, {}% used)",
            bytes_text(needed),
            bytes_text(d.available),
            bytes_text(d.total),
            d.used_pct()
        ))
        .hint(format!(
            "free at least {} there, or write to a folder on another filesystem",
            bytes_text(needed - d.available)
        )));
    }
    Ok(d)
}

// ---- memory, load, uptime -----------------------------------------------------------------

fn proc_file(path: &str) -> NativeResult<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure::new(format!("cannot read {path}: {e}"))
            .hint("sys needs Linux's /proc mounted (it is on every systemd host)")
    })
}

fn memory() -> NativeResult<Map> {
    let text = proc_file("/proc/meminfo")?;
    let field = |name: &str| -> NativeResult<u64> {
        meminfo_field(&text, name)
            .ok_or_else(|| Failure::new(format!("/proc/meminfo has no `{name}` line")))
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable")?;
    let used = total.saturating_sub(available);
    let mut map = Map::new();
    map.insert("total".into(), int(total));
    map.insert("available".into(), int(available));
    map.insert("free".into(), int(field("MemFree")?));
    map.insert("used".into(), int(used));
    let pct = if total == 0 {
        0.0
    } else {
        round1(used as f64 * 100.0 / total as f64)
    };
    map.insert("used_pct".into(), Dynamic::from_float(pct));
    map.insert("swap_total".into(), int(field("SwapTotal").unwrap_or(0)));
    map.insert("swap_free".into(), int(field("SwapFree").unwrap_or(0)));
    Ok(map)
}

/// A `Name:   1234 kB` line of /proc/meminfo, in bytes.
fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, rest) = line.split_once(':')?;
        if key != name {
            return None;
        }
        let mut parts = rest.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        Some(match parts.next() {
            Some("kB") => n * 1024,
            _ => n,
        })
    })
}

fn load() -> NativeResult<Map> {
    let text = proc_file("/proc/loadavg")?;
    let (one, five, fifteen) = parse_loadavg(&text)
        .ok_or_else(|| Failure::new(format!("/proc/loadavg is not as expected: {text:?}")))?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut map = Map::new();
    map.insert("one".into(), Dynamic::from_float(one));
    map.insert("five".into(), Dynamic::from_float(five));
    map.insert("fifteen".into(), Dynamic::from_float(fifteen));
    map.insert("cpus".into(), int(cpus as u64));
    map.insert("per_cpu".into(), Dynamic::from_float(one / cpus as f64));
    Ok(map)
}

fn parse_loadavg(text: &str) -> Option<(f64, f64, f64)> {
    let mut parts = text.split_whitespace().map(str::parse::<f64>);
    Some((
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    ))
}

fn uptime_secs() -> NativeResult<f64> {
    let text = proc_file("/proc/uptime")?;
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| Failure::new(format!("/proc/uptime is not as expected: {text:?}")))
}

fn uptime() -> NativeResult<Map> {
    let secs = uptime_secs()?;
    let boot = jiff::Timestamp::now() - jiff::SignedDuration::from_secs_f64(secs);
    let mut map = Map::new();
    map.insert("secs".into(), int(secs as u64));
    map.insert(
        "since".into(),
        boot.round(jiff::Unit::Second)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| boot.to_string())
            .into(),
    );
    Ok(map)
}

// ---- processes ----------------------------------------------------------------------------

/// The fields of `/proc/PID/stat` that `sys::process` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    name: String,
    state: String,
    /// user + system time, in clock ticks.
    cpu_ticks: u64,
    threads: u64,
    /// Start time after boot, in clock ticks.
    start_ticks: u64,
    vsize: u64,
    rss_pages: u64,
}

/// Parse `/proc/PID/stat`. The name is in parentheses and may itself hold spaces and `)`,
/// so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    // Fields after the name, numbered from 3 (state) as in proc(5).
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let num = |n: usize| field(n).and_then(|s| s.parse::<u64>().ok());
    Some(Stat {
        name,
        state: field(3)?.to_string(),
        cpu_ticks: num(14)? + num(15)?,
        threads: num(20)?,
        start_ticks: num(22)?,
        vsize: num(23)?,
        rss_pages: num(24)?,
    })
}

fn process(pid: i64) -> NativeResult<Map> {
    if pid <= 0 {
        return Err(
            Failure::new(format!("sys::process: {pid} is not a process id"))
                .hint("pass a pid above 0, e.g. service::status(unit).main_pid of a running unit"),
        );
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| {
        Failure::new(format!("sys::process: no process {pid} on this host ({e})"))
            .hint("it may have exited; read the pid again (service::status(unit).main_pid)")
    })?;
    let stat = parse_stat(&text)
        .ok_or_else(|| Failure::new(format!("/proc/{pid}/stat is not as expected: {text:?}")))?;
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100);
    let page = u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096);
    let cpu_ms = stat.cpu_ticks * 1000 / ticks;
    let age_ms = ((uptime_secs()? * 1000.0) as u64).saturating_sub(stat.start_ticks * 1000 / ticks);
    let cpu_pct = if age_ms == 0 {
        0.0
    } else {
        round1(cpu_ms as f64 * 100.0 / age_ms as f64)
    };
    let mut map = Map::new();
    map.insert("pid".into(), Dynamic::from_int(pid));
    map.insert("name".into(), stat.name.into());
    map.insert("state".into(), stat.state.into());
    map.insert("rss".into(), int(stat.rss_pages * page));
    map.insert("vsize".into(), int(stat.vsize));
    map.insert("threads".into(), int(stat.threads));
    map.insert("cpu_ms".into(), int(cpu_ms));
    map.insert("age_ms".into(), int(age_ms));
    map.insert("cpu_pct".into(), Dynamic::from_float(cpu_pct));
    Ok(map)
}

fn unit_process(ctx: &NativeCallContext, unit: &str, opts: Map) -> RhaiResult<Map> {
    let status = crate::service::local_status(ctx, "sys::process", unit, opts)?;
    if status.main_pid <= 0 {
        return Err(Failure::new(format!(
            "sys::process: {unit} has no main process: it is {}",
            status.describe()
        ))
        .hint(format!("start it first: service::start(\"{unit}\")"))
        .at(ctx));
    }
    read(ctx, "sys::process", || process(status.main_pid))
}

fn int(n: u64) -> Dynamic {
    Dynamic::from_int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name_parses() {
        // Fields 3..24 of proc(5); the name holds ") (" as a hostile process could choose.
        let line = "4242 (we ird) (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 \
                    9000 123456789 321 18446744073709551615";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(stat.name, "we ird) (x");
        assert_eq!(stat.state, "S");
        assert_eq!(stat.cpu_ticks, 300);
        assert_eq!(stat.threads, 7);
        assert_eq!(stat.start_ticks, 9000);
        assert_eq!(stat.vsize, 123456789);
        assert_eq!(stat.rss_pages, 321);
        assert_eq!(parse_stat("4242 (truncated) S 1"), None);
    }

    #[test]
    fn meminfo_fields_are_bytes() {
        let text = "MemTotal:       2048 kB\nMemFree:  1024 kB\nMemAvailable:   1536 kB\nHugePages_Total:       3\n";
        assert_eq!(meminfo_field(text, "MemTotal"), Some(2048 * 1024));
        assert_eq!(meminfo_field(text, "MemAvailable"), Some(1536 * 1024));
        assert_eq!(meminfo_field(text, "HugePages_Total"), Some(3));
        assert_eq!(meminfo_field(text, "Mem"), None);
    }

    #[test]
    fn loadavg_parses_and_rejects_garbage() {
        assert_eq!(
            parse_loadavg("0.29 0.41 0.28 4/113 14448\n"),
            Some((0.29, 0.41, 0.28))
        );
        assert_eq!(parse_loadavg("0.29 x 0.28"), None);
    }

    #[test]
    fn used_pct_counts_like_df() {
        // 100 blocks, 10 reserved for root: 40 used, 50 available -> 40 / 90.
        let d = Disk {
            path: "x".into(),
            total: 100,
            free: 60,
            available: 50,
        };
        assert_eq!(d.used(), 40);
        assert_eq!(d.used_pct(), 44.4);
    }

    #[test]
    fn this_process_is_found_and_a_missing_one_is_named() {
        let me = process(std::process::id() as i64).expect("own process");
        assert!(me["rss"].as_int().unwrap() > 0);
        assert!(me["threads"].as_int().unwrap() >= 1);
        let err = process(i32::MAX as i64).unwrap_err();
        assert!(err.message.contains("no process 2147483647"), "{err}");
        assert!(process(0).unwrap_err().message.contains("not a process id"));
    }

    #[test]
    fn ensure_free_names_the_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let d = ensure_free(dir.path(), 1, "the backup").expect("one byte fits");
        let err = ensure_free(dir.path(), d.total + 1, "the backup of cortex.db").unwrap_err();
        assert!(
            err.message.starts_with(&format!(
                "not enough space in {} for the backup of cortex.db: ",
                dir.path().display()
            )),
            "{err}"
        );
        assert!(err.message.contains(" needed, "), "{err}");
        assert!(
            err.hint.as_deref().unwrap().starts_with("free at least "),
            "{err}"
        );
    }
}
