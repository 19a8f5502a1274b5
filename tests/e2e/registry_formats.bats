#!/usr/bin/env bats
# Registry image formats through kleened (issue 10 "Test images"): a zstd-compressed layer,
# and an image index with two platforms, pushed to Debian's docker-registry in the test
# kleened's network namespace with skopeo, pulled with klee.
load helpers
load registry_helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  require_tools docker-registry umoci skopeo
  # pushes upload in PATCH chunks of 64 KiB (docs/config.md registry_push_chunk_size)
  EXTRA_TOP="registry_push_chunk_size: 65536"
  start_kleened
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  "$SCRIPTS/mk-busybox-rootfs" rootfs >/dev/null
  umoci init --layout L
  # two images of the same layout: /arch says which platform the config claims
  for arch in amd64 arm64; do
    umoci new --image "L:$arch"
    umoci unpack --image "L:$arch" B >/dev/null
    cp -a rootfs/. B/rootfs/
    echo "$arch" >B/rootfs/arch
    umoci repack --image "L:$arch" B
    rm -rf B
    umoci config --image "L:$arch" --architecture "$arch" --os linux \
      --config.cmd /bin/cat --config.cmd /arch
  done
  # the amd64 image with its layer compressed with zstd: decompressed into a dir: copy first
  # (skopeo keeps a compressed layer as it is), compressed again on the way to the registry;
  # before the index is pushed (skopeo's blob cache would reuse the gzip blob it sent there)
  skopeo copy -q --dest-decompress oci:L:amd64 dir:D
  in_ns skopeo copy -q --dest-tls-verify=false --dest-compress-format zstd dir:D \
    docker://127.0.0.1:5000/team/zstd:v1
  # an OCI image index over both, tagged "multi" in the layout
  entries=""
  for arch in amd64 arm64; do
    d=$(jq -r --arg t "$arch" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' L/index.json)
    sz=$(stat -c %s "L/blobs/sha256/${d#sha256:}")
    entries="$entries${entries:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$d\",\"size\":$sz,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}}"
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entries" >idx.json
  idx=$(sha256sum idx.json | cut -d' ' -f1)
  cp idx.json "L/blobs/sha256/$idx"
  jq --arg d "sha256:$idx" --argjson s "$(stat -c %s idx.json)" \
    '.manifests += [{"mediaType":"application/vnd.oci.image.index.v1+json","digest":$d,"size":$s,"annotations":{"org.opencontainers.image.ref.name":"multi"}}]' \
    L/index.json >L/index.new && mv L/index.new L/index.json
  in_ns skopeo copy -q --all --dest-tls-verify=false oci:L:multi docker://127.0.0.1:5000/team/multi:v1
  # the index as the registry has it (skopeo may have rewritten it: its blob cache can swap a
  # layer for one the registry has already)
  INDEX_DIGEST=$(in_ns curl -sI -H 'Accept: application/vnd.oci.image.index.v1+json' \
    http://127.0.0.1:5000/v2/team/multi/manifests/v1 | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
  export INDEX_DIGEST
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || true
  api POST '/images/prune?all=true'
}

@test "a zstd-compressed layer: pulled, verified, runs; its blob kept as the registry has it" {
  m=$(in_ns curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/zstd/manifests/v1)
  [ "$(echo "$m" | jq -r '.layers[0].mediaType')" = application/vnd.oci.image.layer.v1.tar+zstd ]
  run klee pull 127.0.0.1:5000/team/zstd:v1
  [ "$status" -eq 0 ]
  run klee run --rm 127.0.0.1:5000/team/zstd:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx amd64
  blob=$(echo "$m" | jq -r '.layers[0].digest')
  [ "$(sha256sum <"$E2E_DIR/root/image/blobs/sha256/${blob#sha256:}" | cut -d' ' -f1)" = "${blob#sha256:}" ]
  # the same image under another name (the index's amd64 image, whichever compression the
  # registry has for it) has the same diff_id: one layer on disk for both
  run klee pull 127.0.0.1:5000/team/multi:v1
  [ "$status" -eq 0 ]
  [ "$(ls "$E2E_DIR/root/image/layers" | wc -l)" -eq 1 ]
}

@test "an image index with two platforms: the host's by default, another with --platform, a missing one refused" {
  [ -n "$INDEX_DIGEST" ]
  in_ns curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' \
    http://127.0.0.1:5000/v2/team/multi/manifests/v1 | jq -e '.manifests | length == 2'
  run klee pull 127.0.0.1:5000/team/multi:v1
  [ "$status" -eq 0 ]
  run klee run --rm 127.0.0.1:5000/team/multi:v1
  echo "$output" | grep -qx amd64
  # the image's digest is the index's (what docker images --digests shows)
  api GET /images/list
  [ "$(echo "$body" | jq -r '.[] | select(.name == "127.0.0.1:5000/team/multi") | .digest')" = "$INDEX_DIGEST" ]
  run klee pull --platform linux/arm64 -t multi-arm:v1 127.0.0.1:5000/team/multi:v1
  [ "$status" -eq 0 ]
  # an arm64 config, a layer of its own (/arch differs); busybox in it is the host's, so it runs
  run klee run --rm multi-arm:v1
  echo "$output" | grep -qx arm64
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 2 ]
  before=$(ls "$E2E_DIR/root/image/layers" | wc -l)
  run klee pull --platform linux/s390x 127.0.0.1:5000/team/multi:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'linux/s390x'
  [ "$(ls "$E2E_DIR/root/image/layers" | wc -l)" -eq "$before" ]
}

@test "push in PATCH chunks (registry_push_chunk_size): the registry gets the same blobs; pulled back, same digests" {
  run klee pull 127.0.0.1:5000/team/zstd:v1
  [ "$status" -eq 0 ]
  # a built image: its packed layers are new to the registry, so they are uploaded
  mkdir -p "$BATS_TEST_TMPDIR/ctx"
  head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/ctx/noise"
  printf 'FROM 127.0.0.1:5000/team/zstd:v1\nCOPY noise /noise\n' >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  run klee build -t chunky:v1 "$BATS_TEST_TMPDIR/ctx"
  [ "$status" -eq 0 ]
  run klee push chunky:v1 127.0.0.1:5000/team/chunky:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'layer 2/3 sha256:.*: uploaded in chunks'
  grep -q 'blob sha256:[0-9a-f]*: [0-9]* chunks' "$E2E_DIR/kleened.log"
  digest=$(echo "$output" | sed -n 's/^Pushed 127.0.0.1:5000\/team\/chunky:v1: //p')
  got=$(in_ns curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/chunky/manifests/v1 | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
  [ "$got" = "$digest" ]
  # every blob the registry stored is what its digest says (the registry checks at the PUT;
  # read them back to be sure)
  m=$(in_ns curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/chunky/manifests/v1)
  for d in $(echo "$m" | jq -r '.config.digest, .layers[].digest'); do
    [ "sha256:$(in_ns curl -s "http://127.0.0.1:5000/v2/team/chunky/blobs/$d" | sha256sum | cut -d' ' -f1)" = "$d" ]
  done
  klee rmi chunky:v1 >/dev/null
  run klee pull 127.0.0.1:5000/team/chunky:v1
  [ "$status" -eq 0 ]
  run klee run --rm 127.0.0.1:5000/team/chunky:v1 sh -c 'wc -c </noise'
  echo "$output" | grep -qx 300000
}

# the digest the registry gives for $1 (repository) $2 (tag or digest), with every manifest
# type accepted
reg_digest() {
  in_ns curl -sI -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:5000/v2/$1/manifests/$2" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}'
}

@test "the index of a multi-platform pull is kept: a push back to its repository puts the same index under the tag; to another repository the platform's manifest; the index goes with the image" {
  [ -n "$INDEX_DIGEST" ]
  amd=$(in_ns curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' \
    http://127.0.0.1:5000/v2/team/multi/manifests/v1 |
    jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest')
  run klee pull 127.0.0.1:5000/team/multi:v1
  [ "$status" -eq 0 ]
  # the index is a blob of the store, as the registry sent it
  [ -f "$E2E_DIR/root/image/blobs/sha256/${INDEX_DIGEST#sha256:}" ]
  [ "$(sha256sum <"$E2E_DIR/root/image/blobs/sha256/${INDEX_DIGEST#sha256:}" | cut -d' ' -f1)" = "${INDEX_DIGEST#sha256:}" ]
  run klee push 127.0.0.1:5000/team/multi:v1 127.0.0.1:5000/team/multi:again
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q "Pushed 127.0.0.1:5000/team/multi:again: $INDEX_DIGEST"
  [ "$(reg_digest team/multi again)" = "$INDEX_DIGEST" ]
  # elsewhere the registry does not have the other platform: the manifest only
  run klee push 127.0.0.1:5000/team/multi:v1 127.0.0.1:5000/team/single:v1
  [ "$status" -eq 0 ]
  [ "$(reg_digest team/single v1)" = "$amd" ]
  # the Docker door's push back: the index's digest and size
  size=$(stat -c %s "$E2E_DIR/root/image/blobs/sha256/${INDEX_DIGEST#sha256:}")
  out=$(curl -sN --unix-socket "$DOCKER_SOCK" -X POST -H 'X-Registry-Auth: e30=' \
    'http://localhost/v1.41/images/127.0.0.1:5000/team/multi/push?tag=v1')
  echo "$out" | jq -r 'select(.status) | .status' | grep -qx "v1: digest: $INDEX_DIGEST size: $size"
  [ "$(reg_digest team/multi v1)" = "$INDEX_DIGEST" ]
  # another image pulled through the same index shares the blob; the last one takes it along
  run klee pull --platform linux/arm64 -t multi-arm:v1 127.0.0.1:5000/team/multi:v1
  [ "$status" -eq 0 ]
  klee rmi 127.0.0.1:5000/team/multi:v1 >/dev/null
  [ -f "$E2E_DIR/root/image/blobs/sha256/${INDEX_DIGEST#sha256:}" ]
  klee rmi multi-arm:v1 >/dev/null
  [ ! -e "$E2E_DIR/root/image/blobs/sha256/${INDEX_DIGEST#sha256:}" ]
}
