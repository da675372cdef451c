#!/usr/bin/env bash
# The workflow engine (flow): steps per second of trivial workflows on SQLite and PostgreSQL,
# each beside what it is measured against, in one run on this machine. See bench/README.md.
#
#   bench/flow.sh                 1 round of the three comparisons (about a minute)
#   ROUNDS=3 bench/flow.sh        medians of 3
#
# The three comparisons (tests/tools/flow-bench.c measures slipway's side):
#  - sequential: one workflow of STEPS (10,000) steps on SQLite, beside RAW_ROWS (as many)
#    single-row INSERT + COMMIT transactions through the store on the same disk, just before
#    it in the same round; target: >= 0.8x the raw rate (each step's result is a durable
#    write);
#  - concurrent: WORKFLOWS (256) workflows of WF_STEPS (20) steps queued, then run, on SQLite;
#    target: >= 20,000 steps/s;
#  - PostgreSQL: the same concurrent load on a throw-away PostgreSQL server
#    (scripts/pg-test-server, fsync on), beside graphile-worker (bench/flow-graphile.mjs)
#    running WORKFLOWS * WF_STEPS trivial jobs on the same server; target: >= 2x its jobs/s.
#
# Environment: ROUNDS (1), STEPS (10000), RAW_ROWS (STEPS), WORKFLOWS (256), WF_STEPS (20),
# GW_CONCURRENCY (24, graphile-worker's jobs at once per process), GW_PROCESSES (1),
# SLIPWAY_BUILD (build/release: uses $SLIPWAY_BUILD/tests/flow-bench, built with
# `make MODE=release` when missing), TMPDIR (where the databases go: the disk measured).
set -euo pipefail

ROUNDS=${ROUNDS:-1}
STEPS=${STEPS:-10000}
RAW_ROWS=${RAW_ROWS:-$STEPS}
WORKFLOWS=${WORKFLOWS:-256}
WF_STEPS=${WF_STEPS:-20}
GW_CONCURRENCY=${GW_CONCURRENCY:-24}
GW_PROCESSES=${GW_PROCESSES:-1}

cd "$(dirname "$0")/.."
root=$PWD
say() { echo "flow.sh: $*"; }
die() { echo "flow.sh: $*" >&2; exit 1; }
. bench/lib.sh

for v in ROUNDS STEPS RAW_ROWS WORKFLOWS WF_STEPS GW_CONCURRENCY GW_PROCESSES; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done

# --- what it needs --------------------------------------------------------------------------
missing=()
for cmd in python3 node; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] ||
  die "missing ${missing[*]}: run scripts/bootstrap (installs python3, nodejs, postgresql)"
[ -f node_modules/graphile-worker/package.json ] || die "no node_modules/graphile-worker: run npm ci"
PSQL=/usr/lib/postgresql/15/bin/psql

SLIPWAY_BUILD=${SLIPWAY_BUILD:-$root/build/release}
BENCH_BIN=$SLIPWAY_BUILD/tests/flow-bench
if [ ! -x "$BENCH_BIN" ]; then
  say "no $BENCH_BIN: building it with make MODE=release B=$SLIPWAY_BUILD"
  make -s MODE=release B="$SLIPWAY_BUILD" "$BENCH_BIN" >&2
fi
[ -x "$BENCH_BIN" ] || die "no flow-bench binary at $BENCH_BIN"

# --- a temporary directory, and nothing left behind ------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-flow.XXXXXX")
# as root the server runs as "postgres", which must get through to $tmp/pg (and no further)
[ "$(id -u)" -eq 0 ] && chmod 711 "$tmp"
pg_started=""
child_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [ -n "$child_pid" ] && stop "$child_pid"
  [ -n "$pg_started" ] && scripts/pg-test-server stop "$tmp/pg" >/dev/null 2>&1
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "flow.sh: interrupted" >&2; exit 130' INT
trap 'echo "flow.sh: terminated" >&2; exit 143' TERM


# measure NAME COMMAND...: runs COMMAND in the background (so an interrupt stops it), its
# stdout into $tmp/NAME.json; dies with its stderr when it fails
measure() {
  local name=$1
  shift
  "$@" >"$tmp/$name.json" 2>"$tmp/$name.err" </dev/null &
  child_pid=$!
  if ! wait "$child_pid"; then
    child_pid=""
    tail -n 20 "$tmp/$name.err" >&2
    die "$name failed: $*"
  fi
  child_pid=""
}

# --- PostgreSQL -----------------------------------------------------------------------------
pg_started=1 # before it starts: an interrupt while it starts still stops it
pg_url=$(scripts/pg-test-server start "$tmp/pg" 2>"$tmp/pg-start.err") ||
  { cat "$tmp/pg-start.err" >&2; die "the PostgreSQL server did not start"; }
# pg_db NAME: a new, empty database NAME on the server; prints its URL
pg_db() {
  "$PSQL" -q -v ON_ERROR_STOP=1 "$pg_url" -c "CREATE DATABASE $1" >/dev/null 2>"$tmp/psql.err" ||
    { cat "$tmp/psql.err" >&2; die "could not create database $1"; }
  echo "${pg_url%/postgres}/$1"
}

fs=$(df -PT "$tmp" | awk 'NR == 2 { print $2 }')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
say "machine: $(nproc) cores${cpu:+ ($cpu)}, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "databases in $tmp ($fs$([ "$fs" = tmpfs ] && echo ': in memory, so fsync costs nothing and the SQLite figures mean little'))"
say "slipway: $BENCH_BIN (the engine with its defaults: flow_opts all 0; the store with its defaults: SQLite in WAL mode, synchronous=FULL)"
say "PostgreSQL: $("$PSQL" -tA "$pg_url" -c 'SHOW server_version'), throw-away server on 127.0.0.1, fsync $("$PSQL" -tA "$pg_url" -c 'SHOW fsync'), synchronous_commit $("$PSQL" -tA "$pg_url" -c 'SHOW synchronous_commit')"
say "graphile-worker $(node -p 'require("graphile-worker/package.json").version') on node $(node --version): $GW_PROCESSES process(es), concurrency $GW_CONCURRENCY each, localQueue 500, completeJobBatchDelay 0 (its documented throughput settings, bench/flow-graphile.mjs)"
say "$ROUNDS round(s); in each: raw inserts, then the sequential workflow, on SQLite; the concurrent workflows on SQLite; on PostgreSQL slipway then graphile-worker, each in a new database"

# --- the rounds -------------------------------------------------------------------------------
declare -a raw seq conc pg gw
row='flow.sh: %-6s %-34s %12s   %s\n'
prow() { printf "$row" "$@" | sed 's/[[:space:]]*$//'; }
prow round measure "per second" ""
# starts NAME: how long a concurrent run took, and what came before its clock started
starts() { json_get "$tmp/$1.json" '"(%.3f s; off the clock: queueing %.3f s, engine start to first step %.3f s)" % (d["seconds"], d["queue_seconds"], d["start_seconds"])'; }
for ((r = 1; r <= ROUNDS; r++)); do
  measure raw "$BENCH_BIN" raw "$tmp/raw-$r.db" "$RAW_ROWS"
  raw+=("$(json_get "$tmp/raw.json" 'd["per_s"]')")
  prow "$r/$ROUNDS" "raw INSERT+COMMIT (SQLite)" "${raw[-1]}" ""

  measure seq "$BENCH_BIN" seq "sqlite:$tmp/seq-$r.db" "$STEPS"
  seq+=("$(json_get "$tmp/seq.json" 'd["steps_per_s"]')")
  prow "$r/$ROUNDS" "sequential steps (SQLite)" "${seq[-1]}" ""

  measure conc "$BENCH_BIN" conc "sqlite:$tmp/conc-$r.db" "$WORKFLOWS" "$WF_STEPS"
  conc+=("$(json_get "$tmp/conc.json" 'd["steps_per_s"]')")
  prow "$r/$ROUNDS" "concurrent steps (SQLite)" "${conc[-1]}" "$(starts conc)"

  db=$(pg_db "slipway_$r") || exit 1
  measure pg "$BENCH_BIN" conc "$db" "$WORKFLOWS" "$WF_STEPS"
  pg+=("$(json_get "$tmp/pg.json" 'd["steps_per_s"]')")
  prow "$r/$ROUNDS" "concurrent steps (PostgreSQL)" "${pg[-1]}" "$(starts pg)"

  db=$(pg_db "graphile_$r") || exit 1
  measure gw node bench/flow-graphile.mjs --url "$db" \
    --jobs $((WORKFLOWS * WF_STEPS)) --concurrency "$GW_CONCURRENCY" --processes "$GW_PROCESSES"
  gw+=("$(json_get "$tmp/gw.json" 'd["jobs_per_s"]')")
  prow "$r/$ROUNDS" "graphile-worker jobs (PostgreSQL)" "${gw[-1]}" ""
done

# --- summary ----------------------------------------------------------------------------------
# imedian VALUE...: the median, rounded to a whole number
imedian() { awk -v v="$(median "$@")" 'BEGIN { printf "%.0f", v }'; }
# met A B T: whether A / B >= T (B = 1 for a plain figure), on the figures, not the rounded ratio
met() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { print ((a / b >= t) ? "met" : "NOT met") }'; }

m_raw=$(imedian "${raw[@]}") m_seq=$(imedian "${seq[@]}") m_conc=$(imedian "${conc[@]}")
m_pg=$(imedian "${pg[@]}") m_gw=$(imedian "${gw[@]}")
r_seq=$(ratio "$m_seq" "$m_raw") r_pg=$(ratio "$m_pg" "$m_gw")
echo
say "medians of $ROUNDS round(s)"
head='flow.sh: %-42s %14s   %-34s %7s   %s\n'
printf "$head" "measure" "slipway" "beside" "ratio" "target (issue)"
printf "$head" "sequential: 1 x $STEPS steps, SQLite" "$m_seq steps/s" \
  "raw INSERT+COMMIT $m_raw rows/s" "${r_seq}x" ">= 0.8x raw: $(met "$m_seq" "$m_raw" 0.8)"
printf "$head" "concurrent: $WORKFLOWS x $WF_STEPS steps, SQLite" "$m_conc steps/s" "" "" \
  ">= 20000 steps/s: $(met "$m_conc" 1 20000)"
printf "$head" "concurrent: $WORKFLOWS x $WF_STEPS steps, PostgreSQL" "$m_pg steps/s" \
  "graphile-worker $m_gw jobs/s" "${r_pg}x" ">= 2x graphile-worker: $(met "$m_pg" "$m_gw" 2)"
exit 0
