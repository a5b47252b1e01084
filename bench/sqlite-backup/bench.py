"""Backup and restore of a WAL SQLite database: ripcord vs sqlite3 .backup, VACUUM INTO and cp.

Called by ./run with the path of a release ripcord binary. Settings from the environment:
BENCH_DB_MB (database size, default 1024), BENCH_RUNS (runs per row, default 5),
BENCH_CAP (seconds before sqlite3 .backup counts as not finished, default 60),
BENCH_RATE (writer commits per second, default 1000), BENCH_SETTLE (seconds to pause after the sync
before each timed run, default 0), BENCH_DIR (work folder, default a temp dir).
"""

import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

RIPCORD = sys.argv[1]
DB_MB = int(os.environ.get("BENCH_DB_MB", "1024"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
CAP = float(os.environ.get("BENCH_CAP", "60"))
RATE = int(os.environ.get("BENCH_RATE", "1000"))
SETTLE = float(os.environ.get("BENCH_SETTLE", "0"))
SQLITE3 = shutil.which("sqlite3")
ROW = 1000


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_db(path):
    """~DB_MB of ~1 KB rows with an index, then every 5th block of 1000 rows deleted: ~20% free pages."""
    rows = DB_MB * 1024 * 1024 // (ROW + 330)
    conn = sqlite3.connect(path)
    conn.executescript(
        """PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
        CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL, payload BLOB NOT NULL);
        CREATE INDEX items_k ON items(k);
        CREATE TABLE commits (id INTEGER PRIMARY KEY, at REAL NOT NULL, payload BLOB NOT NULL);"""
    )
    batch = 20000
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        conn.executemany(
            "INSERT INTO items (k, payload) VALUES (?, randomblob(?))",
            ((f"key-{(start + i) * 7919 % rows:09d}", ROW) for i in range(n)),
        )
        conn.commit()
    conn.execute("DELETE FROM items WHERE (id / 1000) % 5 = 0")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    free, pages = conn.execute("PRAGMA freelist_count").fetchone()[0], conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    return pages, free


WRITER = r"""
import sqlite3, sys, time, os
db, rate = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db, timeout=30, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL"); conn.execute("PRAGMA synchronous = NORMAL")
print("ready", flush=True)
n, start = 0, time.monotonic()
while True:
    conn.execute("INSERT INTO commits (at, payload) VALUES (?, randomblob(1000))", (time.time(),))
    n += 1
    ahead = n / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
"""


class Writer:
    def __init__(self, db):
        self.db = db
        self.proc = subprocess.Popen([sys.executable, "-c", WRITER, db, str(RATE)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.start_id, self.start = self.max_id(), time.monotonic()
        time.sleep(1)

    def max_id(self):
        c = sqlite3.connect(self.db, timeout=30)
        v = c.execute("SELECT coalesce(max(id), 0) FROM commits").fetchone()[0]
        c.close()
        return v

    def stop(self):
        rate = (self.max_id() - self.start_id) / (time.monotonic() - self.start)
        self.proc.kill()
        self.proc.wait()
        return rate


def fsync(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)


def rm(*paths):
    for p in paths:
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(p + suffix):
                os.remove(p + suffix)


def cpu_seconds():
    """CPU time (user + system) of this process and of its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, cap=None):
    """Wall time, success, and the CPU time the run took (this process's share included, for
    the copies python makes itself): on a shared machine wall time grows with the load, CPU time
    much less."""
    t, c = time.monotonic(), cpu_seconds()
    ok = fn(cap)
    return time.monotonic() - t, ok, cpu_seconds() - c


def run(cmd, cap=None):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return False
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return True


def contiguous(copy, before):
    """The copy's commit ids are exactly 1..M and M covers every commit made before the start."""
    c = sqlite3.connect(copy)
    n, top = c.execute("SELECT count(*), coalesce(max(id), 0) FROM commits").fetchone()
    c.close()
    return n == top and top >= before


def settle():
    """Let the previous run's writes and deletions reach the disk, so no run pays for another."""
    os.sync()
    if SETTLE:
        time.sleep(SETTLE)


def interleaved(entries, check=None, give_up=2):
    """Time each (label, prepare, action, cap) once per round, RUNS rounds: a disk that slows down
    or speeds up over the run affects every tool alike. A tool capped `give_up` times is dropped."""
    results = [{"label": e[0], "times": [], "cpu": [], "capped": 0, "lost": 0 if check else None} for e in entries]
    for i in range(RUNS):
        for (label, prepare, action, cap), r in zip(entries, results):
            if r["capped"] >= give_up:
                continue
            prepare()
            settle()
            before = check[0]() if check else None
            secs, ok, cpu = timed(action, cap)
            if not ok:
                r["capped"] += 1
                log(f"  {label}: run {i + 1} did not finish in {cap:.0f}s")
                continue
            if check and not check[1](before):
                r["lost"] += 1
            r["times"].append(secs)
            r["cpu"].append(cpu)
            log(f"  {label}: run {i + 1}: {secs:.2f}s ({cpu:.2f}s CPU)")
    for r in results:
        r["tries"] = len(r["times"]) + r["capped"]
    return results


def main():
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    work = os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="ripcord-bench-")
    os.makedirs(work, exist_ok=True)
    src, out, backup, target = (os.path.join(work, n) for n in ("src.db", "out.db", "backup.db", "target.db"))
    rm(src)
    log(f"making a {DB_MB} MiB WAL database in {work} ...")
    pages, free = make_db(src)
    size = os.path.getsize(src)
    log(f"  {size / 2**20:.0f} MiB, {pages} pages, {free} free ({100 * free / pages:.0f}%)")
    script = os.path.join(work, "backup.rhai")
    with open(script, "w") as f:
        f.write('//! bench\n//! @param src\n//! @param dst\n//! @param verify = "quick"\n'
                "db::backup(src, dst, #{ verify: verify });\n")
    restore_script = os.path.join(work, "restore.rhai")
    with open(restore_script, "w") as f:
        f.write("//! bench\n//! @param backup\n//! @param target\n"
                "db::restore(backup, target, #{ force: true });\n")
    journal = ["--journal", os.path.join(work, "journal.db")]

    def ripcord_backup(verify):
        return lambda cap: run([RIPCORD, "run", script, "-p", f"src={src}", "-p", f"dst={out}", "-p", f"verify={verify}", *journal], cap)

    def cp(cap):
        shutil.copyfile(src, out)
        fsync(out)
        return True

    def cli_backup(cap):
        return run([SQLITE3, src, f".backup '{out}'"], cap)

    def vacuum_into(cap):
        return run([SQLITE3, src, f"VACUUM INTO '{out}'"], cap) if SQLITE3 else bool(sqlite3.connect(src).execute(f"VACUUM INTO '{out}'"))

    def clean():
        rm(out)

    rows = []
    log("quiet source:")
    quiet = [("cp + fsync", clean, cp, None),
             ("ripcord db::backup", clean, ripcord_backup("quick"), None),
             ("ripcord db::backup verify:none", clean, ripcord_backup("none"), None)]
    if SQLITE3:
        quiet.append(("sqlite3 .backup", clean, cli_backup, CAP))
    quiet.append(("VACUUM INTO", clean, vacuum_into, None))
    rows += [("quiet", r) for r in interleaved(quiet)]

    log(f"with a writer at ~{RATE} commits/s:")
    writer = Writer(src)
    check = (writer.max_id, lambda before: contiguous(out, before))
    busy = [("ripcord db::backup", clean, ripcord_backup("quick"), None)]
    if SQLITE3:
        busy.append(("sqlite3 .backup", clean, cli_backup, CAP))
    busy.append(("VACUUM INTO", clean, vacuum_into, None))
    rows += [("writer", r) for r in interleaved(busy, check=check)]
    rate = writer.stop()
    log(f"  the writer made {rate:.0f} commits/s")

    log("restore:")
    # The killed writer's last commits are only in the -wal, and its checkpoints may have moved
    # part of it: the main file alone is a consistent database only once all of it is moved.
    conn = sqlite3.connect(src)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    rm(backup)
    shutil.copyfile(src, backup)
    fsync(backup)

    def fresh_target():
        rm(target)
        for name in os.listdir(work):
            if name.startswith(("target.db.pre-restore-", "target.db.kept", "target.db.tmp")):
                os.remove(os.path.join(work, name))
        shutil.copyfile(src, target)
        fsync(target)

    def ripcord_restore(cap):
        return run([RIPCORD, "run", restore_script, "-p", f"backup={backup}", "-p", f"target={target}", *journal], cap)

    def cp_restore(cap):
        shutil.copyfile(backup, target)
        fsync(target)
        return True

    def cp_keep_restore(cap):
        # What a restore that keeps the old file needs at least: link it aside, copy to a temp,
        # fsync, rename over the target.
        os.link(target, target + ".kept")
        temp = target + ".tmp"
        shutil.copyfile(backup, temp)
        fsync(temp)
        os.rename(temp, target)
        fsync(target)  # and the folder, for the rename
        return True

    restores = [("cp + fsync", fresh_target, cp_restore, None),
                ("cp to a temp + rename, old file kept", fresh_target, cp_keep_restore, None),
                ("ripcord db::restore", fresh_target, ripcord_restore, None)]
    rows += [("restore", r) for r in interleaved(restores)]

    base = {kind: None for kind in ("quiet", "restore")}
    print(f"\nDatabase: {size / 2**20:.0f} MiB WAL, {free * 100 // pages}% free pages, index, ~1 KB rows; "
          f"{RUNS} runs each; writer at {rate:.0f} commits/s; sqlite3 {'CLI' if SQLITE3 else 'not installed'}; "
          f"load average {load_before} at the start, {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end\n")
    print("| source | tool | median | min-max | runs | vs cp | CPU s (median) | commits lost |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, r in rows:
        if r["times"]:
            med = statistics.median(r["times"])
            if r["label"] == "cp + fsync" and kind in base:
                base[kind] = med
            ref = base.get("quiet" if kind == "writer" else kind)
            ratio = f"{med / ref:.2f}x" if ref else ""
            shown = f"{med:.2f} s"
            spread = f"{min(r['times']):.2f}-{max(r['times']):.2f}"
            cpu = f"{statistics.median(r['cpu']):.2f}"
        else:
            shown, ratio, spread, cpu = f"not finished in {CAP:.0f} s", "", "", ""
        runs = f"{len(r['times'])}/{r['tries']}" + (f" ({r['capped']} capped)" if r["capped"] else "")
        lost = "" if r["lost"] is None or not r["times"] else ("none" if r["lost"] == 0 else f"{r['lost']} runs lost commits")
        print(f"| {kind} | {r['label']} | {shown} | {spread} | {runs} | {ratio} | {cpu} | {lost} |")
    if not os.environ.get("BENCH_DIR"):
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
