"""Projects and environments over GraphQL (schema/projects.graphql): the gateway calls the
packager in process with internal tokens; each project is a git repository under the data
directory, its index in the packager's own database. Runs the real binary on SQLite."""
import os
import shutil
import subprocess

from harness import BIN, Slipway, gql_raw, new_user, run, test, wait_until

PROJECT = "{ id name createdAt environments { id name namespace } }"


def ok(t, s, query, variables=None, token=None, ws=None):
    status, body = gql_raw(s, query, variables, token=token, ws=ws)
    t.eq(status, 200, f"{query}: {body}")
    t.true("errors" not in body, f"{query}: {body}")
    return body["data"]


def error(t, s, query, variables=None, token=None, ws=None):
    """The first error of a request that must fail: (code, message)."""
    _, body = gql_raw(s, query, variables, token=token, ws=ws)
    t.true(body.get("errors"), f"{query} should fail: {body}")
    e = body["errors"][0]
    return e.get("extensions", {}).get("code"), e["message"]


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@test
def create_list_get_delete(t):
    with Slipway() as s:
        token, _, email = new_user(s, name="Ada Lovelace")
        ws = ok(t, s, "{ workspace { id } }", token=token)["workspace"]["id"]
        d = ok(t, s, "mutation($i: CreateProjectInput!) { createProject(input: $i) " + PROJECT
               + " }", {"i": {"name": "shop"}}, token=token)
        p = d["createProject"]
        t.eq(p["id"], "shop")
        t.eq(p["name"], "shop")
        t.eq([e["name"] for e in p["environments"]], ["development"])
        t.eq(p["environments"][0]["namespace"], f"{ws}-shop-development")
        t.eq(p["environments"][0]["id"], "shop/development")
        t.true(p["createdAt"].endswith("Z"), p["createdAt"])
        ok(t, s, "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
           {"i": {"name": "blog", "id": "blog-1"}}, token=token)
        names = [x["id"] for x in ok(t, s, "{ projects { id } }", token=token)["projects"]]
        t.eq(sorted(names), ["blog-1", "shop"])
        b = ok(t, s, '{ project(id: "blog-1") { name environments { namespace } } }',
               token=token)["project"]
        t.eq(b["name"], "blog")
        t.eq(b["environments"][0]["namespace"], f"{ws}-blog-development")  # the name, not the id
        t.eq(ok(t, s, '{ project(id: "nope") { name } }', token=token)["project"], None)
        t.eq(ok(t, s, '{ project(id: "../x") { name } }', token=token)["project"], None)

        # The repository is a real git repository with the commits, authored by the caller.
        repo = os.path.join(s.dir, "data", "packager", "repos", ws, "shop.git")
        log = git("--git-dir", repo, "log", "--format=%an <%ae>|%cn|%s", "main")
        t.eq(log.returncode, 0, log.stderr)
        lines = log.stdout.strip().splitlines()
        t.eq([x.split("|")[2] for x in lines], ["env(create): development", "init: shop"])
        t.eq(lines[0].split("|")[0], f"Ada Lovelace <{email}>")
        t.eq(git("--git-dir", repo, "fsck", "--strict").returncode, 0)

        t.eq(ok(t, s, 'mutation { deleteProject(id: "blog-1") }', token=token)["deleteProject"],
             True)
        t.eq([x["id"] for x in ok(t, s, "{ projects { id } }", token=token)["projects"]], ["shop"])
        code, msg = error(t, s, 'mutation { deleteProject(id: "blog-1") }', token=token)
        t.eq(code, "NOT_FOUND", msg)


@test
def environments(t):
    with Slipway() as s:
        token = new_user(s)[0]
        ok(t, s, 'mutation { createProject(input: {name: "api"}) { id } }', token=token)
        e = ok(t, s, 'mutation { createEnvironment(input: {projectId: "api", name: "staging", '
                     'fromEnvironment: "development"}) { id name } }', token=token)
        t.eq(e["createEnvironment"], {"id": "api/staging", "name": "staging"})
        envs = ok(t, s, '{ project(id: "api") { environments { name } } }', token=token)
        t.eq([x["name"] for x in envs["project"]["environments"]], ["development", "staging"])
        code, msg = error(t, s, 'mutation { createEnvironment(input: {projectId: "api", '
                                'name: "staging"}) { id } }', token=token)
        t.eq(code, "CONFLICT", msg)
        code, msg = error(t, s, 'mutation { createEnvironment(input: {projectId: "api", '
                                'name: "Bad_Name"}) { id } }', token=token)
        t.eq(code, "BAD_USER_INPUT", msg)
        t.contains(msg, "input.name")
        code, msg = error(t, s, 'mutation { createEnvironment(input: {projectId: "nope", '
                                'name: "qa"}) { id } }', token=token)
        t.eq(code, "NOT_FOUND", msg)
        t.eq(ok(t, s, 'mutation { deleteEnvironment(projectId: "api", environment: "staging") }',
                token=token)["deleteEnvironment"], True)
        code, msg = error(t, s, 'mutation { deleteEnvironment(projectId: "api", '
                                'environment: "staging") }', token=token)
        t.eq(code, "NOT_FOUND", msg)


@test
def bad_input_names_the_argument(t):
    with Slipway() as s:
        token = new_user(s)[0]
        for name, field in (("Shop", "input.name"), ("-x", "input.name"), ("a" * 64, "input.name"),
                            ("", "input.name"), ("a/b", "input.name")):
            code, msg = error(t, s, "mutation($i: CreateProjectInput!) { createProject(input: $i)"
                                    " { id } }", {"i": {"name": name}}, token=token)
            t.eq(code, "BAD_USER_INPUT", f"{name!r}: {msg}")
            t.contains(msg, field)
        code, msg = error(t, s, "mutation($i: CreateProjectInput!) { createProject(input: $i)"
                                " { id } }", {"i": {"name": "ok", "id": "../../etc"}}, token=token)
        t.eq(code, "BAD_USER_INPUT", msg)
        t.contains(msg, "input.id")
        ok(t, s, 'mutation { createProject(input: {name: "twice"}) { id } }', token=token)
        code, msg = error(t, s, 'mutation { createProject(input: {name: "twice"}) { id } }',
                          token=token)
        t.eq(code, "CONFLICT", msg)


@test
def workspaces_are_apart(t):
    with Slipway() as s:
        alice = new_user(s)[0]
        bob = new_user(s)[0]
        ok(t, s, 'mutation { createProject(input: {name: "secret"}) { id } }', token=alice)
        t.eq(ok(t, s, "{ projects { id } }", token=bob)["projects"], [])
        t.eq(ok(t, s, '{ project(id: "secret") { id } }', token=bob)["project"], None)
        code, msg = error(t, s, 'mutation { deleteProject(id: "secret") }', token=bob)
        t.eq(code, "NOT_FOUND", msg)
        # Bob may use the same id in his own workspace: ids are per workspace.
        ok(t, s, 'mutation { createProject(input: {name: "secret"}) { id } }', token=bob)
        t.eq(len(ok(t, s, "{ projects { id } }", token=alice)["projects"]), 1)
        code, _ = error(t, s, "{ projects { id } }")
        t.eq(code, "UNAUTHENTICATED")


@test
def index_survives_restart_and_loss(t):
    """The index is derived: deleting the packager's database rebuilds it from the
    repositories at the next start."""
    with Slipway() as s:
        token = new_user(s)[0]
        for name in ("one", "two"):
            ok(t, s, f'mutation {{ createProject(input: {{name: "{name}"}}) {{ id }} }}',
               token=token)
        data = os.path.join(s.dir, "data")
        s.stop()
        os.remove(os.path.join(data, "packager.db"))
        again = Slipway("--data-dir", data)
        try:
            got = ok(t, again, "{ projects { id environments { name } } }", token=token)
            t.eq(sorted(p["id"] for p in got["projects"]), ["one", "two"])
            t.eq([e["name"] for e in got["projects"][0]["environments"]], ["development"])
        finally:
            again.stop()
            shutil.rmtree(again.dir, ignore_errors=True)


@test
def eject_gives_a_repository_that_runs_without_slipway(t):
    import io
    import sqlite3
    import tarfile
    import tempfile
    with Slipway() as s:
        token = new_user(s)[0]
        ws = ok(t, s, "{ workspace { id } }", token=token)["workspace"]["id"]
        ok(t, s, 'mutation { createProject(input: {name: "shop"}) { id } }', token=token)
        ok(t, s, 'mutation { createEnvironment(input: {projectId: "shop", name: "staging"}) '
                 '{ id } }', token=token)
        auth = {"Authorization": f"Bearer {token}"}
        status, hdrs, body = s.request("GET", "/api/eject/shop", headers=auth)
        t.eq(status, 200, body[:200])
        t.eq(hdrs.get("content-type"), "application/gzip")
        t.contains(hdrs.get("content-disposition", ""), 'filename="shop.tar.gz"')
        out = tempfile.mkdtemp(prefix="eject-")
        try:
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tf:
                names = tf.getnames()
                tf.extractall(out)  # our own archive (Debian 12's python3 has no filter=)
            for want in ("shop/repository.bundle", "shop/README.md", "shop/build.sh",
                         "shop/argocd/development.yaml", "shop/argocd/staging.yaml"):
                t.true(want in names, f"{want} in {names}")
            clone = os.path.join(out, "clone")
            r = git("clone", "-q", os.path.join(out, "shop", "repository.bundle"), clone)
            t.eq(r.returncode, 0, r.stderr)
            log = git("-C", clone, "log", "--format=%s")
            t.eq(log.stdout.split("\n")[:2], ["env(create): staging", "env(create): development"])
        finally:
            shutil.rmtree(out, ignore_errors=True)
        # Nothing for strangers, a clear 404 for an unknown project, 401 without a credential.
        t.eq(s.request("GET", "/api/eject/nope", headers=auth)[0], 404)
        t.eq(s.request("GET", "/api/eject/shop")[0], 401)
        other = new_user(s)[0]
        t.eq(s.request("GET", "/api/eject/shop", headers={"Authorization": f"Bearer {other}"})[0],
             404)
        t.eq(s.request("GET", "/api/eject/..%2f..", headers=auth)[0] in (400, 404), True)
        # The same from the command line, written whole to a file.
        server = f"http://127.0.0.1:{s.port}"
        dest = os.path.join(s.dir, "shop.tar.gz")
        r = subprocess.run([BIN, "eject", "shop", "--server", server, "--token", token, "-o",
                            dest], capture_output=True, text=True, timeout=60)
        t.eq(r.returncode, 0, r.stderr)
        with open(dest, "rb") as f:
            t.eq(f.read(), body)  # the same commit gives the same bytes
        r = subprocess.run([BIN, "eject", "nope", "--server", server, "--token", token, "-o",
                            dest + ".2"], capture_output=True, text=True, timeout=60)
        t.eq(r.returncode, 1, r.stderr)
        t.contains(r.stderr, "no project nope")
        t.true(not os.path.exists(dest + ".2"), "nothing written on a refusal")
        r = subprocess.run([BIN, "eject", "../x", "--server", server, "--token", token],
                           capture_output=True, text=True, timeout=60)
        t.eq(r.returncode, 2, r.stderr)
        # A suspended workspace may not change its projects, but may always leave.
        db = sqlite3.connect(os.path.join(s.dir, "data", "gateway.db"))
        db.execute("UPDATE workspaces SET suspended = 1 WHERE id = ?", (ws,))
        db.commit()
        db.close()
        code, msg = error(t, s, 'mutation { createProject(input: {name: "more"}) { id } }',
                          token=token)
        t.eq(code, "FORBIDDEN", msg)
        t.contains(msg, "suspended")
        t.eq(s.request("GET", "/api/eject/shop", headers=auth)[0], 200)


@test
def push_mirror_follows_every_commit(t):
    with Slipway() as s:
        token = new_user(s)[0]
        ok(t, s, 'mutation { createProject(input: {name: "shop"}) { id } }', token=token)
        remote = os.path.join(s.dir, "mirror.git")
        t.eq(git("init", "-q", "--bare", remote).returncode, 0)
        q = ("mutation($u: String) { setProjectMirror(projectId: \"shop\", url: $u) "
             "{ mirror { url pending } } }")
        m = ok(t, s, q, {"u": "file://" + remote}, token=token)["setProjectMirror"]["mirror"]
        t.eq(m["url"], "file://" + remote)

        def mirrored():
            m = ok(t, s, '{ project(id: "shop") { mirror { pending pushedCommit lastError } } }',
                   token=token)["project"]["mirror"]
            return m if not m["pending"] else None

        m = wait_until(mirrored, what="the first push")
        head = git("--git-dir", remote, "rev-parse", "main").stdout.strip()
        t.eq(m["pushedCommit"], head)
        t.eq(m["lastError"], None)
        ok(t, s, 'mutation { createEnvironment(input: {projectId: "shop", name: "qa"}) { id } }',
           token=token)
        wait_until(lambda: "env(create): qa" in git("--git-dir", remote, "log", "-1",
                                                     "--format=%s", "main").stdout,
                   what="the next commit pushed")
        code, msg = error(t, s, q, {"u": "ftp://example.com/x.git"}, token=token)
        t.eq(code, "BAD_USER_INPUT", msg)
        t.contains(msg, "url")
        t.eq(ok(t, s, q, {"u": None}, token=token)["setProjectMirror"]["mirror"], None)


if __name__ == "__main__":
    run()
