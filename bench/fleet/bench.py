"""ripcord across a fleet of fake hosts, against running the same runbook host after host.

Each fake host is `sshd -D` on 127.0.0.1 inside its own UTS and mount namespace (`unshare`,
root needed), with its own hostname (fakeN) and a tmpfs over /root (its own journal and locks),
as tests/fleet_ansible.rs starts them, but sharing the PID namespace: each host's Cortex
service (below) is started from the controller and stopped and started by the runbook on the
host, through its pidfile. The controller is the pinned ansible-core (ansible/setup).

Per round:
1. fleet: `ansible-playbook ripcord.fleet.run` with `serial: SERIAL` over HOSTS hosts (the role
   installs the binary and runbooks, runs the runbook, keeps the result and fetches the journal
   export); wall time. The exports are merged (`journal merge`) and `report --fleet` gives each
   host's run duration as ripcord journaled it.
2. local: the same runbook run HOSTS times one after another on this machine (one journal per
   run, as on separate hosts); wall time. And, for scale, the same over plain ssh, host after
   host (a shell loop), against the fake hosts.
A host's time in the fleet is its batch's wall time (fleet wall / ceil(HOSTS / SERIAL)): the hosts
of a batch run in parallel and the next batch waits for them. ripcord's share of it is its run's
own duration; the rest is Ansible (connections, module transfer, the role's other tasks).

The runbook is the shipped `rollback` (option git, target v1.4.2), on every host against its own
demo sandbox as the runbook tests build it (`ripcord demo --setup-only --backend process`: a
WAL SQLite DB, a git checkout built with make, the HTTP service as a process): safety checklist,
stop, reset and rebuild, start, verify. Its one `confirm` is answered by a per-host approval file
(`--approve`; the message names the host's repository and commit), on both sides.

Usage: bench.py RIPCORD_BINARY ANSIBLE_BIN_DIR COLLECTIONS_DIR (bench/fleet/run calls it).
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BIN, ANSIBLE_BIN, COLLECTIONS = sys.argv[1], sys.argv[2], sys.argv[3]
RUNS = int(os.environ.get("RUNS", "3"))
HOSTS = int(os.environ.get("HOSTS", "20"))
SERIAL = int(os.environ.get("SERIAL", "5"))
# The role's tasks a host executes on a run where nothing new is installed (folders, binary,
# runbooks, approval file, config, results folder, run, keep the result, clear, export, fetch);
# two more are skipped.
ROLE_TASKS = 11
PARAMS = {"option": "git", "target": "v1.4.2", "reason": "fleet bench"}


def sandbox(work, root):
    """A demo sandbox at `root` (service started), with its approval file; (config, approvals)."""
    env = dict(os.environ, NO_COLOR="1", XDG_STATE_HOME=os.path.join(work, "setup-state"))
    subprocess.run([BIN, "--journal", "off", "demo", "--setup-only", "--dir", root, "--backend",
                    "process"], check=True, env=env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = os.path.join(root, "ripcord.toml")
    # The confirms a real run stops at, as the dry run lists them.
    out = subprocess.run(
        [BIN, "--journal", "off", "--scripts", os.path.join(root, "scripts"), "run", "rollback",
         "--config", config, "--dry-run", "--json"]
        + [a for k, v in PARAMS.items() for a in ("-p", f"{k}={v}")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    gates = json.loads(out.stdout).get("gates") or []
    if not gates:
        raise SystemExit(f"the dry run of rollback in {root} listed no confirm:\n{out.stdout}{out.stderr}")
    approvals = os.path.join(root, "approvals.toml")
    fd = os.open(approvals, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        for g in gates:
            f.write(f"[[approval]]\nconfirm = {json.dumps(g['message'])}\n"
                    "approver = \"bench\"\nticket = \"BENCH-1\"\n")
    return config, approvals


def stop_services(work):
    """Stop every sandbox's service this bench started (its pidfile; it runs in its own session)."""
    for base, _, files in os.walk(work):
        if "cortex.pid" in files:
            try:
                with open(os.path.join(base, "cortex.pid")) as f:
                    pid = int(f.read().split()[0])
                os.killpg(pid, 15)
            except (OSError, ValueError, IndexError):
                pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)


def start_hosts(work):
    keygen(os.path.join(work, "client_key"))
    keygen(os.path.join(work, "host_key"))
    shutil.copy(os.path.join(work, "client_key.pub"), os.path.join(work, "authorized_keys"))
    os.makedirs("/run/sshd", exist_ok=True)
    hosts, ports = [], []
    for i in range(1, HOSTS + 1):
        port = free_port()
        conf = os.path.join(work, f"sshd{i}.conf")
        with open(conf, "w") as f:
            f.write(
                f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work}/host_key\n"
                f"AuthorizedKeysFile {work}/authorized_keys\nPermitRootLogin prohibit-password\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                "StrictModes no\nPidFile none\nSubsystem sftp internal-sftp\nMaxStartups 100\n"
            )
        script = (f"hostname fake{i} && mount -t tmpfs -o mode=0700 tmpfs /root && "
                  f"exec /usr/sbin/sshd -D -e -f {conf}")
        log = open(os.path.join(work, f"sshd{i}.log"), "w")
        hosts.append(subprocess.Popen(
            ["unshare", "--uts", "--mount", "--propagation", "private", "--fork", "--kill-child",
             "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log))
        ports.append(port)
    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"sshd on port {port} did not start")
                time.sleep(0.05)
    with open(os.path.join(work, "hosts.ini"), "w") as f:
        f.write("[fleet]\n")
        for i, port in enumerate(ports, 1):
            f.write(f"fake{i} ansible_port={port} ripcord_home={work}/h{i} "
                    f"ripcord_config_src={work}/h{i}/cortex/ripcord.toml "
                    f"ripcord_approve_src={work}/h{i}/cortex/approvals.toml\n")
        f.write(
            f"[fleet:vars]\nansible_host=127.0.0.1\nansible_user=root\n"
            f"ansible_ssh_private_key_file={work}/client_key\n"
            "ansible_python_interpreter=auto_silent\n"
            "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n")
    return hosts, ports


def play(work, correlation):
    with open(os.path.join(work, f"{correlation}.yml"), "w") as f:
        f.write(
            f"ripcord_binary_src: {work}/ripcord\nripcord_scripts_src: {work}/scripts\n"
            f"ripcord_runbook: rollback\nripcord_correlation_id: {correlation}\n"
            f"ripcord_results_dir: {work}/results/{correlation}\n"
            f"ripcord_params: {json.dumps(PARAMS)}\n")
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(work, "none.cfg"),
        ANSIBLE_HOME=os.path.join(work, "ansible-home"),
        ANSIBLE_LOCAL_TEMP=os.path.join(work, "ansible-tmp"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(work, "cp"), ANSIBLE_PIPELINING="True",
        ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    out = subprocess.run(
        [os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", os.path.join(work, "hosts.ini"),
         "ripcord.fleet.run", "-e", f"@{work}/{correlation}.yml", "-e", f"ripcord_serial={SERIAL}"],
        cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(f"ansible-playbook exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return wall


def fleet_report(work, correlation):
    results = os.path.join(work, "results", correlation)
    merged = os.path.join(work, f"{correlation}.fleet.db")
    exports = [os.path.join(results, f"fake{i}.journal.db") for i in range(1, HOSTS + 1)]
    subprocess.run([BIN, "journal", "merge", merged] + exports, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([BIN, "--journal", merged, "journal", "verify"], check=True,
                   stdout=subprocess.DEVNULL)
    hosts = ",".join(f"fake{i}" for i in range(1, HOSTS + 1))
    out = subprocess.run([BIN, "report", "--fleet", merged, "--hosts", hosts, "--json"],
                         check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    assert report["counts"]["ok"] == HOSTS, report["counts"]
    return report


def local(work, round_no):
    env = dict(os.environ, NO_COLOR="1", XDG_STATE_HOME=os.path.join(work, "local-state"))
    start = time.monotonic()
    for i in range(1, HOSTS + 1):
        home = os.path.join(work, "local", f"h{i}")
        subprocess.run(
            [BIN, "--journal", os.path.join(home, f"journal-{round_no}.db"), "--scripts",
             os.path.join(work, "scripts"), "run", "rollback", "--host-id", f"local{i}",
             "--config", f"{home}/cortex/ripcord.toml", "--approve",
             f"{home}/cortex/approvals.toml"]
            + [a for k, v in PARAMS.items() for a in ("-p", f"{k}={v}")],
            check=True, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def ssh_loop(work, ports, round_no):
    """The same runbook host after host over plain ssh, as an operator's shell loop would."""
    start = time.monotonic()
    for i, port in enumerate(ports, 1):
        home = f"{work}/h{i}"
        subprocess.run(
            ["ssh", "-p", str(port), "-i", f"{work}/client_key", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1",
             f"{home}/bin/ripcord --scripts {home}/scripts run rollback "
             f"--config {home}/cortex/ripcord.toml --approve {home}/cortex/approvals.toml "
             "-p option=git -p target=v1.4.2 -p 'reason=fleet bench'"],
            check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def spread(values):
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main():
    work = tempfile.mkdtemp(prefix="ripcord-fleet-bench-")
    hosts = []
    try:
        subprocess.run(["strip", "-o", os.path.join(work, "ripcord"), BIN], check=True)
        for i in range(1, HOSTS + 1):
            for side in (f"h{i}", f"local/h{i}"):
                sandbox(work, os.path.join(work, side, "cortex"))
        # The shipped runbooks, as the sandboxes hold them.
        shutil.copytree(os.path.join(work, "h1", "cortex", "scripts"), os.path.join(work, "scripts"))
        hosts, ports = start_hosts(work)
        print(f"{HOSTS} fake hosts up; warm-up play (installs the binary and runbooks)...",
              flush=True)
        play(work, "warmup")
        rows = []
        for r in range(1, RUNS + 1):
            corr = f"bench-{r}"
            wall = play(work, corr)
            report = fleet_report(work, corr)
            seen = len(report["batches"])
            assert all(b["recorded"] for b in report["batches"]), report["batches"]
            batches = -(-HOSTS // SERIAL)
            runs_ms = [h["duration_ms"] for h in report["hosts"]]
            seq = local(work, r)
            over_ssh = ssh_loop(work, ports, r)
            slot = wall / batches
            run_s = statistics.median(runs_ms) / 1000
            row = dict(fleet=wall, local=seq, ratio=wall / seq, ssh=over_ssh, slot=slot,
                       run=run_s, share=run_s / slot,
                       per_task=(slot - run_s) / ROLE_TASKS)
            rows.append(row)
            print(f"round {r}: fleet {wall:.2f} s ({batches} batches; {seen} recorded in the journal), "
                  f"local x{HOSTS} {seq:.2f} s, ratio {row['ratio']:.2f}, ssh loop {over_ssh:.2f} s; "
                  f"per host: slot {slot:.2f} s, ripcord run {run_s:.3f} s "
                  f"({100 * row['share']:.1f}%), Ansible per task {row['per_task']:.2f} s",
                  flush=True)
        print()
        print(f"{HOSTS} hosts, serial {SERIAL}, {RUNS} rounds; median (min, max):")
        print(f"  fleet rollback through Ansible, wall s   {spread([r['fleet'] for r in rows])}")
        print(f"  {HOSTS} sequential local runs, wall s       {spread([r['local'] for r in rows])}")
        print(f"  fleet / sequential                       {spread([r['ratio'] for r in rows])}")
        print(f"  {HOSTS} runs one after another over ssh, s  {spread([r['ssh'] for r in rows])}")
        print(f"  a host's slot (fleet wall / batches), s  {spread([r['slot'] for r in rows])}")
        print(f"  ripcord's own run per host, s            {spread([r['run'] for r in rows])}")
        print(f"  ripcord's share of a host's slot, %      "
              f"{spread([100 * r['share'] for r in rows])}")
        print(f"  Ansible per task ({ROLE_TASKS} tasks), s         "
              f"{spread([r['per_task'] for r in rows])}")
    finally:
        stop_services(work)
        for h in hosts:
            h.kill()
            h.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
