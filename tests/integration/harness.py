"""Integration-test harness: starts the real slipway binary on a free port in a temporary
data directory, and reports tests as TAP so scripts/test can count them.

    from harness import test, run, Slipway

    @test
    def healthz_answers(t):
        with Slipway() as s:
            status, headers, body = s.get("/healthz")
            t.eq(status, 200)

    run()
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BIN = os.environ.get("SLIPWAY_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "asan", "bin", "slipway")
BUILD = os.environ.get("SLIPWAY_BUILD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "asan")

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


class Failure(Exception):
    pass


class T:
    """What a test gets: assertions that say what differed."""

    def eq(self, got, want, what=""):
        if got != want:
            raise Failure(f"{what}: got {got!r}, want {want!r}" if what else
                          f"got {got!r}, want {want!r}")

    def true(self, cond, what):
        if not cond:
            raise Failure(what)

    def contains(self, hay, needle, what=""):
        if needle not in hay:
            raise Failure(f"{what}: {needle!r} not in {hay[:300]!r}")


def run():
    only = sys.argv[1] if len(sys.argv) > 1 else None
    chosen = [f for f in _tests if not only or only in f.__name__]
    print(f"1..{len(chosen)}", flush=True)
    failed = 0
    for i, fn in enumerate(chosen, 1):
        try:
            fn(T())
            print(f"ok {i} - {fn.__name__}", flush=True)
        except Exception as e:  # every failure is reported, the suite goes on
            failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"not ok {i} - {fn.__name__} # {detail}", flush=True)
            traceback.print_exc(file=sys.stderr)
    sys.exit(1 if failed else 0)


def wait_until(cond, timeout=10.0, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise Failure(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A started program whose stderr is collected by a thread."""

    def __init__(self, argv, env=None, cwd=None):
        self.lines = []
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd, text=True,
                                     errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self.stdout = []
        self._out.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _read_out(self):
        for line in self.proc.stdout:
            self.stdout.append(line.rstrip("\n"))

    def events(self, name=None):
        out = []
        for line in list(self.lines):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if name is None or ev.get("ev") == name:
                out.append(ev)
        return out

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        self._out.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Slipway(Process):
    """The real binary, serving on 127.0.0.1 and a free port, in its own data directory."""

    def __init__(self, *args, config=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="slipway-integ-")
        # Parallel test servers would share the ingress's fixed port: it is off unless a test
        # turns it on (a later --set wins).
        argv = [BIN, "serve", "--port", "0", "--data-dir", os.path.join(self.dir, "data"),
                "--set", "ingress.enabled=false"]
        if config is not None:
            path = os.path.join(self.dir, "slipway.conf")
            with open(path, "w") as f:
                f.write(config)
            argv += ["--config", path]
        argv += list(args)
        # The data directory in force: the last --data-dir given.
        self.data_dir = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--data-dir"][-1]
        e = dict(os.environ)
        e.update(env or {})
        super().__init__(argv, env=e)
        started = wait_until(lambda: self.events("slipway.started") or self.proc.poll() is not None,
                             timeout=30, what="slipway.started")
        if self.proc.poll() is not None:
            raise Failure("slipway exited at start: " + "\n".join(self.lines[-20:]))
        self.port = started[0]["port"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self.down()
            shutil.rmtree(self.dir, ignore_errors=True)

    def down(self):
        """Stops the apps and the ingress slipway leaves running (`slipway down`): they outlive
        it by design, and a test must not leave them behind."""
        if os.path.isdir(os.path.join(self.data_dir, "deployer")) or \
                os.path.isdir(os.path.join(self.data_dir, "ingress")):
            subprocess.run([BIN, "down", "--data-dir", self.data_dir], capture_output=True,
                           timeout=120)

    def stop(self, expect_rc=0):
        """SIGTERM, then the exit status must be <expect_rc> (sanitizer reports fail it)."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            rc = self.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("slipway did not exit within 60 s of SIGTERM")
        if rc != expect_rc:
            raise Failure(f"slipway exited {rc}, want {expect_rc}:\n" + "\n".join(self.lines[-30:]))
        return rc

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            c.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def raw(self, data, timeout=10, read_until_close=True):
        """Sends raw bytes on a new connection and returns everything read until close."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            return read_all(s) if read_until_close else s.recv(65536)
        finally:
            s.close()


def read_all(s):
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def status_of(raw):
    """The status code of a raw HTTP/1.1 response."""
    line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise Failure(f"not an HTTP response: {raw[:200]!r}")
    return int(parts[1])


def body_of(raw):
    return raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------- users and GraphQL

PASSWORD_RE = __import__("re").compile(
    r"password \(shown only this once, keep it safe\): (\S+)")


def admin_create(s, email=None, name=None, store=None):
    """A user made with `slipway admin create` in <s>'s data directory (and <store>, a
    postgres:// URL, when <s> runs on one): (email, password)."""
    import uuid
    email = email or f"u-{uuid.uuid4().hex[:12]}@example.test"
    args = [BIN, "admin", "create", "--email", email, "--data-dir", os.path.join(s.dir, "data")]
    if name:
        args += ["--name", name]
    if store:
        args += ["--store", store]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    m = PASSWORD_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise Failure(f"admin create exited {p.returncode}: {p.stderr}")
    return email, m.group(1)


def login(s, email, password):
    """The access token of a login that must succeed."""
    status, _, body = s.request("POST", "/auth/login",
                                body=json.dumps({"email": email, "password": password}),
                                headers={"Content-Type": "application/json"})
    if status != 200:
        raise Failure(f"login {email}: {status} {body!r}")
    return json.loads(body)["accessToken"]


def gql_raw(s, query, variables=None, token=None, ws=None):
    """A GraphQL request over HTTP: (status, parsed body)."""
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if ws:
        h["X-Slipway-Workspace"] = ws
    status, _, body = s.request("POST", "/graphql",
                                body=json.dumps({"query": query, "variables": variables or {}}),
                                headers=h)
    return status, json.loads(body)


def gql_data(s, query, variables=None, token=None, ws=None):
    """A GraphQL request over HTTP that must succeed; returns its data."""
    status, d = gql_raw(s, query, variables, token, ws)
    if status != 200 or d.get("errors"):
        raise Failure(f"graphql {query[:60]!r}: {status} {d}")
    return d["data"]


def new_user(s, name=None, store=None):
    """A new user, logged in: (access token, user id, email)."""
    email, password = admin_create(s, name=name, store=store)
    token = login(s, email, password)
    return token, gql_data(s, "{ me { id } }", token=token)["me"]["id"], email
