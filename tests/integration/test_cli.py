"""The `slipway` command-line client against the real binary, run as a user would: login with a
password (--password-stdin) and with a token, the stored login's file, whoami, workspaces,
projects, environments, variables (secrets never printed), scale, domains, a service added from
a local git repository and followed to its end, deploy history, rollback, promotion, logs, open,
a failed and a cancelled deploy, logout, plain output without a terminal, shell completion.

The deploy test needs root, runc, nginx and the builder's base cache, like test_deploy.py (whose
Platform it uses)."""
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile

import harness
from harness import BIN, Slipway, admin_create, gql_data, login, run, test, wait_until
from test_deploy import BUILD_TIMEOUT, Platform, git, repo_of

harness._tests[:] = []  # importing test_deploy registered its tests: they are not this file's


class Cli:
    """The client with its own HOME and XDG_CONFIG_HOME, and no SLIPWAY_* or display."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="slipway-cli-")
        self.config = os.path.join(self.home, "xdg", "slipway", "config")

    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("SLIPWAY_") and k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                           "NO_COLOR")}
        e.update(HOME=self.home, XDG_CONFIG_HOME=os.path.join(self.home, "xdg"))
        e.update(extra or {})
        return e

    def __call__(self, *args, input=None, env=None, timeout=120):
        return subprocess.run([BIN, *args], capture_output=True, text=True, input=input,
                              timeout=timeout, env=self.env(env))

    def ok(self, t, *args, width=80, **kw):
        p = self(*args, **kw)
        t.eq(p.returncode, 0, f"{args}: {p.stderr[-2000:]}")
        t.true("\x1b" not in p.stdout + p.stderr, f"{args}: escape codes without a terminal")
        for line in p.stdout.splitlines():
            t.true(len(line) <= width, f"{args}: a line over {width} columns: {line!r}")
        return p

    def json(self, t, *args, **kw):
        return json.loads(self.ok(t, *args, "--json", width=100000, **kw).stdout)

    def token(self):
        with open(self.config) as f:
            return [ln.split("=", 1)[1].strip() for ln in f if ln.startswith("token")][0]

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)


def url_of(s):
    return f"http://127.0.0.1:{s.port}"


def cli_login(t, s, cli):
    email, password = admin_create(s)
    p = cli.ok(t, "login", url_of(s), "--email", email, "--password-stdin",
               input=password + "\n")
    t.contains(p.stderr, "Logged in")
    return email, password


@test
def login_whoami_workspace_and_logout(t):
    cli = Cli()
    try:
        with Slipway() as s:
            p = cli("whoami")
            t.eq(p.returncode, 2, p.stderr)
            t.contains(p.stderr, "slipway login")
            email, password = cli_login(t, s, cli)
            st = os.stat(cli.config)
            t.eq(stat.S_IMODE(st.st_mode), 0o600, "the config file's mode")
            t.eq(stat.S_IMODE(os.stat(os.path.dirname(cli.config)).st_mode), 0o700, "its dir")
            token = cli.token()
            t.true(token.startswith("slp_"), "a personal access token is stored")
            names = [x["name"] for x in gql_data(s, "{ apiTokens { name } }",
                                                  token=token)["apiTokens"]]
            t.true(any(n.startswith("cli@") for n in names), f"token names: {names}")
            me = cli.json(t, "whoami")
            t.eq(me["email"], email)
            t.eq(me["server"], url_of(s))
            t.true(me["workspace"] and me["role"], f"workspace and role: {me}")
            t.contains(cli.ok(t, "whoami").stdout, email)
            # A team workspace becomes the active one.
            gql_data(s, 'mutation { createWorkspace(input: {id: "team1", name: "Team"}) { id } }',
                     token=token)
            cli.ok(t, "workspace", "use", "team1")
            t.eq(cli.json(t, "whoami")["workspace"], "team1")
            t.true(any(w["id"] == "team1" for w in cli.json(t, "workspace", "list")), "list")
            p = cli("workspace", "use", "nope")
            t.eq(p.returncode, 1, p.stderr)
            t.eq(cli.json(t, "whoami")["workspace"], "team1", "a refused workspace is not kept")
            # Flags and the environment win over the file.
            t.true(cli.json(t, "whoami", env={"SLIPWAY_WORKSPACE": me["workspace"]})
                   ["workspace"] == me["workspace"], "SLIPWAY_WORKSPACE overrides")
            # Logout revokes the token.
            cli.ok(t, "logout")
            status, d = harness.gql_raw(s, "{ me { id } }", token=token)
            t.true(status != 200 or d.get("errors"), f"the token is revoked: {status} {d}")
            p = cli("whoami")
            t.true(p.returncode != 0, "whoami after logout fails")
            t.contains(p.stderr, "not logged in")
            t.contains(p.stderr, "slipway login")
            # A token made elsewhere.
            access = login(s, email, password)
            tok = gql_data(s, 'mutation { createApiToken(name: "ci") { secret } }',
                           token=access)["createApiToken"]["secret"]
            cli.ok(t, "login", url_of(s), "--token", tok)
            t.eq(cli.json(t, "whoami")["email"], email)
            p = cli("login", url_of(s), "--token", "slp_wrong")
            t.eq(p.returncode, 1, p.stderr)
            t.contains(p.stderr, "token")
    finally:
        cli.cleanup()


@test
def projects_environments_variables_and_errors(t):
    cli = Cli()
    try:
        with Slipway() as s:
            cli_login(t, s, cli)
            p = cli.ok(t, "project", "create", "shop")
            t.contains(p.stdout, "shop")
            t.true(any(x["id"] == "shop" for x in cli.json(t, "projects")), "projects lists it")
            t.contains(cli.ok(t, "projects").stdout, "development")
            cli.ok(t, "env", "create", "shop", "staging", "--from", "development")
            envs = [x for x in cli.json(t, "projects") if x["id"] == "shop"][0]["environments"]
            t.eq(sorted(e["name"] for e in envs), ["development", "staging"])
            # Shared variables: set, a secret never printed, unset.
            cli.ok(t, "vars", "set", "shop", "A=1", "B=two words")
            p = cli.ok(t, "vars", "set", "shop", "--secret", "S=hunter2")
            t.true("hunter2" not in p.stdout + p.stderr, "set does not echo a secret")
            p = cli.ok(t, "vars", "set", "shop", "--secret", "TOK", input="abc123\n")
            t.true("abc123" not in p.stdout + p.stderr, "a secret from stdin is not echoed")
            got = {v["key"]: v for v in cli.json(t, "vars", "list", "shop")}
            t.eq(got["A"]["value"], "1")
            t.eq(got["B"]["value"], "two words")
            t.eq((got["S"]["value"], got["S"]["secret"]), ("********", True))
            t.eq(got["TOK"]["secret"], True)
            cli.ok(t, "vars", "unset", "shop", "A")
            got = {v["key"]: v for v in cli.json(t, "vars", "list", "shop")}
            t.eq(sorted(got), ["B", "S", "TOK"], "A is gone, the secrets kept")
            p = cli.ok(t, "vars", "list", "shop")
            t.true("hunter2" not in p.stdout, "list masks secrets")
            t.eq(cli.json(t, "vars", "list", "shop", "--env", "staging"), [],
                 "staging has its own set")
            # Errors: usage 2, refusals 1, with what to do next.
            p = cli("vars", "unset", "shop", "NOPE")
            t.eq(p.returncode, 2, p.stderr)
            p = cli("deploys", "nope", "web")
            t.eq(p.returncode, 1, p.stderr)
            t.contains(p.stderr, "no project nope")
            p = cli("scale", "shop", "web", "x")
            t.eq(p.returncode, 2, p.stderr)
            p = cli("project", "create", "Bad!")
            t.eq(p.returncode, 2, p.stderr)
            t.contains(p.stderr, "slipway help projects")
            p = cli("project", "delete", "shop")
            t.eq(p.returncode, 1, "deleting needs --yes without a terminal")
            t.contains(p.stderr, "--yes")
            cli.ok(t, "env", "delete", "shop", "staging", "--yes")
            cli.ok(t, "project", "delete", "shop", "--yes")
            t.eq([x for x in cli.json(t, "projects") if x["id"] == "shop"], [])
            # NO_COLOR on a terminal-less run: still no escape codes (cli.ok checks each run).
            cli.ok(t, "projects", env={"NO_COLOR": "1"})
    finally:
        cli.cleanup()


@test
def completion_scripts(t):
    cli = Cli()
    try:
        p = cli.ok(t, "completion", "bash", width=200)
        t.contains(p.stdout, "complete -F _slipway slipway")
        path = os.path.join(cli.home, "slipway.bash")
        with open(path, "w") as f:
            f.write(p.stdout)
        t.eq(subprocess.run(["bash", "-n", path]).returncode, 0, "bash -n")
        t.contains(cli.ok(t, "completion", "zsh", width=200).stdout, "#compdef slipway")
        t.eq(cli("completion", "fish").returncode, 2)
        t.contains(cli.ok(t, "help", "vars", width=100).stdout, "--secret")
    finally:
        cli.cleanup()


@test
def services_deploys_rollback_promote_logs_open_fail_and_cancel(t):
    cli = Cli()
    tmp = tempfile.mkdtemp(prefix="cli-deploy-")
    plat = Platform()
    try:
        with plat.start() as s:
            cli_login(t, s, cli)
            cli.ok(t, "project", "create", "site")
            repo = repo_of(tmp, "static")
            p = cli("service", "add", "site", "--repo", "file://" + repo, "--name", "web",
                    "--yes", timeout=BUILD_TIMEOUT)
            t.eq(p.returncode, 0, p.stderr[-3000:])
            t.contains(p.stderr, "Add")  # what was detected is shown
            t.contains(p.stderr, "SUCCEEDED")
            first = cli.json(t, "deploys", "site", "web")
            t.eq(len(first), 1, first)
            t.eq(first[0]["active"], True)
            first_tag = first[0]["imageTag"]
            t.contains(cli.ok(t, "deploys", "site", "web").stdout, "*")
            # A change, deployed with `slipway deploy` (the stored login).
            with open(os.path.join(repo, "index.html"), "a") as f:
                f.write("<!-- second -->\n")
            git(repo, "commit", "-qam", "second")
            p = cli("deploy", "site", "web", timeout=BUILD_TIMEOUT)
            t.eq(p.returncode, 0, p.stderr[-3000:])
            hist = cli.json(t, "deploys", "site", "web")
            t.eq(len(hist), 2, hist)
            t.true(hist[0]["active"] and hist[0]["imageTag"] != first_tag, hist)
            # Rollback to the first image.
            cli.ok(t, "rollback", "site", "web", first_tag)
            wait_until(lambda: [d for d in cli.json(t, "deploys", "site", "web")
                                if d["active"]][0]["imageTag"] == first_tag,
                       timeout=120, what="the rollback to be active")
            # Promotion to staging.
            cli.ok(t, "env", "create", "site", "staging")
            cli.ok(t, "promote", "site", "web", "--from", "development", "--to", "staging")
            wait_until(lambda: any(d["active"] for d in
                                   cli.json(t, "deploys", "site", "web", "--env", "staging")),
                       timeout=120, what="the promotion")
            # Service variables, scaling, domains, open, logs.
            cli.ok(t, "vars", "set", "site", "web", "GREETING=hi", "--secret", "KEY=s3cret")
            got = {v["key"]: v for v in cli.json(t, "vars", "list", "site", "web")}
            t.eq(got["KEY"]["value"], "********")
            p = cli("scale", "site", "web", "50")
            t.eq(p.returncode, 1, "50 replicas is refused: " + p.stderr)
            cli.ok(t, "scale", "site", "web", "1")
            doms = cli.json(t, "domains", "site", "web")
            platform = [d["hostname"] for d in doms if d["type"] == "PLATFORM"][0]
            cli.ok(t, "domains", "site", "web", "add", "www.example.test")
            t.true(any(d["hostname"] == "www.example.test"
                       for d in cli.json(t, "domains", "site", "web")), "custom domain added")
            cli.ok(t, "domains", "site", "web", "remove", "www.example.test")
            p = cli.ok(t, "open", "site", "web")  # the port the server says its ingress has
            t.eq(p.stdout.strip(), f"http://{platform}:{plat.ingress_port}/")
            url = cli.json(t, "open", "site", "web", "--ingress-url",
                           "https://apps.example.test:8443")["url"]
            t.eq(url, f"https://{platform}:8443/")
            t.eq(plat.get(platform)[0], 200, "the app answers at its platform domain")
            cli.ok(t, "logs", "site", "web", "--tail", "5")
            # A deploy that fails: an app crashing on start.
            crash = repo_of(tmp, "python")
            with open(os.path.join(crash, "main.py"), "w") as f:
                f.write('print("boom", flush=True)\nraise SystemExit(3)\n')
            git(crash, "commit", "-qam", "crash")
            p = cli("service", "add", "site", "--repo", "file://" + crash, "--name", "api",
                    "--yes", timeout=BUILD_TIMEOUT)
            t.eq(p.returncode, 1, p.stderr[-3000:])
            t.contains(p.stderr, "FAILED")
            # A deploy cancelled with Ctrl-C while it builds.
            with open(os.path.join(repo, "index.html"), "a") as f:
                f.write("<!-- third -->\n")
            git(repo, "commit", "-qam", "third")
            proc = subprocess.Popen([BIN, "deploy", "site", "web"], env=cli.env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            seen = []
            for line in proc.stderr:
                seen.append(line)
                # The first phase line: the build starts now (a small site builds in about
                # two seconds, faster than the 500 ms polling may show CLONING or BUILDING).
                if line.startswith(("QUEUED", "CLONING", "BUILDING")):
                    proc.send_signal(signal.SIGINT)
                    break
            out, err = proc.communicate(timeout=BUILD_TIMEOUT)
            err = "".join(seen) + err
            t.eq(proc.returncode, 2, err[-3000:])
            t.contains(err, "CANCELLED")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        cli.cleanup()


if __name__ == "__main__":
    run()
