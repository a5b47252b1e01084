//! Processes a test starts, ended however the test ends. A failing assertion panics and unwinds
//! through these guards' `Drop`, which end the whole process group of a child (the child and
//! whatever it started in its group) and reap it, so no watch, writer or service outlives the
//! test that started it and disturbs the next one.
//!
//! - [`Guarded`]: a child spawned as the leader of a process group of its own.
//! - [`Detached`]: a process the test did not spawn itself but must not leave behind, found by
//!   its pidfile when the guard drops (the demo's service, started by ripcord in a session of
//!   its own, restarted under a new pid by a rollback).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How long a group gets between SIGTERM and SIGKILL when a guard drops.
const GRACE: Duration = Duration::from_secs(5);

/// A child process that is the leader of its own process group, ended with its group on drop.
pub struct Guarded {
    child: Child,
    /// The process group: the child's pid (it is the leader).
    group: i32,
    status: Option<ExitStatus>,
}

impl Guarded {
    /// Spawn `cmd` as the leader of a new process group.
    #[track_caller]
    pub fn spawn(cmd: &mut Command) -> Guarded {
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let group = child.id() as i32;
        Guarded {
            child,
            group,
            status: None,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` to the child alone (not its group).
    pub fn signal(&self, signal: i32) {
        if self.status.is_none() {
            // SAFETY: kill(2) on the pid of a child this guard has not reaped yet.
            unsafe { libc::kill(self.group, signal) };
        }
    }

    /// Wait for the child to end.
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let status = self.child.wait().expect("wait for a child");
        self.status = Some(status);
        status
    }

    /// The child's status if it has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("poll a child");
        }
        self.status
    }

    /// SIGTERM the child and wait: its exit code (None when a signal ended it).
    pub fn stop(mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.wait().code()
    }

    /// SIGKILL the child, as a crash would, and wait for it.
    pub fn kill(mut self) {
        self.signal(libc::SIGKILL);
        self.wait();
    }

    /// Still running (not ended, not a zombie)?
    pub fn running(&mut self) -> bool {
        self.try_wait().is_none()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        end_group(self.group, || {
            self.try_wait().is_some() && !group_alive(self.group)
        });
        // A child that ignored even SIGKILL's group send (it cannot) is still reaped here.
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

/// A process found through its pidfile when the guard drops; its process group is ended
/// (services started by ripcord lead a session, so their group is their pid).
pub struct Detached {
    pidfile: PathBuf,
}

impl Detached {
    pub fn pidfile(path: impl Into<PathBuf>) -> Detached {
        Detached {
            pidfile: path.into(),
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let Some(pid) = std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .filter(|p| *p > 1)
        else {
            return;
        };
        end_group(pid, || !group_alive(pid));
    }
}

/// SIGTERM the group, give it [`GRACE`] to end (`gone` says when), then SIGKILL what is left.
fn end_group(group: i32, mut gone: impl FnMut() -> bool) {
    // SAFETY: signals to a process group this guard's test created.
    unsafe { libc::kill(-group, libc::SIGTERM) };
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        if gone() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above.
    unsafe { libc::kill(-group, libc::SIGKILL) };
}

/// Does any live (non-zombie) process belong to process group `group`?
pub fn group_alive(group: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .any(|pid| matches!(stat(pid), Some((state, pgrp)) if pgrp == group && state != 'Z'))
}

/// Is process `pid` alive (it exists and is not a zombie)?
pub fn alive(pid: i32) -> bool {
    matches!(stat(pid), Some((state, _)) if state != 'Z')
}

/// State and process group of `pid`, from /proc/PID/stat.
fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state, ppid, pgrp.
    let mut rest = text.rsplit_once(')')?.1.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let _ppid = rest.next()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// The guards must end everything a test started even when the test fails: a test that
/// panics (the guards inside `catch_unwind`) with a real `ripcord watch`, a shell with a child
/// in its group, and a detached process in a session of its own (as the demo's service is).
#[test]
fn a_failing_test_leaves_none_of_its_processes_running() {
    let sb = super::Sandbox::new();
    sb.write(
        "quiet.rhai",
        "//! Always healthy.\n#{ priority: \"none\", decision: \"healthy\", findings: [] }\n",
    );
    let group_pid = sb.join("group.pid");
    let detached_pid = sb.join("detached.pid");
    let read_pid =
        |p: &PathBuf| -> Option<i32> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };

    let mut seen = Vec::new();
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut watch = Guarded::spawn(
            sb.command(&["watch", "quiet.rhai", "--every", "1s"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        let mut tree = Guarded::spawn(Command::new("sh").args([
            "-c",
            r#"sleep 600 & echo $! > "$1"; setsid sleep 600 & echo $! > "$2"; wait"#,
            "sh",
            group_pid.to_str().unwrap(),
            detached_pid.to_str().unwrap(),
        ]));
        let _service = Detached::pidfile(&detached_pid);
        let until = Instant::now() + Duration::from_secs(60);
        while read_pid(&group_pid).is_none() || read_pid(&detached_pid).is_none() {
            assert!(Instant::now() < until, "the shell wrote no pids in 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(watch.running() && tree.running());
        seen.extend([
            watch.id() as i32,
            tree.id() as i32,
            read_pid(&group_pid).unwrap(),
            read_pid(&detached_pid).unwrap(),
        ]);
        panic!("an assertion of the test fails");
    }));
    assert!(failure.is_err(), "the closure must panic");
    assert_eq!(seen.len(), 4, "the processes were not all started");
    let left: Vec<i32> = seen.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        left.is_empty(),
        "still running after the panic: {left:?} of {seen:?}"
    );
}
