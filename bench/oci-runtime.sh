#!/bin/bash
# Benchmark (not a test): `true` in a busybox bundle through kleene-runtime, crun and runc,
# directly (`RUNTIME run`) and under each client (`ctr run --runc-binary`, `podman run
# --runtime`, `docker run --runtime` with dockerd --add-runtime), all in one hyperfine run:
# medians, and kleene-runtime's ratio to crun and runc in each group.
#   bench/oci-runtime.sh [RUNS]          (as root; BUILD=build by default: use a build
#                                         without sanitizers, e.g. meson setup build)
# Budget (issue 15): kleene-runtime at most 0.8x crun directly, no slower than crun under
# each client. A runtime or client that is not installed is left out, saying so.
# Everything runs inside one private mount namespace where /sys/fs/cgroup/unified is
# unmounted (crun, containerd and dockerd need that here, HOST-FACTS.md §4) and /run is a
# tmpfs; clients run with --network none and state of their own under a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
BUILD=${BUILD:-build}
KRT=${KLEENE_RUNTIME:-$PWD/$BUILD/src/ociruntime/kleene-runtime}
W=$(mktemp -d /tmp/kleene-ocibench.XXXXXX)
chmod 0755 "$W"
holder=""
cleanup() {
  local p ns
  if [ -n "$holder" ]; then
    ns=$(readlink "/proc/$holder/ns/mnt" || true)
    # whatever is left in our namespace (daemons, shims, conmon), then the holder
    for pid in $(cat "$W"/*.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for p in /proc/[0-9]*; do
      [ "${p#/proc/}" != "$holder" ] && [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] &&
        kill -KILL "${p#/proc/}" 2>/dev/null
    done
    kill -KILL "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
  fi
  for h in /sys/fs/cgroup/*/; do
    [ -d "${h}kbench-$$" ] && find "${h}kbench-$$" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf --one-file-system "$W"
}
trap cleanup EXIT

unshare -m --propagation private sh -c '
  mount --make-rprivate / && mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
  umount /sys/fs/cgroup/unified 2>/dev/null
  if [ -d /etc/docker ]; then mount -t tmpfs -o mode=0755 tmpfs /etc/docker; fi
  : >"$0/ns.ready"; exec sleep 1000000' "$W" </dev/null >/dev/null 2>&1 &
holder=$!
for _ in $(seq 100); do [ -e "$W/ns.ready" ] && break; sleep 0.05; done
ons() { nsenter -t "$holder" -m -- "$@"; }

# the runtimes present: name and path
declare -A RT
[ -x "$KRT" ] && RT[kleene]=$KRT || echo "kleene-runtime: not built at $KRT, left out"
command -v crun >/dev/null && RT[crun]=$(command -v crun) || echo "crun: not installed, left out"
command -v runc >/dev/null && RT[runc]=$(command -v runc) || echo "runc: not installed, left out"
names=()
for n in kleene crun runc; do [ -n "${RT[$n]:-}" ] && names+=("$n"); done
[ ${#names[@]} -gt 0 ] || { echo "no runtime to measure" >&2; exit 1; }

# the bundle: a busybox rootfs, read-only, `true`, no terminal, default namespaces
./scripts/mk-busybox-rootfs "$W/bundle/rootfs" >/dev/null
(cd "$W/bundle" && "${RT[${names[0]}]}" spec >/dev/null 2>&1 || runc spec)
python3 - "$W/bundle/config.json" "kbench-$$" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"] = {"path": "rootfs", "readonly": True}
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["linux"]["cgroupsPath"] = "/" + sys.argv[2] + "/direct"
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY

cmds=()
# each run needs its own container id: the sh's pid (sh -c costs about 0.7 ms, for all)
for n in "${names[@]}"; do
  cmds+=(-n "direct $n" "sh -c 'exec ${RT[$n]} --root $W/rt-$n run --bundle $W/bundle b\$\$'")
done

# an image for the clients, made offline
if command -v umoci >/dev/null && command -v skopeo >/dev/null; then
  umoci init --layout "$W/oci" && umoci new --image "$W/oci:bb" &&
    umoci insert --image "$W/oci:bb" "$W/bundle/rootfs" / >/dev/null &&
    skopeo copy -q "oci:$W/oci:bb" "docker-archive:$W/bb.tar:kbench/busybox:latest"
  img=docker.io/kbench/busybox:latest
else
  echo "umoci/skopeo: not installed, clients left out"
fi

if [ -e "$W/bb.tar" ] && command -v containerd >/dev/null; then
  mkdir -p "$W/ctd"
  cat >"$W/ctd/config.toml" <<TOML
version = 2
root = "$W/ctd/root"
state = "$W/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$W/ctd/ctd.sock"
[ttrpc]
  address = "$W/ctd/ctd.sock.ttrpc"
TOML
  nsenter -t "$holder" -m -- containerd --config "$W/ctd/config.toml" >"$W/containerd.log" 2>&1 &
  echo $! >"$W/containerd.pid"
  for _ in $(seq 100); do ons ctr -a "$W/ctd/ctd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  ons ctr -a "$W/ctd/ctd.sock" -n "kbench-$$" image import "$W/bb.tar" >/dev/null
  for n in "${names[@]}"; do
    cmds+=(-n "ctr $n" "sh -c 'exec ctr -a $W/ctd/ctd.sock -n kbench-$$ run --rm --runc-binary ${RT[$n]} --runc-root $W/ctd-rt-$n $img c\$\$ /bin/true'")
  done
else
  echo "containerd: not installed, left out"
fi

if [ -e "$W/bb.tar" ] && command -v podman >/dev/null; then
  pod="podman --root $W/pod --runroot $W/podrun --tmpdir $W/libpod --cgroup-manager cgroupfs --events-backend file"
  ons $pod load -q -i "$W/bb.tar" >/dev/null
  for n in "${names[@]}"; do
    cmds+=(-n "podman $n" "$pod --runtime ${RT[$n]} run --rm --network none --cgroup-parent /kbench-$$ --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 $img /bin/true")
  done
else
  echo "podman: not installed, left out"
fi

if [ -e "$W/bb.tar" ] && command -v dockerd >/dev/null && [ -x /usr/bin/docker ]; then
  addrt=()
  for n in "${names[@]}"; do [ "$n" = runc ] || addrt+=(--add-runtime "$n=${RT[$n]}"); done
  nsenter -t "$holder" -m -- dockerd --data-root "$W/docker" --exec-root "$W/dx" -H "unix://$W/docker.sock" \
    --pidfile "$W/dockerd.pidfile" --iptables=false --ip-forward=false --bridge=none \
    --cgroup-parent "/kbench-$$" "${addrt[@]}" >"$W/dockerd.log" 2>&1 &
  echo $! >"$W/dockerd.pid"
  dk="/usr/bin/docker -H unix://$W/docker.sock"
  for _ in $(seq 100); do ons $dk version >/dev/null 2>&1 && break; sleep 0.1; done
  ons $dk load -q -i "$W/bb.tar" >/dev/null
  for n in "${names[@]}"; do
    cmds+=(-n "docker $n" "$dk run --rm --network none --runtime $n $img /bin/true")
  done
else
  echo "dockerd: not installed, left out"
fi

printf '%q ' hyperfine -N -w 3 -r "$RUNS" --export-json "$W/run.json" "${cmds[@]}" >"$W/hyperfine.sh"
ons bash -c "cd $W && . $W/hyperfine.sh" >"$W/hyperfine.log" 2>&1 || { cat "$W/hyperfine.log"; exit 1; }
python3 - "$W/run.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
groups = []
for name in res:
    g = name.split()[0]
    if g not in groups:
        groups.append(g)
budget = {"direct": 0.8}
for g in groups:
    for rt in ("kleene", "crun", "runc"):
        r = res.get(f"{g} {rt}")
        if r:
            print(f"{g:7s} {rt:7s} median {r['median'] * 1000:8.2f} ms  min {r['min'] * 1000:8.2f} ms  max {r['max'] * 1000:8.2f} ms")
    k = res.get(f"{g} kleene")
    for peer in ("crun", "runc"):
        p = res.get(f"{g} {peer}")
        if k and p:
            ratio = k["median"] / p["median"]
            line = f"{g:7s} kleene/{peer} = {ratio:.2f}"
            if peer == "crun":
                b = budget.get(g, 1.0)
                line += f"  (budget <= {b:.2f}: {'ok' if ratio <= b else 'OVER'})"
            print(line)
PY
