"""The built-in OCI registry (docs/registry.md) through the real binary: skopeo pushes and
pulls an image built here as an OCI layout, a second workspace can neither pull nor mount
it, a chunked upload by hand, tag pagination, and delete + garbage collection."""
import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import uuid

from harness import BIN, Failure, Slipway, free_port, run, test, wait_until

PASSWORD_RE = re.compile(r"password \(shown only this once, keep it safe\): (\S+)")
CONFIG = "registry.gc_interval = 1s\nregistry.gc_grace = 0s\n"


def start():
    return Slipway("--port", str(free_port()), config=CONFIG)


def jreq(s, method, path, body=None, headers=None):
    status, hdrs, b = s.request(method, path, body=body, headers=headers or {})
    return status, hdrs, b


def login(s, email, password):
    status, _, body = jreq(s, "POST", "/auth/login",
                           json.dumps({"email": email, "password": password}),
                           {"Content-Type": "application/json"})
    if status != 200:
        raise Failure(f"login {email}: {status} {body!r}")
    return json.loads(body)["accessToken"]


def gql(s, query, token):
    status, _, body = jreq(s, "POST", "/graphql", json.dumps({"query": query}),
                           {"Content-Type": "application/json",
                            "Authorization": f"Bearer {token}"})
    d = json.loads(body)
    if status != 200 or d.get("errors"):
        raise Failure(f"graphql {query[:60]!r}: {status} {d}")
    return d["data"]


def person(s, access):
    """(api token, first workspace id) of the user behind <access>."""
    tok = gql(s, 'mutation { createApiToken(name:"reg") { secret } }', access)
    ws = gql(s, "{ me { workspaces { workspace } } }", access)["me"]["workspaces"][0]["workspace"]
    return tok["createApiToken"]["secret"], ws


def admin(s):
    m = wait_until(lambda: next((PASSWORD_RE.search(l) for l in s.stdout
                                 if PASSWORD_RE.search(l)), None), what="first-run password")
    return person(s, login(s, "admin@localhost", m.group(1)))


def other_user(s):
    email = f"u-{uuid.uuid4().hex[:10]}@example.test"
    p = subprocess.run([BIN, "admin", "create", "--email", email, "--data-dir",
                        os.path.join(s.dir, "data")], capture_output=True, text=True, timeout=60)
    m = PASSWORD_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise Failure(f"admin create: {p.returncode} {p.stderr}")
    return person(s, login(s, email, m.group(1)))


def token(s, pat, *scopes):
    q = "&".join(f"scope={sc}" for sc in scopes)
    auth = base64.b64encode(f"x:{pat}".encode()).decode()
    status, _, body = jreq(s, "GET", f"/v2/token?service=slipway&{q}",
                           headers={"Authorization": f"Basic {auth}"})
    if status != 200:
        raise Failure(f"token: {status} {body!r}")
    d = json.loads(body)
    for k in ("token", "access_token", "expires_in", "issued_at"):
        if k not in d:
            raise Failure(f"token answer lacks {k}: {d}")
    return d["token"]


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def oci_layout(root, text=b"hello from slipway\n"):
    """A one-layer OCI image layout in <root>; returns the manifest's digest."""
    blobs = os.path.join(root, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        with open(os.path.join(blobs, sha(data)[7:]), "wb") as f:
            f.write(data)
        return sha(data)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text)
        info.mtime = 0
        tf.addfile(info, io.BytesIO(text))
    layer = gzip.compress(buf.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha(buf.getvalue())]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": put(layer), "size": len(layer)}]}).encode()
    md = put(manifest)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
            "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
            f)
    return md, sha(layer), sha(config)


def skopeo(*args):
    p = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def push_image(t, s, pat, ws, tmp, repo="app", tag="v1"):
    layout = os.path.join(tmp, "layout-" + repo)
    md, layer, config = oci_layout(layout)
    rc, out, err = skopeo("copy", f"oci:{layout}:v1",
                          f"docker://127.0.0.1:{s.port}/{ws}/{repo}:{tag}",
                          "--preserve-digests", "--dest-tls-verify=false", "--dest-creds",
                          f"x:{pat}")
    t.eq(rc, 0, f"skopeo copy (push): {err}")
    return md, layer, config


@test
def v2_without_a_token_is_challenged(t):
    with start() as s:
        status, hdrs, body = s.get("/v2/")
        t.eq(status, 401)
        t.contains(hdrs.get("www-authenticate", ""),
                   f'Bearer realm="http://127.0.0.1:{s.port}/v2/token",service="slipway"')
        t.eq(json.loads(body)["errors"][0]["code"], "UNAUTHORIZED")
        status, hdrs, _ = s.get("/v2/acme/app/manifests/v1")
        t.contains(hdrs.get("www-authenticate", ""), 'scope="repository:acme/app:pull"')
        status, _, _ = s.get("/v2/token", headers={"Authorization": "Basic eDp3cm9uZw=="})
        t.eq(status, 401, "a wrong password")


@test
def skopeo_push_inspect_and_pull_back(t):
    tmp = tempfile.mkdtemp()
    try:
        with start() as s:
            pat, ws = admin(s)
            md, layer, config = push_image(t, s, pat, ws, tmp)
            ref = f"docker://127.0.0.1:{s.port}/{ws}/app:v1"
            rc, out, err = skopeo("inspect", "--tls-verify=false", "--creds", f"x:{pat}", ref)
            t.eq(rc, 0, f"skopeo inspect: {err}")
            info = json.loads(out)
            t.eq(info["Digest"], md, "manifest digest")
            t.eq(info["Layers"], [layer], "layers")
            out_dir = os.path.join(tmp, "pulled")
            rc, _, err = skopeo("copy", "--src-tls-verify=false", "--src-creds", f"x:{pat}", ref,
                                f"dir:{out_dir}")
            t.eq(rc, 0, f"skopeo copy (pull): {err}")
            with open(os.path.join(out_dir, "manifest.json"), "rb") as f:
                t.eq(sha(f.read()), md, "pulled manifest digest")
            with open(os.path.join(out_dir, layer[7:]), "rb") as f:
                t.eq(sha(f.read()), layer, "pulled layer digest")
            # the same push again: blobs exist already, nothing changes
            push_image(t, s, pat, ws, os.path.join(tmp, "again"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def another_workspace_can_neither_pull_nor_mount(t):
    tmp = tempfile.mkdtemp()
    try:
        with start() as s:
            pat, ws = admin(s)
            md, layer, config = push_image(t, s, pat, ws, tmp)
            pat2, ws2 = other_user(s)
            t.true(ws2 != ws, "a workspace of its own")
            rc, _, err = skopeo("inspect", "--tls-verify=false", "--creds", f"x:{pat2}",
                                f"docker://127.0.0.1:{s.port}/{ws}/app:v1")
            t.true(rc != 0, "the second user pulled the first one's image")
            tok = token(s, pat2, f"repository:{ws}/app:pull", f"repository:{ws2}/app:pull,push")
            h = {"Authorization": f"Bearer {tok}"}
            status, _, _ = s.get(f"/v2/{ws}/app/manifests/v1", headers=h)
            t.eq(status, 401, "pull of another workspace's manifest")
            status, _, _ = s.get(f"/v2/{ws}/app/blobs/{layer}", headers=h)
            t.eq(status, 401, "pull of another workspace's blob")
            status, hdrs, _ = s.request("POST", f"/v2/{ws2}/app/blobs/uploads/?mount={layer}"
                                        f"&from={ws}/app", headers=h)
            t.eq(status, 202, "a refused mount starts an ordinary upload")
            status, _, _ = s.request("HEAD", f"/v2/{ws2}/app/blobs/{layer}", headers=h)
            t.eq(status, 404, "the blob did not get into the second workspace")
            # the owner can mount between its own repositories
            tok1 = token(s, pat, f"repository:{ws}/app:pull", f"repository:{ws}/copy:pull,push")
            status, hdrs, _ = s.request("POST", f"/v2/{ws}/copy/blobs/uploads/?mount={layer}"
                                        f"&from={ws}/app",
                                        headers={"Authorization": f"Bearer {tok1}"})
            t.eq(status, 201, "mount within the workspace")
            t.eq(hdrs.get("docker-content-digest"), layer)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def chunked_upload_by_hand(t):
    with start() as s:
        pat, ws = admin(s)
        tok = token(s, pat, f"repository:{ws}/raw:pull,push")
        h = {"Authorization": f"Bearer {tok}"}
        data = os.urandom(300000)
        status, hdrs, _ = s.request("POST", f"/v2/{ws}/raw/blobs/uploads/", headers=h)
        t.eq(status, 202)
        loc = hdrs["location"]
        parts = [data[:100000], data[100000:250000], data[250000:]]
        at = 0
        for p in parts:
            status, hdrs, body = s.request("PATCH", loc, body=p, headers=dict(h, **{
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{at}-{at + len(p) - 1}"}))
            t.eq(status, 202, f"PATCH at {at}: {body!r}")
            at += len(p)
            t.eq(hdrs.get("range"), f"0-{at - 1}")
        # a chunk that does not start at the end is refused with 416
        status, _, _ = s.request("PATCH", loc, body=b"x", headers=dict(h, **{
            "Content-Range": "5-5"}))
        t.eq(status, 416)
        status, hdrs, _ = s.get(loc, headers=h)
        t.eq(status, 204)
        t.eq(hdrs.get("range"), f"0-{len(data) - 1}")
        # a wrong digest is refused
        status, _, body = s.request("PUT", f"{loc}?digest={sha(b'other')}", headers=h)
        t.eq(status, 400)
        t.eq(json.loads(body)["errors"][0]["code"], "DIGEST_INVALID")
        # again, right
        status, hdrs, _ = s.request("POST", f"/v2/{ws}/raw/blobs/uploads/?digest={sha(data)}",
                                    body=data, headers=h)
        t.eq(status, 201, "monolithic upload")
        t.eq(hdrs.get("docker-content-digest"), sha(data))
        status, hdrs, body = s.get(f"/v2/{ws}/raw/blobs/{sha(data)}",
                                   headers=dict(h, Range="bytes=10-19"))
        t.eq(status, 206)
        t.eq(body, data[10:20])
        status, hdrs, _ = s.request("HEAD", f"/v2/{ws}/raw/blobs/{sha(data)}", headers=h)
        t.eq(status, 200)
        t.eq(hdrs.get("content-length"), str(len(data)))
        # a manifest whose layer is missing
        man = json.dumps({"schemaVersion": 2,
                          "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "x", "digest": sha(data), "size": len(data)},
                          "layers": [{"mediaType": "x", "digest": sha(b"missing"), "size": 7}]})
        status, _, body = s.request("PUT", f"/v2/{ws}/raw/manifests/v1", body=man, headers=dict(
            h, **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))
        t.eq(status, 404)
        t.eq(json.loads(body)["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN")


@test
def tags_paginate_and_delete_then_gc_frees_the_blob(t):
    with start() as s:
        pat, ws = admin(s)
        tok = token(s, pat, f"repository:{ws}/tags:pull,push,delete")
        h = {"Authorization": f"Bearer {tok}"}
        cfg = b'{"os":"linux"}'
        status, _, _ = s.request("POST", f"/v2/{ws}/tags/blobs/uploads/?digest={sha(cfg)}",
                                 body=cfg, headers=h)
        t.eq(status, 201)
        man = json.dumps({"schemaVersion": 2,
                          "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": sha(cfg), "size": len(cfg)},
                          "layers": []}).encode()
        mh = dict(h, **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        for tag in ["a", "b", "c", "d", "e"]:
            status, hdrs, body = s.request("PUT", f"/v2/{ws}/tags/manifests/{tag}", body=man,
                                           headers=mh)
            t.eq(status, 201, f"PUT manifest {tag}: {body!r}")
            t.eq(hdrs.get("docker-content-digest"), sha(man))
        status, hdrs, body = s.get(f"/v2/{ws}/tags/tags/list?n=2", headers=h)
        t.eq(status, 200)
        t.eq(json.loads(body), {"name": f"{ws}/tags", "tags": ["a", "b"]})
        t.contains(hdrs.get("link", ""), f"/v2/{ws}/tags/tags/list?n=2&last=b")
        status, hdrs, body = s.get(f"/v2/{ws}/tags/tags/list?n=2&last=d", headers=h)
        t.eq(json.loads(body)["tags"], ["e"])
        t.true("link" not in hdrs, "no Link on the last page")
        status, hdrs, body = s.request("HEAD", f"/v2/{ws}/tags/manifests/c", headers=mh)
        t.eq(status, 200)
        t.eq(hdrs.get("docker-content-digest"), sha(man))
        status, _, _ = s.request("DELETE", f"/v2/{ws}/tags/manifests/{sha(man)}", headers=h)
        t.eq(status, 202)
        status, _, body = s.get(f"/v2/{ws}/tags/tags/list", headers=h)
        t.eq(json.loads(body)["tags"], [], "the tags went with the manifest")
        blob = os.path.join(s.dir, "data", "registry", "blobs", "sha256", sha(cfg)[7:9],
                            sha(cfg)[7:])
        wait_until(lambda: not os.path.exists(blob), timeout=15, what="GC to remove the blob")
        ev = wait_until(lambda: [e for e in s.events("registry.gc")
                                 if e.get("bytes_removed", 0) > 0], what="registry.gc event")
        t.true(ev[0]["blobs_removed"] >= 2, f"removed the config and the manifest: {ev[0]}")
        status, _, _ = s.request("HEAD", f"/v2/{ws}/tags/blobs/{sha(cfg)}", headers=h)
        t.eq(status, 404)


run()
