"""The registry client (src/oci/client.c, through tests/tools/oci-tool) against two real
registries side by side: Debian's docker-registry (the distribution project's server, with
htpasswd Basic auth) and slipway's own (bearer tokens from /v2/token). The same image layout is
pushed to both, skopeo inspects and copies it from both and must see the same digests, our
client pulls it back into a new layout that must equal the original, an index resolves to its
linux/amd64 image, cross-repository mounts and chunked uploads work on both, and wrong
credentials fail with a message naming the registry and never the password."""
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import string
import subprocess
import tarfile
import tempfile
import warnings

from harness import (BUILD, Failure, Process, Slipway, free_port, gql_data, new_user, run, test,
                     wait_until)

TOOL = os.path.join(BUILD, "tests", "oci-tool")
DR_USER, DR_PASS = "alice", "s3cret-" + "".join(random.choices(string.ascii_letters, k=12))
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------- the two registries

class DockerRegistry(Process):
    """docker-registry serving a temporary directory on 127.0.0.1:<free port>, htpasswd auth."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="docker-registry-")
        self.port = free_port()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # bcrypt for htpasswd, through libxcrypt
            salt = "".join(random.choices(string.ascii_letters + string.digits + "./", k=22))
            hashed = crypt.crypt(DR_PASS, "$2b$10$" + salt)
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write(f"{DR_USER}:{hashed}\n")
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write(f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {self.dir}/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
  secret: interop-test
auth:
  htpasswd:
    realm: interop
    path: {self.dir}/htpasswd
""")
        super().__init__(["/usr/bin/docker-registry", "serve",
                          os.path.join(self.dir, "config.yml")])
        import socket

        def up():
            if self.proc.poll() is not None:
                raise Failure("docker-registry exited: " + "\n".join(self.lines[-10:]))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(up, timeout=20, what="docker-registry to listen")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def slipway_person(s):
    """(API token, workspace id) of a new user of <s>."""
    access, _, _ = new_user(s)
    tok = gql_data(s, 'mutation { createApiToken(name:"interop") { secret } }', token=access)
    ws = gql_data(s, "{ me { workspaces { workspace } } }", token=access)
    return tok["createApiToken"]["secret"], ws["me"]["workspaces"][0]["workspace"]


class Target:
    """Where to push: host:port, a repository prefix, and the credentials for tool and skopeo."""

    def __init__(self, name, port, prefix, user, password):
        self.name, self.host, self.prefix = name, f"127.0.0.1:{port}", prefix
        self.user, self.password = user, password

    def ref(self, repo, tag):
        return f"{self.host}/{self.prefix}{repo}:{tag}"


def tool(*args, password=None, user=None):
    env = dict(os.environ)
    env.pop("OCI_PASSWORD", None)
    if password is not None:
        env["OCI_PASSWORD"] = password
    argv = [TOOL, args[0]] + (["--user", user] if user else []) + list(args[1:])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    return p.returncode, p.stdout.strip(), p.stderr


def push(t, tgt, layout, src, repo, tag, *extra):
    rc, out, err = tool("push", *extra, layout, src, tgt.ref(repo, tag), password=tgt.password,
                        user=tgt.user)
    t.eq(rc, 0, f"push to {tgt.name}: {err}")
    return out, json.loads(err.strip().splitlines()[-1])


def pull(t, tgt, repo, tag, dest):
    rc, out, err = tool("pull", tgt.ref(repo, tag), dest, password=tgt.password, user=tgt.user)
    t.eq(rc, 0, f"pull from {tgt.name}: {err}")
    return out


def skopeo(tgt, *args):
    flag = "--src-creds" if args[0] == "copy" else "--creds"
    p = subprocess.run(["skopeo", args[0], flag, f"{tgt.user}:{tgt.password}", *args[1:]],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------- the image

def build_layout(root):
    """An OCI layout: tag "v1" (two random layers), tag "multi" (an index holding v1 as
    linux/amd64 and a small linux/arm64 image). Returns (v1 digest, its layer digests)."""
    blobs = os.path.join(root, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        with open(os.path.join(blobs, sha(data)[7:]), "wb") as f:
            f.write(data)
        return sha(data)

    def image(sizes, arch):
        layers, diffs = [], []
        for i, n in enumerate(sizes):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tf:
                data = os.urandom(n)
                info = tarfile.TarInfo(f"{arch}-{i}.bin")
                info.size, info.mtime = len(data), 0
                tf.addfile(info, io.BytesIO(data))
            blob = gzip.compress(buf.getvalue(), mtime=0, compresslevel=1)
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": put(blob), "size": len(blob)})
            diffs.append(sha(buf.getvalue()))
        cfg = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/true"]},
                          "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
        man = json.dumps({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": put(cfg), "size": len(cfg)},
                          "layers": layers}).encode()
        return {"mediaType": MT_MANIFEST, "digest": put(man), "size": len(man),
                "platform": {"os": "linux", "architecture": arch}}, [l["digest"] for l in layers]

    amd, layers = image([400000, 250000], "amd64")
    arm, _ = image([1000], "arm64")
    index = json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX,
                        "manifests": [arm, amd]}).encode()
    v1 = dict(amd, annotations={"org.opencontainers.image.ref.name": "v1"})
    v1.pop("platform")
    multi = {"mediaType": MT_INDEX, "digest": put(index), "size": len(index),
             "annotations": {"org.opencontainers.image.ref.name": "multi"}}
    with open(os.path.join(root, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [v1, multi]}, f)
    return amd["digest"], layers, multi["digest"]


def blob_set(layout):
    d = os.path.join(layout, "blobs", "sha256")
    return {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)
            if not n.startswith(".")}


class Both:
    """docker-registry and slipway running, with a Target for each."""

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="interop-")
        self.dr = DockerRegistry()
        try:
            # An explicit --port: the token realm slipway advertises must be the port we reach.
            self.s = Slipway("--port", str(free_port()))
        except Exception:
            self.dr.__exit__()
            raise
        pat, ws = slipway_person(self.s)
        self.ws = ws
        self.targets = [Target("docker-registry", self.dr.port, "interop/", DR_USER, DR_PASS),
                        Target("slipway", self.s.port, f"{ws}/", "x", pat)]
        return self

    def __exit__(self, *exc):
        try:
            self.s.__exit__(*exc)
        finally:
            self.dr.__exit__(*exc)
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- tests

@test
def push_to_both_registries_and_skopeo_sees_the_same_image(t):
    with Both() as b:
        layout = os.path.join(b.tmp, "layout")
        md, layers, multi = build_layout(layout)
        original = blob_set(layout)
        seen = {}
        for tgt in b.targets:
            digest, stats = push(t, tgt, layout, "v1", "app", "v1")
            t.eq(digest, md, f"{tgt.name}: pushed digest")
            t.eq(stats["uploaded"], 3, f"{tgt.name}: config and two layers uploaded")
            # a second push finds every blob there already
            _, stats = push(t, tgt, layout, "v1", "app", "v1")
            t.eq((stats["uploaded"], stats["present"]), (0, 3), f"{tgt.name}: re-push")
            ref = f"docker://{tgt.ref('app', 'v1')}"
            rc, out, err = skopeo(tgt, "inspect", "--tls-verify=false", ref)
            t.eq(rc, 0, f"skopeo inspect {tgt.name}: {err}")
            info = json.loads(out)
            seen[tgt.name] = (info["Digest"], info["Layers"])
            copy_dir = os.path.join(b.tmp, "skopeo-" + tgt.name)
            rc, _, err = skopeo(tgt, "copy", "--src-tls-verify=false", ref, f"dir:{copy_dir}")
            t.eq(rc, 0, f"skopeo copy from {tgt.name}: {err}")
            with open(os.path.join(copy_dir, "manifest.json"), "rb") as f:
                t.eq(sha(f.read()), md, f"{tgt.name}: manifest skopeo copied")
            for l in layers:
                with open(os.path.join(copy_dir, l[7:]), "rb") as f:
                    t.eq(sha(f.read()), l, f"{tgt.name}: layer skopeo copied")
            # and our client pulls it back into a new layout equal to the original
            out_dir = os.path.join(b.tmp, "pulled-" + tgt.name)
            t.eq(pull(t, tgt, "app", "v1", out_dir), md, f"{tgt.name}: pulled digest")
            t.eq(blob_set(out_dir), {k: v for k, v in original.items()
                                     if k in {md[7:], *[l[7:] for l in layers],
                                              json.loads(original[md[7:]])["config"]["digest"][7:]}},
                 f"{tgt.name}: pulled blobs")
            with open(os.path.join(out_dir, "index.json")) as f:
                idx = json.load(f)["manifests"][0]
            t.eq((idx["digest"], idx["annotations"]["org.opencontainers.image.ref.name"]),
                 (md, "v1"), f"{tgt.name}: pulled index.json")
        t.eq(seen["slipway"], seen["docker-registry"], "both registries hold the same image")
        t.eq(seen["slipway"], (md, layers), "and it is ours")


@test
def an_index_goes_up_whole_and_comes_down_as_linux_amd64(t):
    with Both() as b:
        layout = os.path.join(b.tmp, "layout")
        md, _, multi = build_layout(layout)
        for tgt in b.targets:
            digest, stats = push(t, tgt, layout, "multi", "multi", "latest")
            t.eq(digest, multi, f"{tgt.name}: index digest")
            t.eq(stats["manifests"], 3, f"{tgt.name}: two images and the index")
            rc, out, err = skopeo(tgt, "inspect", "--raw", "--tls-verify=false",
                                  f"docker://{tgt.ref('multi', 'latest')}")
            t.eq(rc, 0, f"skopeo inspect --raw {tgt.name}: {err}")
            t.eq(sha(out.encode()), multi, f"{tgt.name}: the index as stored")
            out_dir = os.path.join(b.tmp, "pulled-multi-" + tgt.name)
            t.eq(pull(t, tgt, "multi", "latest", out_dir), md, f"{tgt.name}: picked amd64")


@test
def chunked_uploads_and_mounts_on_both(t):
    with Both() as b:
        layout = os.path.join(b.tmp, "layout")
        md, layers, _ = build_layout(layout)
        for tgt in b.targets:
            digest, stats = push(t, tgt, layout, "v1", "chunked", "v1", "--chunk", "65536")
            t.eq((digest, stats["uploaded"]), (md, 3), f"{tgt.name}: chunked push")
            digest, stats = push(t, tgt, layout, "v1", "copy", "v1", "--from",
                                 tgt.prefix + "chunked")
            t.eq((digest, stats["mounted"], stats["uploaded"]), (md, 3, 0),
                 f"{tgt.name}: every blob mounted")
            rc, out, err = skopeo(tgt, "inspect", "--tls-verify=false",
                                  f"docker://{tgt.ref('copy', 'v1')}")
            t.eq(rc, 0, f"skopeo inspect {tgt.name}: {err}")
            t.eq(json.loads(out)["Layers"], layers, f"{tgt.name}: mounted layers")


@test
def wrong_credentials_fail_clearly_without_the_password(t):
    with Both() as b:
        layout = os.path.join(b.tmp, "layout")
        build_layout(layout)
        bad = "WrongPass-" + "".join(random.choices(string.ascii_letters, k=10))
        for tgt in b.targets:
            rc, out, err = tool("push", layout, "v1", tgt.ref("app", "v1"), password=bad,
                                user=tgt.user)
            t.eq(rc, 1, f"{tgt.name}: push with a wrong password")
            t.contains(err, f"registry {tgt.host}", tgt.name)
            t.contains(err, "401", tgt.name)
            t.true("refused" in err, f"{tgt.name}: says the credentials were refused: {err}")
            t.true(bad not in err, f"{tgt.name}: the password is in the message")
            rc, _, err = tool("pull", tgt.ref("app", "v1"), os.path.join(b.tmp, "x"))
            t.eq(rc, 1, f"{tgt.name}: anonymous pull")
            t.contains(err, f"registry {tgt.host}", tgt.name)
        # slipway's token service names the user, docker-registry the repository
        rc, _, err = tool("push", layout, "v1", b.targets[1].ref("app", "v1"), password=bad,
                          user="x")
        t.contains(err, "token service refused the credentials")
        rc, _, err = tool("push", layout, "v1", b.targets[0].ref("app", "v1"), password=bad,
                          user=DR_USER)
        t.contains(err, "repository interop/app")


run()
