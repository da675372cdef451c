"""The slipway command line and what `serve` sets up: commands, configuration, stores."""
import hashlib
import http.client
import hmac
import json
import os
import subprocess
import urllib.parse

from harness import BIN, Failure, Slipway, free_port, gql_data, new_user, run, test


def cli(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, env=e)
    return p.returncode, p.stdout, p.stderr


@test
def version_and_help_for_every_command(t):
    rc, out, _ = cli("version")
    t.eq(rc, 0)
    t.true(out.startswith("slipway "), out)
    for args in [("help",), ("--help",), ("help", "serve"), ("serve", "--help"),
                 ("help", "config"), ("config", "--help"), ("help", "version")]:
        rc, out, err = cli(*args)
        t.eq(rc, 0, " ".join(args))
        t.contains(out, "Usage", " ".join(args))
    rc, _, err = cli("frobnicate")
    t.eq(rc, 2)
    t.contains(err, "unknown command")


@test
def unknown_service_and_option_are_clear_errors(t):
    rc, _, err = cli("serve", "--services=gateway,bogus")
    t.eq(rc, 2)
    t.contains(err, 'unknown service "bogus" (known: gateway)')
    rc, _, err = cli("serve", "--frob")
    t.eq(rc, 2)
    t.contains(err, 'unknown option "--frob"')


@test
def config_precedence_and_errors_name_the_key(t):
    rc, out, _ = cli("config", "show", "--port", "9001", env={"SLIPWAY_HTTP_PORT": "9000"})
    t.eq(rc, 0)
    t.contains(out, "http.port = 9001  (flag)")
    rc, out, _ = cli("config", "show", env={"SLIPWAY_HTTP_PORT": "9000"})
    t.contains(out, "http.port = 9000  (env)")
    rc, _, err = cli("config", "check", env={"SLIPWAY_HTTP_MAX_BODY_BYTES": "lots"})
    t.eq(rc, 2)
    t.contains(err, "SLIPWAY_HTTP_MAX_BODY_BYTES")
    rc, out, _ = cli("config", "show", "--store", "postgres://admin:hunter2@127.0.0.1/x")
    t.eq(rc, 0)
    t.contains(out, 'core.store = ***')
    t.true("hunter2" not in out, "the store password was shown")


@test
def serve_takes_a_data_directory_relative_to_where_it_runs(t):
    """`make run` serves with --data-dir=./data: every service, the deployer's runc bundles and
    log relays among them, gets it as an absolute path."""
    import signal
    import tempfile
    from harness import Process, wait_until
    tmp = tempfile.mkdtemp(prefix="slipway-rel-")
    p = Process([os.path.abspath(BIN), "serve", "--port", "0", "--data-dir", "./data",
                 "--set", "ingress.enabled=false"], cwd=tmp)
    try:
        started = wait_until(lambda: p.events("slipway.started") or p.proc.poll() is not None,
                             timeout=60, what="slipway.started")
        t.true(p.proc.poll() is None, "slipway exited at start: " + "\n".join(p.lines[-5:]))
        t.eq(started[0]["data_dir"], os.path.join(os.path.realpath(tmp), "data"))
        t.true(os.path.isdir(os.path.join(tmp, "data", "deployer", "rt")), "deployer/rt")
    finally:
        if p.proc.poll() is None:
            p.signal(signal.SIGTERM)
        t.eq(p.wait(60), 0, "exit status")
        subprocess.run(["rm", "-rf", tmp])


@test
def serve_keeps_the_gateway_in_its_own_sqlite_file(t):
    with Slipway() as s:
        status, _, body = s.get("/readyz")
        t.eq(status, 200)
        t.eq(json.loads(body)["checks"]["store.gateway"]["status"], "ok")
        data = os.path.join(s.dir, "data")
        t.true(os.path.exists(os.path.join(data, "gateway.db")), "data/gateway.db")
        t.eq(os.stat(os.path.join(data, "secret.key")).st_mode & 0o777, 0o600)


@test
def serve_on_postgres_gives_the_gateway_its_own_database(t):
    url = os.environ.get("SLIPWAY_TEST_PG_URL")
    if not url:
        raise Failure("SLIPWAY_TEST_PG_URL is not set: scripts/test starts PostgreSQL")
    with Slipway("--store", url) as s:
        status, _, body = s.get("/readyz")
        t.eq(status, 200, body)
        t.eq(json.loads(body)["checks"]["store.gateway"]["status"], "ok")
        t.true(not os.path.exists(os.path.join(s.dir, "data", "gateway.db")),
               "a SQLite file was made anyway")
        t.true(url.split("@")[0].split(":")[-1] not in "\n".join(s.lines),
               "the administrator's password reached the log")
        t.eq(json.loads(body)["checks"]["store.packager"]["status"], "ok")
        # The packager works on its own database: a project made over the API is indexed
        # there, and the gateway's role cannot read it.
        token = new_user(s, store=url)[0]
        gql_data(s, 'mutation { createProject(input: {name: "shop"}) { id } }', token=token)
        t.eq(gql_data(s, "{ projects { id } }", token=token)["projects"], [{"id": "shop"}])
        with open(os.path.join(s.dir, "data", "secret.key"), "rb") as f:
            secret = f.read()
        pw = hmac.new(secret, b"store:gateway", hashlib.sha256).hexdigest()
        u = urllib.parse.urlsplit(url)
        as_gateway = f"postgresql://gateway:{pw}@{u.hostname}:{u.port}/packager"
        p = subprocess.run(["psql", as_gateway, "-Atc", "SELECT count(*) FROM projects"],
                           capture_output=True, text=True, timeout=30)
        t.true(p.returncode != 0, f"the gateway's role read the packager's database: {p.stdout}")
        t.true("permission denied" in p.stderr or "not permitted" in p.stderr or
               "FATAL" in p.stderr, p.stderr)


@test
def serve_puts_nginx_in_front_and_stops_it(t):
    port = free_port()
    with Slipway("--set", "ingress.enabled=true", "--set", f"ingress.port={port}") as s:
        started = s.events("slipway.started")[0]
        t.eq(started["ingress"], f"http://localhost:{port}/")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/healthz", headers={"Host": "localhost"})
        r = c.getresponse()
        t.eq(r.status, 200, r.read())
        c.close()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/", headers={"Host": "nobody.localhost"})
        r = c.getresponse()
        t.eq(r.status, 404)
        t.contains(r.read().decode(), "No service answers at nobody.localhost")
        c.close()
        run_dir = os.path.join(s.dir, "data", "ingress")
        s.stop()
        left = subprocess.run(["pgrep", "-f", run_dir], capture_output=True, text=True).stdout
        t.eq(left.strip(), "", "nginx left running after slipway stopped")


run()
