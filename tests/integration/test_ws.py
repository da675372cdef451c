"""The WebSocket layer (RFC 6455) and asynchronous handlers, driven by real clients against
tests/tools/http-testd (the http module with test routes)."""
import asyncio
import base64
import os
import signal
import socket
import struct
import time

import websockets

from harness import BUILD, Failure, Process, read_all, run, status_of, test, wait_until

TESTD = os.path.join(BUILD, "tests", "http-testd")


class Testd(Process):
    def __init__(self):
        super().__init__([TESTD])
        ev = wait_until(lambda: self.events("testd.started") or self.proc.poll() is not None,
                        what="testd.started")
        if self.proc.poll() is not None:
            raise Failure("http-testd exited: " + "\n".join(self.lines[-20:]))
        self.port = ev[0]["port"]
        self.url = f"ws://127.0.0.1:{self.port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        rc = self.wait(30)
        if rc != 0:
            raise Failure(f"http-testd exited {rc}:\n" + "\n".join(self.lines[-30:]))


def arun(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def handshake(port, path="/ws/echo"):
    """A raw socket past the opening handshake, for frames no client library would send."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise Failure(f"handshake refused: {head!r}")
    return s


def read_frame(s):
    b0, b1 = s.recv(1)[0], s.recv(1)[0]
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", s.recv(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", s.recv(8))[0]
    data = b""
    while len(data) < n:
        data += s.recv(n - len(data))
    return b0 & 0x0F, data


@test
def echo_text_and_binary(t):
    async def go(url):
        async with websockets.connect(url + "/ws/echo") as ws:
            await ws.send("héllo wörld")
            t.eq(await ws.recv(), "héllo wörld")
            await ws.send(bytes(range(256)) * 300)  # 76,800 bytes: a 64-bit length frame
            t.eq(await ws.recv(), bytes(range(256)) * 300)
    with Testd() as d:
        arun(go(d.url))


@test
def fragmented_message_arrives_joined(t):
    async def go(url):
        async with websockets.connect(url + "/ws/echo") as ws:
            await ws.send(iter(["frag", "men", "ted ✓"]))  # three frames, one message
            t.eq(await ws.recv(), "fragmented ✓")
    with Testd() as d:
        arun(go(d.url))


@test
def ping_is_answered_with_pong(t):
    async def go(url):
        async with websockets.connect(url + "/ws/echo") as ws:
            waiter = await ws.ping(b"are you there")
            await asyncio.wait_for(waiter, 5)
    with Testd() as d:
        arun(go(d.url))


@test
def close_handshake_echoes_code(t):
    async def go(url):
        ws = await websockets.connect(url + "/ws/echo")
        await ws.close(code=4000, reason="bye")
        t.eq(ws.close_code, 4000, "close code the server sent back")
    with Testd() as d:
        arun(go(d.url))
        ev = wait_until(lambda: d.events("testd.ws_closed"), what="on_close")
        t.eq(ev[0]["code"], 4000)
        t.eq(ev[0]["reason"], "bye")


@test
def unmasked_client_frame_is_closed_with_1002(t):
    with Testd() as d:
        s = handshake(d.port)
        s.sendall(bytes([0x81, 0x02]) + b"hi")  # FIN + text, no mask bit
        op, data = read_frame(s)
        t.eq(op, 0x8, "opcode")
        t.eq(struct.unpack("!H", data[:2])[0], 1002, "close code")
        s.close()


@test
def subprotocol_is_required_where_the_route_asks(t):
    async def go(url):
        async with websockets.connect(url + "/ws/gql",
                                      subprotocols=["graphql-transport-ws"]) as ws:
            t.eq(ws.subprotocol, "graphql-transport-ws")
            await ws.send("{}")
            t.eq(await ws.recv(), "{}")
        try:
            await websockets.connect(url + "/ws/gql")
        except websockets.exceptions.InvalidStatusCode as e:
            t.eq(e.status_code, 400)
        else:
            raise Failure("a handshake without the subprotocol was accepted")
    with Testd() as d:
        arun(go(d.url))


@test
def plain_get_on_a_websocket_route_is_refused(t):
    with Testd() as d:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        s.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = read_all(s)
        t.eq(status_of(raw), 400)
        t.contains(raw.decode(), "Upgrade")


@test
def client_that_does_not_read_is_closed_with_1008(t):
    with Testd() as d:
        s = handshake(d.port, "/ws/flood")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(bytes([0x81, 0x80]) + os.urandom(4))  # empty masked text: start the flood
        ev = wait_until(lambda: d.events("testd.ws_closed"), what="the server to give up")
        t.eq(ev[0]["code"], 1008)
        t.contains(ev[0]["reason"], "too slow")
        s.close()


@test
def server_shutdown_closes_websockets_with_1001_and_exits_0(t):
    async def go(d):
        ws = await websockets.connect(d.url + "/ws/echo")
        d.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.exceptions.ConnectionClosed:
            pass
        t.eq(ws.close_code, 1001)
    d = Testd()
    try:
        arun(go(d))
        t.eq(d.wait(30), 0, "exit status")
    finally:
        d.kill()


@test
def asynchronous_handler_answers_later_and_shutdown_waits_for_it(t):
    with Testd() as d:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=20)
        s.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: d.events("http.request") or True, timeout=1)
        time.sleep(0.5)  # the request is in flight, its handler waiting on a timer
        d.signal(signal.SIGTERM)  # grace is 5 s: the answer at 1.5 s still goes out
        raw = read_all(s)
        t.eq(status_of(raw), 200)
        t.contains(raw.decode(), '"slow":true')


run()
