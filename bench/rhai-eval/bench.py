"""Time plain Rhai scripts under `ripcord run` and under two stock Rhai hosts; print one table.

Usage: bench.py RIPCORD STOCK_DEFAULT STOCK_SAME BENCH_DIR   (see ./run; RUNS sets the runs per cell)

`stock-default` is rhai with its default features (what `Engine::new()` is for a Rhai user);
`stock-same` has ripcord's rhai features. ripcord / stock-default is the issue's comparison;
ripcord / stock-same is ripcord's own cost; stock-same / stock-default is the cost of the features.
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("RUNS", "5"))
SIZES = [100_000, 200_000, 400_000]
CPU_GOAL, GROWTH_GOAL, GROWTH_STOCK_GOAL = 1.10, 4.5, 1.20
SIDES = ("default", "same", "ripcord")


def scripts(bench: Path, work: Path):
    """(name, path, kind) for every script: the fixed ones, then the growth series."""
    out = [(p.stem, p, "cpu") for p in sorted((bench / "scripts").glob("*.rhai"))]
    for template in sorted(bench.glob("*.rhai.in")):
        for n in SIZES:
            path = work / f"{template.name[:-len('.rhai.in')]}-{n // 1000}k.rhai"
            path.write_text(template.read_text().replace("@N@", str(n)))
            out.append((path.stem, path, "growth"))
    return out


def children_cpu():
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def once(cmd, env):
    """(wall seconds, CPU seconds, stdout) of one run; runs are sequential, so the children's
    rusage delta is this child's."""
    cpu0, wall0 = children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - wall0, children_cpu() - cpu0
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr}")
    return wall, cpu, done.stdout


def measure(commands, env):
    """Interleaved runs so that load on the machine hits every side alike."""
    wall = {side: [] for side in commands}
    cpu = {side: [] for side in commands}
    outputs = {}
    for _ in range(RUNS):
        for side, cmd in commands.items():
            w, c, out = once(cmd, env)
            wall[side].append(w)
            cpu[side].append(c)
            outputs[side] = out
    if len(set(outputs.values())) != 1:
        sys.exit(f"{commands['ripcord'][-1]}: outputs differ: {outputs!r}")
    return wall, cpu


def spread(ts):
    m = statistics.median(ts)
    return f"{min(ts) / m * 100 - 100:+.0f}/{max(ts) / m * 100 - 100:+.0f}%"


def verdict(name, ratio, goal):
    if name == "empty":
        return "(fixed cost)"
    return "ok" if ratio <= goal else "MISSED"


def main():
    ripcord, default, same, bench = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ, RIPCORD_JOURNAL=str(work / "journal.db"),
                   XDG_STATE_HOME=str(work / "state"), NO_COLOR="1")
        load_before = os.getloadavg()[0]
        rows, medians = [], {}
        for name, path, kind in scripts(bench, work):
            commands = {"default": [default, path], "same": [same, path],
                        "ripcord": [ripcord, "run", path]}
            wall, cpu = measure(commands, env)
            m = {side: statistics.median(cpu[side]) for side in SIDES}
            medians[name] = m
            goal = CPU_GOAL if kind == "cpu" else GROWTH_STOCK_GOAL
            rows.append((name, m, {s: spread(cpu[s]) for s in SIDES},
                         statistics.median(wall["ripcord"]) / statistics.median(wall["default"]), goal))
        load_after = os.getloadavg()[0]

    print(f"plain Rhai: `ripcord run` (journal on) vs stock rhai hosts, medians of {RUNS} interleaved runs")
    print(f"load average (1 min) before {load_before:.2f}, after {load_after:.2f}, on {os.cpu_count()} CPUs")
    print("CPU seconds (user+sys); spread = min/max against the median; ratios of medians")
    print(f"{'script':<16} {'default':>8} {'spread':>9} {'same':>8} {'spread':>9} {'ripcord':>8} "
          f"{'spread':>9} {'rc/def':>7} {'rc/same':>8} {'same/def':>9} {'wall rc/def':>12}  goal (rc/def)")
    for name, m, sp, wall_ratio, goal in rows:
        r_def, r_same = m["ripcord"] / m["default"], m["ripcord"] / m["same"]
        print(f"{name:<16} {m['default']:>8.3f} {sp['default']:>9} {m['same']:>8.3f} {sp['same']:>9} "
              f"{m['ripcord']:>8.3f} {sp['ripcord']:>9} {r_def:>6.2f}x {r_same:>7.2f}x "
              f"{m['same'] / m['default']:>8.2f}x {wall_ratio:>11.2f}x  <={goal:.2f}x {verdict(name, r_def, goal)}")
    print()
    print("growth: CPU time for 400k items / CPU time for 100k items (linear is 4x)")
    for series in sorted({n.rsplit('-', 1)[0] for n in medians if n[-1] == "k"}):
        small, big = medians[f"{series}-100k"], medians[f"{series}-400k"]
        for side in SIDES:
            g = big[side] / small[side]
            mark = "ok" if side != "ripcord" or g <= GROWTH_GOAL else "MISSED"
            print(f"  {series:<12} {side:<8} {g:>5.2f}x  (goal for ripcord <={GROWTH_GOAL}x) {mark}")


if __name__ == "__main__":
    main()
