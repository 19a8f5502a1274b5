#!/bin/bash
# Benchmark (not a test), as root: a Debian 12 systemd container as a thin virtual machine
# (docs/thin-vm.md). For each of RUNS rounds: the time from `klee run -d IMAGE /sbin/init` until
# `systemctl is-system-running` answers `running` (or `degraded`), and the time of `klee stop`;
# the same for `podman run --systemd=always` (runtime runc: crun needs the hybrid-cgroup
# workaround, HOST-FACTS §4) of the same rootfs, rounds alternated; and the idle monitor of a
# booted systemd container (VmRSS, Pss). Both sides poll with their own exec every 0.1 s.
#   bench/thin_vm.sh [RUNS=5]        BUILD=build by default; DEB_ROOTFS=DIR reuses a rootfs
# The rootfs is made with debootstrap (minbase + systemd, systemd-sysv, dbus) from the archive
# apt uses, unless DEB_ROOTFS is given. podman and runc are installed if missing. kleened runs
# in a network namespace of its own, podman with --network none and a storage root of its own;
# everything is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
export KLEENED_WRAPPER=$PWD/tests/e2e/with-cgroupfs
. bench/lib.sh
P() { podman --root "$W/podman" --runroot "$W/podman-run" --runtime runc \
  --cgroup-manager cgroupfs --events-backend file "$@"; }
bench_cleanup_extra() {
  P rm -af -t 0 >/dev/null 2>&1 || true
  P system reset -f >/dev/null 2>&1 || true
  # podman's cgroupfs manager leaves its (then empty) parent cgroups: rmdir only takes empty ones
  for h in /sys/fs/cgroup/*/libpod_parent; do
    [ -d "$h" ] || continue
    find "$h" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
    rmdir "$h" 2>/dev/null || true
  done
}
trap bench_cleanup EXIT

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc conmon >/dev/null
fi
rootfs=${DEB_ROOTFS:-}
if [ -z "$rootfs" ]; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  rootfs=$W/debian
  echo "debootstrap (minbase + systemd) from ${mirror:-http://deb.debian.org/debian} ..."
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$rootfs" \
    "${mirror:-http://deb.debian.org/debian}" >"$W/debootstrap.log" 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb
fi

bench_start_kleened
K image create zfs-copy "$rootfs" -t debsd:bench >/dev/null
tar -C "$rootfs" -c . | P import - localhost/debsd:bench >/dev/null

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_running EXEC...: poll `EXEC systemctl is-system-running` until running/degraded (60 s)
wait_running() {
  local s
  for _ in $(seq 1 600); do
    s=$("$@" systemctl is-system-running 2>/dev/null | tr -d '\r' | grep -E '^[a-z]+$' | tail -1 || true)
    case "$s" in running | degraded) echo "$s"; return 0 ;; esac
    sleep 0.1
  done
  echo "timeout($s)"
  return 1
}

kb=() ; ks=() ; pb=() ; ps_=()
for i in $(seq 1 "$RUNS"); do
  t0=$(now_ms)
  K run -d -l disabled --name "kvm$i" debsd:bench /sbin/init >/dev/null
  st=$(wait_running K exec "kvm$i")
  t1=$(now_ms)
  if [ "$i" = 1 ]; then
    mon=$(jq -r .monitor_pid "$W"/run/containers/*/state.json | head -1)
    echo "idle monitor of a booted systemd container (pid $mon): VmRSS" \
      "$(awk '/VmRSS/{print $2}' /proc/$mon/status) kB, Pss $(awk '/^Pss:/{print $2}' /proc/$mon/smaps_rollup) kB"
  fi
  K container stop "kvm$i" >/dev/null
  t2=$(now_ms)
  K container rm "kvm$i" >/dev/null
  kb+=($((t1 - t0))); ks+=($((t2 - t1)))
  echo "klee   run $i: boot $((t1 - t0)) ms ($st), stop $((t2 - t1)) ms"

  t0=$(now_ms)
  P run -d --systemd=always --network none --ulimit nofile=20000:20000 \
    --ulimit nproc=32768:32768 --name "pvm$i" localhost/debsd:bench /sbin/init >/dev/null
  st=$(wait_running P exec "pvm$i")
  t1=$(now_ms)
  P stop "pvm$i" >/dev/null
  t2=$(now_ms)
  P rm "pvm$i" >/dev/null
  pb+=($((t1 - t0))); ps_+=($((t2 - t1)))
  echo "podman run $i: boot $((t1 - t0)) ms ($st), stop $((t2 - t1)) ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "median over $RUNS: klee boot $(median "${kb[@]}") ms, stop $(median "${ks[@]}") ms;" \
  "podman (runc) boot $(median "${pb[@]}") ms, stop $(median "${ps_[@]}") ms"
