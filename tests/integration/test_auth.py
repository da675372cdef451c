"""Identity over HTTP: /auth/login, /auth/refresh, /auth/logout, /auth/me, /.well-known/jwks.json,
the first-run administrator and `slipway admin create`. Every test runs on SQLite and, when
SLIPWAY_TEST_PG_URL is set, again on PostgreSQL (`--store <url>`)."""
import base64
import concurrent.futures
import json
import sqlite3
import os
import re
import shutil
import signal
import subprocess
import threading
import urllib.parse
import uuid

from harness import (BIN, Failure, Slipway, T, _tests, body_of, run, status_of, test,
                     wait_until)

PG_URL = os.environ.get("SLIPWAY_TEST_PG_URL")


def backends():
    """The store arguments of each backend under test: SQLite always, PostgreSQL when set."""
    yield "sqlite", []
    if PG_URL:
        yield "postgres", ["--store", PG_URL]


def both(fn):
    """Registers <fn>(t, store_args) once per backend, as <name>_sqlite and <name>_postgres."""
    for name, args in backends():
        def case(t, fn=fn, args=args):
            fn(t, args)
        case.__name__ = f"{fn.__name__}_{name}"
        _tests.append(case)
    return fn


def cli(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


PASSWORD_RE = re.compile(r"password \(shown only this once, keep it safe\): (\S+)")


def admin_create(s, store_args, email=None, name=None):
    """Creates a user in <s>'s data directory with the CLI; returns (email, password)."""
    email = email or f"u-{uuid.uuid4().hex[:12]}@example.test"
    args = ["admin", "create", "--email", email, "--data-dir", os.path.join(s.dir, "data"),
            *store_args]
    if name:
        args += ["--name", name]
    rc, out, err = cli(*args)
    if rc != 0:
        raise Failure(f"admin create exited {rc}: {err}")
    m = PASSWORD_RE.search(out)
    if not m:
        raise Failure(f"no password printed: {out!r}")
    return email, m.group(1)


def jpost(s, path, obj=None, headers=None, raw=None):
    body = raw if raw is not None else (json.dumps(obj) if obj is not None else None)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    status, hdrs, b = s.request("POST", path, body=body, headers=h)
    return status, hdrs, b


def set_cookies(s, path, body, headers=None):
    """POSTs and returns (status, {cookie name: (value, attributes)}, parsed body)."""
    c = s.conn()
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read()
        cookies = {}
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, rest = v.split("=", 1)
                value, _, attrs = rest.partition(";")
                cookies[name] = (value, attrs.strip())
        return r.status, cookies, (json.loads(data) if data else None), dict(
            (k.lower(), v) for k, v in r.getheaders())
    finally:
        c.close()


def login(s, email, password, cli_mode=True, headers=None):
    body = {"email": email, "password": password}
    if cli_mode:
        body["returnRefreshToken"] = True
    return set_cookies(s, "/auth/login", body, headers)


def me(s, token=None, cookie=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        h["Cookie"] = f"slipway_access={cookie}"
    status, hdrs, body = s.get("/auth/me", headers=h)
    return status, hdrs, json.loads(body) if body else None


def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify_es256(token, jwks):
    """True when <token>'s ES256 signature checks out against the JWK named by its kid (needs
    the cryptography package; without it, only the kid is checked)."""
    h, p, sig = token.split(".")
    header = json.loads(b64d(h))
    keys = {k["kid"]: k for k in jwks["keys"]}
    if header.get("alg") != "ES256" or header.get("kid") not in keys:
        return False
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    except ImportError:
        return True
    k = keys[header["kid"]]
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(k["x"]), "big"),
                                        int.from_bytes(b64d(k["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    raw = b64d(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        pub.verify(der, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
        return True
    except Exception:
        return False


def drop_pg_gateway():
    """The first-run test needs an empty gateway database: drop it (PostgreSQL only)."""
    subprocess.run(["psql", PG_URL, "-q", "-c", "DROP DATABASE IF EXISTS gateway WITH (FORCE)"],
                   check=True, capture_output=True, timeout=60)


# ---------------------------------------------------------------- first run and the CLI

@both
def first_run_prints_the_password_once_and_never_logs_it(t, store_args):
    if store_args:
        drop_pg_gateway()
    with Slipway(*store_args) as s:
        out = "\n".join(s.stdout)
        m = PASSWORD_RE.search(out)
        t.true(m is not None, f"no first-run password on stdout: {out!r}")
        password = m.group(1)
        t.eq(len(password), 20, "password length")
        t.true(password not in "\n".join(s.lines), "the password reached the log")
        status, cookies, body, _ = login(s, "admin@localhost", password)
        t.eq(status, 200, body)
        t.eq(body["user"]["email"], "admin@localhost")
        s.stop()
        again = Slipway(*store_args, "--data-dir", os.path.join(s.dir, "data"))
        try:
            t.true(PASSWORD_RE.search("\n".join(again.stdout)) is None, "a second password")
            status, _, _, _ = login(again, "admin@localhost", password)
            t.eq(status, 200, "the first password still works after a restart")
        finally:
            again.stop()
            shutil.rmtree(again.dir, ignore_errors=True)


@both
def admin_create_prints_a_password_and_refuses_bad_input(t, store_args):
    with Slipway(*store_args) as s:
        email, password = admin_create(s, store_args, name="Ada Lovelace")
        status, _, body, _ = login(s, email.upper(), password)
        t.eq(status, 200, body)
        t.eq(body["user"]["name"], "Ada Lovelace")
        data = ["--data-dir", os.path.join(s.dir, "data"), *store_args]
        rc, _, err = cli("admin", "create", "--email", email, *data)
        t.eq(rc, 2, "a taken email")
        t.contains(err, "taken")
        rc, _, err = cli("admin", "create", *data)
        t.eq(rc, 2)
        t.contains(err, "--email is required")
        rc, _, err = cli("admin", "create", "--email", "nobody", *data)
        t.eq(rc, 2)
        t.contains(err, "--email must look like name@domain")
        rc, _, err = cli("admin", "create", "--email", "a@b.c", "--frob", *data)
        t.eq(rc, 2)
        t.contains(err, 'unknown option "--frob"')
        rc, out, _ = cli("help", "admin")
        t.eq(rc, 0)
        t.contains(out, "--email")


# ---------------------------------------------------------------- login

@both
def login_sets_cookies_and_the_jwt_verifies_against_the_jwks(t, store_args):
    with Slipway(*store_args) as s:
        email, password = admin_create(s, store_args)
        status, cookies, body, _ = login(s, email, password, cli_mode=False)
        t.eq(status, 200, body)
        t.eq(body["tokenType"], "Bearer")
        t.eq(body["expiresIn"], 900)
        t.true("refreshToken" not in body, "the refresh token is in a browser login's body")
        access = body["accessToken"]
        t.eq(cookies["slipway_access"][0], access)
        t.eq(cookies["slipway_access"][1], "Path=/; HttpOnly; SameSite=Lax; Max-Age=900")
        t.eq(cookies["slipway_refresh"][1],
             "Path=/auth; HttpOnly; SameSite=Lax; Max-Age=2592000")
        t.eq(len(cookies["slipway_refresh"][0]), 43)
        claims = json.loads(b64d(access.split(".")[1]))
        t.eq(claims["sub"], body["user"]["id"])
        t.eq(claims["aud"], "slipway")
        t.eq(claims["exp"] - claims["iat"], 900)
        t.true(claims.get("sid"), "no sid claim")
        status, hdrs, jwks = s.get("/.well-known/jwks.json")
        t.eq(status, 200)
        t.eq(hdrs["cache-control"], "public, max-age=300")
        t.true(verify_es256(access, json.loads(jwks)), "the JWT does not verify against JWKS")
        status, cookies, body, _ = login(s, email, password,
                                         headers={"X-Forwarded-Proto": "https"})
        t.eq(status, 200)
        t.true(cookies["slipway_access"][1].endswith("; Secure"), cookies["slipway_access"][1])
        t.true(body["refreshToken"] == cookies["slipway_refresh"][0], "CLI login body")
        t.true(password not in "\n".join(s.lines), "a password reached the log")
        t.true(body["refreshToken"] not in "\n".join(s.lines), "a refresh token reached the log")


@both
def wrong_password_and_unknown_email_get_the_same_401(t, store_args):
    with Slipway(*store_args) as s:
        email, _ = admin_create(s, store_args)
        a = jpost(s, "/auth/login", {"email": email, "password": "wrong-password"})
        b = jpost(s, "/auth/login", {"email": "nobody@example.test", "password": "wrong"})
        for status, _, body in (a, b):
            t.eq(status, 401)
            err = json.loads(body)["error"]
            t.eq((err["code"], err["message"]), ("unauthenticated", "email or password is wrong"))


@both
def repeated_failures_lock_the_account_with_retry_after(t, store_args):
    with Slipway(*store_args) as s:
        email, password = admin_create(s, store_args)
        for i in range(5):
            status, _, _ = jpost(s, "/auth/login", {"email": email, "password": f"bad-{i}"})
            t.eq(status, 401, f"failure {i + 1}")
        status, hdrs, body = jpost(s, "/auth/login", {"email": email, "password": password})
        t.eq(status, 429, "the right password while locked")
        t.true(0 < int(hdrs["retry-after"]) <= 3600, hdrs.get("retry-after"))
        t.contains(json.loads(body)["error"]["message"], "too many failed logins")


@both
def one_address_gets_a_burst_then_429(t, store_args):
    with Slipway(*store_args, "--set", "gateway.login_burst=5", "--set",
                 "gateway.login_rate=1") as s:
        for i in range(5):
            status, _, _ = jpost(s, "/auth/login", {})
            t.eq(status, 400, f"request {i + 1}")
        status, hdrs, body = jpost(s, "/auth/login", {})
        t.eq(status, 429, body)
        t.true(int(hdrs["retry-after"]) >= 1, hdrs.get("retry-after"))


@both
def bad_bodies_get_400_naming_the_field(t, store_args):
    with Slipway(*store_args) as s:
        cases = [
            ("not json", None, "body"),
            ("[1,2]", None, "body"),
            ('{"email":' + "[" * 50 + "]" * 50 + "}", None, "body"),
            (None, {"password": "x"}, "email"),
            (None, {"email": "a@b.c"}, "password"),
            (None, {"email": 5, "password": "x"}, "email"),
            (None, {"email": "x" * 60000 + "@b.c", "password": "x"}, "email"),
            (None, {"email": "x' OR '1'='1@b.c", "password": "x"}, "email"),
            (None, {"email": "a@b.c", "password": "x", "returnRefreshToken": "yes"},
             "returnRefreshToken"),
            (None, {"email": "a\u0000b@c.d", "password": "x"}, "email"),
        ]
        for raw, obj, field in cases:
            status, _, body = jpost(s, "/auth/login", obj, raw=raw)
            t.eq(status, 400, f"{raw or obj!r:.60}")
            t.contains(json.loads(body)["error"]["message"], field, f"{raw or obj!r:.60}")
        # A 1 MiB email is over the route's 64 KiB body limit: 413 (JSON) before the body is
        # read, so only the head is sent.
        head = (f"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {(1 << 20) + 40}\r\n\r\n").encode()
        raw = s.raw(head + b'{"email":"' + b"x" * 1000, read_until_close=False)
        t.eq(status_of(raw), 413, raw[:200])
        t.contains(body_of(raw).decode(), '"error"')
        status, _, body = jpost(s, "/auth/login", {"email": "x'--;DROP@b.c", "password": "x"})
        t.eq(status, 401, body)
        status, _, body = jpost(s, "/auth/refresh", raw="{nope")
        t.eq(status, 400, body)
        t.contains(json.loads(body)["error"]["message"], "body")


# ---------------------------------------------------------------- refresh and logout

@both
def refresh_rotates_and_reuse_kills_the_family(t, store_args):
    with Slipway(*store_args) as s:
        email, password = admin_create(s, store_args)
        status, _, body, _ = login(s, email, password)
        t.eq(status, 200)
        r1, a1 = body["refreshToken"], body["accessToken"]
        status, _, body, _ = set_cookies(s, "/auth/refresh", {"refreshToken": r1})
        t.eq(status, 200, body)
        r2, a2 = body["refreshToken"], body["accessToken"]
        t.true(r2 != r1, "the refresh token did not change")
        t.eq(me(s, a2)[0], 200, "the new access token")
        status, cookies, body, _ = set_cookies(s, "/auth/refresh", None,
                                               {"Cookie": f"slipway_refresh={r2}"})
        t.eq(status, 200, body)
        t.true("refreshToken" not in body, "a cookie refresh put the token in the body")
        r3 = cookies["slipway_refresh"][0]
        status, _, body, _ = set_cookies(s, "/auth/refresh", {"refreshToken": r1})
        t.eq(status, 401, "reuse of a spent token")
        t.eq(body["error"]["code"], "session_revoked")
        status, _, body, _ = set_cookies(s, "/auth/refresh", {"refreshToken": r3})
        t.eq(status, 401, "the family's newest token after reuse")
        t.eq(me(s, a1)[0], 401, "an access token of the revoked session")
        status, _, body, _ = set_cookies(s, "/auth/refresh", {"refreshToken": "x" * 43})
        t.eq((status, body["error"]["code"]), (401, "unauthenticated"))
        status, _, body, _ = set_cookies(s, "/auth/refresh", None)
        t.eq(status, 401, "no token at all")


@both
def logout_revokes_the_session_and_clears_cookies(t, store_args):
    with Slipway(*store_args) as s:
        email, password = admin_create(s, store_args)
        status, cookies, body, _ = login(s, email, password, cli_mode=False)
        t.eq(status, 200)
        refresh, access = cookies["slipway_refresh"][0], body["accessToken"]
        t.eq(me(s, cookie=access)[0], 200, "/auth/me with the cookie")
        status, cookies, _, _ = set_cookies(s, "/auth/logout", None,
                                            {"Cookie": f"slipway_refresh={refresh}"})
        t.eq(status, 204)
        t.eq(cookies["slipway_access"], ("", "Path=/; HttpOnly; SameSite=Lax; Max-Age=0"))
        t.eq(cookies["slipway_refresh"], ("", "Path=/auth; HttpOnly; SameSite=Lax; Max-Age=0"))
        status, _, _, _ = set_cookies(s, "/auth/refresh", {"refreshToken": refresh})
        t.eq(status, 401, "refresh after logout")
        status, hdrs, _ = me(s, access)
        t.eq(status, 401, "the access token after logout")
        t.contains(hdrs.get("www-authenticate", ""), "Bearer")
        status, _, _, _ = set_cookies(s, "/auth/logout", None)
        t.eq(status, 204, "logout without a session")


# ---------------------------------------------------------------- /auth/me and tokens

@both
def me_answers_with_bearer_and_cookie_and_checks_membership(t, store_args):
    with Slipway(*store_args) as s:
        email, password = admin_create(s, store_args, name="Grace")
        _, _, body, _ = login(s, email, password)
        access = body["accessToken"]
        status, _, who = me(s, access)
        t.eq(status, 200, who)
        t.eq((who["email"], who["name"], who["avatarUrl"]), (email, "Grace", None))
        t.eq(len(who["workspaces"]), 1)
        t.eq(who["workspaces"][0]["role"], "ADMIN")
        own = who["workspaces"][0]["workspace"]
        status, _, who2 = me(s, cookie=access)
        t.eq((status, who2), (200, who), "cookie")
        status, _, _ = me(s, access, headers={"X-Slipway-Workspace": own})
        t.eq(status, 200, "own workspace")
        other_email, other_pw = admin_create(s, store_args)
        _, _, other, _ = login(s, other_email, other_pw)
        theirs = me(s, other["accessToken"])[2]["workspaces"][0]["workspace"]
        status, _, body = me(s, access, headers={"X-Slipway-Workspace": theirs})
        t.eq(status, 403, body)
        t.eq(body["error"]["code"], "forbidden")
        t.contains(body["error"]["message"], f"not a member of workspace {theirs}")
        status, _, body = me(s, access, headers={"X-Slipway-Workspace": "x" * 100})
        t.eq(status, 400, body)
        t.contains(body["error"]["message"], "X-Slipway-Workspace")


@both
def bad_tokens_get_401_with_www_authenticate(t, store_args):
    with Slipway(*store_args) as s:
        email, password = admin_create(s, store_args)
        _, _, body, _ = login(s, email, password)
        access = body["accessToken"]
        h, p, sig = access.split(".")
        header = json.loads(b64d(h))
        claims = json.loads(b64d(p))
        none_hdr = b64e(json.dumps({"alg": "none", "typ": "JWT", "kid": header["kid"]}).encode())
        forged = dict(claims, sub="00000000-0000-7000-8000-000000000000")
        bad = {
            "alg none": f"{none_hdr}.{p}.",
            "alg none with the signature": f"{none_hdr}.{p}.{sig}",
            "tampered payload": f"{h}.{b64e(json.dumps(forged).encode())}.{sig}",
            "garbage": "garbage",
            "two parts": f"{h}.{p}",
            "a PAT with a bad checksum": "slp_" + "A" * 49,
        }
        for what, tok in bad.items():
            status, hdrs, body = me(s, tok)
            t.eq(status, 401, what)
            t.contains(hdrs.get("www-authenticate", ""), "Bearer", what)
            t.eq(body["error"]["code"], "unauthenticated", what)
        status, hdrs, _ = s.get("/auth/me")
        t.eq(status, 401, "no credential")
        t.contains(hdrs.get("www-authenticate", ""), "Bearer")
        status, _, _ = s.get("/auth/me", headers={"Authorization": f"Basic {access}"})
        t.eq(status, 401, "another scheme")
        t.eq(me(s, access)[0], 200, "the real token still works")


# ---------------------------------------------------------------- durability

@both
def acknowledged_logins_survive_kill_9(t, store_args):
    s = Slipway(*store_args, "--set", "gateway.login_burst=1000")
    data = os.path.join(s.dir, "data")
    try:
        email, password = admin_create(s, store_args)
        got, lock, enough = [], threading.Lock(), threading.Event()

        def one(_):
            try:
                status, _, body, _ = login(s, email, password)
            except Exception:
                return  # the server went away mid-request: not acknowledged
            if status == 200:
                with lock:
                    got.append(body["refreshToken"])
                    if len(got) >= 5:
                        enough.set()

        with concurrent.futures.ThreadPoolExecutor(30) as ex:
            futures = [ex.submit(one, i) for i in range(30)]
            t.true(enough.wait(120), "no five logins in 120 s")
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait(30)
            concurrent.futures.wait(futures, 60)
        with lock:
            acked = list(got)
        t.true(len(acked) < 30, "every login finished before the kill: nothing was tested")
        print(f"# {len(acked)} of 30 logins acknowledged before kill -9", flush=True)
        again = Slipway(*store_args, "--data-dir", data)
        try:
            for tok in acked:
                status, _, body, _ = set_cookies(again, "/auth/refresh", {"refreshToken": tok})
                t.eq(status, 200, f"an acknowledged refresh token was lost: {body}")
        finally:
            again.stop()
            shutil.rmtree(again.dir, ignore_errors=True)
    finally:
        s.kill()
        shutil.rmtree(s.dir, ignore_errors=True)



def kid_of(token):
    return json.loads(b64d(token.split(".")[0]))["kid"]


def jwks_kids(s):
    status, _, body = s.get("/.well-known/jwks.json")
    return [k["kid"] for k in json.loads(body)["keys"]] if status == 200 else []


@both
def signing_key_rotates_while_running_and_old_tokens_still_verify(t, store_args):
    with Slipway(*store_args, "--set", "gateway.key_rotation=2s",
                 "--set", "gateway.maintenance_interval=1s") as s:
        email, password = admin_create(s, store_args)
        _, _, first, _ = login(s, email, password)
        old = first["accessToken"]
        before = set(jwks_kids(s))  # on PostgreSQL earlier tests' keys may be there too
        wait_until(lambda: set(jwks_kids(s)) - before, timeout=30, what="a new signing key")
        _, _, second, _ = login(s, email, password)
        new = second["accessToken"]
        t.true(kid_of(new) != kid_of(old), "the new token is signed by the new key")
        t.true(kid_of(old) in jwks_kids(s), "the retired key is still published")
        t.eq(me(s, old)[0], 200, "a token of the retired key")
        t.eq(me(s, new)[0], 200, "a token of the new key")
        t.true(any(e.get("ev") == "gateway.signing_key_retired" for e in s.events()),
               "the rotation was logged")


@test
def removed_member_is_denied_on_the_very_next_request(t):
    with Slipway() as s:
        email, password = admin_create(s, [])
        _, _, body, _ = login(s, email, password)
        access = body["accessToken"]
        user_id = me(s, access)[2]["id"]
        db_path = os.path.join(s.dir, "data", "gateway.db")
        with sqlite3.connect(db_path, timeout=10) as db:  # an administrator's change
            db.execute("INSERT INTO workspaces (id, name, personal, suspended, created_at)"
                       " VALUES ('team-x', 'Team X', 0, 0, 0)")
            db.execute("INSERT INTO memberships (workspace_id, user_id, role, created_at)"
                       " VALUES ('team-x', ?, 'USER', 0)", (user_id,))
        ws = {"X-Slipway-Workspace": "team-x"}
        t.eq(me(s, access, headers=ws)[0], 200, "while a member")
        with sqlite3.connect(db_path, timeout=10) as db:
            db.execute("DELETE FROM memberships WHERE workspace_id = 'team-x'")
        status, _, body = me(s, access, headers=ws)  # the same, still valid access token
        t.eq(status, 403, body)
        t.eq(body["error"]["code"], "forbidden")


@test
def login_refresh_and_logout_are_in_the_audit_log(t):
    with Slipway() as s:
        email, password = admin_create(s, [])
        _, _, body, _ = login(s, email, password)
        user_id = me(s, body["accessToken"])[2]["id"]
        status, _, body2, _ = set_cookies(s, "/auth/refresh", {"refreshToken": body["refreshToken"]})
        t.eq(status, 200, body2)
        status, _, _ = jpost(s, "/auth/logout", {"refreshToken": body2["refreshToken"]})
        t.eq(status, 204)
        login(s, email, "wrong password")
        db_path = os.path.join(s.dir, "data", "gateway.db")
        with sqlite3.connect(db_path, timeout=10) as db:
            rows = db.execute("SELECT action, outcome, actor_user_id FROM audit_log"
                              " ORDER BY at, id").fetchall()
        seen = [(a, o) for a, o, actor in rows if actor == user_id or a == "auth.login"]
        for want in [("auth.login", "ok"), ("auth.refresh", "ok"), ("auth.logout", "ok"),
                     ("auth.login", "denied")]:
            t.true(want in seen, f"{want} missing from the audit log: {rows}")
        t.true(all(password not in str(r) for r in rows), "a password reached the audit log")

# ---------------------------------------------------------------- the caller cache
# Each event loop keeps callers it has loaded (SQLite only) and uses them while nothing was
# committed to the database. Every change of access must still show on the very next
# request: the tests warm the cache on one keep-alive connection (one loop), check that it
# answered from memory (debug log), change something, and ask again on that connection.

DEBUG = "log.level = debug\n"


class Client:
    """One user's keep-alive connection: every request reaches the same event loop."""

    def __init__(self, s, token):
        self.s, self.token, self.c = s, token, s.conn()

    def gql(self, query, variables=None, ws=None):
        h = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        if ws:
            h["X-Slipway-Workspace"] = ws
        body = {"query": query}
        if variables is not None:
            body["variables"] = variables
        self.c.request("POST", "/graphql", body=json.dumps(body), headers=h)
        r = self.c.getresponse()
        return r.status, json.loads(r.read())

    def me(self, ws=None):
        h = {"Authorization": f"Bearer {self.token}"}
        if ws:
            h["X-Slipway-Workspace"] = ws
        self.c.request("GET", "/auth/me", headers=h)
        r = self.c.getresponse()
        return r.status, json.loads(r.read())

    def close(self):
        self.c.close()


def gql_ok(t, res, what):
    status, body = res
    t.eq(status, 200, f"{what}: {body}")
    t.true("errors" not in body, f"{what}: {body.get('errors')}")
    return body["data"]


def gql_code(body):
    return (body.get("errors") or [{}])[0].get("extensions", {}).get("code")


def cache_hits(s, user_id):
    return sum(1 for e in s.events("gateway.caller_cache_hit") if e.get("user") == user_id)


def cache_on(s):
    ev = s.events("gateway.caller_cache")
    return bool(ev) and ev[0].get("enabled") is True


MY_WS = "{ me { workspaces { workspace role } } }"


def warm(t, s, client, user_id, ws=None, n=4):
    """Asks <n> times on the client's connection; on SQLite, the last ones come from memory."""
    before = cache_hits(s, user_id)
    for _ in range(n):
        gql_ok(t, client.gql("{ me { id } workspace { id } }", ws=ws), "warming")
    if cache_on(s):
        wait_until(lambda: cache_hits(s, user_id) >= before + n - 1, timeout=5,
                   what="answers from the caller cache")


def two_users(t, s, store_args):
    """A (ADMIN of a new team workspace, out["ws"]) and B (USER there, by invitation):
    {name: (client, id, email, refresh token)}. The PostgreSQL database outlives a test: the
    workspace's id is new each time."""
    out = {"ws": f"team-{uuid.uuid4().hex[:12]}"}
    for name in ("A", "B"):
        email, password = admin_create(s, store_args)
        _, _, body, _ = login(s, email, password)
        c = Client(s, body["accessToken"])
        out[name] = (c, gql_ok(t, c.gql("{ me { id email } }"), "me")["me"]["id"], email,
                     body.get("refreshToken"))
    a, b = out["A"][0], out["B"][0]
    gql_ok(t, a.gql('mutation($id:ID!) { createWorkspace(input:{id:$id, name:"C"}) { id } }',
                    {"id": out["ws"]}), "create")
    inv = gql_ok(t, a.gql("mutation($e:String!){ inviteMember(input:{email:$e, role:USER}) "
                          "{ token } }", {"e": out["B"][2]}, ws=out["ws"]), "invite")
    gql_ok(t, b.gql("mutation($t:String!){ acceptInvitation(token:$t) { role } }",
                    {"t": inv["inviteMember"]["token"]}), "accept")
    return out


def roles(client):
    status, body = client.gql(MY_WS)
    return {w["workspace"]: w["role"] for w in body["data"]["me"]["workspaces"]}


def with_users(store_args, fn):
    with Slipway(*store_args, config=DEBUG) as s:
        people = two_users(T(), s, store_args)
        try:
            fn(s, people)
        finally:
            for name in ("A", "B"):
                people[name][0].close()


@both
def the_caller_cache_is_on_for_sqlite_only(t, store_args):
    with Slipway(*store_args) as s:
        t.eq(cache_on(s), not store_args, s.events("gateway.caller_cache"))


@both
def cached_member_removed_is_denied_on_the_next_request(t, store_args):
    def case(s, p):
        (a, _, _, _), (b, b_id, _, _), ws = p["A"], p["B"], p["ws"]
        warm(t, s, b, b_id, ws=ws)
        t.eq(roles(b).get(ws), "USER")
        gql_ok(t, a.gql("mutation($u:ID!){ removeMember(userId:$u) }", {"u": b_id}, ws=ws),
               "remove")
        status, body = b.gql("{ workspace { id } }", ws=ws)
        t.eq((status, gql_code(body)), (403, "FORBIDDEN"), body)
        t.eq(b.me(ws=ws)[0], 403, "/auth/me in the workspace left")
        t.true(ws not in roles(b), "the workspace left is still listed")
    with_users(store_args, case)


@both
def cached_role_change_shows_on_the_next_request(t, store_args):
    def case(s, p):
        (a, _, _, _), (b, b_id, _, _), ws = p["A"], p["B"], p["ws"]
        invitations = "{ workspace { invitations { id } } }"
        warm(t, s, b, b_id, ws=ws)
        status, body = b.gql(invitations, ws=ws)
        t.eq(gql_code(body), "FORBIDDEN", body)
        gql_ok(t, a.gql("mutation($u:ID!){ updateMemberRole(input:{userId:$u, role:ADMIN}) "
                        "{ role } }", {"u": b_id}, ws=ws), "promote")
        gql_ok(t, b.gql(invitations, ws=ws), "an ADMIN reads invitations")
        t.eq(roles(b).get(ws), "ADMIN")
        warm(t, s, b, b_id, ws=ws)
        gql_ok(t, a.gql("mutation($u:ID!){ updateMemberRole(input:{userId:$u, role:USER}) "
                        "{ role } }", {"u": b_id}, ws=ws), "demote")
        status, body = b.gql(invitations, ws=ws)
        t.eq(gql_code(body), "FORBIDDEN", body)
        t.eq(roles(b).get(ws), "USER")
    with_users(store_args, case)


@both
def cached_workspace_deleted_is_gone_on_the_next_request(t, store_args):
    def case(s, p):
        (a, _, _, _), (b, b_id, _, _), ws = p["A"], p["B"], p["ws"]
        warm(t, s, b, b_id, ws=ws)
        gql_ok(t, a.gql("mutation { deleteWorkspace }", ws=ws), "delete")
        status, body = b.gql("{ workspace { id } }", ws=ws)
        t.eq((status, gql_code(body)), (403, "FORBIDDEN"), body)
        t.true(ws not in roles(b), "the deleted workspace is still listed")
    with_users(store_args, case)


@both
def cached_session_logged_out_is_refused_on_the_next_request(t, store_args):
    def case(s, p):
        b, b_id, _, refresh = p["B"]
        warm(t, s, b, b_id)
        t.eq(b.me()[0], 200)
        status, _, _ = jpost(s, "/auth/logout", {"refreshToken": refresh})
        t.eq(status, 204)
        status, body = b.gql("{ me { id } }")
        t.eq((status, gql_code(body)), (401, "UNAUTHENTICATED"), body)
        t.eq(b.me()[0], 401, "/auth/me after logout")
    with_users(store_args, case)


def disable_by_hand(s, store_args, user_id):
    """An administrator's change, outside slipway: the users row, straight in the database."""
    if not store_args:
        with sqlite3.connect(os.path.join(s.dir, "data", "gateway.db"), timeout=10) as db:
            db.execute("UPDATE users SET disabled = 1 WHERE id = ?", (user_id,))
        return
    u = urllib.parse.urlsplit(PG_URL)
    url = urllib.parse.urlunsplit((u.scheme, u.netloc, "/gateway", u.query, u.fragment))
    subprocess.run(["psql", url, "-q", "-c",
                    f"UPDATE users SET disabled = 1 WHERE id = '{user_id}'"],
                   check=True, capture_output=True, timeout=60)


@both
def cached_user_disabled_by_hand_is_refused_on_the_next_request(t, store_args):
    def case(s, p):
        b, b_id, _, _ = p["B"]
        warm(t, s, b, b_id)
        disable_by_hand(s, store_args, b_id)
        status, body = b.gql("{ me { id } }")
        t.eq((status, gql_code(body)), (401, "UNAUTHENTICATED"), body)
        t.eq(b.me()[0], 401, "/auth/me of a disabled user")
    with_users(store_args, case)


@test
def cached_membership_removed_by_hand_is_denied_on_the_next_request(t):
    with Slipway(config=DEBUG) as s:
        email, password = admin_create(s, [])
        _, _, body, _ = login(s, email, password)
        c = Client(s, body["accessToken"])
        try:
            user_id = gql_ok(t, c.gql("{ me { id } }"), "me")["me"]["id"]
            db_path = os.path.join(s.dir, "data", "gateway.db")
            with sqlite3.connect(db_path, timeout=10) as db:
                db.execute("INSERT INTO workspaces (id, name, personal, suspended, created_at)"
                           " VALUES ('team-y', 'Team Y', 0, 0, 0)")
                db.execute("INSERT INTO memberships (workspace_id, user_id, role, created_at)"
                           " VALUES ('team-y', ?, 'ADMIN', 0)", (user_id,))
            warm(t, s, c, user_id, ws="team-y")
            with sqlite3.connect(db_path, timeout=10) as db:
                db.execute("UPDATE memberships SET role = 'USER' WHERE workspace_id = 'team-y'")
            t.eq(roles(c).get("team-y"), "USER", "a role changed by hand")
            warm(t, s, c, user_id, ws="team-y")
            with sqlite3.connect(db_path, timeout=10) as db:
                db.execute("DELETE FROM memberships WHERE workspace_id = 'team-y'")
            status, body = c.gql("{ workspace { id } }", ws="team-y")
            t.eq((status, gql_code(body)), (403, "FORBIDDEN"), body)
        finally:
            c.close()

run()
