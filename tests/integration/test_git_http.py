"""The packager's repositories over git smart HTTP (docs/gitops.md, "Cloning over HTTP"):
`git clone` and `git ls-remote` with an API token, an access token or Bearer; a wrong token
gets 401 with a Basic challenge, a non-member and an unknown project 404, a push 403, path
tricks 400/404, the dumb protocol 403, and 503 where the packager does not run. Repositories
are seeded with the git CLI where the packager keeps them (<data>/packager/repos/<ws>/<id>.git),
and one is made through createProject. Many refs make the request and the response larger
than a pipe's buffer, so a backend that wrote and read in turn would hang here."""
import base64
import os
import shutil
import subprocess
import tempfile
import urllib.parse

from harness import (PASSWORD_RE, Failure, Slipway, admin_create, gql_data, login, run, test,
                     wait_until)

MANY = 5000


# ---------------------------------------------------------------- helpers

class Git:
    """git with a home of its own: no user or system configuration, no prompts, no helpers."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="slipway-git-")
        self.env = {"HOME": self.home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                    "GIT_AUTHOR_NAME": "Seed", "GIT_AUTHOR_EMAIL": "seed@example.test",
                    "GIT_COMMITTER_NAME": "Seed", "GIT_COMMITTER_EMAIL": "seed@example.test",
                    "LC_ALL": "C"}

    def __call__(self, *args, cwd=None, check=True, stdin=None, timeout=120):
        p = subprocess.run(["git", "-c", "credential.helper=", "-c", "init.defaultBranch=main",
                            *args], cwd=cwd, env=self.env, capture_output=True, timeout=timeout,
                           input=stdin)
        if check and p.returncode != 0:
            raise Failure(f"git {' '.join(args)} exited {p.returncode}: "
                          f"{p.stderr.decode(errors='replace')}")
        return p

    def path(self, *parts):
        return os.path.join(self.home, *parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.home, ignore_errors=True)


def repos_dir(s, ws):
    return os.path.join(s.dir, "data", "packager", "repos", ws)


def seed(g, s, ws, project, extra_refs=0):
    """A bare repository for <project> with two commits on main (and <extra_refs> tags, each
    on a commit of its own); returns the two commits' ids, newest first."""
    bare = os.path.join(repos_dir(s, ws), project + ".git")
    os.makedirs(os.path.dirname(bare), exist_ok=True)
    g("init", "--bare", "-q", bare)
    work = g.path("seed-" + project)
    g("init", "-q", work)
    for i, text in enumerate(["first\n", "second\n"]):
        with open(os.path.join(work, "README.md"), "w") as f:
            f.write(text)
        g("add", "README.md", cwd=work)
        g("commit", "-q", "-m", f"commit {i + 1}", cwd=work)
    g("push", "-q", bare, "HEAD:refs/heads/main", cwd=work)
    if extra_refs:
        stream = "".join(f"commit refs/tags/t{i}\ncommitter Seed <seed@example.test> {1700000000 + i}"
                         f" +0000\ndata {len(str(i))}\n{i}\n" for i in range(extra_refs))
        g("fast-import", "--quiet", cwd=bare, stdin=stream.encode())
    log = g("log", "--format=%H", "main", cwd=bare).stdout.decode().split()
    return log


def first_run_password(s):
    m = wait_until(lambda: next((PASSWORD_RE.search(l) for l in s.stdout
                                 if PASSWORD_RE.search(l)), None), what="first-run password")
    return m.group(1)


def gql(s, query, token, variables=None, ws=None):
    return gql_data(s, query, variables, token=token, ws=ws)


def person(s, access):
    """(api token, first workspace id) of the user behind <access>."""
    tok = gql(s, 'mutation { createApiToken(name:"git") { secret } }', access)
    ws = gql(s, "{ me { workspaces { workspace } } }", access)["me"]["workspaces"][0]["workspace"]
    return tok["createApiToken"]["secret"], ws


def admin(s):
    """The first-run administrator: (access token, api token, workspace)."""
    access = login(s, "admin@localhost", first_run_password(s))
    pat, ws = person(s, access)
    return access, pat, ws


def another_user(s):
    """A user made with the CLI: (access token, api token, workspace)."""
    email, password = admin_create(s)
    access = login(s, email, password)
    pat, ws = person(s, access)
    return access, pat, ws


def url(s, ws, project, token=None, user="git"):
    cred = f"{user}:{urllib.parse.quote(token, safe='')}@" if token else ""
    return f"http://{cred}127.0.0.1:{s.port}/git/{ws}/{project}.git"


def basic(token, user="x"):
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


REFS = "/info/refs?service=git-upload-pack"


def admin_clone(g, s):
    """The administrator's project "demo", seeded and cloned over HTTP with an API token:
    (access token, api token, workspace, commits, the clone's directory)."""
    access, pat, ws = admin(s)
    commits = seed(g, s, ws, "demo")
    dest = g.path("clone")
    g("clone", "-q", url(s, ws, "demo", pat), dest)
    return access, pat, ws, commits, dest


# ---------------------------------------------------------------- reading

@test
def clone_and_ls_remote_with_an_api_token(t):
    with Git() as g, Slipway() as s:
        access, pat, ws, commits, dest = admin_clone(g, s)
        got = g("log", "--format=%H", cwd=dest).stdout.decode().split()
        t.eq(got, commits, "the clone has both commits")
        with open(os.path.join(dest, "README.md")) as f:
            t.eq(f.read(), "second\n")
        for proto in ("0", "2"):
            out = g("-c", f"protocol.version={proto}", "ls-remote",
                    url(s, ws, "demo", pat)).stdout.decode()
            t.contains(out, f"{commits[0]}\trefs/heads/main", f"ls-remote v{proto}")
        # an access token works as the password too, and Bearer works as well
        out = g("ls-remote", url(s, ws, "demo", access)).stdout.decode()
        t.contains(out, commits[0])
        out = g("-c", f"http.extraHeader=Authorization: Bearer {pat}", "ls-remote",
                url(s, ws, "demo")).stdout.decode()
        t.contains(out, commits[0])
        # a fetch after a new commit brings it
        g("-C", g.path("seed-demo"), "commit", "-q", "--allow-empty", "-m", "third")
        g("-C", g.path("seed-demo"), "push", "-q",
          os.path.join(repos_dir(s, ws), "demo.git"), "HEAD:refs/heads/main")
        g("pull", "-q", "--ff-only", cwd=dest)
        t.eq(len(g("log", "--format=%H", cwd=dest).stdout.decode().split()), 3)


@test
def large_requests_and_responses_do_not_deadlock(t):
    with Git() as g, Slipway() as s:
        _, pat, ws = admin(s)
        seed(g, s, ws, "many", extra_refs=MANY)
        out = g("ls-remote", "--tags", url(s, ws, "many", pat)).stdout.decode()
        t.eq(len(out.splitlines()), MANY, "every tag listed (a response of ~250 KB)")
        # a mirror wants every ref: a request body well over a pipe's 64 KiB, in both
        # protocol versions (v0 gzips it: Content-Encoding reaches http-backend)
        for proto in ("0", "2"):
            dest = g.path(f"mirror-v{proto}")
            g("-c", f"protocol.version={proto}", "clone", "-q", "--mirror",
              url(s, ws, "many", pat), dest, timeout=300)
            n = g("for-each-ref", "refs/tags", cwd=dest).stdout.decode().count("\n")
            t.eq(n, MANY, f"mirror v{proto}")


@test
def a_project_made_through_the_api_can_be_cloned(t):
    with Git() as g, Slipway() as s:
        access, pat, _ = admin(s)
        ws = "team-git"
        gql(s, 'mutation { createWorkspace(input:{id:"team-git", name:"Team"}) { id } }',
            access)
        gql(s, 'mutation { createProject(input:{name:"web"}) { id } }', access, ws=ws)
        dest = g.path("web")
        g("clone", "-q", url(s, ws, "web", pat), dest)
        t.true(os.path.exists(os.path.join(dest, "slipway.yaml")), "slipway.yaml checked out")


# ---------------------------------------------------------------- refusals

@test
def credentials_are_required_and_checked(t):
    with Git() as g, Slipway() as s:
        _, pat, ws = admin(s)
        seed(g, s, ws, "demo")
        path = f"/git/{ws}/demo.git" + REFS
        status, h, body = s.get(path)
        t.eq(status, 401, body)
        t.eq(h.get("www-authenticate"), 'Basic realm="slipway"')
        t.true(h.get("content-type", "").startswith("text/plain"), h)
        bad = "slp_" + "A" * 49
        for auth in (basic(bad), basic(pat[:-1] + ("x" if pat[-1] != "x" else "y")),
                     basic("not-a-token"), "Bearer nope", "Digest x", "Basic !!!"):
            status, h, body = s.get(path, headers={"Authorization": auth})
            t.eq(status, 401, f"{auth}: {body}")
            t.eq(h.get("www-authenticate"), 'Basic realm="slipway"', auth)
        status, _, _ = s.get(path, headers={"Authorization": basic(pat)})
        t.eq(status, 200)
        p = g("ls-remote", url(s, ws, "demo", "slp_wrong"), check=False)
        t.true(p.returncode != 0, "git with a wrong token fails")
        t.contains(p.stderr.decode(), "Authentication failed")
        p = g("clone", "-q", url(s, ws, "demo"), g.path("x"), check=False)
        t.true(p.returncode != 0, "git without a token fails")


@test
def other_workspaces_and_unknown_projects_are_not_found(t):
    with Git() as g, Slipway() as s:
        _, pat, ws = admin(s)
        seed(g, s, ws, "demo")
        _, other_pat, other_ws = another_user(s)
        seed(g, s, other_ws, "theirs")
        for who, w, proj in ((other_pat, ws, "demo"), (pat, other_ws, "theirs"),
                             (pat, ws, "nope"), (pat, "no-such-ws", "demo"),
                             (other_pat, other_ws, "demo")):
            status, h, body = s.get(f"/git/{w}/{proj}.git" + REFS,
                                    headers={"Authorization": basic(who)})
            t.eq(status, 404, f"{w}/{proj}: {body}")
            t.true(b"no such repository" in body, body)
            p = g("ls-remote", url(s, w, proj, who), check=False)
            t.true(p.returncode != 0, f"git ls-remote {w}/{proj}")
        # a directory that is not a repository is not served either
        os.makedirs(os.path.join(repos_dir(s, ws), "empty.git"))
        status, _, _ = s.get(f"/git/{ws}/empty.git" + REFS, headers={"Authorization": basic(pat)})
        t.eq(status, 404)
        out = g("ls-remote", url(s, other_ws, "theirs", other_pat)).stdout.decode()
        t.contains(out, "refs/heads/main", "the other user reads their own")


@test
def pushes_are_refused(t):
    with Git() as g, Slipway() as s:
        _, pat, ws, commits, dest = admin_clone(g, s)
        g("commit", "-q", "--allow-empty", "-m", "mine", cwd=dest)
        p = g("push", "origin", "HEAD:main", cwd=dest, check=False)
        t.true(p.returncode != 0, "git push fails")
        t.contains(p.stderr.decode(), "403")
        for method, path in (("GET", "/info/refs?service=git-receive-pack"),
                             ("POST", "/git-receive-pack")):
            status, _, body = s.request(method, f"/git/{ws}/demo.git{path}", body=b"",
                                        headers={"Authorization": basic(pat)})
            t.eq(status, 403, path)
            t.contains(body.decode(), "slipway alone writes these repositories")
        out = g("ls-remote", url(s, ws, "demo", pat)).stdout.decode()
        t.contains(out, f"{commits[0]}\trefs/heads/main", "main did not move")


@test
def path_tricks_and_the_dumb_protocol_are_refused(t):
    with Git() as g, Slipway() as s:
        _, pat, ws = admin(s)
        seed(g, s, ws, "demo")
        auth = {"Authorization": basic(pat)}
        cases = [
            (f"/git/{ws}/../demo.git" + REFS, (400, 404)),
            (f"/git/{ws}/%2e%2e/demo.git" + REFS, (400, 404)),
            (f"/git/%2e%2e/{ws}/demo.git" + REFS, (400, 404)),
            (f"/git/{ws}/..%2f{ws}%2fdemo.git" + REFS, (404,)),
            (f"/git/..%2F{ws}/demo.git" + REFS, (404,)),
            (f"/git/{ws}/%2Fetc%2Fpasswd.git" + REFS, (404,)),
            (f"/git/{ws}//etc/demo.git" + REFS, (400, 404)),
            (f"/git/{ws}/demo" + REFS, (404,)),
            (f"/git/{ws}/DEMO.git" + REFS, (404,)),
            (f"/git/{ws}/.git" + REFS, (404,)),
            (f"/git/{ws}/demo.git/HEAD", (404,)),
            (f"/git/{ws}/demo.git/objects/info/packs", (404,)),
            (f"/git/{ws}/demo.git/info/refs", (403,)),
            (f"/git/{ws}/demo.git/info/refs?service=git-frob", (400,)),
        ]
        for path, want in cases:
            status, _, body = s.get(path, headers=auth)
            t.true(status in want, f"{path}: got {status} {body[:200]!r}, want {want}")
        t.true(os.path.exists(os.path.join(repos_dir(s, ws), "demo.git", "HEAD")), "intact")


@test
def without_the_packager_git_answers_503(t):
    with Slipway("--services=gateway") as s:
        status, h, body = s.get("/git/ws/demo.git" + REFS)
        t.eq(status, 503, body)
        t.contains(body.decode(), "packager")


run()
