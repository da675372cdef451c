"""The HTTP server as users meet it: the real binary over real sockets."""
import json
import os
import re
import shutil
import signal
import socket
import time

from harness import Failure, Slipway, body_of, read_all, run, status_of, test, wait_until

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def json_error(t, body, code):
    doc = json.loads(body)
    t.eq(doc["error"]["code"], code, "error.code")
    t.true(doc["error"]["message"], "error.message is empty")
    return doc


@test
def healthz_and_security_headers(t):
    with Slipway() as s:
        status, h, body = s.get("/healthz")
        t.eq(status, 200)
        t.eq(json.loads(body), {"status": "ok"})
        t.eq(h["content-type"], "application/json")
        t.eq(h["x-content-type-options"], "nosniff")
        t.eq(h["x-frame-options"], "DENY")
        t.eq(h["cache-control"], "no-store")
        t.true("x-request-id" not in h, "/healthz is a canned response, without a request id")
        status, h, body = s.get("/readyz")  # built per request: it carries its id
        t.true(UUID7.match(h["x-request-id"]), f"X-Request-Id {h['x-request-id']} is not UUIDv7")
        t.eq(h["x-frame-options"], "DENY")
        status, h, body = s.get("/nope")
        t.eq(json.loads(body)["error"]["requestId"], h["x-request-id"])


@test
def readyz_reports_each_check_and_503_when_one_fails(t):
    with Slipway() as s:
        status, _, body = s.get("/readyz")
        t.eq(status, 200)
        doc = json.loads(body)
        t.eq(doc["status"], "ready")
        t.eq(doc["checks"]["data_dir"]["status"], "ok")
        shutil.rmtree(os.path.join(s.dir, "data"))  # the data directory disappears
        status, _, body = s.get("/readyz")
        t.eq(status, 503)
        doc = json.loads(body)
        t.eq(doc["checks"]["data_dir"]["status"], "failing")
        t.contains(doc["checks"]["data_dir"]["error"], "data")


@test
def unknown_path_is_404_and_wrong_method_405_with_allow(t):
    with Slipway() as s:
        status, _, body = s.get("/no/such/thing")
        t.eq(status, 404)
        json_error(t, body, "not_found")
        status, h, body = s.request("DELETE", "/healthz")
        t.eq(status, 405)
        t.contains(h["allow"], "GET")
        json_error(t, body, "method_not_allowed")
        status, _, _ = s.request("HEAD", "/healthz")
        t.eq(status, 200)


@test
def path_tricks_are_rejected_with_the_rule(t):
    with Slipway() as s:
        for path, rule in [("/x/../healthz", "'..'"), ("/x/%2e%2e/healthz", "'..'"),
                           ("/healthz%00", "NUL"), ("/a//b", "empty segment"),
                           ("/bad%zzescape", "percent-encoding")]:
            raw = s.raw(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            t.eq(status_of(raw), 400, path)
            t.contains(json_error(t, body_of(raw), "invalid")["error"]["message"], rule, path)


@test
def cors_only_for_the_configured_origin(t):
    with Slipway(config="http.cors_origin = http://localhost:5173\n") as s:
        status, h, _ = s.request("OPTIONS", "/healthz", headers={
            "Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"})
        t.eq(status, 204)
        t.eq(h.get("access-control-allow-origin"), "http://localhost:5173")
        t.contains(h.get("access-control-allow-methods", ""), "GET")
        _, h, _ = s.get("/healthz", headers={"Origin": "http://localhost:5173"})
        t.eq(h.get("access-control-allow-origin"), "http://localhost:5173")
        _, h, _ = s.get("/healthz", headers={"Origin": "http://evil.example"})
        t.eq(h.get("access-control-allow-origin"), None, "foreign origin")


@test
def oversized_url_header_and_body_get_414_431_413_json(t):
    cfg = "http.max_url_bytes = 1KiB\nhttp.max_header_bytes = 2KiB\nhttp.max_body_bytes = 1KiB\n"
    with Slipway(config=cfg) as s:
        raw = s.raw(b"GET /healthz?" + b"a" * 1500 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        t.eq(status_of(raw), 414)
        json_error(t, body_of(raw), "uri_too_long")
        raw = s.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 2500 + b"\r\n\r\n")
        t.eq(status_of(raw), 431)
        json_error(t, body_of(raw), "headers_too_large")
        raw = s.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
                    b"c" * 5000)
        t.eq(status_of(raw), 413)
        json_error(t, body_of(raw), "body_too_large")
        status, _, _ = s.get("/healthz")  # and the server is fine afterwards
        t.eq(status, 200)


@test
def far_oversized_head_is_refused_by_the_http_layer_itself(t):
    with Slipway() as s:
        raw = s.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (1 << 20) + b"\r\n\r\n")
        t.eq(status_of(raw), 431)
        raw = s.raw(b"GET /" + b"u" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        t.true(status_of(raw) in (414, 431), f"status {status_of(raw)}")
        t.eq(s.get("/healthz")[0], 200)


@test
def malformed_request_lines_get_400(t):
    with Slipway() as s:
        for line in [b"GET /healthz HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\nNo-Colon\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\n Folded: x\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nContent-Length: abc\r\nHost: x\r\n\r\n"]:
            raw = s.raw(line)
            t.true(raw, f"no answer to {line!r}")
            t.true(status_of(raw) in (400, 505), f"{line!r} got {status_of(raw)}")
        for line in [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"\x00\x01\x02\r\n\r\n",
                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"]:  # the last: TLS hello
            raw = s.raw(line)
            t.eq(status_of(raw), 400, repr(line))
            t.contains(json_error(t, body_of(raw), "invalid")["error"]["message"], "request line")
        raw = s.raw(b"GET /healthz HTTP/1.1\r\n\r\n")  # HTTP/1.1 requires Host
        t.eq(status_of(raw), 400)
        t.contains(json_error(t, body_of(raw), "invalid")["error"]["message"], "Host")
        t.eq(s.get("/healthz")[0], 200)


@test
def trickled_headers_are_dropped_at_the_header_timeout(t):
    with Slipway(config="http.header_timeout = 1s\n") as s:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200
        sent, dropped = 0, False
        for b in request:  # one byte every 100 ms: 20 s of trickle if nobody stops it
            try:
                c.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            sent += 1
            time.sleep(0.1)
            c.setblocking(False)
            try:
                data = c.recv(4096)
                if data == b"" or data.startswith(b"HTTP/1.1 408"):
                    dropped = True
                    break
            except BlockingIOError:
                pass
            finally:
                c.setblocking(True)
        c.close()
        t.true(dropped, f"connection still open after trickling {sent} bytes")
        t.true(sent < len(request), "the whole trickle got through")
        t.eq(s.get("/healthz")[0], 200)


@test
def keep_alive_holds_for_1000_sequential_requests(t):
    with Slipway() as s:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        buf = b""
        for i in range(1000):
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            while b"\r\n\r\n" not in buf:
                chunk = c.recv(65536)
                if not chunk:
                    raise Failure(f"server closed the connection after {i} requests")
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            t.true(head.startswith(b"HTTP/1.1 200"), f"request {i}: {head[:40]!r}")
            t.true(b"connection: close" not in head.lower(), f"request {i} closes")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(buf) < length:
                buf += c.recv(65536)
            buf = buf[length:]
        c.close()


@test
def sigterm_lets_an_in_flight_request_finish_then_exits_0(t):
    s = Slipway()
    try:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(0.3)  # the request is in flight: headers in, half the body
        s.signal(signal.SIGTERM)
        wait_until(lambda: s.events("slipway.stopping"), what="slipway.stopping")
        time.sleep(0.5)
        t.eq(s.proc.poll(), None, "exit status while a request is in flight")
        refused = False
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        except OSError:
            refused = True
        t.true(refused, "new connections are still accepted while draining")
        c.sendall(b"world")
        raw = read_all(c)
        c.close()
        t.eq(status_of(raw), 200)
        t.contains(raw.lower().decode(), "connection: close")
        t.eq(s.wait(30), 0, "exit status")
    finally:
        s.kill()
        shutil.rmtree(s.dir, ignore_errors=True)


@test
def request_metrics_count_by_route_and_status(t):
    with Slipway() as s:
        for _ in range(3):
            s.get("/healthz")
        s.get("/nothing-here")
        _, h, body = s.get("/metrics")
        text = body.decode()
        t.contains(h["content-type"], "text/plain")
        t.contains(text, 'http_requests_total{route="/healthz",method="GET",status="200"} 3')
        # A path no API route has is the dashboard's (the router's fallback), which answers a
        # program that does not ask for HTML with the API's JSON 404.
        t.contains(text, 'http_requests_total{route="/{path...}",method="GET",status="404"} 1')
        t.contains(text, 'http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 3')
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "http_requests_in_flight", "slipway_build_info"]:
            t.contains(text, name)


@test
def access_log_is_json_lines_without_query_strings(t):
    with Slipway() as s:
        s.get("/nothing?token=hunter2")
        wait_until(lambda: s.events("http.request"), what="an access log line")
        ev = s.events("http.request")[0]
        t.eq(ev["path"], "/nothing")
        t.eq(ev["status"], 404)
        t.true(UUID7.match(ev["req"]), "request id")
        t.true("hunter2" not in "\n".join(s.lines), "the query string reached the log")


run()
