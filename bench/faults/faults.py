"""The fault matrix behind bench/faults/run. Every trial runs in its own temp folder."""
import hashlib, json, os, random, shutil, signal, sqlite3, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1])
SCALE = float(os.environ.get("FAULTS_SCALE", "1"))
ONLY = os.environ.get("FAULTS_ONLY", "")
ROWS = int(os.environ.get("FAULTS_ROWS", "20000"))


def trials(n):
    return max(1, int(round(n * SCALE)))


def ripcord(cwd, *args, **kw):
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(cwd, ".state"), NO_COLOR="1")
    env.pop("RIPCORD_JOURNAL", None)
    return subprocess.run([BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def spawn_ripcord(cwd, *args, env_extra=None):
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(cwd, ".state"), NO_COLOR="1", **(env_extra or {}))
    return subprocess.Popen([BIN, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def make_db(path, rows, tag, mode="wal"):
    c = sqlite3.connect(path, isolation_level=None)
    c.execute(f"PRAGMA journal_mode={mode}")
    c.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, payload BLOB)")
    c.execute("CREATE INDEX IF NOT EXISTS items_tag ON items(tag)")
    c.execute("BEGIN")
    c.executemany("INSERT INTO items (tag, payload) VALUES (?, randomblob(200))", [(tag,)] * rows)
    c.execute("COMMIT")
    c.close()


WRITER = r"""
import sqlite3, sys, time
db, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]
c = sqlite3.connect(db, timeout=60, isolation_level=None)
c.execute(f"PRAGMA journal_mode={mode}")
# As most applications do: a short busy wait, then back off and retry. (A writer that waits
# 60 s holds SQLite's PENDING lock all that time in rollback-journal mode, which keeps every
# new reader out, the backup's and this harness's own included.)
c.execute("PRAGMA busy_timeout = 200")
out = open(log, "a") if log != "-" else None
n = 0
print("ready", flush=True)
while True:
    n += 1
    try:
        c.execute("INSERT INTO items (tag, payload) VALUES ('writer', ?)", (n,))
    except sqlite3.OperationalError:
        time.sleep(0.05)
        continue
    if out:
        out.write(f"{n}\n"); out.flush()
    time.sleep(0.001)
"""

PIN = r"""
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
c.execute("BEGIN"); c.execute("SELECT count(*) FROM items").fetchall()
print("ready", flush=True)
time.sleep(600)
"""


def start(code, *args):
    p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()
    return p


def stop(p):
    if p:
        p.kill(); p.wait()


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ids(path):
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    r = [x[0] for x in c.execute("SELECT id FROM items ORDER BY id")]
    c.close()
    return r


def integrity(path):
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    r = c.execute("PRAGMA integrity_check").fetchone()[0]
    c.close()
    return r


# ---- cells ---------------------------------------------------------------------------------

def backup_trial(d, mode, load):
    db = os.path.join(d, "live.db")
    make_db(db, ROWS, "seed", mode)
    procs = []
    if load in ("writer", "writer+pin"):
        procs.append(start(WRITER, db, mode, "-"))
        time.sleep(0.05)
    try:
        # The last commit before the backup starts, read before a reader pins the database: in
        # rollback-journal mode a pinned reader stops every commit, and the writer waiting on
        # it keeps new readers out while it waits.
        before = ids(db)[-1]
        if load == "writer+pin":
            procs.append(start(PIN, db))
            time.sleep(0.05)
        with open(os.path.join(d, "b.rhai"), "w") as f:
            f.write('db::backup("live.db", "copy.db")')
        out = ripcord(d, "run", "b.rhai", "--json")
    finally:
        for p in procs:
            stop(p)
    if out.returncode != 0:
        return f"exit {out.returncode}: {out.stderr.strip()[-200:]}"
    res = json.loads(out.stdout)["result"]
    copy = os.path.join(d, "copy.db")
    if res["sha256"] != sha(copy):
        return "reported sha256 is not the file's"
    if integrity(copy) != "ok":
        return "copy fails integrity_check"
    got = ids(copy)
    if got != list(range(1, len(got) + 1)):
        return "ids are not exactly 1..M"
    if got[-1] < before:
        return f"copy ends at {got[-1]}, {before} was committed before the backup"
    return None


def pages(path):
    data = open(path, "rb").read()
    raw = int.from_bytes(data[16:18], "big")
    size = 65536 if raw == 1 else raw
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    root = c.execute("SELECT rootpage FROM sqlite_schema WHERE name='items'").fetchone()[0]
    c.close()
    at = (root - 1) * size
    cell = int.from_bytes(data[at + 12:at + 14], "big")
    leaf = int.from_bytes(data[at + cell:at + cell + 4], "big")
    trunk = int.from_bytes(data[32:36], "big")
    return size, root, leaf, trunk


def damage_trial(d, kind, fill, running, action="backup"):
    db = os.path.join(d, "app.db")
    wal = kind == "wal"
    make_db(db, 3000, "seed", "wal")
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("DELETE FROM items WHERE id BETWEEN 1000 AND 1600")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db, os.path.join(d, "good.db"))
    if wal:
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.execute("UPDATE items SET tag='wal' WHERE id < 500")
        # Leave the WAL as a killed process would: copy db + wal aside, then put them back.
        shutil.copy(db, db + ".keep"); shutil.copy(db + "-wal", db + "-wal.keep")
    else:
        c.execute("PRAGMA journal_mode=DELETE")
    c.close()
    if wal:
        os.replace(db + ".keep", db); os.replace(db + "-wal.keep", db + "-wal")
    size, root, leaf, trunk = pages(db)
    rnd = random.Random(hash((kind, fill)))
    def junk(n):
        return bytes(rnd.randrange(256) for _ in range(n)) if fill == "random" else bytes([0 if fill == "zeros" else 0xFF]) * n
    target, at = (db + "-wal", 5000) if wal else (db, ((
        {"leaf": leaf, "interior": root, "page1": 1, "freelist": trunk}[kind]) - 1) * size)
    with open(target, "r+b") as f:
        f.seek(at); f.write(junk(3000 if wal else size))
    holder = start("import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1])\ntry: c.execute('SELECT count(*) FROM items').fetchall()\nexcept Exception: pass\nprint('ready',flush=True)\ntime.sleep(600)", db) if running else None
    before = open(db, "rb").read()
    wal_before = open(db + "-wal", "rb").read() if os.path.exists(db + "-wal") else None
    with open(os.path.join(d, "b.rhai"), "w") as f:
        f.write('db::backup("app.db", "copy.db", #{ verify: "none" })' if action == "backup"
                else 'db::salvage("app.db", "copy.db", #{ backup: "good.db" })')
    try:
        out = ripcord(d, "run", "b.rhai", "--json")
    finally:
        stop(holder)
    if out.returncode != 0:
        return f"exit {out.returncode}: {out.stderr.strip()[-200:]}"
    res = json.loads(out.stdout)["result"]
    if action == "salvage":
        return salvage_check(d, wal, res, before)
    if open(os.path.join(d, "copy.db"), "rb").read() != before:
        return "the copy is not byte-exact"
    if wal_before and open(os.path.join(d, "copy.db-wal"), "rb").read() != wal_before:
        return "the -wal copy is not byte-exact"
    if not wal and res["readable"] and res["integrity"] == "ok":
        return "the damage is not reported"
    return None


def salvage_check(d, wal, res, before):
    """Only committed rows come back, and `complete` only when every one of them did."""
    if open(os.path.join(d, "app.db"), "rb").read() != before:
        return "the source changed"
    copy = os.path.join(d, "copy.db")
    if integrity(copy) != "ok":
        return "the salvaged database fails integrity_check"
    committed = set(range(1, 3001)) - set(range(1000, 1601))
    c = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    rows = c.execute("SELECT id, tag, length(payload) FROM items").fetchall()
    c.close()
    for i, tag, n in rows:
        if i not in committed or n != 200 or tag not in ("seed", "wal") or (tag == "wal" and i >= 500):
            return f"a row that was never committed: {i} {tag!r} {n}"
    if res["tables"]["items"]["recovered"] != len(rows):
        return "recovered is not the number of rows written"
    if res["complete"] and len(rows) != len(committed):
        return f"complete, yet {len(committed) - len(rows)} rows are missing"
    bound = res["tables"]["items"]["lost_at_most"]
    if bound is not None and bound < len(committed) - len(rows):
        return f"lost_at_most {bound} is below the {len(committed) - len(rows)} rows missing"
    if any(n.endswith(".tmp") for n in os.listdir(d)):
        return "a temp file was left"
    return None


def restore_kill_trial(d, _):
    make_db(os.path.join(d, "backup.db"), 3000, "new")
    make_db(os.path.join(d, "app.db"), 2000, "old")
    with open(os.path.join(d, "r.rhai"), "w") as f:
        f.write('db::restore("backup.db", "app.db", #{ force: true })')
    p = spawn_ripcord(d, "run", "r.rhai")
    time.sleep(random.uniform(0, 0.25))
    p.kill(); p.wait()
    c = sqlite3.connect(os.path.join(d, "app.db"), timeout=60)
    tags = [r[0] for r in c.execute("SELECT DISTINCT tag FROM items ORDER BY tag")]
    c.close()
    if tags not in (["new"], ["old"]):
        return f"target holds {tags}"
    if integrity(os.path.join(d, "app.db")) != "ok":
        return "target fails integrity_check"
    again = ripcord(d, "run", "r.rhai")
    if again.returncode != 0:
        return f"next run: exit {again.returncode}: {again.stderr.strip()[-200:]}"
    left = [n for n in os.listdir(d) if ".tmp" in n]
    if left:
        return f"left after the next run: {left}"
    return None


def live_restore_trial(d, _):
    make_db(os.path.join(d, "backup.db"), 30, "backup")
    target = os.path.join(d, "app.db")
    make_db(target, 5, "old")
    log = os.path.join(d, "writer.log")
    w = start(WRITER, target, "wal", log)
    time.sleep(0.1)
    with open(os.path.join(d, "r.rhai"), "w") as f:
        f.write('db::restore("backup.db", "app.db", #{ force: true, live: true })')
    try:
        out = ripcord(d, "run", "r.rhai", "--json")
        time.sleep(0.1)
    finally:
        stop(w)
    if out.returncode != 0:
        return f"exit {out.returncode}: {out.stderr.strip()[-200:]}"
    safety = os.path.join(d, json.loads(out.stdout)["result"]["safety"])
    def rows(p):
        c = sqlite3.connect(p, timeout=60)
        r = {x[0] for x in c.execute("SELECT payload FROM items WHERE tag='writer'")}
        c.close()
        return r
    seen = rows(safety) | rows(target)
    acked = [int(x) for x in open(log).read().split()]
    lost = [n for n in acked if n not in seen]
    if lost:
        return f"{len(lost)} acknowledged commits in neither the safety copy nor the result"
    return None


GATED = r'''//! Gated.
fn gate(n) {
    if fs::exists(`stop-at-${n}`) {
        log::info(`reached ${n}`);
        while true { time::sleep("20ms"); }
    }
}
step "A" { gate(0); fs::append("log", "1\n"); gate(1); fs::append("log", "2\n"); gate(2); }
step "B" { fs::append("log", "3\n"); gate(3); fs::append("log", "4\n"); gate(4); fs::append("log", "5\n"); gate(5); }
step "C" { fs::append("log", "6\n"); }
'''


def resume_trial(d, _):
    with open(os.path.join(d, "g.rhai"), "w") as f:
        f.write(GATED)
    n = random.randrange(0, 6)
    open(os.path.join(d, f"stop-at-{n}"), "w").close()
    p = spawn_ripcord(d, "run", "g.rhai")
    reached = any(f"reached {n}" in line for line in p.stderr)
    p.kill(); p.wait()
    if not reached:
        return f"never reached gate {n}"
    os.remove(os.path.join(d, f"stop-at-{n}"))
    out = ripcord(d, "resume", "1")
    if out.returncode != 0:
        return f"kill at gate {n}: resume exit {out.returncode}: {out.stderr.strip()[-200:]}"
    got = open(os.path.join(d, "log")).read()
    if got != "1\n2\n3\n4\n5\n6\n":
        return f"kill at gate {n}: log {got!r}"
    return None


def cells():
    for mode in ("wal", "delete"):
        for load in ("quiet", "writer", "writer+pin"):
            yield f"backup {mode} {load}", trials(50), lambda d, m=mode, l=load: backup_trial(d, m, l)
    for kind in ("leaf", "interior", "page1", "freelist", "wal"):
        for fill in ("random", "zeros", "ones"):
            for running in (False, True):
                name = f"damaged {kind} {fill} {'service-running' if running else 'service-stopped'}"
                yield name, trials(2), lambda d, k=kind, f=fill, r=running: damage_trial(d, k, f, r)
    for kind in ("leaf", "interior", "page1", "freelist", "wal"):
        for fill in ("random", "zeros", "ones"):
            name = f"salvage {kind} {fill} service-running"
            yield name, trials(2), lambda d, k=kind, f=fill: damage_trial(d, k, f, True, "salvage")
    yield "restore SIGKILL at a random point", trials(100), lambda d: restore_kill_trial(d, None)
    yield "live restore under a writer", trials(20), lambda d: live_restore_trial(d, None)
    yield "resume after SIGKILL at a change boundary", trials(50), lambda d: resume_trial(d, None)


def main():
    print(f"{'cell':<48} {'trials':>6} {'ok':>6} {'failed':>6}")
    failed_any = False
    for name, n, trial in cells():
        if ONLY and not name.startswith(ONLY):
            continue
        ok, reasons = 0, []
        for _ in range(n):
            d = tempfile.mkdtemp(prefix="ripcord-faults-")
            try:
                why = trial(d)
            except Exception as e:  # a trial that crashes is a failed trial
                why = f"{type(e).__name__}: {e}"
            finally:
                shutil.rmtree(d, ignore_errors=True)
            if why is None:
                ok += 1
            else:
                reasons.append(why)
        failed_any |= bool(reasons)
        print(f"{name:<48} {n:>6} {ok:>6} {len(reasons):>6}", flush=True)
        for why in reasons[:3]:
            print(f"    {why}", flush=True)
    sys.exit(1 if failed_any else 0)


main()
