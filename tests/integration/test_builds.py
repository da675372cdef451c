"""detectServices over GraphQL (schema/builds.graphql): the real binary clones a repository at a
ref and describes its apps; file:// sources inside slipway's data directory are refused."""
import os
import shutil
import subprocess
import tempfile

from harness import Slipway, gql_raw, new_user, run, test

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
Q = ("query($r: String!, $g: String) { detectServices(repository: $r, gitRef: $g) "
     "{ name language framework startCommand suggestedPort contextPath } }")
ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
           GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")


def repo_of(tmp, *examples):
    """A git repository holding the named examples (one at the top, or several in subdirs)."""
    d = os.path.join(tmp, "repo-" + "-".join(examples))
    if len(examples) == 1:
        shutil.copytree(os.path.join(ROOT, "examples", examples[0]), d)
    else:
        for e in examples:
            shutil.copytree(os.path.join(ROOT, "examples", e), os.path.join(d, e))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "first"]):
        subprocess.run(["git", *args], cwd=d, env=ENV, check=True, capture_output=True)
    return d


@test
def detects_each_example_and_monorepos(t):
    tmp = tempfile.mkdtemp(prefix="detect-")
    try:
        with Slipway() as s:
            token = new_user(s)[0]
            status, body = gql_raw(s, Q, {"r": "file://" + repo_of(tmp, "node-express")},
                                   token=token)
            t.eq(status, 200, body)
            got = body["data"]["detectServices"]
            t.eq(len(got), 1, got)
            t.eq((got[0]["language"], got[0]["framework"], got[0]["contextPath"]),
                 ("node", "express", "."))
            t.true(got[0]["suggestedPort"] > 0, got)
            mono = repo_of(tmp, "python", "go", "static")
            status, body = gql_raw(s, Q, {"r": "file://" + mono, "g": "main"}, token=token)
            got = body["data"]["detectServices"]
            t.eq(sorted(x["contextPath"] for x in got), ["go", "python", "static"])
            t.eq(sorted(x["language"] for x in got), ["go", "html", "python"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def bad_sources_get_clear_errors(t):
    tmp = tempfile.mkdtemp(prefix="detect-")
    try:
        with Slipway() as s:
            token = new_user(s)[0]
            src = "file://" + repo_of(tmp, "static")
            _, body = gql_raw(s, Q, {"r": src, "g": "no-such-branch"}, token=token)
            t.eq(body["errors"][0]["extensions"]["code"], "NOT_FOUND", body)
            t.contains(body["errors"][0]["message"], "no-such-branch")
            _, body = gql_raw(s, Q, {"r": "file://" + os.path.join(tmp, "nothing")}, token=token)
            t.eq(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", body)
            # slipway's own repositories are not a source, whatever path reaches them
            data = os.path.join(s.dir, "data")
            for r in ("file://" + data, data + "/../data/", "file://" + data + "/registry/../"):
                _, body = gql_raw(s, Q, {"r": r}, token=token)
                t.eq(body["errors"][0]["extensions"]["code"], "FORBIDDEN", body)
            _, body = gql_raw(s, Q, {"r": src})
            t.eq(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", body)
            t.eq(os.listdir(os.path.join(data, "builder", "tmp")), [])  # every clone was removed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run()
