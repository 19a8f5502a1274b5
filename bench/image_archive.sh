#!/bin/bash
# Benchmark (not a test): `klee image save` / `klee image load` of the same image against
# `podman save` / `podman load`, side by side in one run (issue 10: "Report save and load of
# the same image against podman's"). The image: 3 layers (/usr/lib/python3, /usr/share/perl,
# a small file) laid out with umoci, gzip-compressed by skopeo into a docker-archive, about
# 95 MB uncompressed. Prints hyperfine medians.
#   bench/image_archive.sh [RUNS]        (as root; needs hyperfine, umoci, skopeo, podman)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
. bench/lib.sh
P() { podman --root "$W/proot" --runroot "$W/prun" --storage-driver overlay --events-backend none "$@"; }
bench_cleanup_extra() { P rmi -a -f >/dev/null 2>&1 || true; umount -R "$W/proot" 2>/dev/null || true; }
trap bench_cleanup EXIT

cd "$W"
umoci init --layout L >/dev/null
umoci new --image L:img >/dev/null
for part in /usr/lib/python3 /usr/share/perl; do
  tar -C / -cf "$W/part.tar" "${part#/}"
  umoci raw add-layer --image L:img "$W/part.tar"
done
mkdir -p small && echo small >small/file && tar -C small -cf part.tar file
umoci raw add-layer --image L:img part.tar
rm -f part.tar
skopeo copy -q oci:L:img docker-archive:"$W/in.tar":bench/img:v1
cd - >/dev/null
ls -la "$W/in.tar" | awk '{printf "archive: %.1f MB (docker-archive, layers as skopeo writes them)\n", $5/1048576}'

bench_start_kleened
K image load -i "$W/in.tar" >/dev/null
P load -q -i "$W/in.tar" >/dev/null

P save -q -o "$W/p0.tar" bench/img:v1 && rm -f "$W/p0.tar"
hyperfine -w 1 -r "$RUNS" --export-markdown "$W/save.md" --prepare "rm -f $W/k.tar $W/p.tar" \
  -n "klee image save" "$KLEE --host http://$W/kleened.sock image save -o $W/k.tar bench/img:v1" \
  -n "podman save" "podman --root $W/proot --runroot $W/prun --storage-driver overlay --events-backend none save -q -o $W/p.tar bench/img:v1"
rm -f "$W/k.tar" "$W/p.tar"
K image save -o "$W/k.tar" bench/img:v1
P save -q -o "$W/p.tar" bench/img:v1
ls -la "$W/k.tar" "$W/p.tar" | awk '{printf "%s: %.1f MB\n", $9, $5/1048576}'
hyperfine -w 1 -r "$RUNS" --export-markdown "$W/load.md" \
  -n "klee image load" --prepare "$KLEE --host http://$W/kleened.sock image rm bench/img:v1 >/dev/null 2>&1 || true" \
  "$KLEE --host http://$W/kleened.sock image load -i $W/in.tar" \
  -n "podman load" --prepare "podman --root $W/proot --runroot $W/prun --storage-driver overlay --events-backend none rmi -f bench/img:v1 >/dev/null 2>&1 || true" \
  "podman --root $W/proot --runroot $W/prun --storage-driver overlay --events-backend none load -q -i $W/in.tar"
cat "$W/save.md" "$W/load.md"
