#!/bin/bash
# Benchmark (not a test): image create from the same archive, ours against `podman import`
# and `docker import`, side by side in one run. Prints medians (ms) and ratios.
#   bench/image_create.sh [RUNS]          (as root; needs hyperfine, podman, docker.io)
# The large case uses a debootstrap minbase tar cached in /var/cache/kleene-bench (made on the
# first run from the Debian mirror this machine is configured with, about 30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
. bench/lib.sh
CACHE=/var/cache/kleene-bench
mkdir -p "$CACHE"
dockerd_pid=""
bench_cleanup_extra() {
  [ -n "$dockerd_pid" ] && kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null
  umount -R "$W/docker" 2>/dev/null || true
}
trap bench_cleanup EXIT

./scripts/mk-busybox-tar "$W/busybox.tar"
if [ ! -f "$CACHE/debian-minbase.tar" ]; then
  debootstrap --variant=minbase "$(. /etc/os-release; echo "$VERSION_CODENAME")" "$W/deb" >/dev/null
  tar -C "$W/deb" --exclude=./var/cache/apt/archives --exclude=./var/lib/apt/lists -cf "$CACHE/debian-minbase.tar" .
  rm -rf "$W/deb"
fi
cp "$CACHE/debian-minbase.tar" "$W/debian.tar"

bench_start_kleened

peers=()
if command -v podman >/dev/null; then peers+=(podman); fi
if command -v dockerd >/dev/null; then
  dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" -H "unix://$W/docker.sock" \
    --pidfile "$W/docker.pid" --iptables=false --ip-forward=false --bridge=none >"$W/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 100); do docker -H "unix://$W/docker.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  peers+=(docker)
fi

for case in busybox debian; do
  tar=$W/$case.tar
  size=$(du -m "$tar" | cut -f1)
  cmds=(-n kleene "$KLEE --host http://$W/kleened.sock image create fetch file://$tar --no-dns --no-localtime")
  for p in "${peers[@]}"; do
    case $p in
    podman) cmds+=(-n podman "podman --root $W/podman --runroot $W/podman-run import $tar") ;;
    docker) cmds+=(-n docker "docker -H unix://$W/docker.sock import $tar") ;;
    esac
  done
  runs=$RUNS; [ "$case" = debian ] && runs=$(( RUNS < 5 ? RUNS : 5 ))
  hyperfine -N -w 1 -r "$runs" --export-json "$W/$case.json" "${cmds[@]}" >/dev/null 2>&1 || \
    hyperfine -w 1 -r "$runs" --export-json "$W/$case.json" "${cmds[@]}" >/dev/null
  python3 - "$W/$case.json" "$case" "$size" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] * 1000 for r in d}
base = med["kleene"]
print(f"{sys.argv[2]} ({sys.argv[3]} MB tar): " + ", ".join(
    f"{k} {v:.1f} ms" + ("" if k == "kleene" else f" (kleene/{k} = {base / v:.2f})")
    for k, v in med.items()))
PY
done
