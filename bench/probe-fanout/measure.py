"""Time each way of probing the endpoints, in the same run, and print medians.

Usage: measure.py RIPCORD PORTS_FILE WORKDIR ROUNDS SEQUENTIAL_ROUNDS
"""
import json
import os
import statistics
import subprocess
import sys
import time

ripcord, ports_file, work, rounds, seq_rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
urls = [f"http://127.0.0.1:{p.strip()}/health" for p in open(ports_file) if p.strip()]
os.chdir(work)

with open("single.rhai", "w") as f:
    f.write(f'//! One probe.\nstep "probe" {{\n    let r = probe::http("{urls[0]}");\n    if !r.ok {{ throw r.error; }}\n}}\n')
with open("all.rhai", "w") as f:
    listed = ", ".join(f'"{u}"' for u in urls)
    f.write(
        f'//! All probes.\nstep "probe" {{\n    let rs = probe::all([{listed}]);\n'
        '    let down = rs.filter(|r| !r.ok);\n'
        '    if down.len() > 0 { throw `${down.len()} down: ${down[0].error}`; }\n}\n'
    )
with open("urls.txt", "w") as f:
    f.write("\n".join(urls) + "\n")


def wall(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, **kw)
    return (time.perf_counter() - start) * 1000


def ripcord_run(script):
    start = time.perf_counter()
    out = subprocess.run([ripcord, "run", script, "--json"], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    total = (time.perf_counter() - start) * 1000
    step = json.loads(out.stdout)["steps"][0]["ms"]
    return total, step


results = {}


def record(name, value):
    results.setdefault(name, []).append(value)


for _ in range(rounds):
    total, step = ripcord_run("single.rhai")
    record("ripcord probe::http, 1 endpoint (step)", step)
    record("ripcord probe::http, 1 endpoint (process)", total)
    total, step = ripcord_run("all.rhai")
    record(f"ripcord probe::all, {len(urls)} endpoints (step)", step)
    record(f"ripcord probe::all, {len(urls)} endpoints (process)", total)
    record(f"xargs -P {len(urls)} curl, {len(urls)} endpoints", wall(
        f"xargs -P {len(urls)} -n 1 curl -s -o /dev/null --max-time 10 < urls.txt", shell=True))
    record("curl, 1 endpoint", wall(["curl", "-s", "-o", "/dev/null", urls[0]]))
for _ in range(seq_rounds):
    record(f"sequential curl loop, {len(urls)} endpoints", wall(
        "while read -r u; do curl -s -o /dev/null --max-time 10 \"$u\"; done < urls.txt", shell=True, executable="/bin/bash"))

med = {k: statistics.median(v) for k, v in results.items()}
print(f"{'what':<48} {'runs':>5} {'median ms':>10}")
for k, v in results.items():
    print(f"{k:<48} {len(v):>5} {med[k]:>10.1f}")
single = med["ripcord probe::http, 1 endpoint (step)"]
fan = med[f"ripcord probe::all, {len(urls)} endpoints (step)"]
ratio = fan / single
print(f"\nprobe::all / single probe (step times): {ratio:.2f}x  (goal: <= 1.5x) -> {'met' if ratio <= 1.5 else 'NOT met'}")
