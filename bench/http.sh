#!/usr/bin/env bash
# HTTP throughput and latency of slipway's GET /healthz against nginx serving the same
# response, measured with wrk in one run on this machine. See bench/README.md.
#
#   bench/http.sh                  3 rounds of 10 s per server (about 75 s in all)
#   ROUNDS=5 DURATION=15s bench/http.sh
#
# Environment: ROUNDS (3), DURATION (10s, per wrk run), THREADS (2), CONNECTIONS (64),
# IDLE_SECS (3, idle time before the idle RSS is read), SLIPWAY_BIN (build/release/bin/slipway,
# built with `make MODE=release bin` when missing).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
IDLE_SECS=${IDLE_SECS:-3}
WARMUP=${WARMUP:-2s}

cd "$(dirname "$0")/.."
root=$PWD
say() { echo "http.sh: $*"; }
die() { echo "http.sh: $*" >&2; exit 1; }
. bench/lib.sh

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"

# --- what it needs --------------------------------------------------------------------------
PATH=$PATH:/usr/sbin:/sbin  # nginx lives in /usr/sbin, which is not on every user's PATH
missing=()
for cmd in wrk nginx curl python3; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ ${#missing[@]} -eq 0 ] ||
  die "missing ${missing[*]}: run scripts/bootstrap (installs wrk, nginx-light, curl, python3)"

SLIPWAY_BIN=${SLIPWAY_BIN:-$root/build/release/bin/slipway}
if [ ! -x "$SLIPWAY_BIN" ]; then
  say "no $SLIPWAY_BIN: building it with make MODE=release bin"
  make -s MODE=release bin >&2
fi
[ -x "$SLIPWAY_BIN" ] || die "no slipway binary at $SLIPWAY_BIN"

# --- a temporary directory, and nothing left behind ------------------------------------------
tmp=$(mktemp -d /tmp/slipway-bench-http.XXXXXX)
slipway_pid=""
nginx_pid=""
nginx_workers=""
wrk_pid=""

cleanup() {
  local rc=$? w
  trap - EXIT INT TERM
  set +e
  [ -n "$wrk_pid" ] && stop "$wrk_pid"
  [ -n "$slipway_pid" ] && stop "$slipway_pid"
  if [ -n "$nginx_pid" ]; then
    # the workers are known by pid from start-up: even if the master had to be killed, none
    # of them outlives this script
    nginx_workers="$nginx_workers $(ps -o pid= --ppid "$nginx_pid" 2>/dev/null || true)"
    stop "$nginx_pid"
    for w in $nginx_workers; do
      kill -0 "$w" 2>/dev/null && kill -KILL "$w" 2>/dev/null || true
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "http.sh: interrupted" >&2; exit 130' INT
trap 'echo "http.sh: terminated" >&2; exit 143' TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb / 1024 }'; }

# --- slipway --------------------------------------------------------------------------------
start_slipway "$tmp/slipway.log" /dev/null --data-dir "$tmp/slipway-data"

# --- nginx ----------------------------------------------------------------------------------
# Same body and content type as slipway's /healthz. worker_processes auto is one per core,
# as slipway's http.loops = 0. The /healthz location does not log (slipway does not log
# /healthz either); everything else goes to an access log in the temporary directory.
# keepalive_requests is raised because slipway has no per-connection request limit and
# nginx's default (1000) would make it reconnect every 1000 requests under wrk.
nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
master_process on;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /healthz {
            access_log off;
            default_type application/json;
            return 200 '{"status":"ok"}\n';
        }
    }
}
EOF
nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" \
  </dev/null >"$tmp/nginx/stdout.log" 2>&1 &
nginx_pid=$!

# --- both answer, with the same body and content type ----------------------------------------
# check NAME PORT: waits up to 10 s for a 200, then prints "content-type|body-bytes|header-bytes"
check() {
  local name=$1 port=$2 i out
  for ((i = 0; i < 100; i++)); do
    out=$(curl -s --noproxy '*' -o "$tmp/$name.body" \
      -w '%{http_code}|%{content_type}|%{size_download}|%{size_header}' \
      "http://127.0.0.1:$port/healthz" 2>/dev/null || true)
    [ "${out%%|*}" = 200 ] && { echo "${out#*|}"; return 0; }
    sleep 0.1
  done
  return 1
}
slipway_resp=$(check slipway "$slipway_port") || die "slipway does not answer GET /healthz"
nginx_resp=$(check nginx "$nginx_port") ||
  { cat "$tmp/nginx/error.log" "$tmp/nginx/stdout.log" >&2 2>/dev/null; die "nginx does not answer"; }
nginx_workers=$(ps -o pid= --ppid "$nginx_pid" | tr '\n' ' ')
cmp -s "$tmp/slipway.body" "$tmp/nginx.body" ||
  die "the bodies differ: slipway $(od -c "$tmp/slipway.body" | head -2), nginx $(od -c "$tmp/nginx.body" | head -2)"
IFS='|' read -r s_ct s_body s_head <<<"$slipway_resp"
IFS='|' read -r n_ct n_body n_head <<<"$nginx_resp"
[ "$s_ct" = "$n_ct" ] || die "content types differ: slipway '$s_ct', nginx '$n_ct'"

say "$("$SLIPWAY_BIN" version 2>/dev/null | head -1 || echo slipway) on 127.0.0.1:$slipway_port (http.loops 0: one per core)"
say "$(nginx -v 2>&1 | sed 's/^nginx version: //') on 127.0.0.1:$nginx_port, worker_processes auto ($(echo $nginx_workers | wc -w) workers), access_log off for /healthz (as slipway, which does not log /healthz), keepalive_requests 1000000"
say "both: GET /healthz -> 200 $s_ct, $s_body-byte body; headers slipway $s_head bytes, nginx $n_head bytes"
say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds alternating, on $(nproc) cores shared with wrk"

# --- idle RSS, before any load --------------------------------------------------------------
sleep "$IDLE_SECS"
rss_idle=$(rss_kb "$slipway_pid")
say "slipway idle RSS $(mb "$rss_idle") (after ${IDLE_SECS}s idle, before any load)"

# --- load -----------------------------------------------------------------------------------

# bench NAME PORT DURATION: runs wrk and sets RPS P50 P99 (ms) and ERRS (a note or "")
bench() {
  local name=$1 port=$2 dur=$3 out="$tmp/wrk-$1.txt"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --latency "http://127.0.0.1:$port/healthz" \
    >"$out" 2>&1 </dev/null &
  wrk_pid=$!
  if ! wait "$wrk_pid"; then
    wrk_pid=""
    cat "$out" >&2
    die "wrk against $name failed"
  fi
  wrk_pid=""
  RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  ERRS=$(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | tr '\n' ';' || true)
  [ -n "$RPS" ] || { cat "$out" >&2; die "could not read wrk's output for $name"; }
}

bench slipway "$slipway_port" "$WARMUP"
bench nginx "$nginx_port" "$WARMUP"
say "warm-up: ${WARMUP} each, not counted"

s_rps=() s_p50=() s_p99=() n_rps=() n_p50=() n_p99=()
printf 'http.sh: %-5s  %-7s  %10s  %9s  %9s\n' round server "req/s" "p50 ms" "p99 ms"
for ((r = 1; r <= ROUNDS; r++)); do
  # alternate which one goes first, so neither always gets the warmer or cooler machine
  if ((r % 2)); then order="slipway nginx"; else order="nginx slipway"; fi
  for name in $order; do
    if [ "$name" = slipway ]; then port=$slipway_port; else port=$nginx_port; fi
    bench "$name" "$port" "$DURATION"
    printf 'http.sh: %-5s  %-7s  %10s  %9s  %9s  %s\n' "$r/$ROUNDS" "$name" "$RPS" "$P50" "$P99" "$ERRS"
    if [ "$name" = slipway ]; then
      s_rps+=("$RPS") s_p50+=("$P50") s_p99+=("$P99")
    else
      n_rps+=("$RPS") n_p50+=("$P50") n_p99+=("$P99")
    fi
  done
done

kill -0 "$slipway_pid" 2>/dev/null || { tail -n 20 "$tmp/slipway.log" >&2; die "slipway died under load"; }
rss_after=$(rss_kb "$slipway_pid")



sm=$(median "${s_rps[@]}") nm=$(median "${n_rps[@]}")
ratio=$(ratio "$sm" "$nm")
echo
say "slipway $(printf '%.0f' "$sm") req/s, nginx $(printf '%.0f' "$nm") req/s (median of $ROUNDS), ratio $ratio"
say "p50 $(ms "$(median "${s_p50[@]}")") ms / $(ms "$(median "${n_p50[@]}")") ms, p99 $(ms "$(median "${s_p99[@]}")") ms / $(ms "$(median "${n_p99[@]}")") ms (slipway / nginx, medians)"
say "slipway idle RSS $(mb "$rss_idle") (after load $(mb "$rss_after"))"
