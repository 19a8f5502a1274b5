#!/bin/bash
# Benchmark (not a test), as root: the memory of one idle container monitor started by a real
# kleened (VmRSS, Pss, and the resident kB of each mapping), and, when hyperfine is there,
# `klee run busybox /bin/true` against `crun run` of the same rootfs (no podman/docker needed).
#   bench/monitor_rss.sh [RUNS=50]          BUILD=build by default
# kleened runs inside a private network namespace on a temporary root and socket; everything
# is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
. bench/lib.sh
trap bench_cleanup EXIT

./scripts/mk-busybox-rootfs "$W/rootfs"
bench_start_kleened
K image create zfs-copy "$W/rootfs" -t busybox:bench >/dev/null

K run -d --name monrss busybox:bench sleep 600 >/dev/null
sleep 0.5
mon=$(jq -r .monitor_pid "$W"/run/containers/*/state.json | head -1)
echo "idle monitor (pid $mon): VmRSS $(awk '/VmRSS/{print $2}' /proc/$mon/status) kB," \
  "Pss $(awk '/^Pss:/{print $2}' /proc/$mon/smaps_rollup) kB," \
  "RssAnon $(awk '/RssAnon/{print $2}' /proc/$mon/status) kB," \
  "RssFile $(awk '/RssFile/{print $2}' /proc/$mon/status) kB"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=($6==""?"[anon]":$6)} /^Rss:/{rss[name]+=$2}
     END{for(n in rss) if(rss[n]>0) printf "%7d kB  %s\n", rss[n], n}' /proc/$mon/smaps | sort -rn
K container stop monrss >/dev/null

command -v hyperfine >/dev/null || exit 0
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
# crun refuses this machine's hybrid cgroups unless the v2 mount is hidden from it
# (see bench/run.sh); both commands run in that same private mount namespace.
printf '%q ' hyperfine -N -w 5 -r "$RUNS" --export-json "$W/run.json" \
  -n kleene "$KLEE --host http://$W/kleened.sock run busybox:bench /bin/true" \
  -n crun "crun --root $W/crun run -b $W/bundle bench" >"$W/hyperfine.sh"
unshare -m sh -c "mount --make-rprivate / && umount /sys/fs/cgroup/unified 2>/dev/null; . $W/hyperfine.sh" \
  >"$W/hyperfine.log" 2>&1 || { cat "$W/hyperfine.log"; exit 1; }
python3 - "$W/run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["results"]
for r in d:
    print(f"run /bin/true  {r['command']:7s} median {r['median'] * 1000:6.2f} ms  min {r['min'] * 1000:6.2f} ms")
PY
