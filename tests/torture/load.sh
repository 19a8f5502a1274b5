#!/bin/bash
# The load test of issue 12: a kleened of this build on a temporary root and socket, in a
# network namespace of its own, with a busybox image; then tests/torture/load.py drives it
# with CLIENTS clients for SECONDS seconds (lists, creates, removals, WebSocket execs) and
# prints kleened's fds, threads and RSS before, at the peak and after. Exit 0 only with no
# error, no fd or thread left over after the load, and (with an ASan build) no report from
# AddressSanitizer or LeakSanitizer when kleened stops.
#   tests/torture/load.sh [SECONDS] [CLIENTS]      (default 60 s, 64 clients)
#   BUILD=build-test tests/torture/load.sh 60 64   (ASan + LeakSanitizer)
# Run as root from the repository root. SETTLE (default 5) is how long it waits after the
# load before the "after" figures. SMAPS=FILE keeps kleened's /proc/PID/smaps from before
# (FILE.before) and after the load (FILE), and its log (FILE.log), to see what holds memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_=${1:-60}
CLIENTS=${2:-64}
BUILD=${BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD
KLEENED=$BUILD/src/daemon/kleened
KLEE=$BUILD/src/cli/klee
W=$(mktemp -d /tmp/kleene-load.XXXXXX)
NS=kleene-load-$$
pid=""

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
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
api_listening_sockets:
  - address: "http://$W/kleened.sock"
docker_listening_sockets: []
YAML
ip netns add "$NS"
ip -n "$NS" link set lo up
# ASan builds: leaks are reported when kleened exits; errors go to the log.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 ip netns exec "$NS" "$KLEENED" -c "$W/config.yaml" \
  </dev/null 2>"$W/kleened.log" &
pid=$!
for _ in $(seq 200); do [ -S "$W/kleened.sock" ] && break; sleep 0.05; done
K() { "$KLEE" --host "http://$W/kleened.sock" "$@"; }
scripts/mk-busybox-rootfs "$W/rootfs" >/dev/null
K image create -t load:latest zfs-copy "$W/rootfs" >/dev/null
# One container run first: kleened then keeps a spare monitor (one socket) from here on, which
# belongs to its steady state, not to the load.
K run --name load-warmup load /bin/true >/dev/null
K rmc load-warmup >/dev/null
sleep 1

rc=0
[ -n "${SMAPS:-}" ] && cp "/proc/$pid/smaps" "$SMAPS.before"
/usr/bin/python3 tests/torture/load.py --socket "$W/kleened.sock" --pid "$pid" --image load \
  --clients "$CLIENTS" --seconds "$SECONDS_" --settle "${SETTLE:-5}" --json "$W/result.json" || rc=1

[ -n "${SMAPS:-}" ] && cp "/proc/$pid/smaps" "$SMAPS"
# Nothing may be left over: the objects the clients made, connection threads, descriptors.
left=$(K container ls -a 2>/dev/null | grep -c 'load-' || true)
vols=$(K volume ls 2>/dev/null | grep -c 'load-' || true)
nets=$(K network ls 2>/dev/null | grep -c 'load-' || true)
echo "load: left over: $left containers, $vols volumes, $nets networks"
[ "$left$vols$nets" = 000 ] || rc=1
before_fds=$(jq .before.fds "$W/result.json")
after_fds=$(jq .after.fds "$W/result.json")
before_thr=$(jq .before.threads "$W/result.json")
after_thr=$(jq .after.threads "$W/result.json")
if [ "$after_fds" -gt "$before_fds" ] || [ "$after_thr" -gt "$before_thr" ]; then
  echo "load: fds $before_fds -> $after_fds, threads $before_thr -> $after_thr: something was kept"
  rc=1
fi

kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""
if grep -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$W/kleened.log"; then
  grep -A30 -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$W/kleened.log" | head -80
  echo "load: sanitizer report"
  rc=1
fi
[ -n "${SMAPS:-}" ] && cp "$W/kleened.log" "$SMAPS.log"
echo "load: $([ $rc = 0 ] && echo PASS || echo FAIL)"
exit $rc
