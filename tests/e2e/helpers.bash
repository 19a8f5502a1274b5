# Shared helpers for the bats end-to-end tests. Each test file gets its own kleened, root,
# socket and network namespace; everything is removed in teardown_file.
BUILD_DIR=${KLEE_BUILD_DIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
KLEENED="$BUILD_DIR/src/daemon/kleened"
KLEE="$BUILD_DIR/src/cli/klee"

# Negative assertions: write `! cmd || false`, never a bare `! cmd`. bats runs a test body
# under `set -e`, and bash's errexit ignores the status of a negated pipeline, so a bare
# `! grep -q x f` on any line but the last asserts nothing: the test passes when grep matches.
# The `|| false` turns the negation into a status errexit sees (works for pipelines and
# functions alike, unlike `run !`). Likewise, `[ a ] && [ b ]` as one line only checks
# b: errexit ignores a failure before the last `&&`; write one test per line.
# scripts/test rejects both forms in tests/e2e (the "bats assertions" check).

# Start a kleened in a fresh network namespace with its own temp root and socket.
# Extra YAML for api_listening_sockets entries can be given in $EXTRA_LISTENERS.
start_kleened() {
  export E2E_DIR=$(mktemp -d /tmp/kleene-e2e.XXXXXX)
  export E2E_NS="kleene-e2e-$$-$RANDOM"
  export SOCK="$E2E_DIR/kleened.sock"
  # the Docker Engine API door (docs/docker-api.md): DOCKER_HOST=unix://$DOCKER_SOCK
  export DOCKER_SOCK="$E2E_DIR/docker.sock"
  # A size-limited root (the full-disk tests): a tmpfs of $ROOT_TMPFS_SIZE, unmounted by
  # stop_kleened with everything else under $E2E_DIR.
  if [ -n "${ROOT_TMPFS_SIZE:-}" ]; then
    mkdir -p "$E2E_DIR/root"
    mount -t tmpfs -o "size=$ROOT_TMPFS_SIZE,mode=0700" tmpfs "$E2E_DIR/root"
  fi
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
docker_listening_sockets:
  - address: "http://$DOCKER_SOCK"
${EXTRA_DOCKER_LISTENERS:-}
YAML
  # $KLEENED_WRAPPER: a program that execs its arguments (e.g. with-cgroupfs)
  ip netns exec "$E2E_NS" ${KLEENED_WRAPPER:-} "$KLEENED" -c "$E2E_DIR/config.yaml" </dev/null >"$E2E_DIR/kleened.log" 2>&1 &
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

# Stop every running container: through the API while kleened answers, then, for monitors
# that outlived it, by SIGKILL to each container's reaper (the monitor then cleans up and
# exits); wait for the monitors to go.
stop_containers() {
  local id pid
  if [ -S "${SOCK:-}" ] && curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/version >/dev/null 2>&1; then
    for id in $(curl -s --unix-socket "$SOCK" 'http://localhost/containers/list?all=true' |
      jq -r 'if type == "array" then .[] | select(.running) | .id else empty end' 2>/dev/null); do
      curl -s --max-time 30 -X POST --unix-socket "$SOCK" "http://localhost/containers/$id/stop" >/dev/null
    done
  fi
  [ -d "${E2E_DIR:-/nonexistent}/run/containers" ] || return 0
  for state in "$E2E_DIR"/run/containers/*/state.json; do
    [ -f "$state" ] || continue
    if [ "$(jq -r .running "$state" 2>/dev/null)" = "true" ]; then
      pid=$(jq -r '.container_pid // empty' "$state")
      [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
      pid=$(jq -r '.monitor_pid // empty' "$state")
      for _ in $(seq 1 100); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
  done
  return 0
}

# Start kleened again on the same root, socket and namespace (after it was killed).
# A kleened killed a moment ago may still be exiting (an ASan build unmaps a lot): its pidfile
# lock goes only when it has, so wait for it to be gone or a zombie first.
respawn_kleened() {
  local old
  old=$(cat "$E2E_DIR/kleened.pid" 2>/dev/null || true)
  for _ in $(seq 1 200); do
    [ -n "$old" ] && [ -e "/proc/$old" ] || break
    [ "$(sed 's/.*) //' "/proc/$old/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && break
    sleep 0.05
  done
  ip netns exec "$E2E_NS" ${KLEENED_WRAPPER:-} "$KLEENED" -c "$E2E_DIR/config.yaml" </dev/null >>"$E2E_DIR/kleened.log" 2>&1 &
  export KLEENED_PID=$!
  for _ in $(seq 1 200); do
    curl -s --unix-socket "$SOCK" http://localhost/version >/dev/null 2>&1 && return 0
    kill -0 "$KLEENED_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "kleened did not start again:" >&2
  cat "$E2E_DIR/kleened.log" >&2
  return 1
}

# The pid of this test file's kleened: from its pidfile (a kleened respawned inside a test
# body, a subshell, is not in $KLEENED_PID), checked to be our kleened with our config.
kleened_pid() {
  local pid
  for pid in $(cat "$E2E_DIR/kleened.pid" 2>/dev/null) ${KLEENED_PID:-}; do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $E2E_DIR/config.yaml"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

stop_kleened() {
  stop_containers
  KLEENED_PID=$(kleened_pid) || KLEENED_PID=""
  if [ -n "${KLEENED_PID:-}" ] && kill -0 "$KLEENED_PID" 2>/dev/null; then
    kill -TERM "$KLEENED_PID"
    for _ in $(seq 1 100); do kill -0 "$KLEENED_PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$KLEENED_PID" 2>/dev/null && kill -KILL "$KLEENED_PID"
    wait "$KLEENED_PID" 2>/dev/null || true
  fi
  [ -n "${E2E_NS:-}" ] && ip netns del "$E2E_NS" 2>/dev/null
  if [ -n "${E2E_DIR:-}" ]; then
    # whatever is still mounted under the test root (deepest first), then the tree
    findmnt -rn -o TARGET | grep "^$E2E_DIR/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$E2E_DIR"
  fi
  return 0
}

# kleened must still be alive and answering.
assert_alive() {
  kill -0 "$(kleened_pid)"
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

# Certificates for TLS tests, made at test time in directory $1: a CA (ca.pem), a server
# certificate for 127.0.0.1/localhost (server.pem/.key), a client certificate from the CA
# (client.pem/.key), and a client certificate from a CA the daemon does not trust (rogue.pem/.key).
make_certs() {
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=kleene-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 1 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=client" \
    -keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 1 -out "$d/client.pem" 2>/dev/null
  # A client certificate from a CA the daemon does not trust.
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=rogue" \
    -keyout "$d/rogue.key" -out "$d/rogue.pem" 2>/dev/null
}

# Start Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1:5000 inside the
# network namespace $1, storing under $2/reg; its pid goes to $2/reg.pid. `ip netns exec`
# execs the registry, so $! is the registry itself (a function such as in_ns would leave a
# subshell in between); fd 3 is closed, or bats would wait for it.
# Optional: $3 the address (default 127.0.0.1:5000), $4 more YAML under `http:` (TLS), $5
# more top-level YAML (auth), $6 more curl options for the readiness check (a client
# certificate). Ready once it answers anything on /v2/ (401 included).
start_registry() {
  local ns=$1 dir=$2 addr=${3:-127.0.0.1:5000} http_extra=${4:-} top_extra=${5:-} curl_extra=${6:-}
  local scheme=http
  [ -z "$http_extra" ] || scheme=https
  cat >"$dir/reg.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/reg
http:
  addr: $addr
$http_extra
$top_extra
YAML
  ip netns exec "$ns" docker-registry serve "$dir/reg.yml" >"$dir/reg.log" 2>&1 3>&- &
  echo $! >"$dir/reg.pid"
  local code
  for _ in $(seq 1 100); do
    # shellcheck disable=SC2086
    code=$(ip netns exec "$ns" curl -sk $curl_extra -o /dev/null -w '%{http_code}' "$scheme://$addr/v2/" || true)
    case "$code" in 200|401) return 0 ;; esac
    sleep 0.05
  done
  echo "docker-registry did not answer:" >&2
  cat "$dir/reg.log" >&2
  return 1
}

# Stop the registry start_registry started with directory $1, by its pid, and wait for it.
stop_registry() {
  local pid
  [ -f "$1/reg.pid" ] || return 0
  pid=$(cat "$1/reg.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  return 0
}
