"""kill -9 torture of the workflow engine (src/flow): tests/tools/flow-torture runs many
workflows of many steps, each step a side effect recorded in a journal outside the database,
and is killed with SIGKILL at random moments and restarted until it has been killed hundreds
of times; then it runs to the end. Afterwards the database and the journal must agree that
every workflow completed exactly once, every step's completion was recorded exactly once, and
no step ran again once its completion was recorded (the tool journals a VIOLATION line when a
step finds its own completion already in the database).

On SQLite one process owns the file; on PostgreSQL (SLIPWAY_TEST_PG_URL, from scripts/test)
two processes share a fresh database and one of them at a time is killed, so the other takes
its workflows over when their lease runs out.

FLOW_TORTURE_SEED=<n> replays the same random kill moments (the seed is printed).
"""
import collections
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

from harness import BUILD, Failure, run, test

TOOL = os.path.join(BUILD, "tests", "flow-torture")
SEED = int(os.environ.get("FLOW_TORTURE_SEED") or time.time_ns() % 1000000007)
CHILD_STEPS = 5  # the tool gives every fourth workflow a child of 5 steps
JOURNAL_LINE = re.compile(rb"([0-9a-f-]{36}) (\d+) (run|VIOLATION) (\d+)\n")
FINISH_TIMEOUT = 120  # seconds for the last, unkilled run: ten times what it needs
TXT = re.compile(r"TXT\((\w+)\)")  # a BYTEA/BLOB column read as text, per dialect


def note(msg):
    print(f"# {msg}", flush=True)


class Runner:
    """Starts the tool in <dir>, each incarnation with a stderr file of its own."""

    def __init__(self, dir, url, journal, workflows, steps, extra=()):
        self.dir, self.n, self.url = dir, 0, url
        self.argv = [TOOL, url, journal, str(workflows), str(steps), *extra]

    def start(self):
        self.n += 1
        err = open(os.path.join(self.dir, f"run-{self.n}.err"), "wb")
        out = open(os.path.join(self.dir, f"run-{self.n}.out"), "wb")
        p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        err.close()
        out.close()
        p.log = os.path.join(self.dir, f"run-{self.n}.err")
        p.outfile = os.path.join(self.dir, f"run-{self.n}.out")
        return p

    def kill(self, p):
        """SIGKILL <p>: True when it was still running, False when it had exited 0."""
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            if p.returncode == -signal.SIGKILL:
                return True
        if p.returncode != 0:
            raise Failure(f"flow-torture exited {p.returncode} on its own:\n" + tail(p.log))
        return False

    def finish(self, p, q):
        """Waits for the last run; when it hangs, says which workflows are stuck (<q>)."""
        try:
            rc = p.wait(FINISH_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            stuck = q("SELECT id, name, status, owner, lease_ms, wake_ms, runs, parent, "
                      "updated_ms FROM flow_wf WHERE status < 3")
            raise Failure(f"flow-torture did not finish within {FINISH_TIMEOUT} s; unfinished "
                          f"(id, name, status, owner, lease_ms, wake_ms, runs, parent, "
                          f"updated_ms): {stuck[:5]}\n" + tail(p.log))
        if rc != 0:
            raise Failure(f"flow-torture exited {rc}:\n" + tail(p.log))
        with open(p.outfile, "rb") as f:
            if f.read().strip() != b"done":
                raise Failure("flow-torture exited 0 without printing done")

    def events(self, name):
        """The JSON log events <name> of every incarnation (those a kill did not cut off)."""
        out = []
        for i in range(1, self.n + 1):
            with open(os.path.join(self.dir, f"run-{i}.err"), "rb") as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(ev, dict) and ev.get("ev") == name:
                        out.append(ev)
        return out


def tail(path, n=30):
    with open(path, "rb") as f:
        return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])


class JournalLines(collections.defaultdict):
    """{(wf, seq): [kind, ...]} with .stale: {(pid, wf): VIOLATION lines}."""


def read_journal(path):
    """{(wf, seq): [kind, ...]}, the pids that journaled, and how many bytes no line explains
    (a write cut by a kill; harmless, the step had not returned)."""
    with open(path, "rb") as f:
        data = f.read()
    lines = JournalLines(list)
    pids = collections.defaultdict(set)
    stale = collections.Counter()  # (pid, wf): VIOLATION lines
    covered = 0
    for m in JOURNAL_LINE.finditer(data):
        key = (m.group(1).decode(), int(m.group(2)))
        lines[key].append(m.group(3).decode())
        pids[key].add(int(m.group(4)))
        if m.group(3) == b"VIOLATION":
            stale[(int(m.group(4)), key[0])] += 1
        covered += len(m.group(0))
    lines.stale = stale
    return lines, pids, len(data) - covered


def expected_result(i, steps):
    child = {"steps": CHILD_STEPS, "sum": CHILD_STEPS * (CHILD_STEPS - 1) // 2}
    return {"steps": steps, "sum": steps * (steps - 1) // 2, "child": child if i % 4 == 0 else None}


def verify(t, q, journal, workflows, steps, paused=None):
    """Checks the database (through <q>(sql) -> rows of strings or None) against the journal.
    <paused>: {pid: how many times it was paused}; a paused process may finish, after it
    resumes, the one step each of its workflows was in when it stopped (nothing can take a
    side effect back), so there each of its workflows may have as many steps run again as it
    had pauses, and nowhere else. Returns counts for the report."""
    wfs = q("SELECT id, name, status, idem_key, parent, result, runs FROM flow_wf")
    mains = [w for w in wfs if w[1] == "tort"]
    children = [w for w in wfs if w[1] == "tort.child"]
    t.eq(len(mains), workflows, "tort workflows")
    t.eq(sorted(w[3] for w in mains), sorted(f"tort-{i}" for i in range(workflows)),
         "idempotency keys")
    t.eq(len(children), len(range(0, workflows, 4)), "child workflows")
    t.eq(len(wfs), len(mains) + len(children), "workflows of other names")
    for w in wfs:
        t.eq(w[2], "3", f"status of {w[1]} {w[0]} ({w[3]})")
    for w in mains:
        i = int(w[3].split("-")[1])
        t.eq(json.loads(w[5]), expected_result(i, steps), f"result of {w[3]}")
    for c in children:
        t.eq(json.loads(c[5]), expected_result(0, CHILD_STEPS)["child"], f"result of child {c[0]}")
    t.eq(sorted(c[4] for c in children),
         sorted(w[0] for w in mains if int(w[3].split("-")[1]) % 4 == 0), "parents of children")

    events = q("SELECT wf_id, key, TXT(value) FROM flow_event")
    t.eq(sorted(events), sorted((w[0], "half", str(steps // 2)) for w in mains), "events")

    rows = q("SELECT wf_id, seq, name, status, TXT(output) FROM flow_step")
    bad = [r for r in rows if r[3] == "1"]
    t.eq(bad, [], "failed steps")
    done = {}  # (wf, seq) of each step "s<k>"
    per_wf = collections.defaultdict(list)
    for wf, seq, name, status, output in rows:
        if re.fullmatch(r"s\d+", name):
            t.eq(status, "0", f"status of step {name} of {wf}")
            t.eq(output, name[1:], f"output of step {name} of {wf}")
            done[(wf, int(seq))] = name
            per_wf[wf].append(name)
    for w in wfs:
        n = steps if w[1] == "tort" else CHILD_STEPS
        t.eq(sorted(per_wf[w[0]]), sorted(f"s{k}" for k in range(n)), f"steps of {w[0]}")

    lines, pids, torn = read_journal(journal)
    violations = [k for k, kinds in lines.items() if "VIOLATION" in kinds]
    stale_ok = 0
    if violations and paused is not None:
        over = [(pid, wf, n) for (pid, wf), n in lines.stale.items() if n > paused.get(pid, 0)]
        t.eq(over[:5], [], "steps run again by a process beyond the step it was paused in "
             "(pid, workflow, count)")
        stale_ok, violations = len(violations), []
    if violations:
        wf, seq = violations[0]
        raise Failure(f"{len(violations)} steps ran again after their completion was recorded, "
                      f"e.g. {wf} position {seq} ({done.get((wf, seq))}): journal "
                      f"{lines[(wf, seq)]}, pids {sorted(pids[(wf, seq)])}")
    missing = [k for k in done if "run" not in lines.get(k, [])]
    t.eq(missing[:5], [], f"completed steps that never ran ({len(missing)})")
    stray = [k for k in lines if k not in done]
    t.eq(stray[:5], [], f"journal lines of positions that are not steps ({len(stray)})")

    logs = q("SELECT wf_id, COUNT(*) FROM flow_log GROUP BY wf_id")
    t.eq(sorted(r[0] for r in logs), sorted(w[0] for w in wfs), "workflows with log lines")
    reruns = sum(1 for k in done if len(lines[k]) > 1)
    multi = sum(1 for w in wfs if int(w[6]) > 1)
    t.true(multi > 0, "no workflow was ever run more than once")
    return {"reruns": reruns, "multi_run": multi, "torn": torn, "steps": len(done),
            "stale": stale_ok}


# ---------------------------------------------------------------- SQLite

# Sized so that, under ASan on two cores, the work outlasts the kills (about 16 s of them):
# a restart spends tens of milliseconds replaying before it does anything new.
SQLITE_WORKFLOWS, SQLITE_STEPS, SQLITE_KILLS = 40, 300, 200


@test
def sqlite_survives_200_kills(t):
    rnd = random.Random(SEED)
    dir = tempfile.mkdtemp(prefix="slipway-torture-")
    try:
        db, journal = os.path.join(dir, "flow.db"), os.path.join(dir, "journal")
        r = Runner(dir, "sqlite:" + db, journal, SQLITE_WORKFLOWS, SQLITE_STEPS)
        kills = early = 0
        t0 = time.monotonic()
        while kills < SQLITE_KILLS:
            p = r.start()
            # Once a run has finished everything (a fast machine), the kills that are left
            # land in start-up and shut-down: a start-up lasts a few tens of ms.
            time.sleep(rnd.uniform(0.005, 0.150 if early == 0 else 0.030))
            if r.kill(p):
                kills += 1
            else:
                early += 1
        killed_s = time.monotonic() - t0

        def q(sql):
            con = sqlite3.connect(db)
            try:
                return [tuple(None if v is None else str(v) for v in row)
                        for row in con.execute(TXT.sub(r"CAST(\1 AS TEXT)", sql))]
            finally:
                con.close()

        r.finish(r.start(), q)
        t.eq(q("PRAGMA integrity_check"), [("ok",)], "integrity_check")
        s = verify(t, q, journal, SQLITE_WORKFLOWS, SQLITE_STEPS)
        # 200 kills of 40 workflows in flight: some land between a step's side effect and
        # the commit of its completion (hundreds, in practice), which the step then repeats.
        t.true(s["reruns"] > 0, "no kill landed between a side effect and its record")
        note(f"sqlite: {kills} kills in {killed_s:.1f} s ({early} runs finished before their "
             f"kill), {s['steps']} steps, {s['reruns']} steps run again after a kill "
             f"(completion not yet recorded), {s['multi_run']} workflows run more than once, "
             f"{s['torn']} journal bytes cut by a kill")
    finally:
        shutil.rmtree(dir, ignore_errors=True)


# ---------------------------------------------------------------- PostgreSQL

PG_WORKFLOWS, PG_STEPS, PG_KILLS, PG_PAUSES = 40, 150, 50, 12
PSQL = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"


def psql(url, sql):
    """Rows of <sql> as tuples of strings (None for NULL)."""
    out = subprocess.run([PSQL, "-X", "-q", "-At", "-F", "\x1f", "-P", "null=\x1e",
                          "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                         capture_output=True, timeout=60)
    if out.returncode != 0:
        raise Failure(f"psql: {out.stderr.decode(errors='replace').strip()}")
    rows = []
    for line in out.stdout.decode().split("\n"):
        if line:
            rows.append(tuple(None if v == "\x1e" else v for v in line.split("\x1f")))
    return rows


def with_db(url, name):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def two_executors(t, what, seed, disturb):
    """Two flow-torture processes on a fresh database; disturb(r, procs, rnd) kills or pauses
    them; then both run to the end and everything is verified."""
    admin = os.environ.get("SLIPWAY_TEST_PG_URL")
    if not admin:
        note(f"SKIP {what}: no PostgreSQL (SLIPWAY_TEST_PG_URL is unset; scripts/test starts a "
             "server)")
        return
    rnd = random.Random(seed)
    name = f"torture_{os.getpid()}_{rnd.randrange(1 << 30)}"
    psql(admin, f"CREATE DATABASE {name}")
    dir = tempfile.mkdtemp(prefix="slipway-torture-pg-")
    procs = []
    try:
        url, journal = with_db(admin, name), os.path.join(dir, "journal")
        r = Runner(dir, url, journal, PG_WORKFLOWS, PG_STEPS, ("--lease-ms", "1000"))
        procs = [r.start(), r.start()]
        t0 = time.monotonic()
        paused = {}
        done = disturb(r, procs, rnd, paused)
        spent = time.monotonic() - t0

        def q(sql):
            return psql(url, TXT.sub(r"convert_from(\1, 'UTF8')", sql))

        for p in procs:
            r.finish(p, q)
        s = verify(t, q, journal, PG_WORKFLOWS, PG_STEPS, paused if paused else None)
        # A step run again ran in another process than the disturbed one: its workflow was
        # taken over once the disturbed executor's lease expired.
        takeovers = sum(int(ev.get("workflows", 0)) for ev in r.events("flow.taken_over"))
        t.true(takeovers > 0 or s["reruns"] > 0, f"{what}: no workflow was taken over")
        note(f"postgres: {done} in {spent:.1f} s, {takeovers} expired claims taken over (as "
             f"logged), {s['steps']} steps, {s['reruns']} steps run again, "
             f"{s['multi_run']} workflows run more than once, {s['torn']} journal bytes cut "
             f"by a kill, {s['stale']} steps finished by a paused process after a takeover")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()
        shutil.rmtree(dir, ignore_errors=True)
        try:
            psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Failure as e:
            note(f"could not drop database {name}: {e}")


def kill_one_at_a_time(r, procs, rnd, paused):
    kills = early = 0
    victim = 0
    while kills < PG_KILLS:
        time.sleep(rnd.uniform(0.020, 0.400 if early == 0 else 0.060))
        if r.kill(procs[victim]):
            kills += 1
        else:
            early += 1
        procs[victim] = r.start()
        victim ^= 1
    return f"{kills} kills of one of two executors ({early} runs finished before their kill)"


def engine_of(p):
    """The engine id <p> printed (flow_wf.owner of its claims), or None before it did."""
    with open(p.log, "rb") as f:
        for line in f:
            if line.startswith(b'{"ev":"torture.engine"'):
                return json.loads(line)["owner"]
    return None


def busiest(r, procs):
    """Of the running executors, the one holding the most running workflows (None: neither
    holds any), so that a pause has something to take over."""
    owners = dict(psql(r.url, "SELECT owner, COUNT(*) FROM flow_wf WHERE status = 1 "
                              "AND owner IS NOT NULL GROUP BY owner"))
    held = [(int(owners.get(engine_of(p), 0)), i) for i, p in enumerate(procs)
            if p.poll() is None]
    held = [h for h in held if h[0] > 0]
    return procs[max(held)[1]] if held else None


def pause_one_at_a_time(r, procs, rnd, paused):
    """SIGSTOP the executor holding the most running workflows for longer than its lease,
    then SIGCONT: the other takes its workflows over meanwhile. What the paused one then
    tries to record is refused (its claim is gone, fenced by owner and epoch), and before its
    next step it renews its doubtful claim and stops, so it runs at most the step it was in
    when it stopped."""
    pauses = 0
    while pauses < PG_PAUSES and any(p.poll() is None for p in procs):
        time.sleep(rnd.uniform(0.050, 0.300))
        p = busiest(r, procs)
        if p is None:
            continue
        p.send_signal(signal.SIGSTOP)
        time.sleep(rnd.uniform(1.1, 1.6))
        p.send_signal(signal.SIGCONT)
        pauses += 1
        paused[p.pid] = paused.get(p.pid, 0) + 1
    return f"{pauses} pauses of one of two executors past its lease"


@test
def postgres_two_executors_survive_kills(t):
    two_executors(t, "postgres_two_executors_survive_kills", SEED + 1, kill_one_at_a_time)


@test
def postgres_paused_executor_runs_no_step_after_a_takeover(t):
    two_executors(t, "postgres_paused_executor_runs_no_step_after_a_takeover", SEED + 2,
                  pause_one_at_a_time)


if __name__ == "__main__":
    note(f"seed {SEED} (FLOW_TORTURE_SEED)")
    run()
