"""Workflows seen and steered by platform operators: GET /api/flows (filters, paging),
/api/flows/{id}, /api/flows/{id}/log (long poll), POST …/cancel and …/retry, and `slipway flow
ls|show|log|cancel|retry` against a running server and, read-only, against its data directory.

The engine only runs the workflows it registers (the built-in "flow.prune"), so the tests put
rows into the server's gateway.db with sqlite3: a PENDING flow.prune the server runs, PENDING
workflows of unregistered names (they stay PENDING), a FAILED one with steps, failed attempts,
an event, a child and a log, and a log whose oldest lines were dropped."""
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import uuid

from harness import BIN, Failure, Slipway, _tests, run, test, wait_until

PG_URL = os.environ.get("SLIPWAY_TEST_PG_URL")
PSQL = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"

PASSWORD_RE = re.compile(r"password \(shown only this once, keep it safe\): (\S+)")
STATUS = {"PENDING": 0, "RUNNING": 1, "WAITING": 2, "SUCCEEDED": 3, "FAILED": 4, "CANCELLED": 5}
ERR_IO, ERR_INTERNAL = -7, -8


def uuid7(ms):
    """A UUIDv7 for <ms>: the engine's ids sort by creation."""
    rand = random.getrandbits(74)
    v = (ms << 80) | (7 << 76) | ((rand >> 62) << 64) | (2 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def cli(*args, env=None):
    e = {k: v for k, v in os.environ.items() if k not in ("SLIPWAY_SERVER", "SLIPWAY_TOKEN")}
    e.update(env or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, env=e)
    return p.returncode, p.stdout, p.stderr


def jreq(s, method, path, token=None, body=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        h["Content-Type"] = "application/json"
    status, _, b = s.request(method, path, body=json.dumps(body) if body is not None else None,
                             headers=h)
    return status, (json.loads(b) if b else None)


def login(s, email, password):
    status, body = jreq(s, "POST", "/auth/login", body={"email": email, "password": password})
    if status != 200:
        raise Failure(f"login {email}: {status} {body}")
    return body["accessToken"]


def make_pat(s, access):
    status, body = jreq(s, "POST", "/graphql", access,
                        {"query": 'mutation { createApiToken(name: "cli") { secret } }'})
    if status != 200 or body.get("errors"):
        raise Failure(f"createApiToken: {status} {body}")
    return body["data"]["createApiToken"]["secret"]


def with_db(url, name):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def psql(url, sql):
    p = subprocess.run([PSQL, "-X", "-q", "-At", "-F", "\x1f", "-P", "null=\x1e", "-v",
                        "ON_ERROR_STOP=1", "-d", url, "-c", sql], capture_output=True, timeout=60)
    if p.returncode != 0:
        raise Failure(f"psql: {p.stderr.decode(errors='replace').strip()}")
    cell = lambda v: None if v == "\x1e" else int(v) if re.fullmatch(r"-?\d+", v) else v
    return [tuple(cell(v) for v in line.split("\x1f"))
            for line in p.stdout.decode().split("\n") if line]


def literal(v):
    """<v> as an SQL literal for PostgreSQL (psql takes no parameters)."""
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, bytes):
        return f"'\\x{v.hex()}'::bytea"
    return "'" + v.replace("'", "''") + "'"


def store_args(pg):
    """The serve/CLI arguments of a backend: SQLite in the data directory, or PostgreSQL
    (a fresh gateway database, so that the first run prints the administrator's password)."""
    if not pg:
        return []
    psql(PG_URL, "DROP DATABASE IF EXISTS gateway WITH (FORCE)")
    return ["--store", PG_URL]


class Env:
    """A server with an operator's PAT, a non-operator's PAT and the rows below."""

    def __init__(self, s, pg=False):
        self.s = s
        self.pg = pg
        self.data = os.path.join(s.dir, "data")
        self.db = os.path.join(self.data, "gateway.db")
        self.store = ["--store", PG_URL] if pg else []
        self.local = ["--data-dir", self.data, *self.store]  # the CLI without a server
        m = PASSWORD_RE.search("\n".join(s.stdout))
        if not m:
            raise Failure(f"no first-run password on stdout: {s.stdout!r}")
        self.admin_access = login(s, "admin@localhost", m.group(1))
        self.pat = make_pat(s, self.admin_access)
        self.user_pat = self.non_operator()
        self.insert()

    def non_operator(self):
        """A user made with `admin create` (an operator), then demoted by hand."""
        rc, out, err = cli("admin", "create", "--email", "dev@example.test", "--data-dir",
                           self.data, *self.store)
        if rc != 0:
            raise Failure(f"admin create: {err}")
        self.sql("UPDATE users SET operator = 0 WHERE email = 'dev@example.test'")
        return make_pat(self.s, login(self.s, "dev@example.test",
                                      PASSWORD_RE.search(out).group(1)))

    def sql(self, stmt, args=()):
        if self.pg:
            parts = stmt.split("?")
            return psql(with_db(PG_URL, "gateway"),
                        parts[0] + "".join(literal(a) + p for a, p in zip(args, parts[1:])))
        con = sqlite3.connect(self.db, timeout=30)
        try:
            cur = con.execute(stmt, args)
            rows = cur.fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def wf(self, name, status, created, key=None, parent=None, err=None, runs=0, started=None,
           updated=None):
        id = uuid7(created)
        self.sql("INSERT INTO flow_wf (id, name, status, input, err_code, err_msg, idem_key,"
                 " parent, wake_ms, runs, created_ms, started_ms, updated_ms)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (id, name, STATUS[status], '{"app":"web"}', err[0] if err else None,
                  err[1] if err else None, key, parent, int(time.time() * 1000), runs, created,
                  started, updated or created))
        return id

    def log(self, wf, first, lines):
        for n, text in enumerate(lines, first):
            self.sql("INSERT INTO flow_log (wf_id, n, ts_ms, line) VALUES (?, ?, ?, ?)",
                     (wf, n, self.base + n, text.encode()))
        self.sql("INSERT INTO flow_log_head (wf_id, first_n, next_n, bytes) VALUES (?, ?, ?, ?)"
                 " ON CONFLICT (wf_id) DO UPDATE SET next_n = excluded.next_n",
                 (wf, first, first + len(lines), sum(len(t) for t in lines)))

    def insert(self):
        now = int(time.time() * 1000)
        self.base = now - 3600_000  # one workflow a minute from an hour ago
        b = self.base
        self.prune = self.wf("flow.prune", "PENDING", b)
        self.stuck = self.wf("test.unregistered", "PENDING", b + 60_000, key="orders/42")
        self.other = self.wf("test.unregistered", "PENDING", b + 120_000, key="orders/43")
        self.failed = self.wf("deploy.app", "FAILED", b + 180_000, key="deploy/7",
                              err=(ERR_INTERNAL, "push failed"), runs=2, started=b + 181_000,
                              updated=now - 1000)
        self.child = self.wf("deploy.child", "SUCCEEDED", b + 240_000, parent=self.failed,
                             runs=1, started=b + 240_500, updated=b + 242_000)
        self.sql("INSERT INTO flow_step (wf_id, seq, name, status, output, attempts, started_ms,"
                 " ended_ms) VALUES (?, 0, 'build', 0, ?, 1, ?, ?)",
                 (self.failed, b"image sha256:abc", b + 181_000, b + 183_500))
        self.sql("INSERT INTO flow_step (wf_id, seq, name, status, err_code, err_msg, attempts,"
                 " started_ms, ended_ms) VALUES (?, 1, 'push', 1, ?, 'disk full', 3, ?, ?)",
                 (self.failed, ERR_IO, b + 184_000, b + 190_000))
        for a in (1, 2):
            self.sql("INSERT INTO flow_attempt (wf_id, seq, attempt, err_code, err_msg,"
                     " started_ms, ended_ms) VALUES (?, 1, ?, ?, ?, ?, ?)",
                     (self.failed, a, ERR_IO, f"timeout {a}", b + 184_000 + a, b + 185_000 + a))
        self.sql("INSERT INTO flow_event (wf_id, key, value, updated_ms) VALUES (?, 'url', ?, ?)",
                 (self.failed, b'"http://web.example"', b))
        self.log(self.failed, 0, [f"line {i}" for i in range(5)])
        self.log(self.stuck, 3, ["kept 3", "kept 4"])  # lines 0..2 were dropped
        self.ids = [self.child, self.failed, self.other, self.stuck, self.prune]  # newest first

    def api(self, method, path, token="op"):
        token = {"op": self.pat, "user": self.user_pat}.get(token, token)
        return jreq(self.s, method, path, token)

    def flow(self, *args, server=True, token=None):
        env = {}
        if server:
            env = {"SLIPWAY_SERVER": f"http://127.0.0.1:{self.s.port}",
                   "SLIPWAY_TOKEN": token or self.pat}
        return cli("flow", *args, env=env)


def backends():
    yield "sqlite", False
    if PG_URL:
        yield "postgres", True


def with_env(fn):
    """Registers <fn>(t, env) once per backend, as <name>_sqlite and <name>_postgres."""
    for name, pg in backends():
        def case(t, pg=pg):
            with Slipway(*store_args(pg)) as s:
                fn(t, Env(s, pg))
        case.__name__ = f"{fn.__name__}_{name}"
        _tests.append(case)
    return fn


def ids_of(body):
    return [w["id"] for w in body["workflows"]]


# ---------------------------------------------------------------- the API

@with_env
def api_lists_filters_and_pages(t, e):
    status, body = e.api("GET", "/api/flows")
    t.eq(status, 200, body)
    t.eq(ids_of(body), e.ids, "newest first")
    t.eq(body["next"], None, "one page")
    failed = body["workflows"][1]
    t.eq((failed["name"], failed["status"], failed["key"], failed["runs"]),
         ("deploy.app", "FAILED", "deploy/7", 2))
    t.eq(failed["error"], {"code": "internal", "message": "push failed"})
    t.eq(failed["created"], rfc3339(e.base + 180_000))

    def ids(query):
        status, body = e.api("GET", "/api/flows?" + query)
        t.eq(status, 200, f"{query}: {body}")
        return ids_of(body)

    t.eq(ids("name=test.unregistered"), [e.other, e.stuck])
    t.eq(ids("status=failed"), [e.failed], "status is case-insensitive")
    t.eq(ids("status=PENDING&name=test.unregistered"), [e.other, e.stuck])
    t.eq(ids("key=orders%2F"), [e.other, e.stuck], "a key prefix")
    t.eq(ids("key=orders/42"), [e.stuck])
    t.eq(ids("key=%25"), [], "LIKE wildcards are literal")
    t.eq(ids(f"since={e.base + 120_000}"), [e.child, e.failed, e.other], "since in ms")
    t.eq(ids("since=" + urllib.parse.quote(rfc3339(e.base + 120_000))),
         [e.child, e.failed, e.other], "since in RFC 3339")
    t.eq(ids(f"until={e.base + 120_000}"), [e.stuck, e.prune], "until is exclusive")
    offset = time.strftime("%Y-%m-%dT%H:%M:%S+02:00", time.gmtime((e.base + 120_000) // 1000
                                                                  + 7200))
    t.eq(ids("until=" + urllib.parse.quote(offset)), [e.stuck, e.prune], "a zone offset")

    status, page = e.api("GET", "/api/flows?limit=2")
    t.eq(ids_of(page), e.ids[:2])
    t.eq(page["next"], e.ids[1], "a full page has a next")
    status, page = e.api("GET", f"/api/flows?limit=2&before={page['next']}")
    t.eq(ids_of(page), e.ids[2:4])
    status, page = e.api("GET", f"/api/flows?limit=2&before={page['next']}")
    t.eq(ids_of(page), e.ids[4:])
    t.eq(page["next"], None, "the last page")


@with_env
def api_refuses_bad_parameters_and_callers(t, e):
    for query, field in [("status=BOGUS", "status"), ("since=yesterday", "since"),
                         ("until=2026-02-30T00:00:00Z", "until"),
                         ("since=2026-01-05T10:00:00", "since"), ("limit=0", "limit"),
                         ("limit=1001", "limit"), ("limit=x", "limit"), ("before=nope", "before"),
                         ("name=" + "n" * 65, "name")]:
        status, body = e.api("GET", "/api/flows?" + query)
        t.eq(status, 400, f"{query}: {body}")
        t.eq(body["error"]["code"], "invalid", query)
        t.true(body["error"]["message"].startswith(field), f"{query}: {body}")
    status, body = e.api("GET", "/api/flows/not-an-id")
    t.eq((status, body["error"]["message"]), (400, "id: not a workflow id"))
    status, body = e.api("GET", "/api/flows/" + uuid7(int(time.time() * 1000)))
    t.eq(status, 404, body)
    status, body = e.api("GET", f"/api/flows/{uuid7(1)}/log")
    t.eq(status, 404, body)
    status, body = e.api("GET", f"/api/flows/{e.failed}/log?wait=31")
    t.eq(status, 400, body)
    t.contains(body["error"]["message"], "wait")

    for path in ["/api/flows", f"/api/flows/{e.failed}", f"/api/flows/{e.failed}/log"]:
        status, body = e.api("GET", path, token=None)
        t.eq(status, 401, f"{path}: {body}")
        status, _ = e.api("GET", path, token="slp_" + "x" * 40)
        t.eq(status, 401, f"{path} with an unknown token")
        status, body = e.api("GET", path, token="user")
        t.eq(status, 403, f"{path} as a non-operator: {body}")
        t.contains(body["error"]["message"], "operator")
    for action in ["cancel", "retry"]:
        status, _ = e.api("POST", f"/api/flows/{e.stuck}/{action}", token=None)
        t.eq(status, 401, action)
        status, _ = e.api("POST", f"/api/flows/{e.stuck}/{action}", token="user")
        t.eq(status, 403, action)
    status, body = e.api("GET", "/api/flows?status=BOGUS", token="user")
    t.eq(status, 403, "a non-operator learns nothing about the parameters")
    # The first-run administrator's session token works as well as a PAT.
    status, _ = e.api("GET", "/api/flows", token=e.admin_access)
    t.eq(status, 200)
    rows = e.sql("SELECT action, outcome FROM audit_log WHERE action LIKE 'flow.%'")
    t.eq(sorted(rows), [("flow.cancel", "denied"), ("flow.retry", "denied")])


@with_env
def api_shows_steps_attempts_events_and_children(t, e):
    status, wf = e.api("GET", f"/api/flows/{e.failed}")
    t.eq(status, 200, wf)
    t.eq((wf["id"], wf["status"], wf["input"], wf["result"]),
         (e.failed, "FAILED", {"app": "web"}, None))
    t.eq(wf["events"], {"url": '"http://web.example"'}, "an event's value as it was published")
    t.eq(wf["children"], [{"id": e.child, "name": "deploy.child", "status": "SUCCEEDED"}])
    build, push = wf["steps"]
    t.eq((build["seq"], build["name"], build["status"], build["attempts"], build["output"]),
         (0, "build", "DONE", 1, "image sha256:abc"))
    t.eq((build["started"], build["ended"]), (rfc3339(e.base + 181_000), rfc3339(e.base + 183_500)))
    t.eq((push["status"], push["attempts"], push["error"]),
         ("FAILED", 3, {"code": "io", "message": "disk full"}))
    t.eq([(a["attempt"], a["code"], a["message"]) for a in push["failed_attempts"]],
         [(1, "io", "timeout 1"), (2, "io", "timeout 2")])


@with_env
def api_reads_and_follows_logs(t, e):
    status, body = e.api("GET", f"/api/flows/{e.failed}/log")
    t.eq(status, 200, body)
    t.eq([(l["n"], l["text"]) for l in body["lines"]], [(i, f"line {i}") for i in range(5)])
    t.eq(body["lines"][0]["ts"], rfc3339(e.base))
    t.eq((body["skipped"], body["next"], body["ended"]), (0, 5, True))
    status, body = e.api("GET", f"/api/flows/{e.failed}/log?from=1&limit=2")
    t.eq(([l["n"] for l in body["lines"]], body["next"], body["ended"]), ([1, 2], 3, False))
    status, body = e.api("GET", f"/api/flows/{e.failed}/log?from=5&wait=20")
    t.eq((body["lines"], body["ended"]), ([], True), "an ended log does not wait")
    status, body = e.api("GET", f"/api/flows/{e.stuck}/log")
    t.eq(([l["n"] for l in body["lines"]], body["skipped"], body["next"], body["ended"]),
         ([3, 4], 3, 5, False), "dropped lines are counted")

    t0 = time.monotonic()
    status, body = e.api("GET", f"/api/flows/{e.stuck}/log?from=5&wait=1")
    took = time.monotonic() - t0
    t.eq((status, body["lines"], body["next"], body["ended"]), (200, [], 5, False))
    t.true(0.9 <= took < 5, f"wait=1 took {took:.2f}s")

    got = {}

    def follow():
        got["res"] = e.api("GET", f"/api/flows/{e.stuck}/log?from=5&wait=20")
    th = threading.Thread(target=follow)
    t0 = time.monotonic()
    th.start()
    time.sleep(0.5)
    e.log(e.stuck, 5, ["late line"])
    th.join(30)
    took = time.monotonic() - t0
    status, body = got["res"]
    t.eq((status, [(l["n"], l["text"]) for l in body["lines"]]), (200, [(5, "late line")]))
    t.true(took < 10, f"a waiting read saw the new line after {took:.2f}s")


@with_env
def api_cancels_and_retries(t, e):
    wait_until(lambda: e.api("GET", f"/api/flows/{e.prune}")[1]["status"] == "SUCCEEDED",
               timeout=20, what="flow.prune to run")
    status, body = e.api("POST", f"/api/flows/{e.stuck}/cancel")
    t.eq((status, body), (200, {"id": e.stuck, "status": "CANCELLED"}))
    status, body = e.api("POST", f"/api/flows/{e.stuck}/cancel")
    t.eq(status, 409, body)
    t.contains(body["error"]["message"], "ended already")
    status, body = e.api("POST", f"/api/flows/{e.stuck}/retry")
    t.eq((status, body), (200, {"id": e.stuck, "status": "PENDING"}))
    status, body = e.api("POST", f"/api/flows/{e.stuck}/retry")
    t.eq(status, 409, body)
    t.contains(body["error"]["message"], "only a FAILED or CANCELLED one")
    status, body = e.api("POST", f"/api/flows/{e.prune}/cancel")
    t.eq(status, 409, "a SUCCEEDED workflow cannot be cancelled")
    status, body = e.api("POST", f"/api/flows/{uuid7(1)}/retry")
    t.eq(status, 404, body)
    status, body = e.api("POST", "/api/flows/x/cancel")
    t.eq(status, 400, body)
    status, wf = e.api("GET", f"/api/flows/{e.stuck}")
    t.eq(wf["status"], "PENDING", "it stays PENDING: nothing runs its name")
    rows = e.sql("SELECT action, outcome, target FROM audit_log WHERE action LIKE 'flow.%'"
                 " ORDER BY at, id")
    t.eq([r[:2] for r in rows], [("flow.cancel", "ok"), ("flow.cancel", "error"),
                                 ("flow.retry", "ok"), ("flow.retry", "error"),
                                 ("flow.cancel", "error"), ("flow.retry", "error")])
    t.eq(rows[0][2], e.stuck)


# ---------------------------------------------------------------- the CLI

@with_env
def cli_against_the_server(t, e):
    rc, out, err = e.flow("ls")
    t.eq(rc, 0, err)
    lines = out.splitlines()
    t.true(lines[0].split() == ["ID", "NAME", "STATUS", "CREATED", "TIME"], lines[0])
    t.eq([l.split()[0] for l in lines[1:]], e.ids)
    t.true(all(len(l) <= 80 for l in lines), f"wider than 80 columns: {lines}")
    t.true(any("FAILED" in l and "deploy.app" in l for l in lines), out)
    rc, out, err = e.flow("ls", "--json", "--status", "failed")
    t.eq(rc, 0, err)
    t.eq(ids_of(json.loads(out)), [e.failed])
    rc, out, err = e.flow("ls", "--limit", "2", "--json")
    page = json.loads(out)
    t.eq((ids_of(page), page["next"]), (e.ids[:2], e.ids[1]))
    rc, out, err = e.flow("ls", "--limit=2", "--before", page["next"])
    t.eq([l.split()[0] for l in out.splitlines()[1:]], e.ids[2:4])
    t.contains(err, "--before " + e.ids[3])
    rc, out, _ = e.flow("ls", "--key", "orders/", "--since", rfc3339(e.base + 90_000))
    t.eq([l.split()[0] for l in out.splitlines()[1:]], [e.other])

    rc, out, err = e.flow("show", e.failed)
    t.eq(rc, 0, err)
    for want in ["deploy.app", "FAILED", "internal: push failed", "build", "push",
                 "3 attempts", "error: io: disk full", "attempt 1 failed", "timeout 2",
                 "image sha256:abc", 'url = "http://web.example"', e.child]:
        t.contains(out, want, "show")
    rc, out, _ = e.flow("show", e.failed, "--json")
    t.eq(json.loads(out)["steps"][1]["failed_attempts"][1]["message"], "timeout 2")

    rc, out, err = e.flow("log", e.failed)
    t.eq(rc, 0, err)
    t.eq([l.split(" ", 1)[1] for l in out.splitlines()], [f"line {i}" for i in range(5)])
    rc, out, _ = e.flow("log", e.failed, "--from", "3", "-f")
    t.eq((rc, [l.split(" ", 1)[1] for l in out.splitlines()]), (0, ["line 3", "line 4"]),
         "-f ends with the workflow")
    rc, out, err = e.flow("log", e.stuck, "--json")
    t.eq(json.loads(out)["skipped"], 3)

    rc, out, err = e.flow("cancel", e.stuck)
    t.eq((rc, out.strip()), (0, f"workflow {e.stuck} is CANCELLED"), err)
    rc, out, err = e.flow("cancel", e.stuck)
    t.eq(rc, 1, "the server says no")
    t.contains(err, "ended already")
    rc, out, err = e.flow("retry", e.stuck, "--json")
    t.eq((rc, json.loads(out)), (0, {"id": e.stuck, "status": "PENDING"}))
    rc, out, err = e.flow("show", uuid7(1))
    t.eq(rc, 1)
    t.contains(err, "does not exist")
    rc, _, err = e.flow("ls", token=e.user_pat)
    t.eq(rc, 1, "a non-operator's token")
    t.contains(err, "operator")
    # --server and --token as flags, without the environment.
    rc, out, err = cli("flow", "ls", "--json", "--server", f"http://127.0.0.1:{e.s.port}/",
                       "--token", e.pat)
    t.eq((rc, ids_of(json.loads(out))), (0, e.ids), err)
    rc, _, err = cli("flow", "ls", "--server", f"http://127.0.0.1:{e.s.port}")
    t.eq(rc, 2, "a server needs a token")
    t.contains(err, "--token")


@test
def cli_usage_errors_and_help(t):
    for args, want in [(["ls", "--status", "nope"], "--status"),
                       (["ls", "--since", "soon"], "--since"),
                       (["ls", "--limit", "0"], "--limit"),
                       (["ls", "--frob"], "unknown option"),
                       (["ls", "extra"], "unexpected argument"),
                       (["show"], "needs a workflow ID"),
                       (["show", "nope"], "not a workflow id"),
                       (["log", uuid7(1), "--name", "x"], "not an option of flow log"),
                       (["frob"], "unknown subcommand"),
                       ([], "expected a subcommand"),
                       (["ls", "--name"], "needs a value"),
                       (["cancel", uuid7(1)], "flow cancel needs a running server: pass --server URL"),
                       (["retry", uuid7(1)], "flow retry needs a running server")]:
        rc, _, err = cli("flow", *args)
        t.eq(rc, 2, f"{args}: {err}")
        t.contains(err, want, str(args))
    for args in [["help", "flow"], ["flow", "--help"]]:
        rc, out, _ = cli(*args)
        t.eq(rc, 0, args)
        t.contains(out, "slipway flow ls")
        t.contains(out, "--server URL")
    rc, out, _ = cli("help")
    t.contains(out, "  flow ")


@with_env
def cli_reads_the_data_directory_without_a_server(t, e):
    e.s.stop()
    rc, out, err = e.flow("ls", *e.local, server=False)
    t.eq(rc, 0, err)
    t.eq([l.split()[0] for l in out.splitlines()[1:]], e.ids)
    rc, out, err = e.flow("ls", "--json", "--limit", "2", "--name", "test.unregistered",
                          *e.local, server=False)
    page = json.loads(out)
    t.eq((ids_of(page), page["next"]), ([e.other, e.stuck], e.stuck), err)
    rc, out, err = e.flow("show", e.failed, *e.local, server=False)
    t.eq(rc, 0, err)
    t.contains(out, "disk full")
    rc, out, err = e.flow("show", e.failed, "--json", *e.local, server=False)
    t.eq(json.loads(out)["children"][0]["id"], e.child)
    rc, out, err = e.flow("log", e.failed, "-f", *e.local, server=False)
    t.eq((rc, len(out.splitlines())), (0, 5), err)
    rc, out, err = e.flow("log", e.stuck, "--json", *e.local, server=False)
    body = json.loads(out)
    t.eq(([l["n"] for l in body["lines"]], body["skipped"], body["ended"]), ([3, 4], 3, False))
    rc, _, err = e.flow("show", uuid7(1), *e.local, server=False)
    t.eq(rc, 1, err)
    rc, _, err = e.flow("cancel", e.stuck, *e.local, server=False)
    t.eq(rc, 2)
    t.contains(err, "flow cancel needs a running server: pass --server URL")
    rc, _, err = e.flow("ls", "--data-dir", os.path.join(e.s.dir, "nowhere"), *e.store,
                        server=False)
    t.eq(rc, 1)
    t.contains(err, "--data-dir")
    t.true(not os.path.exists(os.path.join(e.s.dir, "nowhere")), "nothing was created")
    rc, _, err = e.flow("ls", *e.local, "--server", "http://127.0.0.1:1", server=False)
    t.eq(rc, 2, "a server or a data directory, not both")
    t.eq(e.sql("SELECT status FROM flow_wf WHERE id = ?", (e.stuck,)), [(0,)], "nothing changed")


def migration_makes_the_earliest_user_an_operator(t, pg):
    """A database from before users.operator: its earliest user becomes the operator."""
    with Slipway(*store_args(pg)) as s:
        e = Env.__new__(Env)
        e.pg, e.db = pg, os.path.join(s.dir, "data", "gateway.db")
        data, store = os.path.join(s.dir, "data"), ["--store", PG_URL] if pg else []
        rc, _, err = cli("admin", "create", "--email", "late@example.test", "--data-dir", data,
                         *store)
        t.eq(rc, 0, err)
        s.stop()
        e.sql("ALTER TABLE users DROP COLUMN operator")
        e.sql("DELETE FROM schema_migrations WHERE version = 4")
        again = Slipway(*store, "--data-dir", data)
        try:
            rows = e.sql("SELECT email, operator FROM users ORDER BY created_at")
            t.eq(rows, [("admin@localhost", 1), ("late@example.test", 0)])
        finally:
            again.stop()
            shutil.rmtree(again.dir, ignore_errors=True)


for _name, _pg in backends():
    _tests.append(lambda t, pg=_pg: migration_makes_the_earliest_user_an_operator(t, pg))
    _tests[-1].__name__ = f"migration_makes_the_earliest_user_an_operator_{_name}"


if __name__ == "__main__":
    run()
