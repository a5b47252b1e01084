//! The Ansible collection (`ansible/ansible_collections/ripcord/fleet`) driving real hosts.
//!
//! Each fake host is a real `sshd -D` on 127.0.0.1, inside its own UTS, mount and PID namespace
//! (`unshare`, so it needs root, as CI has): its own hostname (fakeN, ripcord's default host
//! id), a private tmpfs over `/root` (its own ripcord state: journal, locks) and key-only root
//! login with keys made by the test. The controller is the pinned ansible-core in a venv that
//! `ansible/setup` creates once. Killing a host's `unshare` ends its namespace and every
//! process in it.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The test runbook every host runs: a change, and on request a failure, a confirm, a held lock
/// or nothing at all.
const WORK: &str = r#"//! A fleet test runbook: writes a marker; fails, confirms, holds the lock or does nothing.
//! @param out: the file to write
//! @param mode = "ok": ok, fail, confirm, hold or noop
//! @allow mode in ok | fail | confirm | hold | noop
//! @param release = "": with mode hold, the file whose appearance ends the run

lock("fleet");
if mode == "hold" {
    step "hold" {
        fs::write(`${out}.held`, "held");
        while !fs::exists(release) { time::sleep(1); }
    }
} else if mode != "noop" {
    step "write" { fs::write(out, "done"); }
    if mode == "confirm" {
        step "approve" {
            confirm("Roll the fleet test forward?");
            fs::write(`${out}.approved`, "yes");
        }
    }
    if mode == "fail" {
        step "break" { fail("asked to fail"); }
    }
}
"#;

const APPROVALS: &str = "[[approval]]\nconfirm = \"Roll the fleet test forward?\"\napprover = \"alice\"\nticket = \"CHG-7\"\n";

/// Generous: the machine running the tests may be loaded.
const DEADLINE: Duration = Duration::from_secs(60);

/// N fake hosts and a controller set up to reach them.
struct Fleet {
    dir: TempDir,
    hosts: Vec<Child>,
    ansible_bin: PathBuf,
}

/// A finished `ansible-playbook`.
struct Played {
    code: i32,
    stdout: String,
}

impl Fleet {
    fn start(n: usize) -> Fleet {
        let dir = tempfile::tempdir().expect("temp dir");
        let ansible_bin = ansible_venv();
        keygen(&dir.path().join("client_key"));
        keygen(&dir.path().join("host_key"));
        fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .expect("authorized_keys");
        // sshd's privilege-separation folder, shared by all the hosts.
        fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let binary = dir.path().join("ripcord");
        // A stripped copy: the role copies it to every host, and a debug build is large.
        let strip = Command::new("strip")
            .arg("-o")
            .arg(&binary)
            .arg(env!("CARGO_BIN_EXE_ripcord"))
            .status()
            .expect("run strip (binutils)");
        assert!(strip.success(), "strip failed");
        fs::create_dir_all(dir.path().join("scripts")).expect("scripts");
        fs::write(dir.path().join("scripts/work.rhai"), WORK).expect("runbook");
        let mut fleet = Fleet {
            dir,
            hosts: Vec::new(),
            ansible_bin,
        };
        let mut ports = Vec::new();
        for i in 1..=n {
            let port = free_port();
            fleet.hosts.push(fleet.spawn_host(i, port));
            ports.push(port);
        }
        for (i, port) in ports.iter().enumerate() {
            wait_for_ssh(*port, &fleet.path().join(format!("sshd{}.log", i + 1)));
        }
        fleet.write_inventory(&ports);
        fleet
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Host `i`'s ripcord home (bin, scripts, approvals, exports), on the shared /tmp.
    fn home(&self, i: usize) -> PathBuf {
        self.path().join(format!("h{i}"))
    }

    fn spawn_host(&self, i: usize, port: u16) -> Child {
        let d = self.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nPidFile none\nSubsystem sftp internal-sftp\n"
        );
        let conf = self.path().join(format!("sshd{i}.conf"));
        fs::write(&conf, config).expect("sshd config");
        let script = format!(
            "hostname fake{i} && mount -t tmpfs -o mode=0700 tmpfs /root && exec /usr/sbin/sshd -D -e -f {}",
            conf.display()
        );
        let log = fs::File::create(self.path().join(format!("sshd{i}.log"))).expect("log");
        Command::new("unshare")
            .args([
                "--uts",
                "--mount",
                "--pid",
                "--mount-proc",
                "--propagation",
                "private",
                "--fork",
                "--kill-child",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start a fake host (unshare needs root)")
    }

    fn write_inventory(&self, ports: &[u16]) {
        let d = self.path().display();
        let mut ini = String::from("[fleet]\n");
        for (i, port) in ports.iter().enumerate() {
            let n = i + 1;
            ini.push_str(&format!(
                "fake{n} ansible_port={port} ripcord_home={d}/h{n}\n"
            ));
        }
        ini.push_str(&format!(
            "[fleet:vars]\nansible_host=127.0.0.1\nansible_user=root\n\
             ansible_ssh_private_key_file={d}/client_key\nansible_python_interpreter=auto_silent\n\
             ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
        ));
        fs::write(self.path().join("hosts.ini"), ini).expect("inventory");
    }

    /// Settings shared by every play: the runbook folder, the binary, the results folder.
    fn vars(&self, correlation: &str, extra: &str) -> PathBuf {
        let d = self.path().display();
        let vars = format!(
            "ripcord_binary_src: {d}/ripcord\nripcord_scripts_src: {d}/scripts\n\
             ripcord_runbook: work\nripcord_correlation_id: {correlation}\n\
             ripcord_results_dir: {d}/results/{correlation}\nripcord_lock_delay: 1\n\
             ripcord_lock_retries: 60\n\
             ripcord_params:\n  out: \"{{{{ ripcord_home }}}}/marker\"\n  mode: \"{{{{ work_mode | default('ok') }}}}\"\n{extra}"
        );
        let path = self.path().join(format!("{correlation}.yml"));
        fs::write(&path, vars).expect("vars");
        path
    }

    /// `ansible-playbook` of a playbook of the collection, with the vars file and `-e` args.
    fn playbook(&self, playbook: &str, vars: &Path, args: &[&str]) -> Command {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cmd = Command::new(self.ansible_bin.join("ansible-playbook"));
        cmd.arg("-i")
            .arg(self.path().join("hosts.ini"))
            .arg(playbook)
            .arg("-e")
            .arg(format!("@{}", vars.display()))
            .args(args)
            .current_dir(self.path())
            .env("ANSIBLE_COLLECTIONS_PATH", repo.join("ansible"))
            .env("ANSIBLE_CONFIG", self.path().join("none.cfg"))
            .env("ANSIBLE_HOME", self.path().join("ansible-home"))
            .env("ANSIBLE_LOCAL_TEMP", self.path().join("ansible-tmp"))
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", self.path().join("cp"))
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .stdin(Stdio::null());
        cmd
    }

    fn play(&self, playbook: &str, vars: &Path, args: &[&str]) -> Played {
        let out = self
            .playbook(playbook, vars, args)
            .output()
            .expect("run ansible-playbook");
        Played {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        }
    }

    /// Host `name`'s result as the role kept it on the controller, if it ran.
    fn result(&self, correlation: &str, name: &str) -> Option<Value> {
        let path = self
            .path()
            .join(format!("results/{correlation}/{name}.json"));
        let text = fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("result JSON"))
    }

    fn export(&self, correlation: &str, name: &str) -> PathBuf {
        self.path()
            .join(format!("results/{correlation}/{name}.journal.db"))
    }

    /// The fetched journals of `hosts` merged into one fleet journal on the controller.
    fn merge(&self, correlation: &str, hosts: &[&str]) -> PathBuf {
        let merged = self.path().join(format!("{correlation}.fleet.db"));
        let mut args = vec![
            "journal".to_string(),
            "merge".to_string(),
            merged.display().to_string(),
        ];
        args.extend(
            hosts
                .iter()
                .map(|h| self.export(correlation, h).display().to_string()),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, text) = self.ripcord(&merged, &args);
        assert_eq!(code, 0, "{text}");
        merged
    }

    /// `report --fleet MERGED --hosts HOSTS --json`.
    fn fleet_report(&self, merged: &Path, hosts: &str) -> Value {
        let merged_arg = merged.display().to_string();
        let args = ["report", "--fleet", &merged_arg, "--hosts", hosts, "--json"];
        let (code, text) = self.ripcord(merged, &args);
        assert_eq!(code, 0, "{text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Run the test's ripcord on the controller against a fetched journal.
    fn ripcord(&self, journal: &Path, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .args(args)
            .env("RIPCORD_JOURNAL", journal)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run ripcord");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // `--kill-child`: the host's sshd (PID 1 of its namespace) dies with it, and so does
        // every session it started.
        for host in &mut self.hosts {
            let _ = host.kill();
            let _ = host.wait();
        }
    }
}

impl Played {
    fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "ansible-playbook exited {}, expected {code}:\n{}",
            self.code, self.stdout
        );
    }

    /// Each host's state (ok, changed, failed, skipping) in the task whose title contains `task`.
    fn task_states(&self, task: &str) -> Vec<String> {
        let Some(start) = self
            .stdout
            .find(&format!("TASK [ripcord.fleet.run : {task}"))
        else {
            return Vec::new();
        };
        let section = &self.stdout[start..];
        let body = section[1..]
            .find("TASK [")
            .map_or(section, |end| &section[..end + 1]);
        body.lines()
            .skip(1)
            .filter_map(|l| l.split_once(": [").map(|(state, _)| state.to_string()))
            .collect()
    }
}

/// The pinned ansible-core's bin folder (created once by `ansible/setup`).
fn ansible_venv() -> PathBuf {
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible/setup");
    let out = Command::new(&setup)
        .stdin(Stdio::null())
        .output()
        .expect("run ansible/setup");
    assert!(
        out.status.success(),
        "ansible/setup failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Wait until a host's sshd accepts connections.
fn wait_for_ssh(port: u16, log: &Path) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < DEADLINE,
            "sshd on port {port} did not start:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < DEADLINE,
            "{} never appeared",
            path.display()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn fleet_all_hosts_ok_in_batches_then_only_changes_are_copied() {
    let fleet = Fleet::start(3);
    let vars = fleet.vars("all-ok", "");
    let played = fleet.play("ripcord.fleet.run", &vars, &["-e", "ripcord_serial=2"]);
    played.assert_code(0);
    // serial 2: two batches (Ansible heads each with the play's name), two hosts then one.
    assert_eq!(
        played.stdout.matches("PLAY [").count(),
        2,
        "{}",
        played.stdout
    );
    assert_eq!(played.task_states("Run work").len(), 2, "{}", played.stdout);
    for i in 1..=3 {
        let name = format!("fake{i}");
        let result = fleet.result("all-ok", &name).expect("a result per host");
        assert_eq!(result["status"], "ok", "{result}");
        assert_eq!(
            result["changed"], true,
            "a run that wrote a file changed the host"
        );
        assert_eq!(
            result["result"]["host_id"],
            name.as_str(),
            "the host id is the hostname"
        );
        assert_eq!(result["result"]["correlation_id"], "all-ok");
        assert!(fleet.home(i).join("marker").exists());
        let export = fleet.export("all-ok", &name);
        let (code, text) = fleet.ripcord(&export, &["journal", "verify"]);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("hash chain intact"), "{text}");
    }
    // The fetched journals merge into one fleet journal the report reads.
    let merged = fleet.merge("all-ok", &["fake1", "fake2", "fake3"]);
    let report = fleet.fleet_report(&merged, "fake1,fake2,fake3");
    assert_eq!(report["correlation_id"], "all-ok");
    assert_eq!(report["counts"]["ok"], 3, "{report}");
    assert_eq!(report["never_touched"], serde_json::json!([]));
    // The role recorded Ansible's batches on the runs: serial 2 over 3 hosts is {1,2},{3},
    // whatever the runs' times (no guessing from overlaps).
    let batches = report["batches"].as_array().expect("batches");
    let grouped: Vec<(Vec<String>, Value)> = batches
        .iter()
        .map(|b| {
            let mut hosts: Vec<String> = b["hosts"]
                .as_array()
                .expect("hosts")
                .iter()
                .map(|h| h.as_str().expect("host id").to_string())
                .collect();
            hosts.sort();
            (hosts, b["recorded"].clone())
        })
        .collect();
    assert_eq!(
        grouped,
        [
            (
                vec!["fake1".to_string(), "fake2".to_string()],
                Value::Bool(true)
            ),
            (vec!["fake3".to_string()], Value::Bool(true))
        ],
        "serial 2 over 3 hosts: {report}"
    );
    for host in report["hosts"].as_array().expect("hosts") {
        let expected = if host["host_id"] == "fake3" { 3 } else { 1 };
        assert_eq!(host["fleet_batch"], expected, "{host}");
        assert_eq!(host["fleet_play"], "Run-work-across-all", "{host}");
    }
    let (code, text) = fleet.ripcord(
        &merged,
        &["report", "--fleet", &merged.display().to_string()],
    );
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("guessed"), "recorded batches: {text}");

    // One edited event in a fetched journal is found.
    let export = fleet.export("all-ok", "fake3");
    let conn = rusqlite::Connection::open(&export).expect("open export");
    conn.execute(
        "UPDATE events SET data = replace(data, 'marker', 'MARKER') WHERE kind = 'change.start'",
        [],
    )
    .expect("edit");
    drop(conn);
    let (code, text) = fleet.ripcord(&export, &["journal", "verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("edited"), "{text}");

    // Again with nothing to do: nothing is copied, and a run without changes is `ok`.
    let vars = fleet.vars("again", "work_mode: noop\n");
    let played = fleet.play("ripcord.fleet.run", &vars, &["-e", "ripcord_serial=3"]);
    played.assert_code(0);
    assert_eq!(played.task_states("Install the ripcord binary"), ["ok"; 3]);
    assert_eq!(played.task_states("Install the runbooks"), ["ok"; 3]);
    assert_eq!(
        played.task_states("Run work"),
        ["ok"; 3],
        "{}",
        played.stdout
    );
    let result = fleet.result("again", "fake1").expect("result");
    assert_eq!(result["changed"], false);
}

#[test]
fn fleet_failing_host_stops_the_later_batches() {
    let fleet = Fleet::start(3);
    let vars = fleet.vars("one-fails", "");
    let inventory = fleet.path().join("hosts.ini");
    let ini = fs::read_to_string(&inventory).expect("inventory");
    let ini = ini.replacen("fake2 ", "fake2 work_mode=fail ", 1);
    fs::write(&inventory, ini).expect("inventory");
    let played = fleet.play(
        "ripcord.fleet.run",
        &vars,
        &[
            "-e",
            "ripcord_serial=1",
            "-e",
            "ripcord_max_fail_percentage=0",
        ],
    );
    played.assert_code(2);
    assert_eq!(
        fleet.result("one-fails", "fake1").expect("fake1")["status"],
        "ok"
    );
    let failed = fleet.result("one-fails", "fake2").expect("fake2 ran");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["rc"], 1);
    assert!(
        fleet.export("one-fails", "fake2").exists(),
        "the failed host's journal is fetched all the same"
    );
    assert!(
        fleet.result("one-fails", "fake3").is_none(),
        "the batch after the failure never ran"
    );
    assert!(!fleet.home(3).join("marker").exists(), "fake3 was touched");
    assert!(!fleet.home(3).exists(), "nothing was installed on fake3");

    // Merged, the fleet journal verifies and the report names where the rollout stopped.
    let merged = fleet.merge("one-fails", &["fake1", "fake2"]);
    let (code, text) = fleet.ripcord(&merged, &["journal", "verify"]);
    assert_eq!(code, 0, "{text}");
    let report = fleet.fleet_report(&merged, "fake1,fake2,fake3");
    let hosts = report["hosts"].as_array().expect("hosts");
    let states: Vec<_> = hosts
        .iter()
        .map(|h| {
            (
                h["host_id"].clone(),
                h["status"].clone(),
                h["batch"].clone(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("fake1".into(), "ok".into(), 1.into()),
            ("fake2".into(), "failed".into(), 2.into())
        ],
        "{report}"
    );
    assert_eq!(hosts[1]["stopped_at"], "break");
    assert!(
        hosts[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("asked to fail")),
        "{report}"
    );
    assert_eq!(report["never_touched"], serde_json::json!(["fake3"]));
    let (code, text) = fleet.ripcord(
        &merged,
        &[
            "report",
            "--fleet",
            &merged.display().to_string(),
            "--hosts",
            "fake1,fake2,fake3",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("never touched"), "{text}");

    // One edited event in the merged journal fails `journal verify`.
    let conn = rusqlite::Connection::open(&merged).expect("open merged");
    conn.execute(
        "UPDATE events SET data = replace(data, 'asked to fail', 'all fine') WHERE kind = 'run.end'",
        [],
    )
    .expect("edit");
    drop(conn);
    let (code, text) = fleet.ripcord(&merged, &["journal", "verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("edited"), "{text}");
}

#[test]
fn fleet_usage_error_stops_every_host() {
    let fleet = Fleet::start(3);
    let vars = fleet.vars("usage", "work_mode: bogus\n");
    // Even with every host allowed to fail, a usage error (the same on every host) stops all.
    let played = fleet.play(
        "ripcord.fleet.run",
        &vars,
        &[
            "-e",
            "ripcord_serial=1",
            "-e",
            "ripcord_max_fail_percentage=100",
        ],
    );
    played.assert_code(2);
    let first = fleet.result("usage", "fake1").expect("fake1 ran");
    assert_eq!(first["rc"], 2, "{first}");
    assert_eq!(first["usage"], true);
    for later in ["fake2", "fake3"] {
        assert!(fleet.result("usage", later).is_none(), "{later} ran");
    }
}

#[test]
fn fleet_confirm_is_never_answered_without_an_approval() {
    let fleet = Fleet::start(2);
    let vars = fleet.vars("unapproved", "work_mode: confirm\n");
    let played = fleet.play("ripcord.fleet.run", &vars, &["-e", "ripcord_serial=1"]);
    played.assert_code(2);
    let first = fleet.result("unapproved", "fake1").expect("fake1 ran");
    assert_eq!(first["rc"], 3, "aborted: {first}");
    assert!(!fleet.home(1).join("marker.approved").exists());
    assert!(fleet.result("unapproved", "fake2").is_none());

    let approvals = fleet.path().join("approvals.toml");
    fs::write(&approvals, APPROVALS).expect("approvals");
    let extra = format!(
        "work_mode: confirm\nripcord_approve_src: {}\n",
        approvals.display()
    );
    let vars = fleet.vars("approved", &extra);
    let played = fleet.play("ripcord.fleet.run", &vars, &["-e", "ripcord_serial=1"]);
    played.assert_code(0);
    for i in 1..=2 {
        let name = format!("fake{i}");
        assert!(fleet.home(i).join("marker.approved").exists());
        let export = fleet.export("approved", &name);
        let run = fleet.result("approved", &name).expect("result")["result"]["run"].clone();
        let (code, text) = fleet.ripcord(&export, &["show", &run.to_string(), "--json"]);
        assert_eq!(code, 0, "{text}");
        let shown: Value = serde_json::from_str(&text).expect("show JSON");
        let prompt = shown["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|e| e["kind"] == "prompt")
            .unwrap_or_else(|| panic!("no prompt event on {name}: {shown}"));
        assert_eq!(prompt["data"]["approver"], "alice", "{prompt}");
        assert_eq!(prompt["data"]["ticket"], "CHG-7", "{prompt}");
    }
}

#[test]
fn fleet_locked_host_is_retried_until_the_lock_is_free() {
    let fleet = Fleet::start(2);
    // A run on fake2 holds the lock until the test lets it go.
    let held = fleet.home(2).join("holder");
    let release = fleet.path().join("release");
    fs::create_dir_all(fleet.home(2)).expect("home");
    let inventory = fs::read_to_string(fleet.path().join("hosts.ini")).expect("inventory");
    let port = inventory
        .lines()
        .find_map(|l| l.strip_prefix("fake2 ansible_port="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("fake2's port")
        .to_string();
    let holder = format!(
        "setsid {} run {} -p mode=hold -p out={} -p release={} </dev/null >/dev/null 2>&1 &",
        env!("CARGO_BIN_EXE_ripcord"),
        fleet.path().join("scripts/work.rhai").display(),
        held.display(),
        release.display()
    );
    let status = Command::new("ssh")
        .args(["-p", &port, "-i"])
        .arg(fleet.path().join("client_key"))
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "root@127.0.0.1",
            &holder,
        ])
        .stdin(Stdio::null())
        .status()
        .expect("ssh");
    assert!(status.success());
    wait_for_file(&held.with_extension("held"));

    let vars = fleet.vars("locked", "");
    let mut child = fleet
        .playbook("ripcord.fleet.run", &vars, &["-e", "ripcord_serial=2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ansible-playbook");
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    // Let the holder go only once Ansible has seen the lock and is retrying.
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line.contains("FAILED - RETRYING: [fake2]") && !release.exists() {
            fs::write(&release, "go").expect("release");
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    let code = child.wait().expect("wait").code();
    assert!(release.exists(), "fake2 was never retried:\n{seen}");
    assert_eq!(code, Some(0), "{seen}");
    let result = fleet.result("locked", "fake2").expect("fake2");
    assert_eq!(result["status"], "ok", "{result}");
    assert!(result["attempts"].as_i64().unwrap_or(0) >= 2, "{result}");
    assert_eq!(
        fleet.result("locked", "fake1").expect("fake1")["attempts"],
        1
    );
}

#[test]
fn fleet_shipped_playbooks_parse() {
    let fleet = Fleet::start(0);
    let vars = fleet.vars("syntax", "target: v1\nreason: test\n");
    for playbook in [
        "ripcord.fleet.rollback",
        "ripcord.fleet.drill",
        "ripcord.fleet.run",
    ] {
        let played = fleet.play(playbook, &vars, &["--syntax-check"]);
        played.assert_code(0);
    }
}
