#!/bin/bash
# The API fuzzer of issue 12 against a kleened of this build (ASan by default, LeakSanitizer
# on) on a temporary root and socket in a network namespace of its own: tests/torture/
# apifuzz.py builds its requests from the route table and schemas that api_schema_dump prints,
# for SECONDS seconds, then kleened is stopped and its log checked for sanitizer reports.
#   tests/torture/apifuzz.sh [SECONDS] [SEED]      (default 300 s, a random seed)
# Run as root from the repository root, after `ninja -C build-test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-300}
SEED=${2:-$RANDOM$RANDOM}
BUILD=${BUILD:-build-test}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
W=$(mktemp -d /tmp/kleene-apifuzz.XXXXXX)
NS=kleene-apifuzz-$$
pid=""

stop_all() {
  # containers the fuzzer started: through the API, then whatever monitor is left
  if [ -S "$W/kleened.sock" ]; then
    for id in $(curl -s --max-time 5 --unix-socket "$W/kleened.sock" 'http://x/containers/list?all=true' |
      jq -r 'if type == "array" then .[] | select(.running) | .id else empty end' 2>/dev/null); do
      curl -s --max-time 30 -X POST --unix-socket "$W/kleened.sock" "http://x/containers/$id/stop" >/dev/null || true
    done
  fi
  for state in "$W"/run/containers/*/state.json; do
    [ -f "$state" ] || continue
    p=$(jq -r '.container_pid // empty' "$state" 2>/dev/null) || true
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
}
cleanup() {
  stop_all
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  ip netns del "$NS" 2>/dev/null || true
  { grep -o " $W[^ ]*" /proc/self/mountinfo || true; } | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

cat >"$W/config.yaml" <<YAML
kleene_root: $W/root
run_root: $W/run
pidfile: $W/kleened.pid
log_level: warning
request_timeout: 5
websocket_idle_timeout: 5
api_listening_sockets:
  - address: "http://$W/kleened.sock"
docker_listening_sockets: []
YAML
ip netns add "$NS"
ip -n "$NS" link set lo up
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 ip netns exec "$NS" "$BUILD/src/daemon/kleened" \
  -c "$W/config.yaml" </dev/null 2>"$W/kleened.log" &
pid=$!
for _ in $(seq 200); do [ -S "$W/kleened.sock" ] && break; sleep 0.05; done
scripts/mk-busybox-rootfs "$W/rootfs" >/dev/null
"$BUILD/src/cli/klee" --host "http://$W/kleened.sock" image create -t fz:latest zfs-copy "$W/rootfs" >/dev/null
mkdir -p "$W/ctx"
printf 'FROM fz\nRUN echo built\n' >"$W/ctx/Dockerfile"
"$BUILD/tests/torture/api_schema_dump" >"$W/dump.json"

rc=0
/usr/bin/python3 tests/torture/apifuzz.py --socket "$W/kleened.sock" --pid "$pid" \
  --dump "$W/dump.json" --workdir "$W" --image fz --seconds "$SECS" --seed "$SEED" || rc=1
stop_all
kill -TERM "$pid"
for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid" 2>/dev/null || true
pid=""
if grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$W/kleened.log"; then
  grep -A40 -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$W/kleened.log" | head -120
  echo "apifuzz: sanitizer report"
  rc=1
fi
echo "apifuzz: $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
