#!/usr/bin/env bash
# Builds of examples/node-express (src/bld/build.c through tests/tools/bld-build) from a git
# repository made here: a cold build, a rebuild after a source-only change (lockfile the same),
# and a rebuild of the same commit; then layer-writing throughput (tests/tools/oci-layer-bench)
# and the push/pull comparison of bench/registry.sh. Issue 7's targets: same-commit rebuild
# <= 1 s, source-only change <= 10 s, layer writing >= 80 MB/s, push/pull <= 1.2x Debian's
# docker-registry.
#
#   bench/build.sh                    about a minute with the .deb cache warm
#   SKIP_REGISTRY=1 bench/build.sh    without the registry comparison
#
# "Cold" means empty caches but one: a new project cache (no npm cache, no dependency layer, no
# image) and a new base cache whose only content is the Debian packages already downloaded
# (hard links to BASE_CACHE/debs), so the cold build assembles both root filesystems from the
# .debs, writes the runtime layer, and runs `npm ci` against the npm registry; it does not
# download from Debian's archive, which would measure the archive, not slipway.
#
# Needs root, runc, slirp4netns (scripts/bootstrap) and the network to the npm registry.
# Environment: BASE_CACHE (/var/cache/slipway-test/base: the .debs, filled on first use),
# SLIPWAY_BUILD (build/release; bld-build and oci-layer-bench are built when missing),
# LAYER_MB (256), ROUNDS (3, for registry.sh), SKIP_REGISTRY, TMPDIR.
set -euo pipefail

BASE_CACHE=${BASE_CACHE:-/var/cache/slipway-test/base}
LAYER_MB=${LAYER_MB:-256}
cd "$(dirname "$0")/.."
die() { echo "build.sh: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
[ "$(id -u)" = 0 ] || die "builds run in runc: run as root"
command -v runc >/dev/null || die "runc is missing: run scripts/bootstrap"
[[ $LAYER_MB =~ ^[1-9][0-9]*$ ]] || die "LAYER_MB must be a positive integer"

build=${SLIPWAY_BUILD:-build/release}
tool=$build/tests/bld-build
lbench=$build/tests/oci-layer-bench
if [ ! -x "$tool" ] || [ ! -x "$lbench" ]; then
  make -s MODE=release B="$build" -j2 "$tool" "$lbench" >/dev/null || die "cannot build $build"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ca=()
[ -r /etc/ssl/certs/ca-certificates.crt ] && ca=(--ca-bundle /etc/ssl/certs/ca-certificates.crt)

# --- the .debs: the shared cache is filled once (a build there downloads them), then linked
if ! ls "$BASE_CACHE"/debs/*.deb >/dev/null 2>&1; then
  echo "build.sh: filling the .deb cache in $BASE_CACHE (one-time download)"
fi
repo=$tmp/repo
cp -r examples/node-express "$repo"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -qm one
"$tool" --quiet --url "file://$repo" --ref main --work "$tmp/w0" --cache "$tmp/warm" \
  --base-cache "$BASE_CACHE" "${ca[@]}" >/dev/null || die "the warm-up build failed"
rm -rf "$tmp/warm" "$tmp/w0"
mkdir -p "$tmp/base/debs"
cp -al "$BASE_CACHE"/debs/. "$tmp/base/debs/"
debs=$(find "$tmp/base/debs" -name '*.deb' | wc -l)

# run NAME: one build of the repository's main; prints its figures, keeps them in $tmp/NAME
run() {
  local name=$1 t0 t1
  t0=$(date +%s%N)
  "$tool" --quiet --url "file://$repo" --ref main --work "$tmp/work" --cache "$tmp/project" \
    --base-cache "$tmp/base" --memory 2048 --pids 1024 --timeout 900 "${ca[@]}" \
    >"$tmp/$name" 2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; die "$name build failed"; }
  t1=$(date +%s%N)
  echo "wall_ms=$(((t1 - t0) / 1000000))" >>"$tmp/$name"
}
get() { sed -n "s/^$2=//p" "$tmp/$1"; }
show() {
  printf 'build.sh: %-22s %8s ms wall (%s ms in bld_build: clone %s, build %s)  cache_hit=%s deps_hit=%s\n' \
    "$2" "$(get "$1" wall_ms)" "$(get "$1" total_ms)" "$(get "$1" clone_ms)" "$(get "$1" build_ms)" \
    "$(get "$1" cache_hit)" "$(get "$1" deps_hit)"
}

echo "build.sh: machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg); work in $tmp"
echo "build.sh: cold = new project cache and new base cache holding only $debs .debs (no download from Debian)"
run cold
show cold "cold build"
echo "// a source-only change" >>"$repo/server.js"
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -qam two
run source
show source "source-only change"
run same
show same "same commit"
[ "$(get same digest)" = "$(get source digest)" ] || die "the same commit gave another digest"
echo "build.sh: image $(get same digest), layout $(du -sm "$tmp/project/image" | cut -f1) MiB"

# --- layer writing
echo "build.sh: layer writing, $LAYER_MB MiB (tests/tools/oci-layer-bench):"
"$lbench" "$LAYER_MB" "$tmp" | tee "$tmp/layers" | sed 's/^/build.sh:   /'
gzip_mbs=$(awk '/^gzip level 1 / {print $4}' "$tmp/layers")
zstd_mbs=$(awk '/^zstd level 3 / {print $4}' "$tmp/layers")

# --- push and pull
reg_push="" reg_pull=""
if [ -z "${SKIP_REGISTRY:-}" ]; then
  ROUNDS=${ROUNDS:-3} SLIPWAY_BUILD=$build bench/registry.sh | tee "$tmp/registry" | sed 's/^registry.sh:/build.sh: registry:/'
  read -r reg_push reg_pull < <(awk '/slipway\/docker / {print $3, $4}' "$tmp/registry")
fi

# --- targets
verdict() { if awk -v v="$1" -v t="$3" "BEGIN { exit !(v $2 t) }"; then echo met; else echo "NOT met"; fi; }
line() { printf 'build.sh: %-40s %-12s target %-10s %s\n' "$1" "$2" "$3" "$4"; }
same_s=$(awk -v v="$(get same wall_ms)" 'BEGIN { printf "%.2f", v / 1000 }')
src_s=$(awk -v v="$(get source wall_ms)" 'BEGIN { printf "%.2f", v / 1000 }')
line "same-commit rebuild" "${same_s} s" "<= 1 s" "$(verdict "$same_s" '<=' 1)"
line "rebuild after a source-only change" "${src_s} s" "<= 10 s" "$(verdict "$src_s" '<=' 10)"
line "layer writing, gzip level 1 (default)" "$gzip_mbs MB/s" ">= 80" "$(verdict "$gzip_mbs" '>=' 80)"
line "layer writing, zstd level 3" "$zstd_mbs MB/s" ">= 80" "$(verdict "$zstd_mbs" '>=' 80)"
if [ -n "$reg_push" ]; then
  line "push, slipway / docker-registry" "${reg_push}x" "<= 1.2x" "$(verdict "$reg_push" '<=' 1.2)"
  line "pull, slipway / docker-registry" "${reg_pull}x" "<= 1.2x" "$(verdict "$reg_pull" '<=' 1.2)"
fi
