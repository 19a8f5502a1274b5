#!/bin/bash
# Benchmark (not a test): the same 10-step Dockerfile (5 RUN, 3 COPY, ENV, CMD) built cold and
# again unchanged (cache) with `klee build`, `podman build` and `docker build` (dockerd started
# here with its own roots and stopped by PID); medians (ms) and ratios; and kleene's per-step
# overhead beyond the commands themselves (cold build time minus the same 5 commands run
# directly on the host, divided by the 8 RUN/COPY steps).
#   bench/build.sh [RUNS]        (as root; needs hyperfine, podman, docker.io optional)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
. bench/lib.sh
dockerd_pid=""
bench_cleanup_extra() {
  [ -n "$dockerd_pid" ] && { kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true; }
}
trap bench_cleanup EXIT

./scripts/mk-busybox-rootfs "$W/rootfs" >/dev/null
./scripts/mk-busybox-tar "$W/busybox.tar" >/dev/null
bench_start_kleened
K image create zfs-copy "$W/rootfs" -t busybox:latest >/dev/null

mkdir -p "$W/ctx/src"
for i in $(seq 1 50); do head -c 4096 /dev/urandom >"$W/ctx/src/f$i"; done
echo hello >"$W/ctx/a.txt"
cat >"$W/ctx/Dockerfile" <<'DF'
FROM busybox:latest
ENV GREETING=hello
RUN echo $GREETING > /g
COPY a.txt /a.txt
RUN mkdir -p /app && touch /app/x
COPY src /app/src
RUN ls /app/src | wc -l
COPY a.txt /app/
RUN cat /g /a.txt
RUN true
CMD ["/bin/sh"]
DF

peers=()
command -v podman >/dev/null && peers+=(podman)
if command -v dockerd >/dev/null; then
  dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" -H "unix://$W/docker.sock" \
    --pidfile "$W/docker.pid" --iptables=false --ip-forward=false --bridge=none >"$W/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 100); do docker -H "unix://$W/docker.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  docker -H "unix://$W/docker.sock" import "$W/busybox.tar" busybox:latest >/dev/null
  peers+=(docker)
fi
PODMAN="podman --root $W/podman --runroot $W/podman-run"
if [[ " ${peers[*]} " == *" podman "* ]]; then
  $PODMAN import "$W/busybox.tar" localhost/busybox:latest >/dev/null
fi

cold=(-n kleene "$KLEE --host http://$W/kleened.sock build --no-cache -q $W/ctx")
warm=(-n kleene "$KLEE --host http://$W/kleened.sock build -q $W/ctx")
for p in "${peers[@]}"; do
  case $p in
  podman)
    cold+=(-n podman "$PODMAN build --runtime runc -q --no-cache --network=none $W/ctx")
    warm+=(-n podman "$PODMAN build --runtime runc -q --network=none $W/ctx") ;;
  docker)
    cold+=(-n docker "env DOCKER_BUILDKIT=0 docker -H unix://$W/docker.sock build -q --no-cache --network=none $W/ctx")
    warm+=(-n docker "env DOCKER_BUILDKIT=0 docker -H unix://$W/docker.sock build -q --network=none $W/ctx") ;;
  esac
done
report() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["results"]
med = {r["command"]: r["median"] * 1000 for r in d}
base = med["kleene"]
print(f"{sys.argv[2]}: " + ", ".join(
    f"{k} {v:.0f} ms" + ("" if k == "kleene" else f" (kleene/{k} = {base / v:.2f})")
    for k, v in med.items()))
PY
}
for c in "${cold[@]}"; do case $c in -n|kleene|podman|docker) ;; *) echo "check: $c" >&2; bash -c "$c" >/dev/null || echo "FAILED: $c" >&2;; esac; done
hyperfine -N -w 1 -r "$RUNS" --export-json "$W/cold.json" "${cold[@]}" >/dev/null
report "$W/cold.json" "cold (--no-cache), 10 steps"
hyperfine -N -w 1 -r "$RUNS" --export-json "$W/warm.json" "${warm[@]}" >/dev/null
report "$W/warm.json" "unchanged (cache)"
# the commands themselves, run directly in the busybox rootfs with chroot (no container)
hyperfine -N -w 1 -r "$RUNS" --export-json "$W/cmds.json" \
  "chroot $W/rootfs /bin/sh -c 'echo hello > /tmp/g; mkdir -p /tmp/app; ls /bin | wc -l; cat /tmp/g; true'" >/dev/null
python3 - "$W/cold.json" "$W/cmds.json" <<'PY'
import json, sys
k = [r for r in json.load(open(sys.argv[1]))["results"] if r["command"] == "kleene"][0]["median"] * 1000
c = json.load(open(sys.argv[2]))["results"][0]["median"] * 1000
print(f"kleene per-step overhead: ({k:.0f} ms - {c:.0f} ms of commands) / 8 RUN+COPY steps = {(k - c) / 8:.1f} ms")
PY
