"""The ingress with real nginx, driven through tests/tools/ingress-run.c: routing by Host,
a route switch under load losing no request, WebSocket, the 502 and 404 pages, restart after
SIGKILL, nothing left running after ingress_free(), and nginx serving on while slipway is
killed and restarted (the next start adopts it)."""
import base64
import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import BUILD, Failure, Slipway, run, test, wait_until

TOOL = os.path.join(BUILD, "tests", "ingress-run")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    """An HTTP server on a free port answering every GET with its name."""

    def __init__(self, name):
        body = name.encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Seen-Host", self.headers.get("X-Forwarded-Host", ""))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class EchoWs:
    """A minimal WebSocket server: handshake, then echoes each frame's payload once."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        with c:
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(4096)
            key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:")][0]
            accept = base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            h = recv_n(c, 2)
            n = h[1] & 0x7f
            mask = recv_n(c, 4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(recv_n(c, n)))
            c.sendall(bytes([0x81, len(data)]) + data)

    def close(self):
        self.sock.close()


def recv_n(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise Failure("connection closed early")
        out += chunk
    return out


class Ingress:
    """ingress-run on a free port in a temporary run directory."""

    def __init__(self, api="127.0.0.1:9", dir=None, port=None):
        self.dir = dir or tempfile.mkdtemp(prefix="slipway-ingress-")
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [TOOL, "--run", os.path.join(self.dir, "run"), "--port", str(self.port), "--api", api,
             "--grace", "3000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline().strip()
        if not first.startswith("ready "):
            self.proc.kill()
            raise Failure("ingress-run did not start: " + first)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def apply(self, routes):
        """routes: (host, label, reason or None, websocket, [upstream addr, ...])"""
        for host, label, reason, ws, ups in routes:
            got = self.cmd("route %s\t%s\t%s\t%d\t%s" % (host, label, reason or "-", ws,
                                                         ",".join(ups) or "-"))
            if got != "ok":
                raise Failure("route: " + got)
        return self.cmd("apply")

    def pid(self):
        return int(self.cmd("pid").split()[1])

    def get(self, host, path="/", timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path, headers={"Host": host, "Connection": "close"})
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace"), r
        finally:
            c.close()

    def nginx_pids(self):
        """The master and its workers now."""
        master = self.pid()
        pids = {master} if master else set()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == master:
                    pids.add(int(d))
        return pids

    def close(self):
        pids = self.nginx_pids() if self.proc.poll() is None else set()
        if self.proc.poll() is None:
            last = self.cmd("quit")
            self.proc.wait(30)
            if last != "stopped":
                raise Failure("quit answered " + last)
        shutil.rmtree(self.dir, ignore_errors=True)
        return pids

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def answers(ig, host):
    """(status, body), or None while nothing listens (nginx is being restarted)."""
    try:
        return ig.get(host, timeout=2)[:2]
    except OSError:
        return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@test
def routes_by_host_and_error_pages(t):
    a, b = Upstream("A"), Upstream("B")
    try:
        with Ingress() as ig:
            t.eq(ig.apply([("a.localhost", "acme/shop/prod/a", None, 0, [a.addr]),
                           ("b.localhost", "acme/shop/prod/b", None, 0, [b.addr]),
                           ("c.localhost", "acme/shop/prod/c",
                            "the last release crashed on start", 0, [])]), "ok")
            status, body, r = ig.get("a.localhost")
            t.eq((status, body), (200, "A"))
            t.eq(r.getheader("X-Seen-Host"), "a.localhost", "X-Forwarded-Host")
            t.eq(ig.get("b.localhost")[:2], (200, "B"))
            status, body, r = ig.get("c.localhost")
            t.eq(status, 502)
            t.contains(body, "acme/shop/prod/c has no ready replica: the last release crashed "
                       "on start")
            t.contains(r.getheader("Content-Type"), "text/html")
            status, body, _ = ig.get("nobody.localhost")
            t.eq(status, 404)
            t.contains(body, "No service answers at nobody.localhost")
            # A hostile route is refused and the routes in place keep serving.
            got = ig.apply([("a.localhost;include /etc/passwd", "x", None, 0, [a.addr])])
            t.contains(got, "error invalid")
            got = ig.apply([("A.localhost", "x", None, 0, [a.addr])])
            t.contains(got, "error invalid")
            t.eq(ig.get("a.localhost")[:2], (200, "A"))
            # A route whose replicas are all gone answers our 502 page.
            dead = "127.0.0.1:%d" % free_port()
            t.eq(ig.apply([("a.localhost", "acme/shop/prod/a", None, 0, [dead])]), "ok")
            status, body, _ = ig.get("a.localhost")
            t.eq(status, 502)
            t.contains(body, "acme/shop/prod/a has no replica answering")
    finally:
        a.close()
        b.close()


@test
def switching_routes_under_load_loses_no_request(t):
    a, b = Upstream("A"), Upstream("B")
    stop = threading.Event()
    seen, failures = {}, []
    t0 = time.monotonic()

    def load(ig):
        while not stop.is_set():
            try:
                status, body, _ = ig.get("app.localhost", timeout=5)
                if status != 200:
                    failures.append((round(time.monotonic() - t0, 3), status, body[:80]))
                seen[body] = seen.get(body, 0) + 1
            except Exception as e:  # any failed request counts
                failures.append(repr(e))

    try:
        with Ingress() as ig:
            t.eq(ig.apply([("app.localhost", "w/p/e/app", None, 0, [a.addr])]), "ok")
            threads = [threading.Thread(target=load, args=(ig,)) for _ in range(2)]
            for th in threads:
                th.start()
            time.sleep(0.5)
            for ups in ([a.addr, b.addr], [b.addr], [a.addr], [b.addr]):
                t.eq(ig.apply([("app.localhost", "w/p/e/app", None, 0, ups)]), "ok")
                time.sleep(0.4)
            served_b = seen.get("B", 0)
            time.sleep(0.5)
            stop.set()
            for th in threads:
                th.join(30)
            t.eq(failures[:5], [], "failed requests")
            t.true(seen.get("A", 0) > 10 and seen.get("B", 0) > served_b,
                   "both upstreams served and B last: %r" % seen)
            # Only B serves now.
            t.eq(ig.get("app.localhost")[:2], (200, "B"))
    finally:
        stop.set()
        a.close()
        b.close()


@test
def websocket_passes_through(t):
    echo = EchoWs()
    try:
        with Ingress() as ig:
            t.eq(ig.apply([("ws.localhost", "w/p/e/ws", None, 1, [echo.addr])]), "ok")
            s = socket.create_connection(("127.0.0.1", ig.port), timeout=10)
            with s:
                key = base64.b64encode(os.urandom(16))
                s.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
                head = b""
                while b"\r\n\r\n" not in head:
                    head += s.recv(4096)
                t.true(head.startswith(b"HTTP/1.1 101"), "handshake: %r" % head[:100])
                want = base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest())
                t.contains(head.decode(), want.decode(), "Sec-WebSocket-Accept")
                mask, data = os.urandom(4), b"hello through nginx"
                s.sendall(bytes([0x81, 0x80 | len(data)]) + mask +
                          bytes(c ^ mask[i % 4] for i, c in enumerate(data)))
                h = recv_n(s, 2)
                t.eq(recv_n(s, h[1] & 0x7f), data)
    finally:
        echo.close()


@test
def sigkill_of_nginx_is_repaired(t):
    a = Upstream("A")
    try:
        with Ingress() as ig:
            t.eq(ig.apply([("a.localhost", "w/p/e/a", None, 0, [a.addr])]), "ok")
            first = ig.pid()
            t.true(first > 0, "nginx runs")
            os.kill(first, signal.SIGKILL)
            wait_until(lambda: ig.pid() not in (0, first), timeout=10, what="a new master")
            # The new master comes up with the routes last applied.
            wait_until(lambda: answers(ig, "a.localhost") == (200, "A"), timeout=10,
                       what="routes served again")
            t.eq(ig.cmd("restarts"), "restarts 1")
            # Routes still change after the restart.
            t.eq(ig.apply([("z.localhost", "w/p/e/z", None, 0, [a.addr])]), "ok")
            t.eq(ig.get("z.localhost")[:2], (200, "A"))
            t.eq(ig.get("a.localhost")[0], 404)
    finally:
        a.close()


@test
def free_leaves_no_nginx(t):
    ig = Ingress()
    try:
        pids = ig.nginx_pids()
        t.true(len(pids) >= 2, "master and a worker: %r" % pids)
        pids = ig.close()
        t.eq([p for p in pids if alive(p)], [], "nginx processes left")
        with socket.socket() as s:
            t.eq(s.connect_ex(("127.0.0.1", ig.port)), 111, "port closed (ECONNREFUSED)")
    finally:
        if ig.proc.poll() is None:
            ig.proc.kill()


class Load:
    """Two client threads asking <host> through the ingress on <port> until stop()."""

    def __init__(self, port, host):
        self.ok, self.failures, self._stop = 0, [], threading.Event()
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self._loop, args=(port, host)) for _ in range(2)]
        for th in self.threads:
            th.start()

    def _loop(self, port, host):
        while not self._stop.is_set():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                c.request("GET", "/", headers={"Host": host, "Connection": "close"})
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    self.ok += 1
                else:
                    self.failures.append((round(time.monotonic() - self.t0, 3), r.status))
            except Exception as e:  # any failed request counts
                self.failures.append((round(time.monotonic() - self.t0, 3), repr(e)))
            finally:
                c.close()

    def stop(self):
        self._stop.set()
        for th in self.threads:
            th.join(30)


@test
def killed_owner_leaves_nginx_serving_and_the_next_one_adopts_it(t):
    a = Upstream("A")
    second, load, master = None, None, 0
    first = Ingress()
    try:
        t.eq(first.apply([("a.localhost", "w/p/e/a", None, 0, [a.addr])]), "ok")
        master = first.pid()
        first.proc.kill()  # SIGKILL: ingress_free() never runs
        first.proc.wait(10)
        t.true(alive(master), "nginx survived its owner's SIGKILL")
        t.eq(first.get("a.localhost")[:2], (200, "A"))
        load = Load(first.port, "a.localhost")
        time.sleep(0.3)
        second = Ingress(dir=first.dir, port=first.port)
        t.eq(second.pid(), master, "the running master is adopted, not replaced")
        t.eq(second.get("a.localhost")[:2], (200, "A"))
        t.eq(second.apply([("a.localhost", "w/p/e/a", None, 0, [a.addr]),
                           ("b.localhost", "w/p/e/b", None, 0, [a.addr])]), "ok")
        t.eq(second.get("b.localhost")[:2], (200, "A"))
        time.sleep(0.3)
        load.stop()
        t.eq(load.failures[:5], [], "failed requests while the owner changed")
        t.true(load.ok > 10, "requests served: %d" % load.ok)
        t.eq(second.cmd("restarts"), "restarts 0")
        pids = second.close()  # a clean stop ends the adopted nginx too
        t.eq([p for p in pids if alive(p)], [], "nginx processes left")
    finally:
        if load is not None:
            load.stop()
        for ig in (first, second):
            if ig is not None and ig.proc.poll() is None:
                ig.proc.kill()
        stop_orphan(master)
        a.close()


def stop_orphan(master):
    """A failed test must not leave an nginx nobody supervises holding a port."""
    if master and alive(master):
        os.kill(master, signal.SIGQUIT)
        wait_until(lambda: not alive(master), timeout=10, what="nginx to stop")


def nginx_master(run_dir):
    with open(os.path.join(run_dir, "nginx.pid")) as f:
        return int(f.read().strip())


def via_ingress(port, host, path="/"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path, headers={"Host": host, "Connection": "close"})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


@test
def slipway_killed_and_restarted_keeps_the_ingress_answering(t):
    """The real binary: SIGKILL leaves nginx up, the next start adopts it, SIGTERM stops it."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="slipway-ingress-data-")
    args = ("--set", "ingress.enabled=true", "--set", f"ingress.port={port}",
            "--data-dir", data)
    run_dir = os.path.join(data, "ingress")
    s, master = Slipway(*args), 0
    try:
        master = nginx_master(run_dir)
        t.eq(via_ingress(port, "nobody.localhost")[0], 404)
        s.kill()  # SIGKILL of slipway itself
        t.true(alive(master), "nginx survived slipway's SIGKILL")
        t.eq(via_ingress(port, "nobody.localhost")[0], 404)
        shutil.rmtree(s.dir, ignore_errors=True)
        s = Slipway(*args)
        t.eq(nginx_master(run_dir), master, "the restarted slipway adopted nginx")
        t.true(s.events("ingress.nginx_adopted"), "ingress.nginx_adopted logged")
        t.eq(via_ingress(port, "localhost", "/healthz")[0], 200)
        s.stop()
        t.true(not alive(master), "SIGTERM of slipway stops nginx")
    finally:
        s.kill()
        stop_orphan(master)
        shutil.rmtree(s.dir, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


run()
