#!/usr/bin/env bash
# How fast slipway refuses hostile GraphQL documents: a 1 MB document, 10,000 nested
# selections and a 10,000-alias query, each POSTed to /graphql of a running release build.
# Prints, per document, the status, the error slipway gave and the time curl measured from
# sending to the last byte of the answer (the median of RUNS tries). See bench/README.md.
#
#   bench/graphql-limits.sh            RUNS=20 by default
set -euo pipefail
RUNS=${RUNS:-20}
cd "$(dirname "$0")/.."
SLIPWAY_BIN=${SLIPWAY_BIN:-$PWD/build/release/bin/slipway}
[ -x "$SLIPWAY_BIN" ] || make -s MODE=release bin >&2
die() { echo "graphql-limits.sh: $*" >&2; exit 1; }
. bench/lib.sh
tmp=$(mktemp -d /tmp/slipway-bench-limits.XXXXXX)
slipway_pid=""
cleanup() {
  [ -n "$slipway_pid" ] && stop "$slipway_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
start_slipway "$tmp/log" "$tmp/out" --data-dir "$tmp/data"
port=$slipway_port

echo "graphql-limits: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
/usr/bin/python3 - "$tmp" "$port" "$RUNS" <<'PY'
import json, statistics, subprocess, sys
tmp, port, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
docs = [
    ("1 MB document", "{ " + "__typename " * 90909 + "}"),
    ("10,000 nested selections", "{ __schema " * 10000 + "}" * 10000),
    ("10,000 aliases", "{ " + " ".join(f"a{i}: __typename" for i in range(10000)) + " }"),
]
for name, query in docs:
    path = f"{tmp}/doc.json"
    with open(path, "w") as f:
        json.dump({"query": query}, f)
    times = []
    for _ in range(runs):
        out = subprocess.run(
            ["curl", "-s", "-o", f"{tmp}/answer", "-w", "%{http_code} %{time_total}",
             "-H", "Content-Type: application/json", "--data-binary", f"@{path}",
             f"http://127.0.0.1:{port}/graphql"], capture_output=True, text=True).stdout
        status, seconds = out.split()
        times.append(float(seconds) * 1000)
    body = open(f"{tmp}/answer").read()
    try:
        answer = json.loads(body)
        msg = answer["errors"][0]["message"] if "errors" in answer else answer["error"]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        msg = body[:160]
    print(f"graphql-limits: {name} ({len(query)} bytes): HTTP {status} in "
          f"{statistics.median(times):.2f} ms (median of {runs}, max {max(times):.2f} ms): {msg}")
PY
