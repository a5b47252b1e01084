"""Time plain Rhai scripts under `ripcord run` and under a stock Rhai host; print one table.

Usage: bench.py RIPCORD STOCK_HOST BENCH_DIR   (see ./run; RUNS sets the runs per cell)
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("RUNS", "5"))
SIZES = [100_000, 200_000, 400_000]
CPU_GOAL, GROWTH_GOAL, GROWTH_STOCK_GOAL = 1.10, 4.5, 1.20


def scripts(bench: Path, work: Path):
    """(name, path, kind) for every script: the fixed ones, then the growth series."""
    out = [(p.stem, p, "cpu") for p in sorted((bench / "scripts").glob("*.rhai"))]
    for template in sorted(bench.glob("*.rhai.in")):
        for n in SIZES:
            path = work / f"{template.name[:-len('.rhai.in')]}-{n // 1000}k.rhai"
            path.write_text(template.read_text().replace("@N@", str(n)))
            out.append((path.stem, path, "growth"))
    return out


def once(cmd, env):
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def measure(ripcord, stock, path, env):
    """Interleaved runs so that load on the machine hits both sides alike."""
    times = {"stock": [], "ripcord": []}
    outputs = {}
    commands = {"stock": [stock, path], "ripcord": [ripcord, "run", path]}
    for _ in range(RUNS):
        for side, cmd in commands.items():
            t, out = once(cmd, env)
            times[side].append(t)
            outputs[side] = out
    if outputs["stock"] != outputs["ripcord"]:
        sys.exit(f"{path}: outputs differ: stock {outputs['stock']!r}, ripcord {outputs['ripcord']!r}")
    return times


def spread(ts):
    m = statistics.median(ts)
    return f"{min(ts) / m * 100 - 100:+.0f}/{max(ts) / m * 100 - 100:+.0f}%"


def main():
    ripcord, stock, bench = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ, RIPCORD_JOURNAL=str(work / "journal.db"),
                   XDG_STATE_HOME=str(work / "state"), NO_COLOR="1")
        load_before = os.getloadavg()[0]
        rows, medians = [], {}
        for name, path, kind in scripts(bench, work):
            times = measure(ripcord, stock, path, env)
            s, r = statistics.median(times["stock"]), statistics.median(times["ripcord"])
            medians[name] = (s, r)
            goal = CPU_GOAL if kind == "cpu" else GROWTH_STOCK_GOAL
            rows.append((name, s, spread(times["stock"]), r, spread(times["ripcord"]), r / s, goal))
        load_after = os.getloadavg()[0]

    print(f"plain Rhai: `ripcord run` (journal on) vs a stock rhai host, medians of {RUNS}, wall time")
    print(f"load average (1 min) before {load_before:.2f}, after {load_after:.2f}, on {os.cpu_count()} CPUs")
    print(f"{'script':<18} {'stock s':>9} {'spread':>10} {'ripcord s':>10} {'spread':>10} {'ratio':>7}  goal")
    for name, s, ss, r, rs, ratio, goal in rows:
        verdict = "(fixed cost)" if name == "empty" else ("ok" if ratio <= goal else "MISSED")
        print(f"{name:<18} {s:>9.3f} {ss:>10} {r:>10.3f} {rs:>10} {ratio:>6.2f}x  <={goal:.2f}x {verdict}")
    print()
    print("growth: time for 400k items / time for 100k items (linear is 4x)")
    for series in sorted({n.rsplit('-', 1)[0] for n in medians if n[-1] == "k"}):
        small, big = medians[f"{series}-100k"], medians[f"{series}-400k"]
        for side, i in (("stock", 0), ("ripcord", 1)):
            g = big[i] / small[i]
            verdict = "ok" if side == "stock" or g <= GROWTH_GOAL else "MISSED"
            print(f"  {series:<12} {side:<8} {g:>5.2f}x  (goal for ripcord <={GROWTH_GOAL}x) {verdict}")


if __name__ == "__main__":
    main()
