#!/usr/bin/env bats
# Storage by digest (issue 10 item 1, docs/image-store.md): pulled layers are stored once,
# keyed by their diff_id, and shared between images; an image's id comes from its config
# digest; layers already present are not downloaded again; the registry's blobs are kept
# and collected with the last image that uses them; a layer whose content is not the
# config's diff_id is refused; a crash in the middle of a pull leaves nothing behind.
# docker-registry runs on 127.0.0.1:5000 inside the test kleened's network namespace; the
# images are made offline with umoci and pushed with skopeo.
load helpers
load registry_helpers

# Put a copy of the OCI layout's image $1 as $2 whose config lists a wrong diff_id for
# layer $3 (the blobs themselves unchanged).
bad_diff_id() {
  local src=$1 dst=$2 i=$3 mdig m cdig c fake tmp ncdig ncsize nm nmdig nmsize
  mdig=$(jq -r --arg t "$src" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
    L/index.json)
  m=L/blobs/sha256/${mdig#sha256:}
  cdig=$(jq -r .config.digest "$m")
  c=L/blobs/sha256/${cdig#sha256:}
  fake=sha256:$(echo "not the layer $dst" | sha256sum | cut -d' ' -f1)
  tmp=$(mktemp -p "$E2E_DIR")
  jq -c --argjson i "$i" --arg f "$fake" '.rootfs.diff_ids[$i] = $f' "$c" >"$tmp"
  ncdig=sha256:$(sha256sum "$tmp" | cut -d' ' -f1)
  ncsize=$(stat -c %s "$tmp")
  mv "$tmp" "L/blobs/sha256/${ncdig#sha256:}"
  nm=$(jq -c --arg d "$ncdig" --argjson s "$ncsize" '.config.digest = $d | .config.size = $s' "$m")
  printf '%s' "$nm" >"$E2E_DIR/nm"
  nmdig=sha256:$(sha256sum "$E2E_DIR/nm" | cut -d' ' -f1)
  nmsize=$(stat -c %s "$E2E_DIR/nm")
  mv "$E2E_DIR/nm" "L/blobs/sha256/${nmdig#sha256:}"
  jq -c --arg d "$nmdig" --argjson s "$nmsize" --arg t "$dst" \
    '.manifests += [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": $d,
      "size": $s, "annotations": {"org.opencontainers.image.ref.name": $t}}]' \
    L/index.json >"$E2E_DIR/idx" && mv "$E2E_DIR/idx" L/index.json
}

push() { in_ns skopeo copy -q --dest-tls-verify=false "oci:L:$1" "docker://127.0.0.1:5000/$2"; }

setup_file() {
  require_tools docker-registry umoci skopeo sqlite3
  start_kleened
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  busybox_layout base
  # two images on the same base layer, each with a layer of its own
  add_layer base a a
  add_layer base b b
  push a team/a:v1
  push b team/b:v1
  # an image whose config lists a wrong diff_id for its own (new) top layer
  add_layer base c c
  bad_diff_id c badc 1
  push badc team/badc:v1
  # and one that lists a wrong one for a's top layer (kleened has it by then: the helper
  # does not download it, and must refuse it all the same)
  bad_diff_id a bada 1
  push bada team/bada:v1
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
}

ROOT() { echo "$E2E_DIR/root"; }
db() { sqlite3 "$(ROOT)/metadata.sqlite" "$1"; }
layers_on_disk() { ls "$(ROOT)/image/layers" | sort; }
blobs_on_disk() { ls "$(ROOT)/image/blobs/sha256" | sort; }
# the registry's file of blob $1 (sha256:...)
reg_blob() { echo "$E2E_DIR/reg/docker/registry/v2/blobs/sha256/${1:7:2}/${1#sha256:}/data"; }
manifest_of() {
  in_ns curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://127.0.0.1:5000/v2/$1/manifests/v1"
}
# what is on disk is what the rows say, and nothing else
assert_disk_is_rows() {
  [ "$(layers_on_disk)" = "$(db 'SELECT id FROM layers ORDER BY id')" ]
  [ "$(blobs_on_disk)" = "$(db "SELECT substr(digest, 8) FROM blobs ORDER BY digest")" ]
}
# remove every image (tests start from an empty store)
rm_all_images() {
  for id in $(api GET /images/list >/dev/null; echo "$body" | jq -r '.[].id'); do
    klee image rm "$id" >/dev/null
  done
}

teardown() {
  in_ns tc qdisc del dev lo root 2>/dev/null || true
  rm_all_images
}

@test "two images sharing a base layer: the layer is stored once; rm keeps it until the last image goes" {
  ma=$(manifest_of team/a)
  mb=$(manifest_of team/b)
  base=$(echo "$ma" | jq -r '.layers[0].digest')
  [ "$base" = "$(echo "$mb" | jq -r '.layers[0].digest')" ]
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '2 layers (2 downloaded)'
  run klee pull 127.0.0.1:5000/team/b:v1
  [ "$status" -eq 0 ]
  # b's base layer was there: only its own layer is downloaded
  echo "$output" | grep -q '2 layers (1 downloaded)'
  # three layers on disk (base, a, b), each named by its diff_id; seven blobs (two
  # manifests, two configs, three layers), byte for byte the registry's
  [ "$(layers_on_disk | wc -l)" -eq 3 ]
  [ "$(db 'SELECT count(*) FROM layers WHERE diff_id IS NOT NULL')" -eq 3 ]
  cfg=$(in_ns curl -s "http://127.0.0.1:5000/v2/team/a/blobs/$(echo "$ma" | jq -r .config.digest)")
  for d in $(echo "$cfg" | jq -r '.rootfs.diff_ids[]'); do
    layers_on_disk | grep -qx "${d:7:12}"
  done
  [ "$(blobs_on_disk | wc -l)" -eq 7 ]
  for d in $(echo "$ma" | jq -r '.config.digest, .layers[].digest'); do
    cmp "$(ROOT)/image/blobs/sha256/${d#sha256:}" "$(reg_blob "$d")"
  done
  assert_disk_is_rows
  # both images share the layer row
  [ "$(db "SELECT count(*) FROM image_layers WHERE position = 0")" -eq 2 ]
  [ "$(db "SELECT count(DISTINCT layer_id) FROM image_layers WHERE position = 0")" -eq 1 ]
  run klee run 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^a '
  run klee run 127.0.0.1:5000/team/b:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^b '
  klee container prune -f >/dev/null
  # rm a: the base layer stays for b; a's own layer and blobs go
  run klee image rm 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  [ "$(layers_on_disk | wc -l)" -eq 2 ]
  [ "$(blobs_on_disk | wc -l)" -eq 4 ]
  [ -f "$(ROOT)/image/blobs/sha256/${base#sha256:}" ]
  assert_disk_is_rows
  run klee run 127.0.0.1:5000/team/b:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^b '
  klee container prune -f >/dev/null
  # rm b: nothing left
  run klee image rm 127.0.0.1:5000/team/b:v1
  [ "$status" -eq 0 ]
  [ -z "$(layers_on_disk)" ]
  [ -z "$(blobs_on_disk)" ]
  [ "$(db 'SELECT count(*) FROM layers') $(db 'SELECT count(*) FROM blobs')" = "0 0" ]
}

@test "a second pull of the same image: the same id, no layer downloaded" {
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  api GET /images/list
  id1=$(echo "$body" | jq -r '.[] | select(.name == "127.0.0.1:5000/team/a") | .id')
  # the id is the config digest's
  cfgd=$(manifest_of team/a | jq -r .config.digest)
  [ "$id1" = "${cfgd:7:12}" ]
  before_layers=$(layers_on_disk)
  before_blobs=$(blobs_on_disk)
  # every layer blob of a made unreadable on the registry: a pull that fetched one would fail
  for d in $(manifest_of team/a | jq -r '.layers[].digest'); do
    cp "$(reg_blob "$d")" "$E2E_DIR/saved-${d#sha256:}"
    printf 'X' | dd of="$(reg_blob "$d")" bs=1 seek=30 conv=notrunc 2>/dev/null
  done
  run klee pull 127.0.0.1:5000/team/a:v1
  for d in $(manifest_of team/a | jq -r '.layers[].digest'); do
    cp "$E2E_DIR/saved-${d#sha256:}" "$(reg_blob "$d")"
  done
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '2 layers (0 downloaded), the image was present'
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 1 ]
  [ "$(echo "$body" | jq -r '.[0].id')" = "$id1" ]
  [ "$(layers_on_disk)" = "$before_layers" ]
  [ "$(blobs_on_disk)" = "$before_blobs" ]
  # by another name (another repository, the same image): still one image, named as asked
  in_ns skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
    docker://127.0.0.1:5000/team/a:v1 docker://127.0.0.1:5000/other/a2:v1
  run klee image pull -t again:v2 127.0.0.1:5000/other/a2:v1
  [ "$status" -eq 0 ]
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 1 ]
  [ "$(echo "$body" | jq -r '.[0] | .id + " " + .name + ":" + .tag')" = "$id1 again:v2" ]
  assert_disk_is_rows
}

@test "a layer that is not its config's diff_id: a clear error naming it, nothing stored" {
  run klee pull 127.0.0.1:5000/team/badc:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'layer 2/2: blob sha256:[0-9a-f]*: diff_id mismatch: the image config says sha256:'
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 0 ]
  [ -z "$(layers_on_disk)" ]
  [ -z "$(blobs_on_disk)" ]
  assert_disk_is_rows
  # the same when the layer is one kleened has (and so does not download)
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  layers=$(layers_on_disk)
  blobs=$(blobs_on_disk)
  run klee pull 127.0.0.1:5000/team/bada:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'layer 2/2: blob sha256:[0-9a-f]*: diff_id mismatch'
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 1 ]
  [ "$(layers_on_disk)" = "$layers" ]
  [ "$(blobs_on_disk)" = "$blobs" ]
  assert_alive
}

# After a request that hit the crash point: kleened is gone, having said so; start it again.
crashed_and_restart() {
  local point=$1
  for _ in $(seq 1 100); do kleened_pid >/dev/null || break; sleep 0.05; done
  ! kleened_pid || false
  grep -q "crash point $point reached" "$E2E_DIR/kleened.log"
  respawn_kleened
  [ "$(db 'PRAGMA integrity_check')" = ok ]
  [ -z "$(db 'PRAGMA foreign_key_check')" ]
}

restart_with() {
  local pid
  pid=$(kleened_pid) || pid=""
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  if [ -n "${1:-}" ]; then
    export KLEENED_CRASH_POINT=$1
    respawn_kleened
    unset KLEENED_CRASH_POINT
  else
    respawn_kleened
  fi
}

@test "kleened killed in the middle of a pull: the next start leaves no partial layer or blob" {
  # with a present, so that b shares its base layer
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  layers=$(layers_on_disk)
  blobs=$(blobs_on_disk)
  for point in image-pull-fetched image-pull-moved; do
    restart_with "$point"
    run klee pull 127.0.0.1:5000/team/b:v1
    [ "$status" -ne 0 ]
    crashed_and_restart "$point"
    grep -q "that no image uses" "$E2E_DIR/kleened.log"
    [ "$(layers_on_disk)" = "$layers" ]
    [ "$(blobs_on_disk)" = "$blobs" ]
    assert_disk_is_rows
    [ -z "$(ls -A "$(ROOT)/image/layers" | grep '^\.')" ]
    api GET /images/list
    [ "$(echo "$body" | jq -r '.[].name')" = 127.0.0.1:5000/team/a ]
  done
  restart_with
  # and the pull works afterwards
  run klee pull 127.0.0.1:5000/team/b:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '2 layers (1 downloaded)'
  assert_disk_is_rows
}

@test "Docker-style names: a registry host:port and nested repositories in image ls, inspect, run, rm; by digest; busybox is docker.io/library/busybox" {
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  api GET /images/list
  img=$(echo "$body" | jq -c '.[0]')
  [ "$(echo "$img" | jq -r .name)" = 127.0.0.1:5000/team/a ]
  [ "$(echo "$img" | jq -r .tag)" = v1 ]
  digest=$(echo "$img" | jq -r .digest)
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]
  id=$(echo "$img" | jq -r .id)
  # klee image ls: the original's columns, the name as Docker shows it
  run klee image ls
  [ "$status" -eq 0 ]
  echo "$output" | head -1 | grep -Eq '^ *ID +NAME +TAG +CREATED'
  echo "$output" | grep -Eq "^ *$id +127\.0\.0\.1:5000/team/a +v1 "
  # --digests: a DIGEST column, as docker images --digests
  run klee image ls --digests
  [ "$status" -eq 0 ]
  echo "$output" | head -1 | grep -Eq '^ *ID +NAME +TAG +DIGEST +CREATED'
  echo "$output" | grep -Eq "^ *$id +127\.0\.0\.1:5000/team/a +v1 +$digest "
  run klee image ls --format '{{.Name}}:{{.Tag}} {{.Digest}}'
  [ "$output" = "127.0.0.1:5000/team/a:v1 $digest" ]
  # inspect and run by the name, and by name@digest
  run klee image inspect 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .id)" = "$id" ]
  run klee image inspect "127.0.0.1:5000/team/a@$digest"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .id)" = "$id" ]
  run klee image inspect "127.0.0.1:5000/team/b@$digest"
  [ "$status" -ne 0 ]
  run klee run 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^a '
  klee container prune -f >/dev/null
  # the raw API path with the name's slashes as they are (Docker clients send them so)
  api GET /images/127.0.0.1:5000/team/a:v1/inspect
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r .id)" = "$id" ]
  # a nested repository name given with tag; a build FROM the registry name
  run klee image tag 127.0.0.1:5000/team/a:v1 localhost:5000/x/y/z:t1
  [ "$status" -eq 0 ]
  run klee image ls
  echo "$output" | grep -Eq "^ *$id +localhost:5000/x/y/z +t1 "
  mkdir -p "$E2E_DIR/ctx"
  printf 'FROM localhost:5000/x/y/z:t1\nRUN echo built >/built\n' >"$E2E_DIR/ctx/Dockerfile"
  run klee build -t 127.0.0.1:5000/team/built:1 "$E2E_DIR/ctx"
  [ "$status" -eq 0 ]
  run klee run 127.0.0.1:5000/team/built:1 cat /built
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx built
  klee container prune -f >/dev/null
  run klee image rm 127.0.0.1:5000/team/built:1
  [ "$status" -eq 0 ]
  # busybox means docker.io/library/busybox, in every spelling
  run klee image tag localhost:5000/x/y/z:t1 docker.io/library/busybox
  [ "$status" -eq 0 ]
  api GET /images/list
  [ "$(echo "$body" | jq -r '.[0].name + ":" + .[0].tag')" = busybox:latest ]
  for ref in busybox busybox:latest library/busybox docker.io/library/busybox:latest \
    index.docker.io/library/busybox; do
    run klee image inspect "$ref"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .id)" = "$id" ]
  done
  # a name Docker would refuse is refused (and said why)
  run klee image tag busybox Team/App:v1
  echo "$output" | grep -q lowercase
  # rm by the Docker name
  run klee image rm docker.io/library/busybox:latest
  [ "$status" -eq 0 ]
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 0 ]
  assert_disk_is_rows
}

@test "kleened killed (-9) while the helper downloads a layer: after the restart no partial layer or blob is left" {
  # a slow link inside the namespace (kleened and the registry talk over its lo): the
  # 1 MB base layer then takes seconds
  # (the burst must hold a whole packet: lo has an MTU of 64 KiB)
  in_ns tc qdisc add dev lo root tbf rate 2mbit burst 600kbit latency 2s
  klee pull 127.0.0.1:5000/team/b:v1 >"$E2E_DIR/slow.out" 2>&1 &
  client=$!
  # until the helper's work directory holds more than the manifest and config
  partial=""
  for _ in $(seq 1 600); do
    for d in "$(ROOT)"/image/layers/.staging-*; do
      [ -d "$d" ] && [ "$(du -sb "$d" | cut -f1)" -gt 150000 ] && partial=$d
    done
    [ -n "$partial" ] && break
    sleep 0.05
  done
  kill -KILL "$(kleened_pid)"
  wait "$client" || true
  in_ns tc qdisc del dev lo root
  [ -n "$partial" ] # the kill came in the middle of the download
  # the helper died with kleened (PR_SET_PDEATHSIG): nothing holds its directory open
  held=1
  for _ in $(seq 1 100); do
    held=$(find /proc/[0-9]*/fd -lname "$partial*" 2>/dev/null | wc -l)
    [ "$held" -eq 0 ] && break
    sleep 0.05
  done
  [ "$held" -eq 0 ]
  respawn_kleened
  [ ! -e "$partial" ]
  [ -z "$(ls -A "$(ROOT)/image/layers")" ]
  [ -z "$(blobs_on_disk)" ]
  assert_disk_is_rows
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 0 ]
  run klee pull 127.0.0.1:5000/team/b:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '2 layers (2 downloaded)'
  assert_disk_is_rows
}

@test "a registry that stops in the middle of a layer: a clear error, nothing left" {
  # a registry of ours on :5001 that serves team/b's manifest and blobs (fetched from the
  # real one) but closes the connection halfway through every layer
  mkdir -p "$E2E_DIR/half"
  manifest_of team/b >"$E2E_DIR/half/manifest"
  for d in $(jq -r '.config.digest, .layers[].digest' "$E2E_DIR/half/manifest"); do
    cp "$(reg_blob "$d")" "$E2E_DIR/half/$d"
  done
  cat >"$E2E_DIR/half/serve.py" <<'PY'
import http.server, json, os, sys
d = sys.argv[1]
layers = {l["digest"] for l in json.load(open(os.path.join(d, "manifest")))["layers"]}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/v2/":
            body, ctype = b"{}", "application/json"
        elif self.path.endswith("/manifests/v1"):
            body, ctype = open(os.path.join(d, "manifest"), "rb").read(), "application/vnd.oci.image.manifest.v1+json"
        elif "/blobs/" in self.path:
            dg = self.path.rsplit("/", 1)[1]
            body, ctype = open(os.path.join(d, dg), "rb").read(), "application/octet-stream"
            if dg in layers:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 5001), H).serve_forever()
PY
  # not through in_ns: a shell function in the background is a subshell, whose pid $! would
  # be, and the server would outlive the test (ip netns exec execs the program itself)
  ip netns exec "$E2E_NS" /usr/bin/python3 "$E2E_DIR/half/serve.py" "$E2E_DIR/half" 3>&- &
  half=$!
  for _ in $(seq 1 100); do in_ns curl -sf http://127.0.0.1:5001/v2/ >/dev/null && break; sleep 0.05; done
  run klee pull 127.0.0.1:5001/team/b:v1
  kill "$half"
  wait "$half" || true
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'could not pull image: pulling 127.0.0.1:5001/team/b:v1: layer [12]/2'
  [ -z "$(ls -A "$(ROOT)/image/layers")" ]
  [ -z "$(blobs_on_disk)" ]
  assert_disk_is_rows
  assert_alive
}
