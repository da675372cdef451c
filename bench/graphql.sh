#!/usr/bin/env bash
# GraphQL over HTTP: requests/s and latency of slipway's POST /graphql against graphql-js
# (bench/graphql-peer.mjs: node's http module, graphql-js execute(), the same SDL, resolvers
# answering the same data from memory), measured with wrk in one run on this machine. The
# peer runs twice: as one node process (what the issue compares with) and as a cluster of one
# process per core. See bench/README.md.
#
#   bench/graphql.sh                          1 round of 10 s per server and query (about 3 min)
#   ROUNDS=3 DURATION=15s bench/graphql.sh
#   QUERIES=me bench/graphql.sh               the main query alone (about 40 s)
#
# Queries, as POST application/json with the same bearer token to every server: "me" (the
# main one) { me { workspaces { workspace role } } }, and introspection: "typename"
# { __typename }, "small" {__schema{queryType{name}}}, "full" the introspection query GraphiQL
# sends (graphql-js getIntrospectionQuery() with every option on).
#
# Environment: ROUNDS (1), DURATION (10s, per wrk run), WARMUP (2s), TIMEOUT (10s, wrk's
# --timeout: a request that takes longer is counted apart and said in its row), THREADS (2),
# CONNECTIONS (64), CLUSTER_WORKERS (node processes of the cluster peer, default one per
# core as slipway's http.loops = 0), QUERIES ("me typename small full"), WORKSPACES (3: the
# user's personal workspace and WORKSPACES-1 team workspaces), SLIPWAY_BIN
# (build/release/bin/slipway, built with `make MODE=release bin` when missing), STORE (a
# postgres:// administrator URL to run slipway on PostgreSQL instead of SQLite), ACCESS_LOG
# (0: slipway runs with http.access_log = false, as graphql-js writes no log either; 1:
# slipway's default, a JSON log line per request).
set -euo pipefail

ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
TIMEOUT=${TIMEOUT:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
CLUSTER_WORKERS=${CLUSTER_WORKERS:-$(nproc)}
QUERIES=${QUERIES:-me typename small full}
WORKSPACES=${WORKSPACES:-3}
STORE=${STORE:-}
ACCESS_LOG=${ACCESS_LOG:-0}

cd "$(dirname "$0")/.."
root=$PWD
say() { echo "graphql.sh: $*"; }
die() { echo "graphql.sh: $*" >&2; exit 1; }
. bench/lib.sh

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ $CLUSTER_WORKERS =~ ^[1-9][0-9]*$ ]] || die "CLUSTER_WORKERS must be a positive integer"
[[ $WORKSPACES =~ ^[1-9][0-9]?$ ]] || die "WORKSPACES must be 1..99"
for q in $QUERIES; do
  case $q in me | typename | small | full) ;; *) die "unknown query '$q' (me, typename, small, full)" ;; esac
done

# --- what it needs --------------------------------------------------------------------------
missing=()
for cmd in wrk curl python3 node; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ ${#missing[@]} -eq 0 ] ||
  die "missing ${missing[*]}: run scripts/bootstrap (installs wrk, curl, python3, nodejs)"
[ -f node_modules/graphql/package.json ] || die "no node_modules/graphql: run npm ci"

SLIPWAY_BIN=${SLIPWAY_BIN:-$root/build/release/bin/slipway}
if [ ! -x "$SLIPWAY_BIN" ]; then
  say "no $SLIPWAY_BIN: building it with make MODE=release bin"
  make -s MODE=release bin >&2
fi
[ -x "$SLIPWAY_BIN" ] || die "no slipway binary at $SLIPWAY_BIN"
store_args=()
[ -n "$STORE" ] && store_args=(--store "$STORE")
serve_args=()
case $ACCESS_LOG in
  0) serve_args=(--set http.access_log=false) ;;
  1) ;;
  *) die "ACCESS_LOG must be 0 or 1" ;;
esac

# --- a temporary directory, and nothing left behind ------------------------------------------
tmp=$(mktemp -d /tmp/slipway-bench-graphql.XXXXXX)
slipway_pid=""
peer_pids=()
wrk_pid=""

cleanup() {
  local rc=$? w p workers
  trap - EXIT INT TERM
  set +e
  [ -n "$wrk_pid" ] && stop "$wrk_pid"
  [ -n "$slipway_pid" ] && stop "$slipway_pid"
  for p in "${peer_pids[@]}"; do
    # a cluster's workers are known by pid before the primary goes: none outlives this script
    workers=$(ps -o pid= --ppid "$p" 2>/dev/null || true)
    stop "$p"
    for w in $workers; do
      kill -0 "$w" 2>/dev/null && kill -KILL "$w" 2>/dev/null || true
    done
  done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "graphql.sh: interrupted" >&2; exit 130' INT
trap 'echo "graphql.sh: terminated" >&2; exit 143' TERM


# --- slipway, with a user made before it serves ----------------------------------------------
# a PostgreSQL database outlives the run: the user and its workspaces are new each time
run_id=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
email=bench-$run_id@example.test
out=$("$SLIPWAY_BIN" admin create --email "$email" --name Bench --data-dir "$tmp/slipway-data" \
  "${store_args[@]}" 2>&1) || die "slipway admin create failed: $out"
password=$(sed -n 's/.*password (shown only this once, keep it safe): \([^ ]*\).*/\1/p' <<<"$out")
[ -n "$password" ] || die "no password in the output of slipway admin create"

start_slipway "$tmp/slipway.log" "$tmp/slipway.out" --data-dir "$tmp/slipway-data" \
  "${store_args[@]}" "${serve_args[@]}"

# post URL BODY-FILE ANSWER-FILE [HEADER...]: POSTs application/json; prints the status code
post() {
  local url=$1 body=$2 answer=$3
  shift 3
  local args=(-s --noproxy '*' -o "$answer" -w '%{http_code}' -X POST
    -H 'Content-Type: application/json' --data-binary "@$body")
  for h in "$@"; do args+=(-H "$h"); done
  curl "${args[@]}" "$url" 2>/dev/null || echo 000
}

# logged in through POST /auth/login: a bearer token valid 15 minutes, longer than a run
"$PY" -c 'import json, sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' \
  "$email" "$password" >"$tmp/login.json"
code=$(post "http://127.0.0.1:$slipway_port/auth/login" "$tmp/login.json" "$tmp/login.answer")
[ "$code" = 200 ] || die "POST /auth/login answered $code: $(head -c 300 "$tmp/login.answer")"
token=$(json_get "$tmp/login.answer" 'd["accessToken"]')
auth="Authorization: Bearer $token"

# gql NAME QUERY [HEADER...]: POSTs QUERY to slipway; the answer into $tmp/NAME.answer, which
# must be 200 without errors
gql() {
  local name=$1 query=$2
  shift 2
  "$PY" -c 'import json, sys; print(json.dumps({"query": sys.argv[1]}))' "$query" >"$tmp/$name.req"
  code=$(post "http://127.0.0.1:$slipway_port/graphql" "$tmp/$name.req" "$tmp/$name.answer" "$auth" "$@")
  [ "$code" = 200 ] && ! grep -q '"errors"' "$tmp/$name.answer" ||
    die "slipway answers $name with $code: $(head -c 300 "$tmp/$name.answer")"
}
for ((i = 1; i < WORKSPACES; i++)); do
  gql create-$i "mutation { createWorkspace(input: {id: \"bench-$run_id-$i\", name: \"Bench $i\"}) { id } }"
done

# --- what the peer answers from: the same user, as slipway sees it -------------------------
gql data '{ me { id name email avatarUrl workspaces { workspace role } }
            workspaces { id name personal suspended createdAt } }'
"$PY" - "$tmp/data.answer" "$token" >"$tmp/peer-data.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["data"]
print(json.dumps({"token": sys.argv[2], "user": d["me"], "workspaces": d["workspaces"]}))
EOF

# --- the request bodies ---------------------------------------------------------------------
node --input-type=module - "$tmp" <<'EOF'
import { writeFileSync } from 'node:fs';
import { getIntrospectionQuery } from 'graphql';
const dir = process.argv[2];
const full = getIntrospectionQuery({
  descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
  schemaDescription: true, inputValueDeprecation: true,
});
writeFileSync(`${dir}/me.json`, JSON.stringify({ query: '{ me { workspaces { workspace role } } }' }));
writeFileSync(`${dir}/typename.json`, JSON.stringify({ query: '{ __typename }' }));
writeFileSync(`${dir}/small.json`, JSON.stringify({ query: '{__schema{queryType{name}}}' }));
writeFileSync(`${dir}/full.json`, JSON.stringify({ query: full }));
EOF

# --- graphql-js: one process, and a cluster --------------------------------------------------
# start_peer WORKERS: starts a peer; sets PEER_PORT
start_peer() {
  local port pid i
  port=$(free_port)
  node bench/graphql-peer.mjs --port "$port" --workers "$1" --data "$tmp/peer-data.json" \
    schema/*.graphql >"$tmp/peer-$1.out" 2>"$tmp/peer-$1.log" </dev/null &
  pid=$!
  peer_pids+=("$pid")
  for ((i = 0; i < 100; i++)); do
    grep -q '"ev":"peer.started"' "$tmp/peer-$1.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/peer-$1.log" >&2; die "graphql-peer exited at start"; }
    sleep 0.1
  done
  grep -q '"ev":"peer.started"' "$tmp/peer-$1.out" || die "graphql-peer did not start in 10 s"
  PEER_PORT=$port
}
start_peer 1
port_node1=$PEER_PORT
servers="slipway node-1"
if [ "$CLUSTER_WORKERS" != 1 ]; then
  start_peer "$CLUSTER_WORKERS"
  port_nodeN=$PEER_PORT
  servers="$servers node-$CLUSTER_WORKERS"
fi
port_of() {
  case $1 in
    slipway) echo "$slipway_port" ;;
    node-1) echo "$port_node1" ;;
    *) echo "$port_nodeN" ;;
  esac
}

# --- every server answers every query, with the same data ----------------------------------
# same_data A B: whether slipway's answer A and graphql-js's B agree as the differential suite
# (tests/gql) compares them, with its known differences
same_data() {
  "$PY" - "$1" "$2" <<'EOF'
import sys
sys.path.insert(0, "tests/gql")
import differential as d
c, js = (d.load_ordered(open(p).read()) for p in sys.argv[1:3])
known, rules, unordered = d.load_known()
diffs = d.differences(js, c, set(unordered), rules)
print(("the same data" + (" (built-in descriptions aside)" if rules else "")) if not diffs else
      f"answers differ: {diffs[0][:200]}")
EOF
}
for q in $QUERIES; do
  for name in $servers; do
    code=$(post "http://127.0.0.1:$(port_of "$name")/graphql" "$tmp/$q.json" "$tmp/$name.answer" "$auth")
    [ "$code" = 200 ] || die "$name answers the $q query with $code: $(head -c 300 "$tmp/$name.answer")"
    grep -q '"errors"' "$tmp/$name.answer" &&
      die "$name answers the $q query with errors: $(head -c 300 "$tmp/$name.answer")"
  done
  code=$(post "http://127.0.0.1:$port_node1/graphql" "$tmp/$q.json" "$tmp/noauth.answer")
  [ "$q" = me ] && [ "$code" != 401 ] && die "graphql-js answers without a token: $code"
  verdict=$(same_data "$tmp/slipway.answer" "$tmp/node-1.answer")
  cp "$tmp/slipway.answer" "$tmp/$q.slipway-answer"
  [[ $verdict == answers\ differ* ]] && [ "$q" = me ] && die "the $q query: $verdict"
  say "query $q ($(wc -c <"$tmp/$q.json")-byte body): slipway $(wc -c <"$tmp/slipway.answer") bytes, graphql-js $(wc -c <"$tmp/node-1.answer") bytes: $verdict"
done
[ -f "$tmp/me.slipway-answer" ] &&
  say "the main query's answer: $(head -c 300 "$tmp/me.slipway-answer" | tr -d '\n')"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
say "machine: $(nproc) cores${cpu:+ ($cpu)}, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "slipway: $("$SLIPWAY_BIN" version 2>/dev/null | head -1 || echo slipway) on 127.0.0.1:$slipway_port, http.loops 0 (one per core), store $([ -n "$STORE" ] && echo PostgreSQL || echo SQLite)"
cache=$(grep -m1 -o '"ev":"gateway.caller_cache"[^}]*' "$tmp/slipway.log" | sed 's/"ev":"gateway.caller_cache",//' || true)
say "  per request (slipway): reads and checks the JSON body, verifies the ES256 access token (through the loop's verified-token cache), checks that the session is live, the user enabled and a member of the active workspace: from the store on the worker pool, or from the loop's caller cache while nothing was written to the database (gateway.caller_cache: ${cache:-not in this build}), then executes; access log $([ "$ACCESS_LOG" = 1 ] && echo "on (a JSON line per request, the default)" || echo "off (http.access_log=false; ACCESS_LOG=1 for the default)")"
say "node-1: graphql-js $(node -p 'require("graphql").version') on node $(node --version), ONE process (node's http module), resolvers from memory"
[ "$CLUSTER_WORKERS" != 1 ] &&
  say "node-$CLUSTER_WORKERS: the same, $CLUSTER_WORKERS processes (node:cluster, one per core) sharing the port"
say "  per request (graphql-js): the Authorization header compared as a string with \"Bearer <the token>\": no signature check, no session, no membership, no store"
say "both: documents prepared once per query text; $WORKSPACES workspaces for the user; the same bearer token on every request"
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout $TIMEOUT --latency, POST application/json, $ROUNDS round(s) rotating the order, warm-up $WARMUP each; all on $(nproc) cores shared with wrk"

# --- load -----------------------------------------------------------------------------------

# script QUERY: a wrk script that POSTs the query's body with the bearer token
script() {
  local s="$tmp/wrk-$1.lua"
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $token\""
    echo "local f = assert(io.open(\"$tmp/$1.json\", \"rb\"))"
    echo 'wrk.body = f:read("*a")'
    echo 'f:close()'
  } >"$s"
  echo "$s"
}

# bench SERVER QUERY DURATION: runs wrk and sets RPS P50 P99 (ms)
bench() {
  local out="$tmp/wrk-$1-$2.txt"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$3" --timeout "$TIMEOUT" --latency -s "$(script "$2")" \
    "http://127.0.0.1:$(port_of "$1")/graphql" >"$out" 2>&1 </dev/null &
  wrk_pid=$!
  if ! wait "$wrk_pid"; then
    wrk_pid=""
    cat "$out" >&2
    die "wrk against $1 failed"
  fi
  wrk_pid=""
  if grep -qE 'Non-2xx|Socket errors: connect [1-9]|read [1-9]|write [1-9]' "$out"; then
    cat "$out" >&2
    die "$1 did not answer every $2 request with 200: the figures would mean nothing"
  fi
  # a server too slow for wrk's timeout: its figures stand, with how many requests gave up
  NOTE=$(sed -n 's/.*timeout \([1-9][0-9]*\).*/\1 requests over the --timeout/p' "$out")
  RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  [ -n "$RPS" ] || { cat "$out" >&2; die "could not read wrk's output for $1"; }
}


declare -A rps p99
row='graphql.sh: %-8s  %-5s  %-8s  %10s  %9s  %9s  %s\n'
printf "$row" query round server "req/s" "p50 ms" "p99 ms"
for q in $QUERIES; do
  for name in $servers; do bench "$name" "$q" "$WARMUP"; done
  for ((r = 1; r <= ROUNDS; r++)); do
    # rotate which one goes first, so none always gets the warmer or cooler machine
    order=$(echo "$servers" | awk -v k=$(((r - 1) % $(wc -w <<<"$servers"))) '{
      for (i = 0; i < NF; i++) printf "%s ", $((i + k) % NF + 1) }')
    for name in $order; do
      bench "$name" "$q" "$DURATION"
      printf "$row" "$q" "$r/$ROUNDS" "$name" "$RPS" "$P50" "$P99" "${NOTE:+($NOTE)}"
      rps[$q,$name]="${rps[$q,$name]:-} $RPS"
      p99[$q,$name]="${p99[$q,$name]:-} $P99"
    done
  done
done

if ! kill -0 "$slipway_pid" 2>/dev/null; then
  tail -n 20 "$tmp/slipway.log" >&2
  die "slipway died under load"
fi

# --- summary ----------------------------------------------------------------------------------
echo
say "medians of $ROUNDS round(s); ratio = slipway req/s / that server's req/s"
head='graphql.sh: %-8s  %-18s  %-30s  %-30s\n'
printf "$head" query "slipway req/s p99" "node-1 (one process): ratio" \
  "$([ "$CLUSTER_WORKERS" != 1 ] && echo "node-$CLUSTER_WORKERS (cluster): ratio")"
for q in $QUERIES; do
  s_rps=$(median ${rps[$q,slipway]}) s_p99=$(median ${p99[$q,slipway]})
  cols=()
  for name in $servers; do
    [ "$name" = slipway ] && continue
    n_rps=$(median ${rps[$q,$name]}) n_p99=$(median ${p99[$q,$name]})
    cols+=("$(printf '%6.0f %6s ms: %6sx' "$n_rps" "$(ms "$n_p99")" "$(ratio "$s_rps" "$n_rps")")")
  done
  printf "$head" "$q" "$(printf '%6.0f %6s ms' "$s_rps" "$(ms "$s_p99")")" "${cols[0]}" "${cols[1]:-}"
  if [ "$q" = me ]; then
    m_ratio=$(ratio "$s_rps" "$(median ${rps[me,node-1]})") m_p99=$s_p99
  fi
done
if [ -n "${m_ratio:-}" ]; then
  r_met=$(awk -v r="$m_ratio" 'BEGIN { print ((r >= 10) ? "met" : "NOT met") }')
  p_met=$(awk -v p="$m_p99" 'BEGIN { print ((p <= 2) ? "met" : "NOT met") }')
  say "target (issue): slipway >= 10x graphql-js in one process on the main query: ${m_ratio}x, $r_met; p99 <= 2 ms at $CONNECTIONS connections: $(ms "$m_p99") ms, $p_met"
fi
exit 0
