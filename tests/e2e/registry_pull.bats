#!/usr/bin/env bats
# Pulling from a real registry (issue 10), at the helper's level: kleene-fetch --pull, the
# process kleened will run for a pull, against Debian's docker-registry (the CNCF
# distribution registry) on a loopback port inside a network namespace of this file. The
# images are made offline from busybox-static with umoci and pushed with skopeo.
load helpers
load registry_helpers

FETCH="$BUILD_DIR/src/host/linux/kleene-fetch"

setup_file() {
  require_tools docker-registry umoci skopeo
  export R_DIR=$(mktemp -d /tmp/kleene-reg.XXXXXX)
  export R_NS="kleene-reg-$$-$RANDOM"
  ip netns add "$R_NS"
  ip netns exec "$R_NS" ip link set lo up
  start_registry "$R_NS" "$R_DIR"
  cd "$R_DIR"
  # three layers: busybox; one that deletes /etc/group (a whiteout) and adds /srv/hello;
  # one that makes /var/log opaque
  "$BATS_TEST_DIRNAME/../../scripts/mk-busybox-rootfs" rootfs >/dev/null
  echo old >rootfs/var/log/old
  umoci init --layout L
  layout_image_of_tree L:v1 rootfs
  umoci unpack --image L:v1 B >/dev/null
  rm B/rootfs/etc/group
  mkdir -p B/rootfs/srv && echo hello >B/rootfs/srv/hello
  umoci repack --image L:v1 B
  rm -rf B
  # a third layer written by hand: /var/log made opaque (what umoci does not write)
  mkdir -p t3/var/log && echo new >t3/var/log/new && : >t3/var/log/.wh..wh..opq
  tar -C t3 -cf t3.tar var
  umoci raw add-layer --image L:v1 t3.tar
  umoci config --image L:v1 --config.cmd /bin/sh --config.cmd -c --config.cmd 'cat hello' \
    --config.workingdir /srv --config.env FOO=bar --config.label team=kleene \
    --config.exposedports 80/tcp --config.user 1000:1000
  ip netns exec "$R_NS" skopeo copy -q --dest-tls-verify=false oci:L:v1 \
    docker://127.0.0.1:5000/team/bb:v1
  # team/broken: the same plus a layer of its own (the registry shares equal blobs between
  # repositories: the one to corrupt must be only this image's)
  umoci tag --image L:v1 broken
  mkdir -p t4/etc && echo "$RANDOM-$$" >t4/etc/unique && tar -C t4 -cf t4.tar etc
  umoci raw add-layer --image L:broken t4.tar
  ip netns exec "$R_NS" skopeo copy -q --dest-tls-verify=false oci:L:broken \
    docker://127.0.0.1:5000/team/broken:v1
}

teardown_file() {
  [ -n "${R_DIR:-}" ] && stop_registry "$R_DIR"
  [ -n "${R_NS:-}" ] && ip netns del "$R_NS" 2>/dev/null
  [ -n "${R_DIR:-}" ] && rm -rf "$R_DIR"
  return 0
}

setup() {
  OUT=$(mktemp -d /tmp/kleene-pull.XXXXXX)
}

teardown() {
  rm -rf "$OUT"
}

pull() {
  ip netns exec "$R_NS" "$FETCH" --pull --dir "$OUT" "$@"
}

# the result line of the helper
result() { echo "$output" | tail -1; }

@test "pull: layers verified and extracted, whiteouts and opaque directories, the config's defaults" {
  run pull -- 127.0.0.1:5000/team/bb:v1 img
  [ "$status" -eq 0 ]
  [ "$(result | jq -r .ok)" = true ]
  [ -d "$OUT/img/layers/0" ]
  [ -d "$OUT/img/layers/2" ]
  [ ! -e "$OUT/img/layers/3" ]
  [ -x "$OUT/img/layers/0/bin/busybox" ]
  # /etc/group deleted in layer 1: an overlay whiteout (0/0 character device)
  [ "$(stat -c '%F %t:%T' "$OUT/img/layers/1/etc/group")" = "character special file 0:0" ]
  [ "$(cat "$OUT/img/layers/1/srv/hello")" = hello ]
  # /var/log opaque in layer 2, the marker itself gone
  [ "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())' "$OUT/img/layers/2/var/log")" = y ]
  [ "$(ls -A "$OUT/img/layers/2/var/log")" = new ]
  j="$OUT/img/image.json"
  [ "$(jq -c .cmd "$j")" = '["/bin/sh","-c","cat hello"]' ]
  [ "$(jq -r .working_dir "$j")" = /srv ]
  [ "$(jq -r .user "$j")" = 1000:1000 ]
  [ "$(jq -c .env "$j")" = '["FOO=bar"]' ]
  [ "$(jq -c .exposed_ports "$j")" = '["80/tcp"]' ]
  [ "$(jq -r .labels.team "$j")" = kleene ]
  [ "$(jq -r .repository "$j")" = 127.0.0.1:5000/team/bb ]
  [ "$(jq '.layers | length' "$j")" = 3 ]
  # the manifest digest is the registry's
  want=$(ip netns exec "$R_NS" curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/bb/manifests/v1 | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
  [ "$(jq -r .manifest_digest "$j")" = "$want" ]
  # and the layers make a root filesystem that runs: the overlay of both, as kleened mounts it
  mkdir "$OUT/merged"
  mount -t overlay overlay -o "lowerdir=$OUT/img/layers/2:$OUT/img/layers/1:$OUT/img/layers/0" "$OUT/merged"
  r=0
  [ ! -e "$OUT/merged/etc/group" ] || r=1
  [ "$(ls "$OUT/merged/var/log")" = new ] || r=1
  [ "$(chroot "$OUT/merged" /bin/sh -c 'cd /srv && cat hello')" = hello ] || r=1
  umount "$OUT/merged"
  [ "$r" -eq 0 ]
}

@test "pull by digest; a digest that is not the content's is refused" {
  d=$(ip netns exec "$R_NS" curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/bb/manifests/v1 | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
  run pull -- "127.0.0.1:5000/team/bb@$d" img
  [ "$status" -eq 0 ]
  [ "$(jq -r .manifest_digest "$OUT/img/image.json")" = "$d" ]
  [ "$(jq -r .tag "$OUT/img/image.json")" = null ]
  run pull -- "127.0.0.1:5000/team/bb@sha256:$(printf '%064d' 0)" img2
  [ "$status" -eq 1 ]
  [ "$(result | jq -r .code)" = 2 ] # ENOENT
  [ ! -e "$OUT/img2" ]
}

@test "blobs kept as the registry sent them; layers the caller has are not downloaded" {
  run pull -- 127.0.0.1:5000/team/bb:v1 img
  [ "$status" -eq 0 ]
  j="$OUT/img/image.json"
  [ "$(jq -r .plain_http "$j")" = true ]
  for d in $(jq -r '.manifest_digest, .config_digest, .layers[].digest' "$j"); do
    [ "$(sha256sum "$OUT/img/blobs/${d#sha256:}" | cut -d' ' -f1)" = "${d#sha256:}" ]
  done
  [ "$(jq -c '[.layers[].present]' "$j")" = '[false,false,false]' ]
  # the caller has the first two layers, and the manifest
  jq -r '.layers[0:2][] | .digest + " " + .diff_id' "$j" >"$OUT/have"
  echo "$(jq -r .manifest_digest "$j") -" >>"$OUT/have"
  run pull --have-fd 4 --plain-http-hint -- 127.0.0.1:5000/team/bb:v1 img2 4<"$OUT/have"
  [ "$status" -eq 0 ]
  [ "$(jq -c '[.layers[].present]' "$OUT/img2/image.json")" = '[true,true,false]' ]
  [ ! -e "$OUT/img2/layers/0" ]
  [ ! -e "$OUT/img2/layers/1" ]
  [ -d "$OUT/img2/layers/2" ]
  [ "$(ls "$OUT/img2/blobs" | wc -l)" -eq 2 ] # the config and the third layer
  # the same layers listed with another diff_id: the image config is not believed
  echo "$(jq -r '.layers[0].digest' "$j") sha256:$(printf '0%.0s' $(seq 64))" >"$OUT/lie"
  run pull --have-fd 4 -- 127.0.0.1:5000/team/bb:v1 img3 4<"$OUT/lie"
  [ "$status" -eq 1 ]
  result | jq -r .msg | grep -q 'layer 1/3: blob sha256:[0-9a-f]*: diff_id mismatch'
  [ ! -e "$OUT/img3" ]
  # a malformed list is refused
  echo garbage >"$OUT/bad"
  run pull --have-fd 4 -- 127.0.0.1:5000/team/bb:v1 img4 4<"$OUT/bad"
  [ "$status" -eq 1 ]
  result | jq -r .msg | grep -q 'the layer list: line 1 is malformed'
}

@test "an unknown repository or tag: a clear error, nothing left" {
  run pull -- 127.0.0.1:5000/team/nothere:v1 img
  [ "$status" -eq 1 ]
  [ "$(result | jq -r .ok)" = false ]
  [ "$(result | jq -r .code)" = 2 ]
  result | jq -r .msg | grep -q 'manifest unknown'
  run pull -- 127.0.0.1:5000/team/bb:v2 img
  [ "$status" -eq 1 ]
  result | jq -r .msg | grep -q 'team/bb:v2.*manifest unknown'
  [ -z "$(ls -A "$OUT")" ]
}

@test "a corrupted blob: the error names it, nothing is left" {
  # the top layer of team/broken (its own), one byte changed on the registry's disk
  m=$(ip netns exec "$R_NS" curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/broken/manifests/v1)
  top=$(echo "$m" | jq -r '.layers[3].digest')
  f="$R_DIR/reg/docker/registry/v2/blobs/sha256/${top:7:2}/${top#sha256:}/data"
  [ -f "$f" ]
  printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
  run pull -- 127.0.0.1:5000/team/broken:v1 img
  [ "$status" -eq 1 ]
  [ "$(result | jq -r .code)" = 5 ] # EIO
  result | jq -r .msg | grep -q "layer 4/4: blob $top: digest mismatch"
  [ -z "$(ls -A "$OUT")" ]
}

@test "a registry that is not there, a platform the image lacks, a bad reference" {
  run pull -- 127.0.0.1:5999/team/bb:v1 img
  [ "$status" -eq 1 ]
  [ "$(result | jq -r .code)" = 111 ] # ECONNREFUSED
  run pull --platform linux/s390x -- 127.0.0.1:5000/team/bb:v1 img
  # a single-platform image is taken as it is: the platform only chooses in an index
  [ "$status" -eq 0 ]
  run pull -- 'Team/BB' img3
  [ "$status" -eq 1 ]
  [ "$(result | jq -r .code)" = 22 ]
  result | jq -r .msg | grep -q lowercase
  [ ! -e "$OUT/img3" ]
}
