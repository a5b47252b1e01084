//! `sys::*` through the real binary: disk space on a small tmpfs the test mounts in a private
//! mount namespace (`unshare --mount`, so nothing outlives the test), against the real
//! filesystem compared with `statvfs`, memory against /proc/meminfo, and a process by the
//! systemd unit that runs it under the real user manager.

use std::process::Command;

use crate::support::systemd::{manager, unit_name};
use crate::support::{Outcome, Sandbox};

const TMPFS_BYTES: u64 = 4 * 1024 * 1024;

/// Run `ripcord ARGS` with a fresh 4 MiB tmpfs mounted on `dir` for it alone.
fn run_on_tmpfs(sb: &Sandbox, dir: &str, args: &[&str]) -> Outcome {
    let ripcord = env!("CARGO_BIN_EXE_ripcord");
    let mut shell = format!(
        "mount -t tmpfs -o size={TMPFS_BYTES},mode=0700 tmpfs '{dir}' || exit 97; '{ripcord}'"
    );
    for a in args {
        shell.push_str(&format!(" '{a}'"));
    }
    // The tmpfs goes with the namespace: say what the run left in it before it does.
    shell.push_str(&format!(
        "; rc=$?; echo \"left in {dir}: [$(ls -A '{dir}')]\" >&2; exit $rc"
    ));
    let template = sb.command(&[]);
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &shell])
        .current_dir(sb.path());
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("run unshare");
    let outcome = Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(
        outcome.code, 97,
        "these tests mount a tmpfs in a private mount namespace and need root (or CAP_SYS_ADMIN) for it: {}",
        outcome.stderr
    );
    outcome
}

#[test]
fn disk_on_a_small_tmpfs_reports_its_size_and_what_a_file_takes() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("small")).unwrap();
    sb.write(
        "disk.rhai",
        r#"let before = sys::disk("small");
let blob = "";
blob.pad(1048576, 'x');
fs::write("small/blob", blob);
let after = sys::disk("small/blob");
#{ before: before, after: after }
"#,
    );
    let out = run_on_tmpfs(&sb, "small", &["run", "disk.rhai", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json = out.json();
    let (before, after) = (&json["result"]["before"], &json["result"]["after"]);
    assert_eq!(before["total"], TMPFS_BYTES);
    assert_eq!(before["free"], TMPFS_BYTES);
    assert_eq!(before["available"], TMPFS_BYTES);
    assert_eq!(before["used"], 0);
    assert_eq!(before["used_pct"], 0.0);
    assert_eq!(before["path"], "small");
    // tmpfs charges whole pages: one MiB of data is exactly 256 pages of 4 KiB.
    assert_eq!(after["used"], 1024 * 1024);
    assert_eq!(after["available"], TMPFS_BYTES - 1024 * 1024);
    assert_eq!(after["used_pct"], 25.0);
}

#[test]
fn ensure_free_refuses_a_backup_larger_than_the_free_space_before_writing() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("backups")).unwrap();
    // A 6 MiB database does not fit a 4 MiB filesystem.
    let db = sb.join("cortex.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE blobs(b BLOB);").unwrap();
    for _ in 0..6 {
        conn.execute("INSERT INTO blobs VALUES (zeroblob(1048576))", [])
            .unwrap();
    }
    drop(conn);
    sb.write(
        "backup.rhai",
        r#"step "Backup" {
    sys::ensure_free("backups", fs::size("cortex.db"));
    db::backup("cortex.db", "backups/cortex.db");
}
"#,
    );
    let out = run_on_tmpfs(&sb, "backups", &["run", "backup.rhai"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("not enough space in backups for the copy: 6.0 MB needed, 4.0 MB available (of 4.0 MB, 0% used)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "help: free at least 2.0 MB there, or write to a folder on another filesystem"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("left in backups: []"),
        "the backup must not start: {}",
        out.stderr
    );
}

#[test]
fn disk_of_the_real_filesystem_matches_statvfs_and_a_missing_path_is_named() {
    let sb = Sandbox::new();
    sb.write("disk.rhai", "sys::disk(\".\")\n");
    let out = sb.test().args(["run", "disk.rhai", "--json"]).run();
    let got = &out.json()["result"];
    let path = std::ffi::CString::new(sb.path().to_str().unwrap()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    let block = st.f_frsize as u64;
    assert_eq!(got["total"], st.f_blocks as u64 * block);
    // Other processes write to this filesystem meanwhile: free space agrees within 256 MiB.
    let available = got["available"].as_u64().unwrap();
    let expected = st.f_bavail as u64 * block;
    assert!(
        available.abs_diff(expected) < 256 << 20,
        "{available} vs {expected}"
    );
    assert_eq!(
        got["used"].as_u64().unwrap() + got["free"].as_u64().unwrap(),
        got["total"].as_u64().unwrap()
    );

    sb.write("missing.rhai", "sys::disk(\"no/such/dir\")\n");
    sb.test()
        .args(["run", "missing.rhai"])
        .status(1)
        .stderr_contains(
            "sys::disk: cannot read the filesystem of no/such/dir: No such file or directory",
        )
        .run();
}

#[test]
fn memory_load_and_uptime_agree_with_proc() {
    let sb = Sandbox::new();
    sb.write(
        "host.rhai",
        "#{ mem: sys::memory(), load: sys::load(), up: sys::uptime() }\n",
    );
    let out = sb
        .test()
        .args(["run", "host.rhai", "--json", "--dry-run"])
        .run();
    let got = &out.json()["result"];
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(got["mem"]["total"], total_kb * 1024);
    let used = got["mem"]["used"].as_u64().unwrap();
    assert!(used > 0 && used < total_kb * 1024, "{used}");
    assert!(got["load"]["one"].as_f64().unwrap() >= 0.0);
    assert!(got["load"]["cpus"].as_u64().unwrap() >= 1);
    let up: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let reported = got["up"]["secs"].as_f64().unwrap();
    assert!(
        up - reported >= 0.0 && up - reported < 120.0,
        "{reported} vs {up}"
    );
    assert!(got["up"]["since"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn process_by_unit_reads_the_units_main_process_and_a_stopped_unit_is_an_error() {
    let mgr = manager();
    let sb = Sandbox::new();
    let unit = mgr.install(
        &unit_name("sysproc"),
        "[Service]\nExecStart=/bin/sleep 600\n",
    );
    sb.write("ripcord.toml", "[service]\nscope = \"user\"\n");
    sb.write(
        "proc.rhai",
        "//! process\n//! @param unit\nlet s = service::status(unit);\nlet p = sys::process(unit);\n#{ pid: s.main_pid, p: p }\n",
    );
    let arg = format!("unit={}", unit.name);

    mgr.test(&sb)
        .args(["run", "proc.rhai", "-p", &arg])
        .status(1)
        .stderr_contains(format!(
            "sys::process: {} has no main process: it is inactive (dead)",
            unit.name
        ))
        .run();

    assert_eq!(mgr.systemctl(&["start", &unit.name]).code, 0);
    let out = mgr
        .test(&sb)
        .args(["run", "proc.rhai", "-p", &arg, "--json"])
        .run();
    let got = &out.json()["result"];
    assert_eq!(got["p"]["pid"], got["pid"]);
    assert_eq!(got["p"]["name"], "sleep");
    assert!(got["p"]["rss"].as_u64().unwrap() > 0);
    assert_eq!(got["p"]["threads"], 1);
}
