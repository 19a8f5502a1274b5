#!/usr/bin/env bats
# klee pull through kleened (the method "pull" of /images/create, docs/api.md) from Debian's
# docker-registry, which runs on 127.0.0.1:5000 inside the test kleened's own network
# namespace. The image is made offline from busybox-static with umoci, pushed with skopeo.
load helpers
load registry_helpers

setup_file() {
  require_tools docker-registry umoci skopeo
  start_kleened
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  busybox_layout v1
  umoci unpack --image L:v1 B >/dev/null
  rm B/rootfs/etc/group
  mkdir -p B/rootfs/srv && echo hello >B/rootfs/srv/hello
  umoci repack --image L:v1 B
  rm -rf B
  umoci config --image L:v1 --config.cmd /bin/sh --config.cmd -c \
    --config.cmd 'cat /srv/hello; echo "$FOO"; id -u; echo "cwd=$(pwd)"; ls /etc/group 2>&1 || true' \
    --config.env FOO=bar --config.user 1000 --config.label team=kleene --config.workingdir /srv \
    --config.exposedports 80/tcp
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:v1 docker://127.0.0.1:5000/team/bb:v1
  umoci tag --image L:v1 broken
  mkdir -p t4/etc && echo "$RANDOM-$$" >t4/etc/unique && tar -C t4 -cf t4.tar etc
  umoci raw add-layer --image L:broken t4.tar
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:broken docker://127.0.0.1:5000/team/broken:v1
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || true
}

layer_count() { ls "$E2E_DIR/root/image/layers" | wc -l; }

@test "klee pull: the image, its layers and its config's defaults; it runs" {
  run klee pull 127.0.0.1:5000/team/bb:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Pulled 127.0.0.1:5000/team/bb:v1 (sha256:'
  api GET /images/list
  img=$(echo "$body" | jq -c '.[] | select(.name == "127.0.0.1:5000/team/bb" and .tag == "v1")')
  [ -n "$img" ]
  [ "$(echo "$img" | jq -r .user)" = 1000 ]
  [ "$(echo "$img" | jq -c .env)" = '["FOO=bar"]' ]
  [ "$(echo "$img" | jq -r .labels.team)" = kleene ]
  [ "$(echo "$img" | jq -c .exposed_ports)" = '["80/tcp"]' ]
  [ "$(echo "$img" | jq -r .workdir)" = /srv ]
  run klee run 127.0.0.1:5000/team/bb:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx hello
  echo "$output" | grep -qx bar
  echo "$output" | grep -qx 1000
  echo "$output" | grep -qx cwd=/srv # the image config's WorkingDir
  echo "$output" | grep -q "/etc/group: No such file or directory" # the whiteout applies
}

@test "klee pull of an unknown reference or a corrupted blob: a clear error, nothing left" {
  before=$(layer_count)
  api GET /images/list
  nimages=$(echo "$body" | jq length)
  run klee pull 127.0.0.1:5000/team/nothere:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'could not pull image: .*manifest unknown'
  # one byte of team/broken's own top layer changed on the registry's disk
  m=$(in_ns curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/broken/manifests/v1)
  top=$(echo "$m" | jq -r '.layers[2].digest')
  f="$E2E_DIR/reg/docker/registry/v2/blobs/sha256/${top:7:2}/${top#sha256:}/data"
  printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
  run klee pull 127.0.0.1:5000/team/broken:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "layer 3/3: blob $top: digest mismatch"
  [ "$(layer_count)" -eq "$before" ]
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq "$nimages" ]
  run klee pull 'Team/BB'
  [ "$status" -ne 0 ]
  echo "$output" | grep -q lowercase
  assert_alive
}

@test "API: the method pull without an image, and with a bad platform, is a clean error" {
  out=$(/usr/bin/python3 "$BATS_TEST_DIRNAME/wsclient.py" "$SOCK" /images/create '{"method":"pull","image":""}')
  echo "$out"
  echo "$out" | tail -1 | jq -r .close_reason | jq -r .message | grep -q "needs an image reference"
  out=$(/usr/bin/python3 "$BATS_TEST_DIRNAME/wsclient.py" "$SOCK" /images/create \
    '{"method":"pull","image":"127.0.0.1:5000/team/bb:v1","platform":"linux"}')
  echo "$out"
  # (the close reason is cut to what a close frame holds: the text frame has it all)
  [ "$(echo "$out" | tail -1 | jq -r .close_code)" = 1011 ]
  echo "$out" | jq -r 'select(.frame != null) | .frame' | grep -q 'invalid platform "linux"'
  assert_alive
}
