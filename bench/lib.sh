# Shared by the bench scripts (sourced, not run): stopping processes, starting slipway, and
# the arithmetic of their figures. The caller defines die(); PY is the python3 to use.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# stop PID: SIGTERM, then SIGKILL after 10 s; waits for our own children.
stop() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_slipway LOG OUT ARG...: runs `$SLIPWAY_BIN serve --port 0 --bind 127.0.0.1 ARG...` (no
# ingress: benchmarks measure slipway itself) in
# the background with its log in LOG and stdout in OUT; sets slipway_pid and, once it serves,
# slipway_port (dies after 10 s without it).
start_slipway() {
  local log=$1 out=$2 i
  shift 2
  "$SLIPWAY_BIN" serve --port 0 --bind 127.0.0.1 --set ingress.enabled=false "$@" 2>"$log" >"$out" </dev/null &
  slipway_pid=$!
  slipway_port=""
  for ((i = 0; i < 100; i++)); do
    slipway_port=$(grep -m1 '"ev":"slipway.started"' "$log" 2>/dev/null |
      sed -n 's/.*"port":\([0-9]*\).*/\1/p' || true)
    [ -n "$slipway_port" ] && return 0
    kill -0 "$slipway_pid" 2>/dev/null || { cat "$log" >&2; die "slipway exited at start"; }
    sleep 0.1
  done
  tail -n 20 "$log" >&2
  die "slipway did not start in 10 s"
}

# --- figures ---------------------------------------------------------------------------------
# to_ms VALUE: wrk's "1.23ms" / "845.00us" / "1.02s" in milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "nan" } }'
}

# median VALUE...: the median (the mean of the two middle values of an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) printf "%s", v[(NR + 1) / 2]; else printf "%s", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# ms VALUE: milliseconds with 2 decimals below 10, else 1
ms() { awk -v v="$1" 'BEGIN { printf (v < 10 ? "%.2f" : "%.1f"), v }'; }
# ratio A B: A / B with 2 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# json_get FILE EXPR: prints the Python expression EXPR of the JSON document d in FILE
json_get() {
  "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
