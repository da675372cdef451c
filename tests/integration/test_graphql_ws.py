"""GraphQL over WebSocket at /graphql, the graphql-transport-ws protocol (docs/graphql.md):
connection_init with a credential, every close code of the protocol, ping/pong, queries and
mutations over the socket, a live workspaceActivity stream fed by mutations made elsewhere,
membership checked again on every subscribe and streams ended when access goes, and a client
too slow to read closed with a reason instead of losing events silently. Real clients:
python3-websockets (asyncio) and, for the slow reader, a raw socket."""
import asyncio
import base64
import json
import os
import socket
import sqlite3
import struct
import threading
import time

import websockets

from harness import Failure, Slipway, admin_create, gql_data, new_user, run, test

PROTO = "graphql-transport-ws"


# ---------------------------------------------------------------- helpers

def post(s, path, obj, token=None, ws=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if ws:
        h["X-Slipway-Workspace"] = ws
    status, _, body = s.request("POST", path, body=json.dumps(obj), headers=h)
    return status, json.loads(body)


gql = gql_data


def user(s):
    return new_user(s)


def team(s):
    """A (ADMIN of team-x) and B (invited as <role>, joined): (token, id, email) each."""
    a, b = user(s), user(s)
    gql(s, 'mutation { createWorkspace(input:{id:"team-x", name:"Team X"}) { id } }', token=a[0])
    inv = gql(s, "mutation($e:String!){ inviteMember(input:{email:$e, role:ADMIN}) { token } }",
              {"e": b[2]}, token=a[0], ws="team-x")
    gql(s, "mutation($t:String!){ acceptInvitation(token:$t) { role } }",
        {"t": inv["inviteMember"]["token"]}, token=b[0])
    return a, b


def arun(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(s):
    return f"ws://127.0.0.1:{s.port}/graphql"


async def connect(s):
    return await websockets.connect(url(s), subprotocols=[PROTO])


async def recv(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def closed_with(ws, timeout=10):
    """Waits for the server to close; returns (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.exceptions.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason


async def ready(s, token, workspace=None, key="authorization"):
    """A connection past connection_ack."""
    ws = await connect(s)
    payload = {key: f"Bearer {token}" if key == "authorization" else token}
    if workspace:
        payload["workspace"] = workspace
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    msg = await recv(ws)
    if msg != {"type": "connection_ack"}:
        raise Failure(f"expected connection_ack, got {msg}")
    return ws


async def subscribe(ws, id, query, variables=None):
    await ws.send(json.dumps({"id": id, "type": "subscribe",
                              "payload": {"query": query, "variables": variables or {}}}))


ACTIVITY = "subscription { workspaceActivity { id action target outcome actorId workspace } }"


# ---------------------------------------------------------------- connection_init

@test
def init_timeout_closes_with_4408(t):
    with Slipway(config="gateway.graphql_ws_init_timeout = 300ms\n") as s:
        async def go():
            ws = await connect(s)
            t.eq(ws.subprotocol, PROTO)
            code, reason = await closed_with(ws)
            t.eq((code, reason), (4408, "Connection initialisation timeout"))
        arun(go())


@test
def bad_or_missing_credential_closes_with_4403(t):
    with Slipway() as s:
        token, _, _ = user(s)
        other, _, _ = user(s)
        gql(s, 'mutation { createWorkspace(input:{id:"theirs", name:"T"}) { id } }', token=other)

        async def refused(payload):
            ws = await connect(s)
            msg = {"type": "connection_init"}
            if payload is not None:
                msg["payload"] = payload
            await ws.send(json.dumps(msg))
            return await closed_with(ws)

        async def go():
            for payload in [None, {}, {"authorization": "Bearer nope"},
                            {"authorization": "Basic eDp5"}, {"token": "slp_nope"},
                            {"token": token, "workspace": "theirs"},
                            {"token": token, "workspace": "x" * 100}]:
                t.eq(await refused(payload), (4403, "Forbidden"), f"payload {payload}")
            ws = await ready(s, token, key="token")  # {"token": …} works as well
            await ws.close()
            ws = await ready(s, token, workspace=None)
            await ws.close()
        arun(go())


@test
def protocol_violations_close_with_their_codes(t):
    with Slipway() as s:
        token, _, _ = user(s)

        async def go():
            ws = await ready(s, token)
            await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
            t.eq(await closed_with(ws), (4429, "Too many initialisation requests"))

            ws = await connect(s)
            await subscribe(ws, "1", "{ me { id } }")
            t.eq(await closed_with(ws), (4401, "Unauthorized"), "subscribe before init")


            ws = await ready(s, token)
            await subscribe(ws, "dup", ACTIVITY)
            await subscribe(ws, "dup", ACTIVITY)
            t.eq(await closed_with(ws), (4409, "Subscriber for dup already exists"))

            # init sent but not acknowledged yet (both frames in one write, so the server
            # reads the subscribe before the check of the init is back): still unauthorized
            sock = raw_handshake(s)
            sock.sendall(ws_frame(json.dumps({"type": "connection_init",
                                              "payload": {"token": token}}).encode()) +
                         ws_frame(json.dumps({"id": "1", "type": "subscribe",
                                              "payload": {"query": "{ me { id } }"}}).encode()))
            op, data = read_frame(sock)
            sock.close()
            t.eq((op, struct.unpack("!H", data[:2])[0]), (0x8, 4401), "subscribe before the ack")

            for bad in ["not json", "[]", "{}", '{"type": 7}', '{"type": "hello"}',
                        '{"type": "next", "id": "1", "payload": {}}',
                        '{"type": "subscribe", "payload": {"query": "{ me { id } }"}}',
                        '{"type": "subscribe", "id": "1"}',
                        '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
                        '{"type": "complete"}', b"binary"]:
                ws = await ready(s, token)
                await ws.send(bad)
                code, reason = await closed_with(ws)
                t.eq(code, 4400, f"{bad!r}: {reason}")
                t.true(reason.startswith("Invalid message"), reason)
        arun(go())


@test
def ping_gets_pong_at_any_time(t):
    with Slipway() as s:
        token, _, _ = user(s)

        async def go():
            ws = await connect(s)
            await ws.send(json.dumps({"type": "ping"}))
            t.eq(await recv(ws), {"type": "pong"}, "before connection_init")
            await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
            t.eq(await recv(ws), {"type": "connection_ack"})
            await ws.send(json.dumps({"type": "ping", "payload": {"x": 1}}))
            t.eq(await recv(ws), {"type": "pong"})
            await ws.send(json.dumps({"type": "pong"}))  # unasked pongs are fine
            await ws.send(json.dumps({"type": "ping"}))
            t.eq(await recv(ws), {"type": "pong"})
            await ws.close()
        arun(go())


# ---------------------------------------------------------------- operations

@test
def queries_and_mutations_answer_with_next_then_complete(t):
    with Slipway() as s:
        token, uid, _ = user(s)

        async def go():
            ws = await ready(s, token)
            await subscribe(ws, "q", "query Me { me { id } }")
            t.eq(await recv(ws), {"id": "q", "type": "next", "payload": {"data": {"me": {"id": uid}}}})
            t.eq(await recv(ws), {"id": "q", "type": "complete"})
            await subscribe(ws, "m", 'mutation { createApiToken(name:"ws") { name } }')
            msg = await recv(ws)
            t.eq(msg["payload"], {"data": {"createApiToken": {"name": "ws"}}})
            t.eq(await recv(ws), {"id": "m", "type": "complete"})
            await subscribe(ws, "q", "{ apiTokens { name } }")  # an id may be used again
            t.eq((await recv(ws))["payload"]["data"]["apiTokens"], [{"name": "ws"}])
            t.eq(await recv(ws), {"id": "q", "type": "complete"})
            # request errors: an error message with the errors, and no complete
            await subscribe(ws, "v", "{ me { nope } }")
            msg = await recv(ws)
            t.eq((msg["id"], msg["type"]), ("v", "error"))
            t.eq(msg["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED")
            t.true(msg["payload"][0]["locations"], msg)
            await subscribe(ws, "p", "{ me { id }")
            msg = await recv(ws)
            t.eq((msg["type"], msg["payload"][0]["extensions"]["code"]),
                 ("error", "GRAPHQL_PARSE_FAILED"))
            await subscribe(ws, "x", "query($n:Int!){ auditLog(limit:$n) { id } }")
            msg = await recv(ws)
            t.eq(msg["type"], "error", msg)
            # field errors travel in next
            await subscribe(ws, "f", "{ auditLog(limit: 0) { id } }")
            msg = await recv(ws)
            t.eq((msg["type"], msg["payload"]["errors"][0]["extensions"]["code"]),
                 ("next", "BAD_USER_INPUT"))
            t.eq(await recv(ws), {"id": "f", "type": "complete"})
            # the connection is still fine
            await ws.send(json.dumps({"type": "ping"}))
            t.eq(await recv(ws), {"type": "pong"})
            await ws.close()
        arun(go())


async def first_event(ws, id, trigger, timeout=10):
    """Runs <trigger>() until a next for <id> arrives (a subscription starts after a check on
    the worker pool, which nothing acknowledges); returns the payload."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await loop.run_in_executor(None, trigger)
        try:
            msg = await recv(ws, 0.3)
        except asyncio.TimeoutError:
            continue
        if msg.get("id") == id and msg["type"] == "next":
            return msg["payload"]
        raise Failure(f"unexpected {msg}")
    raise Failure("no event arrived")


@test
def workspace_activity_streams_mutations_made_elsewhere(t):
    with Slipway() as s:
        a, b = team(s)

        def rename(n=[0]):
            n[0] += 1
            gql(s, "mutation($n:String!){ updateWorkspace(input:{name:$n}) { id } }",
                {"n": f"Team {n[0]}"}, token=b[0], ws="team-x")

        async def go():
            ws = await ready(s, a[0], workspace="team-x")
            await subscribe(ws, "act", ACTIVITY)
            ev = await first_event(ws, "act", rename)
            e = ev["data"]["workspaceActivity"]
            t.eq((e["action"], e["outcome"], e["actorId"], e["workspace"], e["target"]),
                 ("workspace.update", "OK", b[1], "team-x", "team-x"))
            # entries of another workspace do not reach it
            await asyncio.get_running_loop().run_in_executor(None, lambda: gql(
                s, 'mutation { updateWorkspace(input:{name:"mine"}) { id } }', token=a[0]))
            await asyncio.get_running_loop().run_in_executor(None, lambda: gql(
                s, 'mutation { createApiToken(name:"t") { id } }', token=b[0], ws="team-x"))
            msg = await recv(ws)
            t.eq(msg["payload"]["data"]["workspaceActivity"]["action"], "token.create", msg)
            # complete from the client stops it
            await ws.send(json.dumps({"id": "act", "type": "complete"}))
            await asyncio.get_running_loop().run_in_executor(None, rename)
            await ws.send(json.dumps({"type": "ping"}))
            t.eq(await recv(ws), {"type": "pong"}, "nothing more for act")
            # a USER may not follow it
            ws2 = await ready(s, a[0], workspace="team-x")
            await asyncio.get_running_loop().run_in_executor(None, lambda: gql(
                s, "mutation($u:ID!){ updateMemberRole(input:{userId:$u, role:USER}) { id } }",
                {"u": b[1]}, token=a[0], ws="team-x"))
            wsb = await ready(s, b[0], workspace="team-x")
            await subscribe(wsb, "x", ACTIVITY)
            msg = await recv(wsb)
            t.eq((msg["id"], msg["type"], msg["payload"][0]["extensions"]["code"]),
                 ("x", "error", "FORBIDDEN"))
            for w in (ws, ws2, wsb):
                await w.close()
        arun(go())


@test
def access_is_checked_again_on_every_subscribe_and_ends_streams(t):
    with Slipway() as s:
        a, b = team(s)

        def poke():
            gql(s, 'mutation { createApiToken(name:"poke") { id } }', token=a[0], ws="team-x")

        async def go():
            wsb = await ready(s, b[0], workspace="team-x")
            await subscribe(wsb, "s1", ACTIVITY)
            await first_event(wsb, "s1", poke)
            # B loses the ADMIN role: the stream ends with an error
            await asyncio.get_running_loop().run_in_executor(None, lambda: gql(
                s, "mutation($u:ID!){ updateMemberRole(input:{userId:$u, role:USER}) { id } }",
                {"u": b[1]}, token=a[0], ws="team-x"))
            while True:
                msg = await recv(wsb)
                if msg["type"] != "next":
                    break
            t.eq((msg["id"], msg["type"]), ("s1", "error"), msg)
            t.eq(msg["payload"][0]["extensions"]["code"], "FORBIDDEN")
            # made ADMIN again, streaming again; then removed: the stream ends, and the next
            # subscribe on the same connection is refused
            await asyncio.get_running_loop().run_in_executor(None, lambda: gql(
                s, "mutation($u:ID!){ updateMemberRole(input:{userId:$u, role:ADMIN}) { id } }",
                {"u": b[1]}, token=a[0], ws="team-x"))
            await subscribe(wsb, "s2", ACTIVITY)
            await first_event(wsb, "s2", poke)
            await subscribe(wsb, "q1", "{ workspace { id } }")
            while True:
                msg = await recv(wsb)
                if msg.get("id") == "q1":
                    break
            t.eq(msg["payload"], {"data": {"workspace": {"id": "team-x"}}})
            await asyncio.get_running_loop().run_in_executor(None, lambda: gql(
                s, "mutation($u:ID!){ removeMember(userId:$u) }", {"u": b[1]}, token=a[0],
                ws="team-x"))
            ended = False
            while not ended:
                msg = await recv(wsb)
                ended = msg.get("id") == "s2" and msg["type"] == "error"
                t.true(msg["type"] in ("next", "error", "complete"), msg)
            t.eq(msg["payload"][0]["extensions"]["code"], "FORBIDDEN")
            await subscribe(wsb, "q2", "{ workspace { id } }")
            msg = await recv(wsb)
            t.eq((msg["id"], msg["type"]), ("q2", "error"), msg)
            t.eq(msg["payload"][0]["extensions"]["code"], "FORBIDDEN")
            t.true("not a member of workspace team-x" in msg["payload"][0]["message"], msg)
            await wsb.close()
            # a new connection for that workspace is refused outright
            ws = await connect(s)
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"token": b[0], "workspace": "team-x"}}))
            t.eq(await closed_with(ws), (4403, "Forbidden"))
        arun(go())


@test
def deleting_the_workspace_ends_its_streams(t):
    with Slipway() as s:
        a, b = team(s)

        def poke():
            gql(s, 'mutation { createApiToken(name:"poke") { id } }', token=b[0], ws="team-x")

        async def go():
            wsa = await ready(s, a[0], workspace="team-x")
            await subscribe(wsa, "s", ACTIVITY)
            await first_event(wsa, "s", poke)
            await asyncio.get_running_loop().run_in_executor(None, lambda: gql(
                s, "mutation { deleteWorkspace }", token=b[0], ws="team-x"))
            while True:
                msg = await recv(wsa)
                if msg["type"] != "next":
                    break
            t.eq((msg["id"], msg["type"], msg["payload"][0]["extensions"]["code"]),
                 ("s", "error", "FORBIDDEN"))
            await wsa.close()
        arun(go())


@test
def a_recheck_catches_what_events_cannot_see(t):
    with Slipway(config="gateway.graphql_ws_recheck_interval = 1s\n") as s:
        a, b = team(s)
        email, password = admin_create(s)
        status, body = post(s, "/auth/login", {"email": email, "password": password,
                                               "returnRefreshToken": True})
        c_token, refresh = body["accessToken"], body["refreshToken"]

        def poke_team():
            gql(s, 'mutation { createApiToken(name:"poke") { id } }', token=a[0], ws="team-x")

        def poke_own():
            gql(s, 'mutation { createApiToken(name:"poke") { id } }', token=c_token)

        async def go():
            # B's membership goes behind the gateway's back: the stream ends within a second
            wsb = await ready(s, b[0], workspace="team-x")
            await subscribe(wsb, "s", ACTIVITY)
            await first_event(wsb, "s", poke_team)
            db = sqlite3.connect(os.path.join(s.dir, "data", "gateway.db"), timeout=10)
            with db:
                db.execute("DELETE FROM memberships WHERE user_id = ?", (b[1],))
            db.close()
            while True:
                msg = await recv(wsb, 10)
                if msg["type"] != "next":
                    break
            t.eq((msg["id"], msg["type"], msg["payload"][0]["extensions"]["code"]),
                 ("s", "error", "FORBIDDEN"))
            await wsb.close()
            # C logs out: the connection with a running stream is closed within a second
            wsc = await ready(s, c_token)
            await subscribe(wsc, "s", ACTIVITY)
            await first_event(wsc, "s", poke_own)
            status, _ = await asyncio.get_running_loop().run_in_executor(
                None, lambda: s.request("POST", "/auth/logout",
                                        body=json.dumps({"refreshToken": refresh}),
                                        headers={"Content-Type": "application/json"})[:2])
            t.eq(status, 204)
            t.eq(await closed_with(wsc, 10), (4403, "Forbidden"))
        arun(go())


@test
def a_subscribe_after_logout_is_refused_and_closes(t):
    with Slipway() as s:
        email, password = admin_create(s)
        status, body = post(s, "/auth/login", {"email": email, "password": password,
                                               "returnRefreshToken": True})

        async def go():
            ws = await ready(s, body["accessToken"])
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: s.request("POST", "/auth/logout",
                                        body=json.dumps({"refreshToken": body["refreshToken"]}),
                                        headers={"Content-Type": "application/json"}))
            await subscribe(ws, "q", "{ me { id } }")
            msg = await recv(ws)
            t.eq((msg["id"], msg["type"], msg["payload"][0]["extensions"]["code"]),
                 ("q", "error", "UNAUTHENTICATED"))
            t.eq(await closed_with(ws), (4403, "Forbidden"))
        arun(go())


# ---------------------------------------------------------------- a reader too slow

def ws_frame(data, opcode=0x1):
    """A masked client frame."""
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise Failure("connection ended inside a frame")
        data += chunk
    return data


def read_frame(sock):
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    return b0 & 0x0F, recv_exact(sock, n)


def raw_handshake(s):
    """A raw socket with a tiny receive buffer, past the opening handshake."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(20)
    sock.connect(("127.0.0.1", s.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {PROTO}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise Failure(f"handshake refused: {head!r}")
    return sock


def raw_ready(s, token):
    """raw_handshake() past connection_ack."""
    sock = raw_handshake(s)
    sock.sendall(ws_frame(json.dumps({"type": "connection_init",
                                      "payload": {"token": token}}).encode()))
    op, data = read_frame(sock)
    if json.loads(data) != {"type": "connection_ack"}:
        raise Failure(f"no ack: {data!r}")
    return sock


@test
def a_slow_reader_is_closed_with_a_reason_not_skipped(t):
    conf = ("gateway.graphql_ws_send_buffer = 4KiB\n"
            "gateway.graphql_max_aliases = 2000\n"
            "gateway.graphql_max_cost = 100000\n")
    with Slipway(config=conf) as s:
        token, _, _ = user(s)
        sock = raw_ready(s, token)
        # each event becomes a message of about 250 KB: 1,000 copies of its detail, so that
        # a second or so of events is more than the kernel's socket buffers take (~4 MB)
        fields = " ".join(f"d{i}: detail" for i in range(1000))
        sock.sendall(ws_frame(json.dumps({"id": "a", "type": "subscribe", "payload": {
            "query": "subscription { workspaceActivity { target %s } }" % fields}}).encode()))
        # a started stream is visible only through its events: poke until one arrives
        sock.settimeout(0.5)
        for _ in range(40):
            post(s, "/graphql", {"query": 'mutation { removeMember(userId: "warm-up") }'}, token)
            try:
                op, data = read_frame(sock)
                break
            except socket.timeout:
                continue
        else:
            raise Failure("the stream never started")
        t.eq(json.loads(data)["payload"]["data"]["workspaceActivity"]["target"], "warm-up")
        while True:  # the other warm-up events
            try:
                read_frame(sock)
            except socket.timeout:
                break
        # now stop reading while 150 entries are written in order (token.create, each naming
        # its token), far more than the send buffer and the sockets can hold. The mutations
        # must succeed: a failing non-null root field ends a mutation document.
        pad = "x" * 190
        batch = " ".join(f'c{i}: createApiToken(name: "u{i:04d}{pad}") {{ id }}'
                         for i in range(150))
        writer = threading.Thread(target=post, args=(s, "/graphql",
                                                     {"query": "mutation { %s }" % batch}, token))
        writer.start()
        time.sleep(1.5)  # the buffers fill within the first second; the server waits 2 s
        sock.settimeout(20)  # for the close handshake, so reading starts before that
        targets, close = [], None
        while close is None:
            op, data = read_frame(sock)
            if op == 0x8:
                close = (struct.unpack("!H", data[:2])[0], data[2:].decode())
            elif op == 0x1:
                entry = json.loads(data)["payload"]["data"]["workspaceActivity"]
                targets.append(json.loads(entry["d0"])["name"])
        sock.close()
        writer.join(60)
        t.eq(close[0], 1008, f"close {close}")
        t.true("too slow" in close[1], close)
        t.true(0 < len(targets) < 150, f"{len(targets)} events before the close")
        t.eq(targets, [f"u{i:04d}{pad}" for i in range(len(targets))],
             "the events that came are the first ones, in order, without a gap")
        # the server is fine
        gql(s, "{ me { id } }", token=token)
        t.true(any(e.get("ev") == "gateway.graphql_ws_slow_consumer" for e in s.events()),
               "the disconnect was logged")


if __name__ == "__main__":
    run()
