#!/usr/bin/env bash
# Push and pull of the same image to slipway's built-in registry and to Debian's
# docker-registry (the distribution project's server), side by side in one run, with the same
# client (src/oci/client.c through tests/tools/oci-tool). Issue 7 sets slipway <= 1.2x
# docker-registry's time as the target.
#
#   bench/registry.sh               ROUNDS (5) rounds of push + pull to each, ~80 MB image
#   ROUNDS=3 MB=50 bench/registry.sh
#
# Each round pushes to a new repository (so every blob is uploaded again: a registry only
# counts a blob as present once it is linked in that repository) and pulls into a new layout
# (every blob downloaded, hashed and fsynced); the two registries take turns going first.
# Both keep their storage in TMPDIR; slipway authenticates every request with bearer tokens
# from /v2/token. docker-registry runs without authentication by default, its fastest setting
# (DR_AUTH=htpasswd: Basic, which checks a bcrypt hash on every request and costs it much).
#
# Environment: ROUNDS (5), DR_AUTH (none or htpasswd), MB (80: four layers of random bytes, uncompressed tar so that no
# compression time is measured), SLIPWAY_BUILD (build/release; its bin/slipway and
# tests/oci-tool are built when missing), TMPDIR.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
MB=${MB:-80}
DR_AUTH=${DR_AUTH:-none}
cd "$(dirname "$0")/.."
die() { echo "registry.sh: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ $MB =~ ^[1-9][0-9]*$ ]] || die "MB must be a positive integer"
[ -x /usr/bin/docker-registry ] || die "docker-registry is missing: run scripts/bootstrap"

build=${SLIPWAY_BUILD:-build/release}
SLIPWAY_BIN=$build/bin/slipway
tool=$build/tests/oci-tool
if [ ! -x "$SLIPWAY_BIN" ] || [ ! -x "$tool" ]; then
  make -s MODE=release B="$build" -j2 "$SLIPWAY_BIN" "$tool" >/dev/null || die "cannot build $build"
fi

tmp=$(mktemp -d)
dr_pid=""
slipway_pid=""
cleanup() {
  [ -n "$dr_pid" ] && stop "$dr_pid"
  [ -n "$slipway_pid" ] && stop "$slipway_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the image: an OCI layout with four layers of MB/4 random bytes each
"$PY" - "$tmp/layout" "$MB" <<'EOF'
import hashlib, io, json, os, sys, tarfile
root, mb = sys.argv[1], int(sys.argv[2])
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d
layers, diffs = [], []
for i in range(4):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = os.urandom(mb * (1 << 20) // 4)
        info = tarfile.TarInfo(f"layer{i}.bin")
        info.size, info.mtime = len(data), 0
        tf.addfile(info, io.BytesIO(data))
    t = buf.getvalue()
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(t),
                   "size": len(t)})
    diffs.append(layers[-1]["digest"])
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                             "digest": put(cfg), "size": len(cfg)}, "layers": layers}).encode()
md = put(man)
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man),
    "annotations": {"org.opencontainers.image.ref.name": "bench"}}]},
    open(os.path.join(root, "index.json"), "w"))
EOF
bytes=$(du -sb "$tmp/layout" | cut -f1)

# --- docker-registry on a free port, htpasswd with a random password
dr_pass=$("$PY" -c 'import secrets; print(secrets.token_hex(12))')
dr_port=$(free_port)
mkdir -p "$tmp/dr"
"$PY" -W ignore - "$tmp/dr" "$dr_pass" "$dr_port" "$DR_AUTH" <<'EOF'
import crypt, os, secrets, string, sys
d, pw, port, auth = sys.argv[1:]
salt = "".join(secrets.choice(string.ascii_letters + string.digits + "./") for _ in range(22))
open(os.path.join(d, "htpasswd"), "w").write("bench:" + crypt.crypt(pw, "$2b$10$" + salt) + "\n")
open(os.path.join(d, "config.yml"), "w").write(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {d}/storage
http:
  addr: 127.0.0.1:{port}
  secret: bench
""" + ("" if auth == "none" else f"""auth:
  htpasswd:
    realm: bench
    path: {d}/htpasswd
"""))
EOF
/usr/bin/docker-registry serve "$tmp/dr/config.yml" >"$tmp/dr/log" 2>&1 </dev/null &
dr_pid=$!

# --- slipway on a free port (the token realm names the port it was given), a user's API token
s_port=$(free_port)
start_slipway "$tmp/slipway.log" "$tmp/slipway.out" --data-dir "$tmp/slipway-data" --port "$s_port"
for ((i = 0; i < 100; i++)); do
  curl -s -o /dev/null "http://127.0.0.1:$dr_port/v2/" && break
  sleep 0.1
done
read -r s_pat s_ws < <("$PY" - "$slipway_port" "$tmp/slipway.out" <<'EOF'
import json, re, sys, urllib.request
port, out = sys.argv[1], sys.argv[2]
pw = re.search(r"password \(shown only this once, keep it safe\): (\S+)", open(out).read()).group(1)
def post(path, body, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    r = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(), h)
    return json.load(urllib.request.urlopen(r))
tok = post("/auth/login", {"email": "admin@localhost", "password": pw})["accessToken"]
pat = post("/graphql", {"query": 'mutation { createApiToken(name:"bench") { secret } }'}, tok)
ws = post("/graphql", {"query": "{ me { workspaces { workspace } } }"}, tok)
print(pat["data"]["createApiToken"]["secret"], ws["data"]["me"]["workspaces"][0]["workspace"])
EOF
)
[ -n "$s_ws" ] || die "could not get a slipway API token"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# run_one NAME HOSTPORT PREFIX USER PASSWORD ROUND: appends push and pull ms to NAME's lists
declare -A push_ms pull_ms
run_one() {
  local name=$1 host=$2 prefix=$3 user=$4 pass=$5 round=$6 t0 t1 t2 ref
  ref="$host/${prefix}bench$round:v1"
  t0=$(now_ms)
  OCI_PASSWORD=$pass "$tool" push --user "$user" "$tmp/layout" bench "$ref" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; die "$name: push failed"; }
  t1=$(now_ms)
  OCI_PASSWORD=$pass "$tool" pull --user "$user" "$ref" "$tmp/pull-$name-$round" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; die "$name: pull failed"; }
  t2=$(now_ms)
  rm -rf "$tmp/pull-$name-$round"
  push_ms[$name]+="$((t1 - t0)) "
  pull_ms[$name]+="$((t2 - t1)) "
}

echo "registry.sh: machine: $(nproc) cores, $(uname -sr); storage in $tmp ($(df -T "$tmp" | awk 'NR==2 {print $2}'))"
echo "registry.sh: image: 4 layers, $((bytes / 1048576)) MiB; $ROUNDS rounds of push + pull, docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null || echo '?') (auth: $DR_AUTH)"
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    run_one docker "127.0.0.1:$dr_port" "bench/" bench "$dr_pass" "$r"
    run_one slipway "127.0.0.1:$slipway_port" "$s_ws/" x "$s_pat" "$r"
  else
    run_one slipway "127.0.0.1:$slipway_port" "$s_ws/" x "$s_pat" "$r"
    run_one docker "127.0.0.1:$dr_port" "bench/" bench "$dr_pass" "$r"
  fi
done

# shellcheck disable=SC2086
{
  dp=$(median ${push_ms[docker]}) dl=$(median ${pull_ms[docker]})
  sp=$(median ${push_ms[slipway]}) sl=$(median ${pull_ms[slipway]})
}
mbps() { awk -v b="$bytes" -v ms="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ms / 1000) }'; }
printf 'registry.sh: %-16s %12s %12s\n' "median ms" "push" "pull"
printf 'registry.sh: %-16s %12s %12s   (%s / %s MiB/s)\n' docker-registry "$(ms "$dp")" "$(ms "$dl")" "$(mbps "$dp")" "$(mbps "$dl")"
printf 'registry.sh: %-16s %12s %12s   (%s / %s MiB/s)\n' slipway "$(ms "$sp")" "$(ms "$sl")" "$(mbps "$sp")" "$(mbps "$sl")"
printf 'registry.sh: %-16s %12s %12s   (target <= 1.20)\n' "slipway/docker" "$(ratio "$sp" "$dp")" "$(ratio "$sl" "$dl")"
echo "registry.sh: all push rounds ms: docker ${push_ms[docker]}| slipway ${push_ms[slipway]}"
echo "registry.sh: all pull rounds ms: docker ${pull_ms[docker]}| slipway ${pull_ms[slipway]}"
