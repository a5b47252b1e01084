//! A real systemd user manager for the service tests: one per test process, started on first
//! use with its own runtime and config directories in a temp dir, stopped when the process ends.
//!
//! The manager runs under a small `sh` watchdog that holds the read end of a pipe whose write
//! end only this process has. When the test process exits (or is killed), the pipe closes, the
//! watchdog's `read` returns, and it stops the manager (SIGTERM, then SIGKILL) and removes the
//! temp dir. A machine where the manager cannot start fails the tests with the reason.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{Outcome, Sandbox, Test};

/// The shared user manager.
pub struct UserManager {
    /// `XDG_RUNTIME_DIR` of the manager: every `systemctl --user` must see it.
    pub runtime_dir: PathBuf,
    /// Where unit files go (`$XDG_CONFIG_HOME/systemd/user` of the manager).
    pub unit_dir: PathBuf,
    /// Kept open for the life of the process; closing it stops the manager.
    _lifeline: Mutex<ChildStdin>,
}

static MANAGER: OnceLock<Result<UserManager, String>> = OnceLock::new();

/// The user manager, started on first use. Panics (failing the test) if it cannot start.
pub fn manager() -> &'static UserManager {
    match MANAGER.get_or_init(start) {
        Ok(m) => m,
        Err(e) => panic!(
            "the service tests need a systemd user manager, and none could be started: {e}\n\
             (they start `systemd --user` themselves; the machine needs systemd installed and \
             permission to create /run/systemd/system)"
        ),
    }
}

const WATCHDOG: &str = r#"
"$SYSTEMD" --user </dev/null >"$DIR/manager.log" 2>&1 &
m=$!
echo "$m"
read -r _ || true
kill -TERM "$m" 2>/dev/null
i=0
while kill -0 "$m" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill -KILL "$m" 2>/dev/null
wait "$m" 2>/dev/null
rm -rf "$DIR"
"#;

fn start() -> Result<UserManager, String> {
    let systemd = ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("systemd is not installed (no /lib/systemd/systemd)")?;
    // systemd and systemctl only work where this marker says systemd is running.
    std::fs::create_dir_all("/run/systemd/system")
        .map_err(|e| format!("cannot create /run/systemd/system: {e}"))?;

    let dir = tempfile::Builder::new()
        .prefix("ripcord-systemd-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?
        .keep();
    let runtime_dir = dir.join("run");
    let unit_dir = dir.join("config/systemd/user");
    std::fs::create_dir_all(&unit_dir)
        .map_err(|e| format!("cannot create {}: {e}", unit_dir.display()))?;
    std::fs::create_dir_all(&runtime_dir)
        .map_err(|e| format!("cannot create {}: {e}", runtime_dir.display()))?;
    std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot chmod {}: {e}", runtime_dir.display()))?;

    let mut watchdog = Command::new("sh")
        .args(["-c", WATCHDOG])
        .env("SYSTEMD", systemd)
        .env("DIR", &dir)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let lifeline = watchdog.stdin.take().ok_or("no pipe to the watchdog")?;

    let started = Instant::now();
    loop {
        let out = Command::new("systemctl")
            .args(["--user", "is-system-running"])
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .map_err(|e| format!("cannot run systemctl: {e}"))?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if state == "running" || state == "degraded" {
            break;
        }
        if let Ok(Some(status)) = watchdog.try_wait() {
            return Err(format!(
                "the watchdog exited ({status}) before the manager came up"
            ));
        }
        if started.elapsed() > Duration::from_secs(20) {
            let log = std::fs::read_to_string(dir.join("manager.log")).unwrap_or_default();
            return Err(format!(
                "`systemctl --user is-system-running` still says {state:?} after 20s; manager log:\n{log}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(UserManager {
        runtime_dir,
        unit_dir,
        _lifeline: Mutex::new(lifeline),
    })
}

impl UserManager {
    /// `systemctl --user ARGS` against this manager.
    pub fn systemctl(&self, args: &[&str]) -> Outcome {
        Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .output()
            .expect("run systemctl")
            .into()
    }

    /// One property of a unit, from `systemctl --user show`.
    pub fn property(&self, unit: &str, name: &str) -> String {
        self.systemctl(&["show", "-p", name, "--value", unit])
            .stdout
            .trim()
            .to_string()
    }

    /// Install a unit file and reload; the unit is stopped and removed when the guard drops.
    pub fn install(&'static self, name: &str, text: &str) -> Unit {
        let path = self.unit_dir.join(name);
        let mut file = std::fs::File::create(&path).expect("create unit file");
        file.write_all(text.as_bytes()).expect("write unit file");
        let out = self.systemctl(&["daemon-reload"]);
        assert_eq!(out.code, 0, "daemon-reload: {}", out.stderr);
        Unit {
            manager: self,
            name: name.to_string(),
            path,
        }
    }

    /// Guard units something else installed (`ripcord watch install`, the demo): stopped, the
    /// file removed and the failed state reset when the guard drops, however the test ends.
    /// `name` may be a glob (`ripcord-demo-*.service`): every loaded unit it matches is stopped.
    pub fn adopt(&'static self, name: &str) -> Unit {
        Unit {
            manager: self,
            name: name.to_string(),
            path: self.unit_dir.join(name),
        }
    }

    /// `ripcord ARGS` in the sandbox, talking to this manager.
    pub fn ripcord(&self, sb: &Sandbox, args: &[&str]) -> Outcome {
        sb.command(args)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .expect("run ripcord")
            .into()
    }

    /// A test of a `ripcord` command in the sandbox, talking to this manager.
    pub fn test<'a>(&self, sb: &'a Sandbox) -> Test<'a> {
        sb.test()
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
    }
}

/// A unit file installed for one test.
pub struct Unit {
    manager: &'static UserManager,
    pub name: String,
    path: PathBuf,
}

impl Drop for Unit {
    fn drop(&mut self) {
        self.manager.systemctl(&["stop", &self.name]);
        let _ = std::fs::remove_file(&self.path);
        self.manager.systemctl(&["reset-failed", &self.name]);
        self.manager.systemctl(&["daemon-reload"]);
    }
}

/// A unit name no other test (or test process) uses.
pub fn unit_name(test: &str) -> String {
    format!("ripcord-{test}-{}.service", std::process::id())
}
