#!/bin/bash
# Benchmark (not a test): `klee run --rm` of /bin/true on a bridge network with one published
# port, against `docker run --rm -p` and `podman run --rm -p` (runc, default bridge), and our
# own `klee run --rm` without a network, in one hyperfine run; medians (ms) and ratios.
# Budget: kleene with network <= 3x kleene without.
#   bench/run_network.sh [RUNS]        (as root; needs hyperfine; podman and docker.io optional)
# kleened runs inside a network namespace made here (its bridges and nft table never touch the
# host namespace); the peers run on the host and manage their own rules. dockerd gets its own
# roots, socket and bridge (kbdock0, made here) and is stopped by PID; afterwards the iptables
# rules that name kbdock0 or podman0 and the DOCKER chains (only if no other dockerd runs)
# are removed, the bridges deleted and ip_forward restored.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
BUILD=${BUILD:-build}
KLEENED=$PWD/$BUILD/src/daemon/kleened
KLEE="$PWD/$BUILD/src/cli/klee"
W=$(mktemp -d /tmp/kleene-nbench.XXXXXX)
NS="kleene-nbench-$$"
DBR=kbdock0
kleened_pid=""
dockerd_pid=""
FWD=$(cat /proc/sys/net/ipv4/ip_forward)
# what the peers may leave behind, so that only what did not exist before is removed
had_tables=$(nft list tables 2>/dev/null | tr '\n' ',')
had_cgroups=$(ls -d /sys/fs/cgroup/*/docker /sys/fs/cgroup/*/libpod_parent 2>/dev/null | tr '\n' ',' || true)
K() { $KLEE --host "http://$W/kleened.sock" "$@"; }

# Delete the rules of one iptables table that match $2 (a regex), then the chains matching $3.
ipt_clean() {
  local t=$1 rx=$2 chains=${3:-}
  command -v iptables >/dev/null || return 0
  iptables -t "$t" -S 2>/dev/null | grep -E -- "^-A .*($rx)" | sed 's/^-A /-D /' |
    while read -r r; do eval "iptables -t $t $r" 2>/dev/null || true; done
  [ -n "$chains" ] || return 0
  for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N"{print $2}' | grep -E -- "$chains"); do
    iptables -t "$t" -F "$c" 2>/dev/null || true
  done
  for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N"{print $2}' | grep -E -- "$chains"); do
    iptables -t "$t" -X "$c" 2>/dev/null || true
  done
}

cleanup() {
  set +e
  if [ -n "$kleened_pid" ]; then
    kill "$kleened_pid" 2>/dev/null
    wait "$kleened_pid" 2>/dev/null
  fi
  ip netns del "$NS" 2>/dev/null
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    # dockerd's containerd was started by it and goes with it; wait for it briefly
    sleep 0.5
    local others=""
    others=$(pgrep -x dockerd || true)
    for t in filter nat; do
      if [ -z "$others" ]; then
        ipt_clean "$t" "$DBR|DOCKER" "^DOCKER"
      else
        ipt_clean "$t" "$DBR"
      fi
    done
    ip link del "$DBR" 2>/dev/null
  fi
  if [ -n "${PODMAN:-}" ]; then
    $PODMAN rm -af >/dev/null 2>&1
    if ! pgrep -x conmon >/dev/null; then
      for t in filter nat; do ipt_clean "$t" "podman0|NETAVARK" "^NETAVARK"; done
      ip link del podman0 2>/dev/null
    fi
    $PODMAN system reset -f >/dev/null 2>&1
  fi
  echo "$FWD" >/proc/sys/net/ipv4/ip_forward
  # iptables-nft tables the peers created, once they hold no rule (only empty base chains)
  for t in "ip nat" "ip filter"; do
    [[ "$had_tables" == *"table $t,"* ]] && continue
    nft list table $t >/dev/null 2>&1 || continue
    nft list table $t | grep -vE '^\s*(table|chain|type|\}|$)' | grep -q . || nft delete table $t
  done
  # cgroup parents the peers created (rmdir only succeeds once they are empty)
  for d in /sys/fs/cgroup/*/docker /sys/fs/cgroup/*/libpod_parent; do
    [ -d "$d" ] && [[ "$had_cgroups" != *"$d,"* ]] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  grep -o " $W[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT

./scripts/mk-busybox-rootfs "$W/rootfs" >/dev/null
./scripts/mk-busybox-tar "$W/busybox.tar" >/dev/null
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
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" "$KLEENED" -c "$W/config.yaml" </dev/null 2>"$W/kleened.log" &
kleened_pid=$!
for _ in $(seq 100); do [ -S "$W/kleened.sock" ] && break; sleep 0.05; done
K image create zfs-copy "$W/rootfs" -t busybox:bench >/dev/null
K network create -t bridge --subnet 10.78.0.0/24 bnet >/dev/null

cmds=(-n kleene-nonet "$KLEE --host http://$W/kleened.sock run --rm busybox:bench /bin/true")
cmds+=(-n kleene-net "$KLEE --host http://$W/kleened.sock run --rm -n bnet -p 18080:80 busybox:bench /bin/true")
if command -v podman >/dev/null; then
  PODMAN="podman --root $W/podman --runroot $W/podman-run"
  $PODMAN import "$W/busybox.tar" bbbench >/dev/null
  cmds+=(-n podman-net "$PODMAN run --rm --runtime runc -p 18081:80 --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 bbbench /bin/true")
fi
if command -v dockerd >/dev/null; then
  ip link add "$DBR" type bridge
  ip addr add 172.31.250.1/24 dev "$DBR"
  ip link set "$DBR" up
  dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" -H "unix://$W/docker.sock" \
    --pidfile "$W/docker.pid" --bridge="$DBR" >"$W/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 100); do docker -H "unix://$W/docker.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  docker -H "unix://$W/docker.sock" import "$W/busybox.tar" bbbench >/dev/null
  cmds+=(-n docker-net "docker -H unix://$W/docker.sock run --rm -p 18082:80 bbbench /bin/true")
fi
# each command once, so a failure shows here rather than as a hyperfine error
for c in "${cmds[@]}"; do
  case $c in -n | kleene-* | podman-net | docker-net) ;; *) bash -c "$c" >/dev/null 2>&1 || echo "FAILED: $c" >&2 ;; esac
done
hyperfine -N -w 2 -r "$RUNS" --export-json "$W/run.json" "${cmds[@]}" >"$W/hyperfine.log" 2>&1 || {
  cat "$W/hyperfine.log"
  exit 1
}
python3 - "$W/run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] * 1000 for r in d}
mn = {r["command"]: r["min"] * 1000 for r in d}
mx = {r["command"]: r["max"] * 1000 for r in d}
net = med["kleene-net"]
for k, v in med.items():
    extra = "" if k == "kleene-net" else f"   kleene-net/{k} = {net / v:.2f}"
    print(f"run /bin/true  {k:13s} median {v:7.1f} ms  min {mn[k]:7.1f}  max {mx[k]:7.1f}{extra}")
ratio = net / med["kleene-nonet"]
print(f"budget: kleene with network / without = {ratio:.2f} (<= 3: {'ok' if ratio <= 3 else 'OVER'})")
PY
