#!/usr/bin/python
# -*- coding: utf-8 -*-
# Licensed MIT OR Apache-2.0, like ripcord itself.
"""Run one ripcord runbook on the managed host and map its exit code to Ansible's states."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ripcord_run
short_description: Run a ripcord runbook and report it as ok, changed or failed
description:
  - Runs C(ripcord run NAME --json) on the managed host, without a terminal, and reads the JSON
    result object.
  - "Exit codes map to task states: 0 is ok (C(changed) when the run made a change), 1 (failed),
    3 (aborted: a confirm without an approval) and 130 (interrupted) fail the host, so they count
    toward C(max_fail_percentage); 2 (usage: the same mistake on every host) fails with
    C(usage=true) so a role can stop the whole play; 4 (another run holds the lock) fails with
    C(locked=true) so a task can retry it with C(until)."
  - A confirm() is never answered yes by this module; pass O(approve) (an approval file on the
    host) for the confirms that were approved. Any other confirm aborts the run (exit 3).
  - In check mode the runbook runs with C(--dry-run): reads and probes for real, changes simulated.
version_added: 0.1.0
options:
  runbook:
    description: The runbook's name on the script path, or its path.
    type: str
    required: true
  binary:
    description: The ripcord executable on the host.
    type: path
    default: ripcord
  params:
    description: The runbook's params, each passed as C(-p NAME=VALUE).
    type: dict
    default: {}
  scripts:
    description: Folders to find runbooks in (C(--scripts), repeatable).
    type: list
    elements: path
    default: []
  journal:
    description: The journal file (default ripcord's own, C($XDG_STATE_HOME/ripcord/journal.db)).
    type: path
  config:
    description: The config file the runbook sees as C(cfg).
    type: path
  host_id:
    description: This host's id in the fleet (default the host's hostname).
    type: str
  correlation_id:
    description: The fleet run this run belongs to, recorded on every host's run.
    type: str
  fleet_batch:
    description:
      - The orchestrator's batch this run is in (C(--fleet-batch)), recorded on the run; the same
        number for every host of a batch, larger for later ones. C(ripcord report --fleet) groups
        hosts by it.
    type: int
  fleet_play:
    description: The play whose batches I(fleet_batch) counts (C(--fleet-play)), recorded on the run.
    type: str
  approve:
    description: An approval file on the host (exact confirm messages, approver, ticket).
    type: path
  timeout:
    description: Stop the run after this long (e.g. C(10m)); the run then fails.
    type: str
  events:
    description: Append one JSON line per step, change and prompt to this file on the host.
    type: path
  drill:
    description: Run C(ripcord drill) instead of C(ripcord run) (every change simulated).
    type: bool
    default: false
  environment:
    description: Extra environment variables for ripcord (e.g. C(XDG_STATE_HOME)).
    type: dict
    default: {}
author:
  - ripcord maintainers
"""

EXAMPLES = r"""
- name: Roll back to the known-good commit
  ripcord.fleet.ripcord_run:
    runbook: rollback
    params: {option: git, target: v1.4.2, reason: "CHG-1234 gateway errors"}
    correlation_id: rollback-chg-1234
    approve: /etc/ripcord/approvals.toml
  register: rollback
  until: not rollback.locked
  retries: 5
  delay: 10
"""

RETURN = r"""
rc:
  description: ripcord's exit code.
  type: int
  returned: always
status:
  description: The run's status (ok, failed, timed out, usage, aborted, locked, interrupted).
  type: str
  returned: always
locked:
  description: True when another run held the lock (exit 4); retry the task.
  type: bool
  returned: always
usage:
  description: True for exit 2 (a usage, parse, check or param error: nothing ran).
  type: bool
  returned: always
result:
  description: The whole C(--json) result object (docs/json.md, definition C(run)).
  type: dict
  returned: when ripcord printed one
run_uuid:
  description: The run's UUID, unique across every host's journal.
  type: str
  returned: when a run started
changes:
  description: The changes the run made (or simulated in check mode), as step, function, summary.
  type: list
  returned: always
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

# ripcord's documented exit codes (README, SPEC).
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_LOCKED = 4
STATUS_BY_CODE = {0: "ok", 1: "failed", 2: "usage", 3: "aborted", 4: "locked", 130: "interrupted"}


def command_line(module):
    """The ripcord command for the module's options (a list: no shell, no quoting issues)."""
    p = module.params
    cmd = [p["binary"], "drill" if p["drill"] else "run", p["runbook"], "--json"]
    for name, value in sorted(p["params"].items()):
        cmd += ["-p", "%s=%s" % (name, to_param(value))]
    for folder in p["scripts"]:
        cmd += ["--scripts", folder]
    for option, flag in (
        ("config", "--config"),
        ("host_id", "--host-id"),
        ("correlation_id", "--correlation-id"),
        ("fleet_play", "--fleet-play"),
        ("approve", "--approve"),
        ("timeout", "--timeout"),
    ):
        if p[option]:
            cmd += [flag, p[option]]
    if p["fleet_batch"] is not None:
        cmd += ["--fleet-batch", str(p["fleet_batch"])]
    if p["events"]:
        cmd += ["--events", "ndjson=%s" % p["events"]]
    if module.check_mode and not p["drill"]:
        cmd.append("--dry-run")
    return cmd


def to_param(value):
    """A param value as ripcord reads it: booleans lower-case, everything else as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def changes_of(result):
    """Every change the run made (or, in a dry run or drill, simulated)."""
    found = []
    for step in (result or {}).get("steps") or []:
        for change in step.get("changes") or []:
            found.append(
                {
                    "step": step.get("name"),
                    "function": change.get("function"),
                    "summary": change.get("summary"),
                    "outcome": change.get("outcome"),
                }
            )
    return found


def parse(stdout):
    """The JSON result object, or None when ripcord printed something else."""
    try:
        value = json.loads(stdout)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            runbook=dict(type="str", required=True),
            binary=dict(type="path", default="ripcord"),
            params=dict(type="dict", default={}),
            scripts=dict(type="list", elements="path", default=[]),
            journal=dict(type="path"),
            config=dict(type="path"),
            host_id=dict(type="str"),
            correlation_id=dict(type="str"),
            fleet_batch=dict(type="int"),
            fleet_play=dict(type="str"),
            approve=dict(type="path"),
            timeout=dict(type="str"),
            events=dict(type="path"),
            drill=dict(type="bool", default=False),
            environment=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    env = {k: str(v) for k, v in module.params["environment"].items()}
    if module.params["journal"]:
        env["RIPCORD_JOURNAL"] = module.params["journal"]
    # Never a terminal: a confirm() without an approval must abort, not wait for a keypress.
    env["NO_COLOR"] = "1"
    cmd = command_line(module)
    rc, stdout, stderr = module.run_command(cmd, environ_update=env)
    result = parse(stdout)
    status = (result or {}).get("status") or STATUS_BY_CODE.get(rc, "unknown")
    changes = changes_of(result)
    made = [c for c in changes if c["outcome"] in ("made", "simulated" if module.check_mode else "made")]
    error = (result or {}).get("error") or {}
    out = dict(
        cmd=cmd,
        rc=rc,
        status=status,
        locked=rc == EXIT_LOCKED,
        usage=rc == EXIT_USAGE,
        result=result,
        run_uuid=(result or {}).get("run_uuid"),
        changes=changes,
        stderr=stderr,
        changed=bool(made),
    )
    if rc == EXIT_OK:
        module.exit_json(**out)
    message = error.get("message") or stderr.strip() or "ripcord exited %d" % rc
    if error.get("help"):
        message += " (help: %s)" % error["help"]
    module.fail_json(msg="ripcord %s: %s" % (status, message), **out)


if __name__ == "__main__":
    main()
