#!/bin/bash
# Benchmark (not a test): pulling a 3-layer image of about 100 MB from a local registry
# (Debian's docker-registry on 127.0.0.1:5000 in a network namespace of its own): `klee pull`
# cold and warm against `podman pull`, `skopeo copy` (to an OCI layout: download only, no
# extraction) and `docker pull` (a dockerd of its own, in the same namespace), and the floor:
# `curl` of the same blobs piped into `tar -xz`, one after the other. Prints medians (ms) and
# ratios (issue 10: cold pull at most 1.3x the floor and 0.5x podman; warm under 50 ms).
#   bench/pull.sh [RUNS]      (as root; needs hyperfine, docker-registry, umoci, skopeo;
#                              podman and docker.io are compared when installed)
# The layers are host files (usr/lib/python3, usr/share/perl, a busybox root filesystem), so
# sizes vary a little from host to host; the line "image:" says what was measured.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
. bench/lib.sh
REF=127.0.0.1:5000/bench/three:v1
reg_pid=""
dockerd_pid=""
bench_cleanup_extra() {
  # dockerd runs below ip netns exec and with-cgroupfs: end it by the pid it wrote itself
  local dpid
  dpid=$(cat "$W/docker.pid" 2>/dev/null || true)
  if [ -n "$dpid" ]; then
    kill "$dpid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -n "$dockerd_pid" ] && kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null
  umount -R "$W/docker" 2>/dev/null || true
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
  podman --root "$W/podman" --runroot "$W/podman-run" rmi -a -f >/dev/null 2>&1 || true
  return 0
}
trap bench_cleanup EXIT
N() { ip netns exec "$NS" "$@"; }

bench_start_kleened

# the registry, inside kleened's namespace
cat >"$W/reg.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/reg
http:
  addr: 127.0.0.1:5000
YAML
# not through N: a shell function in the background is a subshell, and $! would be its pid
ip netns exec "$NS" docker-registry serve "$W/reg.yml" >"$W/reg.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do N curl -sf http://127.0.0.1:5000/v2/ >/dev/null && break; sleep 0.05; done

# the image: three layers
(
  cd "$W"
  tar -C / -cf l1.tar usr/lib/python3
  tar -C / -cf l2.tar usr/share/perl
  "$OLDPWD/scripts/mk-busybox-tar" l3.tar >/dev/null
  umoci init --layout L
  umoci new --image L:v1
  for l in l1 l2 l3; do umoci raw add-layer --image L:v1 "$l.tar"; done
  umoci config --image L:v1 --config.cmd /bin/sh
  N skopeo copy -q --dest-tls-verify=false oci:L:v1 "docker://$REF"
  rm -f l1.tar l2.tar l3.tar
)
m=$(N curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  http://127.0.0.1:5000/v2/bench/three/manifests/v1)
blobs=$(echo "$m" | jq -r '[.layers[].digest] | join(" ")')
zsize=$(echo "$m" | jq '[.layers[].size] | add')
echo "image: 3 layers, $((zsize / 1024 / 1024)) MB compressed ($(du -sm /usr/lib/python3 /usr/share/perl | awk '{s+=$1} END {print s}') MB of files)"

# the floor: each blob fetched and extracted, one after the other
cat >"$W/floor.sh" <<SH
#!/bin/bash
set -e
rm -rf $W/floor; mkdir $W/floor
for b in $blobs; do curl -s http://127.0.0.1:5000/v2/bench/three/blobs/\$b | tar -C $W/floor -xzf -; done
SH
chmod +x "$W/floor.sh"

cmds=(-n floor --prepare true "ip netns exec $NS $W/floor.sh")
cmds+=(-n kleene-cold --prepare "$KLEE --host http://$W/kleened.sock image rm $REF >/dev/null 2>&1 || true"
  "$KLEE --host http://$W/kleened.sock pull $REF")
if command -v podman >/dev/null; then
  P="podman --root $W/podman --runroot $W/podman-run --storage-driver overlay"
  cmds+=(-n podman --prepare "$P rmi -a -f >/dev/null 2>&1 || true"
    "ip netns exec $NS $P pull -q --tls-verify=false $REF")
fi
cmds+=(-n skopeo --prepare "rm -rf $W/sk"
  "ip netns exec $NS skopeo copy -q --src-tls-verify=false docker://$REF oci:$W/sk:v1")
if command -v dockerd >/dev/null; then
  # with the host's cgroup hierarchies mounted (ip netns exec gives a fresh sysfs)
  N tests/e2e/with-cgroupfs dockerd --data-root "$W/docker" --exec-root "$W/docker-exec" -H "unix://$W/docker.sock" \
    --pidfile "$W/docker.pid" --iptables=false --ip-forward=false --bridge=none >"$W/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 150); do docker -H "unix://$W/docker.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  if docker -H "unix://$W/docker.sock" info >/dev/null 2>&1; then
    D="docker -H unix://$W/docker.sock"
    cmds+=(-n docker --prepare "$D rmi -f $REF >/dev/null 2>&1 || true" "$D pull -q $REF")
  else
    echo "dockerd did not start (left out):" >&2
    tail -5 "$W/dockerd.log" >&2
  fi
fi
hyperfine -w 1 -r "$RUNS" --export-json "$W/cold.json" "${cmds[@]}" >/dev/null

# warm: everything present
K pull "$REF" >/dev/null
hyperfine -N -w 3 -r $((RUNS * 4)) --export-json "$W/warm.json" -n kleene-warm \
  "$KLEE --host http://$W/kleened.sock pull $REF" >/dev/null 2>&1 ||
  hyperfine -w 3 -r $((RUNS * 4)) --export-json "$W/warm.json" -n kleene-warm \
    "$KLEE --host http://$W/kleened.sock pull $REF" >/dev/null

python3 - "$W/cold.json" "$W/warm.json" <<'PY'
import json, sys
med = {}
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        med[r["command"]] = r["median"] * 1000
k = med["kleene-cold"]
print("cold: " + ", ".join(f"{n} {v:.0f} ms" for n, v in med.items() if n != "kleene-warm"))
for n, v in med.items():
    if n not in ("kleene-cold", "kleene-warm"):
        print(f"  kleene-cold / {n} = {k / v:.2f}")
print(f"warm: kleene {med['kleene-warm']:.1f} ms (klee pull of an image fully present)")
PY
