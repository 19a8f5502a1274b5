#!/usr/bin/env bash
# The Docker door against dockerd (issue 14): `docker run --rm bb true` (default network, and
# --network none) and `docker-compose up -d` + `down -v` of tests/e2e/docker_compose.bats's
# project, the same docker CLI (Debian's, API 1.41) and docker-compose against kleened's
# Docker socket and against a dockerd (Debian's docker.io) this script starts. Runs are
# interleaved (kleened, dockerd, kleened, ...) so that the load of a shared machine falls on
# both alike. Prints medians and kleened/dockerd ratios.
#   bench/docker.sh [RUNS]     (as root; BUILD=build by default: use a build without
#                               sanitizers, e.g. meson setup build-rel --buildtype=release)
# Budget (issue 14): kleened at most 0.2x dockerd for `docker run`.
# Each daemon runs in a network namespace of its own (dockerd's bridge and iptables rules, and
# kleened's nft table, stay there); dockerd also in a private mount namespace with
# /sys/fs/cgroup/unified unmounted (HOST-FACTS.md §4), with its own --data-root, --exec-root,
# -H and --pidfile, and is stopped by its pid; everything made is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
COMPOSE_RUNS=${COMPOSE_RUNS:-$(((RUNS + 3) / 4))}
. bench/lib.sh
DOCKER=/usr/bin/docker
for t in "$DOCKER" dockerd docker-compose umoci skopeo; do
  command -v "$t" >/dev/null || { echo "$t is not installed (scripts/install-deps)" >&2; exit 1; }
done
holder=""
bench_cleanup_extra() {
  local p ns pid
  if [ -n "$holder" ]; then
    pid=$(cat "$W/dockerd.pidfile" 2>/dev/null || true)
    if [ -n "$pid" ]; then
      # its containers first, then dockerd itself (by its pid), then what is left in its
      # mount namespace (containerd, shims)
      DOCKER_HOST="unix://$W/dockerd.sock" "$DOCKER" ps -aq 2>/dev/null |
        xargs -r env DOCKER_HOST="unix://$W/dockerd.sock" "$DOCKER" rm -f >/dev/null 2>&1 || true
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    ns=$(readlink "/proc/$holder/ns/mnt" || true)
    for p in /proc/[0-9]*; do
      [ "${p#/proc/}" != "$holder" ] && [ -n "$ns" ] && [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] &&
        kill -KILL "${p#/proc/}" 2>/dev/null
    done
    kill -KILL "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
  fi
  [ -n "${made_etc_docker:-}" ] && rmdir /etc/docker 2>/dev/null
  # dockerd's cgroups (it leaves them behind, HOST-FACTS.md §4)
  for h in /sys/fs/cgroup/*/; do
    [ -d "${h}kbench-$$" ] && find "${h}kbench-$$" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}
trap bench_cleanup EXIT

# kleened with its Docker socket (bench/lib.sh's, plus the door)
cat >"$W/config.yaml" <<YAML
kleene_root: $W/root
run_root: $W/run
pidfile: $W/kleened.pid
log_level: warning
api_listening_sockets:
  - address: "http://$W/kleened.sock"
docker_listening_sockets:
  - address: "http://$W/kdocker.sock"
YAML
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" "$KLEENED" -c "$W/config.yaml" </dev/null 2>"$W/kleened.log" &
kleened_pid=$!
for _ in $(seq 100); do [ -S "$W/kdocker.sock" ] && break; sleep 0.05; done
[ -S "$W/kdocker.sock" ] || { cat "$W/kleened.log" >&2; exit 1; }

# the image: a busybox rootfs for kleened, the same as a docker archive for dockerd
./scripts/mk-busybox-rootfs "$W/rootfs" >/dev/null
K image create -t bb:latest zfs-copy "$W/rootfs" >/dev/null
umoci init --layout "$W/oci" && umoci new --image "$W/oci:bb" &&
  umoci insert --image "$W/oci:bb" "$W/rootfs" / >/dev/null &&
  skopeo copy -q "oci:$W/oci:bb" "docker-archive:$W/bb.tar:bb:latest"

# dockerd writes /etc/docker/key.json: a tmpfs over /etc/docker in its mount namespace keeps
# it off the host (the directory is made for the mount when missing, and removed at the end)
made_etc_docker=""
[ -d /etc/docker ] || { mkdir /etc/docker && made_etc_docker=1; }
# dockerd in its own network and mount namespaces (not through `ip netns exec`, whose fresh
# /sys has no cgroup mounts)
unshare -m -n --propagation private sh -c '
  ip link set lo up
  mount --make-rprivate / && mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
  umount /sys/fs/cgroup/unified 2>/dev/null
  mount -t tmpfs -o mode=0755 tmpfs /etc/docker || exit 1
  : >"$0/ns.ready"; exec sleep 1000000' "$W" </dev/null >/dev/null 2>&1 &
holder=$!
for _ in $(seq 100); do [ -e "$W/ns.ready" ] && break; sleep 0.05; done
nsenter -t "$holder" -m -n -- dockerd --data-root "$W/docker" --exec-root "$W/dx" \
  -H "unix://$W/dockerd.sock" --pidfile "$W/dockerd.pidfile" --cgroup-parent "/kbench-$$" \
  >"$W/dockerd.log" 2>&1 &
for _ in $(seq 200); do
  DOCKER_HOST="unix://$W/dockerd.sock" "$DOCKER" version >/dev/null 2>&1 && break
  sleep 0.1
done
DOCKER_HOST="unix://$W/dockerd.sock" "$DOCKER" load -q -i "$W/bb.tar" >/dev/null

# the compose project of tests/e2e/docker_compose.bats
mkdir -p "$W/proj"
sed -n '/^  cat >"$E2E_DIR\/proj\/docker-compose.yml"/,/^YAML$/p' tests/e2e/docker_compose.bats |
  sed '1d;$d' >"$W/proj/docker-compose.yml"

now_ms() { date +%s%N | awk '{printf "%.3f", $1 / 1e6}'; }
# one timed run: label, socket, command...
timed() {
  local label=$1 sock=$2 t0 t1
  shift 2
  t0=$(now_ms)
  if ! DOCKER_HOST="unix://$sock" "$@" >/dev/null 2>>"$W/errors.log"; then
    # counted and reported, not timed
    echo "$label failed: $(tail -1 "$W/errors.log")" | tee -a "$W/failures" >&2
    return 0
  fi
  t1=$(now_ms)
  echo "$label $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')" >>"$W/times"
}
compose_cycle() {
  (cd "$W/proj" && docker-compose -p kbench --ansi never up -d && docker-compose -p kbench --ansi never down -v)
}

# warm-up (first use makes kleened's default network and dockerd's caches)
for s in "$W/kdocker.sock" "$W/dockerd.sock"; do
  DOCKER_HOST="unix://$s" "$DOCKER" run --rm bb true
  DOCKER_HOST="unix://$s" "$DOCKER" run --rm --network none bb true
done
: >"$W/times"
: >"$W/failures"
for i in $(seq "$RUNS"); do
  # the floor: the CLI's own start-up and two requests (ping, version)
  timed "version kleened" "$W/kdocker.sock" "$DOCKER" version
  timed "version dockerd" "$W/dockerd.sock" "$DOCKER" version
  timed "run kleened" "$W/kdocker.sock" "$DOCKER" run --rm bb true
  timed "run dockerd" "$W/dockerd.sock" "$DOCKER" run --rm bb true
  timed "run-none kleened" "$W/kdocker.sock" "$DOCKER" run --rm --network none bb true
  timed "run-none dockerd" "$W/dockerd.sock" "$DOCKER" run --rm --network none bb true
  if [ "$i" -le "$COMPOSE_RUNS" ]; then
    timed "compose kleened" "$W/kdocker.sock" compose_cycle
    timed "compose dockerd" "$W/dockerd.sock" compose_cycle
  fi
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs; $RUNS runs ($COMPOSE_RUNS of compose), interleaved"
[ -s "$W/failures" ] && echo "failed runs (not timed): $(wc -l <"$W/failures")" && sort "$W/failures" | uniq -c
python3 - "$W/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    what, daemon, ms = line.split()
    t.setdefault(what, {}).setdefault(daemon, []).append(float(ms))
names = {"version": "docker version (the CLI's floor)", "run": "docker run --rm bb true", "run-none": "docker run --rm --network none bb true",
         "compose": "docker-compose up -d + down -v (2 services)"}
print(f"{'':48} {'kleened ms':>11} {'dockerd ms':>11} {'ratio':>7}")
for what in ("version", "run", "run-none", "compose"):
    if what not in t:
        continue
    k, d = statistics.median(t[what]["kleened"]), statistics.median(t[what]["dockerd"])
    print(f"{names[what]:48} {k:11.1f} {d:11.1f} {k / d:7.2f}")
print("budget: docker run kleened/dockerd <= 0.20")
PY
