"""Deploys end to end, driven only through the GraphQL API like a new user: every example app
built from a local git repository and fetched through the ingress; a change, a rollback and
scaling under a steady request load with zero failed requests; promotion to staging with the
same digest; a release that crashes on start; kill -9 of slipway in each phase of a deploy.

Needs root, runc, nginx and the builder's base cache ($SLIPWAY_TEST_BASE_CACHE, else
/var/cache/slipway-test/base, shared with the builder's unit tests: a cold one downloads about
500 MB of Debian packages)."""
import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import Failure, Slipway, free_port, gql_data, new_user, run, test, wait_until

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BASE_CACHE = os.environ.get("SLIPWAY_TEST_BASE_CACHE") or "/var/cache/slipway-test/base"
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
# Builds trust the host's CA bundle, as the builder's unit tests do (a TLS-intercepting proxy's
# CA is there on machines that have one).
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
BUILD_TIMEOUT = 900
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

ADD = """mutation($i: AddServiceInput!) { addService(input: $i) {
  name domains { hostname type } initialDeploy { id phase } } }"""
STATUS = """query($id: ID!) { deployStatus(id: $id) {
  id phase error digest imageRef rolloutHealth rolloutMessage buildId } }"""
DEPLOY = """mutation($i: DeployInput!) { deploy(input: $i) { id phase } }"""
SERVICE = """query($p: ID!) { project(id: $p) { environments { name services {
  name image imageTag replicas ready syncStatus domains { hostname type }
  deployments { imageTag digest active } } } } }"""


def git(d, *args):
    subprocess.run(["git", *args], cwd=d, env=GIT_ENV, check=True, capture_output=True)


def repo_of(tmp, example):
    d = os.path.join(tempfile.mkdtemp(prefix="src-", dir=tmp), example)
    shutil.copytree(os.path.join(ROOT, "examples", example), d)
    git(d, "init", "-q", "-b", "main")
    git(d, "add", "-A")
    git(d, "commit", "-qm", "first")
    return d


class Platform:
    """slipway with its ingress on a free port, the builder's shared base cache, and a user."""

    def __init__(self, data_dir=None, port=None, ingress_port=None):
        self.ingress_port = ingress_port or free_port()
        self.port = port or free_port()
        self.data_dir = data_dir
        self.s = None

    def start(self):
        args = ["--port", str(self.port), "--set", "ingress.enabled=true",
                "--set", f"ingress.port={self.ingress_port}",
                "--set", f"builder.base_cache={BASE_CACHE}",
                "--set", "deployer.drain=1s"]
        if os.access(HOST_CA, os.R_OK):
            args += ["--set", f"builder.ca_bundle={HOST_CA}"]
        if self.data_dir:
            args += ["--data-dir", self.data_dir]
        self.s = Slipway(*args)
        if not self.data_dir:
            self.data_dir = os.path.join(self.s.dir, "data")
        return self.s

    def get(self, host, path="/", timeout=5):
        c = http.client.HTTPConnection("127.0.0.1", self.ingress_port, timeout=timeout)
        try:
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()


def wait_deploy(s, token, deploy_id, timeout=BUILD_TIMEOUT, seen=None):
    def final():
        st = gql_data(s, STATUS, {"id": deploy_id}, token=token)["deployStatus"]
        if seen is not None and (not seen or seen[-1] != st["phase"]):
            seen.append(st["phase"])
        return st if st["phase"] in FINAL else None
    return wait_until(final, timeout=timeout, step=0.2, what=f"deploy {deploy_id} to end")


def create_project(s, token, name):
    gql_data(s, "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
             {"i": {"name": name}}, token=token)


def add_service(s, token, project, name, repo, env="development"):
    d = gql_data(s, ADD, {"i": {"projectId": project, "environment": env, "name": name,
                                "repository": "file://" + repo}}, token=token)["addService"]
    platform = [x["hostname"] for x in d["domains"] if x["type"] == "PLATFORM"]
    return d["initialDeploy"]["id"], platform[0]


def services(s, token, project):
    envs = gql_data(s, SERVICE, {"p": project}, token=token)["project"]["environments"]
    return {(e["name"], x["name"]): x for e in envs for x in e["services"]}


@contextlib.contextmanager
def deployed(project, example):
    """slipway with one user whose <project> runs service "web" built from a git copy of
    examples/<example>, its first deploy SUCCEEDED: yields (platform, slipway, token, repo
    directory, the service's platform domain)."""
    tmp = tempfile.mkdtemp(prefix="deploy-")
    p = Platform()
    try:
        with p.start() as s:
            token = new_user(s)[0]
            create_project(s, token, project)
            repo = repo_of(tmp, example)
            first, host = add_service(s, token, project, "web", repo)
            st = wait_deploy(s, token, first)
            if st["phase"] != "SUCCEEDED":
                raise Failure(f"the first deploy of {example} ended {st}")
            yield p, s, token, repo, host
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Load:
    """A client sending requests to <host> through the ingress without pause; counts failures."""

    def __init__(self, p, host):
        self.p, self.host = p, host
        self.ok = self.failed = 0
        self.errors = []
        self.bodies = set()
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop:
            try:
                status, body = self.p.get(self.host)
                if status == 200:
                    self.ok += 1
                    self.bodies.add(body)
                else:
                    self.failed += 1
                    self.errors.append(f"{status} {body[:120]!r}")
            except OSError as e:
                self.failed += 1
                self.errors.append(repr(e))
            time.sleep(0.005)

    def end(self):
        self.stop = True
        self.t.join(10)
        return self.failed


@test
def each_example_deploys_and_answers_through_the_ingress(t):
    tmp = tempfile.mkdtemp(prefix="deploy-")
    p = Platform()
    try:
        with p.start() as s:
            token = new_user(s)[0]
            create_project(s, token, "examples")
            started = []
            for ex in sorted(os.listdir(os.path.join(ROOT, "examples"))):
                if os.path.isdir(os.path.join(ROOT, "examples", ex)):
                    name = ex.replace("_", "-")
                    started.append((ex,) + add_service(s, token, "examples", name,
                                                        repo_of(tmp, ex)))
            for ex, deploy_id, host in started:
                st = wait_deploy(s, token, deploy_id)
                t.eq(st["phase"], "SUCCEEDED", f"{ex}: {st}")
                t.eq(st["rolloutHealth"], "SYNCED", f"{ex}: {st}")
                status, body = p.get(host)
                t.eq(status, 200, f"{ex} through {host}: {body[:200]!r}")
            svc = services(s, token, "examples")
            for ex, _, _ in started:
                x = svc[("development", ex)]
                t.true(x["ready"] and x["syncStatus"] == "SYNCED", f"{ex}: {x}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def changes_rollbacks_and_scaling_lose_no_request_and_promotion_keeps_the_digest(t):
    with deployed("shop", "python") as (p, s, token, repo, host):
        first_tag = services(s, token, "shop")[("development", "web")]["imageTag"]
        load = Load(p, host)
        # A change of the source.
        main = os.path.join(repo, "main.py")
        with open(main) as f:
            src = f.read()
        with open(main, "w") as f:
            f.write(src.replace("hello from python", "hello again"))
        git(repo, "commit", "-qam", "second")
        d = gql_data(s, DEPLOY, {"i": {"projectId": "shop", "service": "web",
                                       "environment": "development"}}, token=token)
        t.eq(wait_deploy(s, token, d["deploy"]["id"])["phase"], "SUCCEEDED")
        t.eq(p.get(host)[1], b"hello again\n")
        # Back to the first release, without a build.
        gql_data(s, "mutation($i: RollbackInput!) { rollback(input: $i) }",
                 {"i": {"projectId": "shop", "service": "web", "environment": "development",
                        "imageTag": first_tag}}, token=token)
        wait_until(lambda: p.get(host)[1] == b"hello from python\n", timeout=120,
                   what="the rollback to serve")
        wait_until(lambda: gql_data(s, "query { activeDeployment(projectId: \"shop\", "
                                       "service: \"web\", environment: \"development\") "
                                       "{ id } }", token=token)["activeDeployment"] is None,
                   timeout=120, what="the rollback to end")
        # Three replicas and back to one.
        for n in (3, 1):
            gql_data(s, """mutation($i: ServiceScalingInput!) {
                             setServiceScaling(input: $i) { replicas } }""",
                     {"i": {"projectId": "shop", "environment": "development",
                            "service": "web", "replicas": n}}, token=token)
            wait_until(lambda: services(s, token, "shop")[("development", "web")]
                       ["replicas"] == n and gql_data(
                           s, "query { activeDeployment(projectId: \"shop\", service: "
                              "\"web\", environment: \"development\") { id } }",
                           token=token)["activeDeployment"] is None,
                       timeout=120, what=f"{n} replicas")
            x = services(s, token, "shop")[("development", "web")]
            t.true(x["ready"] and x["syncStatus"] == "SYNCED", x)
        failed = load.end()
        t.eq(failed, 0, f"failed requests during the rollouts: {load.errors[:5]}")
        t.true(load.ok > 100, f"only {load.ok} requests were made")
        # Promotion: the same digest runs in staging.
        gql_data(s, """mutation { createEnvironment(input: {projectId: "shop",
                         name: "staging"}) { name } }""", token=token)
        gql_data(s, """mutation { promote(input: {projectId: "shop", service: "web",
                         fromEnvironment: "development", toEnvironment: "staging"})
                         { name } }""", token=token)
        wait_until(lambda: gql_data(s, "query { activeDeployment(projectId: \"shop\", "
                                       "service: \"web\", environment: \"staging\") "
                                       "{ id } }", token=token)["activeDeployment"] is None,
                   timeout=120, what="the promotion to end")
        svc = services(s, token, "shop")
        dev, stg = svc[("development", "web")], svc[("staging", "web")]
        t.eq(stg["image"], dev["image"], "staging records development's digest")
        t.eq(stg["syncStatus"], "SYNCED", "and runs it (the deployer's digest is the same)")
        shost = [x["hostname"] for x in stg["domains"] if x["type"] == "PLATFORM"][0]
        t.eq(p.get(shost), (200, b"hello from python\n"))


@test
def a_release_crashing_on_start_fails_and_the_old_one_keeps_serving(t):
    with deployed("crash", "python") as (p, s, token, repo, host):
        good = services(s, token, "crash")[("development", "web")]["image"]
        with open(os.path.join(repo, "main.py"), "w") as f:
            f.write('print("boom: the database is not there", flush=True)\n'
                    'raise SystemExit(3)\n')
        git(repo, "commit", "-qam", "crash")
        d = gql_data(s, DEPLOY, {"i": {"projectId": "crash", "service": "web",
                                       "environment": "development"}}, token=token)
        st = wait_deploy(s, token, d["deploy"]["id"])
        t.eq(st["phase"], "FAILED", st)
        t.contains(st["error"] or "", "boom", "the crash output is in the error")
        t.eq(p.get(host), (200, b"hello from python\n"), "the old release serves")
        # The repository records the release that runs again, so what the API says is true and
        # a change of variables redeploys the good release, not the crashing one.
        x = services(s, token, "crash")[("development", "web")]
        t.eq((x["image"], x["syncStatus"]), (good, "SYNCED"), x)
        gql_data(s, """mutation { setServiceVariables(projectId: "crash", environment:
                         "development", service: "web", variables: [{key: "MODE", value: "x"}])
                         { key } }""", token=token)
        wait_until(lambda: gql_data(s, 'query { activeDeployment(projectId: "crash", service: '
                                       '"web", environment: "development") { id } }',
                                    token=token)["activeDeployment"] is None,
                   timeout=120, what="the redeploy to end")
        t.eq(p.get(host), (200, b"hello from python\n"), "the redeploy ran the good release")


@test
def kill_9_in_each_phase_ends_the_deploy_and_apps_keep_serving(t):
    tmp = tempfile.mkdtemp(prefix="deploy-")
    p = Platform()
    hit = []
    try:
        s = p.start()
        token = new_user(s)[0]
        create_project(s, token, "k9")
        repo = repo_of(tmp, "node-express")
        first, host = add_service(s, token, "k9", "web", repo)
        t.eq(wait_deploy(s, token, first)["phase"], "SUCCEEDED")
        for i, phase in enumerate(("QUEUED", "CLONING", "BUILDING", "PUSHING", "DEPLOYING")):
            # A change of the lockfile's bytes makes the build install again (npm ci), so
            # BUILDING lasts long enough to be caught; the others change the source only.
            name = "package-lock.json" if phase == "BUILDING" else "server.js"
            with open(os.path.join(repo, name), "a") as f:
                f.write("\n" if phase == "BUILDING" else f"\n// change {i}\n")
            git(repo, "commit", "-qam", f"change {i}")
            d = gql_data(s, DEPLOY, {"i": {"projectId": "k9", "service": "web",
                                           "environment": "development"}}, token=token)
            deploy_id = d["deploy"]["id"]
            order = ["QUEUED", "CLONING", "BUILDING", "PUSHING", "DEPLOYING", *FINAL]
            seen = wait_until(
                lambda: (lambda ph: ph if order.index(ph) >= order.index(phase) else None)(
                    gql_data(s, STATUS, {"id": deploy_id}, token=token)["deployStatus"]["phase"]),
                timeout=BUILD_TIMEOUT, step=0.01, what=f"phase {phase}")
            s.proc.send_signal(signal.SIGKILL)
            s.wait(30)
            hit.append(seen)
            # Slipway is down: the app answers through nginx all the same.
            t.eq(p.get(host)[0], 200, f"the app serves while slipway is down ({seen})")
            s = p.start()
            st = wait_deploy(s, token, deploy_id)
            t.true(st["phase"] in ("SUCCEEDED", "FAILED"), f"killed in {seen}: {st}")
            t.eq(p.get(host)[0], 200, "the app serves after the restart")
        t.true("BUILDING" in hit and "DEPLOYING" in hit, f"phases hit: {hit}")
        s.stop()
    finally:
        if p.s is not None:
            p.s.kill()
            p.s.down()
            shutil.rmtree(os.path.dirname(p.data_dir), ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# kill -9 in phases: {hit}")


if __name__ == "__main__":
    run()
