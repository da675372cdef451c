#!/usr/bin/env bash
# Deploys of examples/node-express through the real binary and its GraphQL API (bench/deploy.py):
# mutation-to-SUCCEEDED after a source change with warm caches, a same-commit redeploy, failed
# requests through the ingress during a rollout under a steady load, and the idle RSS of
# slipway's own processes (slipway, nginx, the log relays) with 10 apps running. Issue 8's
# targets: source change <= 15 s, same commit <= 2 s, zero failed requests, idle RSS <= 50 MB.
#
#   bench/deploy.sh          a few minutes with the builder's base cache warm
#
# Needs root, runc, nginx (scripts/bootstrap) and the network to the npm registry.
# Environment: BASE_CACHE (/var/cache/slipway-test/base), SLIPWAY_BUILD (build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "deploy.sh: apps run in runc: run as root" >&2; exit 1; }
build=${SLIPWAY_BUILD:-build/release}
[ -x "$build/bin/slipway" ] || make -s MODE=release B="$build" -j2 bin >/dev/null
SLIPWAY_BIN=$build/bin/slipway SLIPWAY_BUILD=$build \
  SLIPWAY_TEST_BASE_CACHE=${BASE_CACHE:-/var/cache/slipway-test/base} \
  /usr/bin/python3 bench/deploy.py
