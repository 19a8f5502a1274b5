# Shared helpers for the bats end-to-end tests. Each test file gets its own kleened, root,
# socket and network namespace; everything is removed in teardown_file.
BUILD_DIR=${KLEE_BUILD_DIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
KLEENED="$BUILD_DIR/src/daemon/kleened"
KLEE="$BUILD_DIR/src/cli/klee"

# Start a kleened in a fresh network namespace with its own temp root and socket.
# Extra YAML for api_listening_sockets entries can be given in $EXTRA_LISTENERS.
start_kleened() {
  export E2E_DIR=$(mktemp -d /tmp/kleene-e2e.XXXXXX)
  export E2E_NS="kleene-e2e-$$-$RANDOM"
  export SOCK="$E2E_DIR/kleened.sock"
  ip netns add "$E2E_NS"
  ip netns exec "$E2E_NS" ip link set lo up
  cat >"$E2E_DIR/config.yaml" <<YAML
kleene_root: $E2E_DIR/root
run_root: $E2E_DIR/run
pidfile: $E2E_DIR/kleened.pid
log_level: debug
${EXTRA_TOP:-}
api_listening_sockets:
  - address: "http://$SOCK"
${EXTRA_LISTENERS:-}
YAML
  ip netns exec "$E2E_NS" "$KLEENED" -c "$E2E_DIR/config.yaml" >"$E2E_DIR/kleened.log" 2>&1 &
  export KLEENED_PID=$!
  for _ in $(seq 1 200); do
    [ -S "$SOCK" ] && curl -s --unix-socket "$SOCK" http://localhost/version >/dev/null && return 0
    kill -0 "$KLEENED_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "kleened did not start:" >&2
  cat "$E2E_DIR/kleened.log" >&2
  return 1
}

stop_kleened() {
  if [ -n "${KLEENED_PID:-}" ] && kill -0 "$KLEENED_PID" 2>/dev/null; then
    kill -TERM "$KLEENED_PID"
    for _ in $(seq 1 100); do kill -0 "$KLEENED_PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$KLEENED_PID" 2>/dev/null && kill -KILL "$KLEENED_PID"
    wait "$KLEENED_PID" 2>/dev/null || true
  fi
  [ -n "${E2E_NS:-}" ] && ip netns del "$E2E_NS" 2>/dev/null
  [ -n "${E2E_DIR:-}" ] && rm -rf "$E2E_DIR"
  return 0
}

# kleened must still be alive and answering.
assert_alive() {
  kill -0 "$KLEENED_PID"
  curl -sf --unix-socket "$SOCK" http://localhost/version >/dev/null
}

in_ns() { ip netns exec "$E2E_NS" "$@"; }

# api METHOD PATH [BODY] -> sets $status_code and $body
api() {
  local method=$1 path=$2 data=${3-}
  local out
  if [ -n "$data" ]; then
    out=$(curl -s -X "$method" --unix-socket "$SOCK" -H 'Content-Type: application/json' \
      --data-binary "$data" -w '\n%{http_code}' "http://localhost$path")
  else
    out=$(curl -s -X "$method" --unix-socket "$SOCK" -w '\n%{http_code}' "http://localhost$path")
  fi
  status_code=${out##*$'\n'}
  body=${out%$'\n'*}
}

klee() { "$KLEE" --host "http://$SOCK" "$@"; }
