# Shared by the bench scripts (sourced, not run): stopping processes and starting slipway.
# The caller defines die() and sets PY (a python3).

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

# start_slipway LOG OUT ARG...: runs `$SLIPWAY_BIN serve --port 0 --bind 127.0.0.1 ARG...` in
# the background with its log in LOG and stdout in OUT; sets slipway_pid and, once it serves,
# slipway_port (dies after 10 s without it).
start_slipway() {
  local log=$1 out=$2 i
  shift 2
  "$SLIPWAY_BIN" serve --port 0 --bind 127.0.0.1 "$@" 2>"$log" >"$out" </dev/null &
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
