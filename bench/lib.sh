# Shared by the benchmark scripts (sourced from the repository root): a kleened of this build on
# a temporary root and socket, run inside a network namespace of its own, so that a benchmark
# never touches the host's firewall or ip_forward; and the cleanup that stops it (with its
# containers) and removes everything it made. A script may define bench_cleanup_extra (peers
# to stop) before it calls bench_start_kleened.
#   . bench/lib.sh; trap bench_cleanup EXIT; bench_start_kleened; K image ls
BUILD=${BUILD:-build}
KLEENED=$PWD/$BUILD/src/daemon/kleened
KLEE=$PWD/$BUILD/src/cli/klee
W=$(mktemp -d /tmp/kleene-bench.XXXXXX)
NS=kleene-bench-$$
kleened_pid=""

K() { $KLEE --host "http://$W/kleened.sock" "$@"; }

bench_start_kleened() {
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
  # $KLEENED_WRAPPER: a program that execs its arguments (tests/e2e/with-cgroupfs)
  ip netns exec "$NS" ${KLEENED_WRAPPER:-} "$KLEENED" -c "$W/config.yaml" </dev/null 2>"$W/kleened.log" &
  kleened_pid=$!
  for _ in $(seq 100); do [ -S "$W/kleened.sock" ] && return 0; sleep 0.05; done
  echo "kleened did not start:" >&2
  cat "$W/kleened.log" >&2
  return 1
}

bench_cleanup() {
  if [ -n "$kleened_pid" ]; then
    for c in $(K container ls -a 2>/dev/null | awk 'NR>2{print $1}'); do
      K container stop "$c" >/dev/null 2>&1 || true
    done
    kill "$kleened_pid" 2>/dev/null && wait "$kleened_pid" 2>/dev/null || true
  fi
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra || true; fi
  ip netns del "$NS" 2>/dev/null || true
  { grep -o " $W[^ ]*" /proc/self/mountinfo || true; } | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$W"
}
