#!/bin/bash
# Benchmark (not a test): `klee run` of /bin/true in the busybox image against `crun run` of the
# same rootfs, `podman run --rm` and `docker run --rm`, side by side in one run; medians (ms)
# and ratios. Also kleened's RSS with 0 and N running containers and one monitor's RSS.
#   bench/run.sh [RUNS] [N_CONTAINERS]        (as root; needs hyperfine crun podman docker.io)
# crun refuses this machine's hybrid cgroups unless the v2 mount is hidden from it, so it runs
# inside `unshare -m` with /sys/fs/cgroup/unified unmounted (HOST-FACTS.md §4).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
NCTR=${2:-100}
. bench/lib.sh
dockerd_pid=""
bench_cleanup_extra() {
  if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true; fi
}
trap bench_cleanup EXIT

./scripts/mk-busybox-rootfs "$W/rootfs"
./scripts/mk-busybox-tar "$W/busybox.tar"
bench_start_kleened
K image create zfs-copy "$W/rootfs" -t busybox:bench >/dev/null

# crun bundle over the same rootfs (read-only root, no network namespace changes).
mkdir -p "$W/bundle"
(cd "$W/bundle" && crun spec >/dev/null && python3 - "$W/rootfs" <<'PY'
import json, sys
c = json.load(open("config.json"))
c["root"] = {"path": sys.argv[1], "readonly": True}
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open("config.json", "w"))
PY
)
cmds=(-n kleene "$KLEE --host http://$W/kleened.sock run busybox:bench /bin/true")
cmds+=(-n crun "sh -c 'cd $W/bundle && exec crun --root $W/crun run bench\$\$'")
if command -v podman >/dev/null; then
  podman --root "$W/podman" --runroot "$W/podman-run" import "$W/busybox.tar" bbbench >/dev/null
  cmds+=(-n podman "podman --root $W/podman --runroot $W/podman-run --runtime runc run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 bbbench /bin/true")
fi
if command -v dockerd >/dev/null; then
  dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" -H "unix://$W/docker.sock" \
    --pidfile "$W/docker.pid" --iptables=false --ip-forward=false --bridge=none >"$W/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 100); do docker -H "unix://$W/docker.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  docker -H "unix://$W/docker.sock" import "$W/busybox.tar" bbbench >/dev/null
  cmds+=(-n docker "docker -H unix://$W/docker.sock run --rm --network none bbbench /bin/true")
fi
# Every command runs inside one private mount namespace where the v2 cgroup mount is hidden,
# which crun needs here (HOST-FACTS.md §4); the others do not care. The crun case pays for a
# `sh -c` (about 0.7 ms) so that each run gets its own container name.
printf '%q ' hyperfine -w 3 -r "$RUNS" --export-json "$W/run.json" "${cmds[@]}" >"$W/hyperfine.sh"
unshare -m sh -c "mount --make-rprivate / && umount /sys/fs/cgroup/unified 2>/dev/null; . $W/hyperfine.sh" \
  >"$W/hyperfine.log" 2>&1 || { cat "$W/hyperfine.log"; exit 1; }
python3 - "$W/run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] * 1000 for r in d}
mn = {r["command"]: r["min"] * 1000 for r in d}
base = med["kleene"]
for k, v in med.items():
    extra = "" if k == "kleene" else f"   kleene/{k} = {base / v:.2f}"
    print(f"run /bin/true  {k:7s} median {v:7.1f} ms  min {mn[k]:7.1f} ms{extra}")
PY
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
echo "kleened RSS, 0 containers running: $(rss $kleened_pid) kB"
for i in $(seq "$NCTR"); do K run -d --name "b$i" busybox:bench sleep 600 >/dev/null; done
sleep 1
echo "kleened RSS, $NCTR containers running: $(rss $kleened_pid) kB"
mon=$(python3 - "$W/run/containers" <<'PY'
import json, os, sys
for d in os.listdir(sys.argv[1]):
    try:
        st = json.load(open(os.path.join(sys.argv[1], d, "state.json")))
    except OSError:
        continue
    if st.get("running"):
        print(st["monitor_pid"])
        break
PY
)
echo "one monitor: RSS $(rss "$mon") kB, Pss $(awk '/^Pss:/{print $2}' /proc/$mon/smaps_rollup) kB"
