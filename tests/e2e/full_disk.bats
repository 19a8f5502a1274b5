#!/usr/bin/env bats
# A full disk (issue 12, item 1): kleened's root is a small tmpfs, filled to the last byte
# (as a container filling a volume would). Every removal (containers, images, volumes,
# networks, each prune) must still work, creations fail with the status codes the API
# declares and leave nothing half-made, and a prune names what it could not remove.
load helpers

PY=/usr/bin/python3
WSCLIENT="$BATS_TEST_DIRNAME/wsclient.py"
SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  ROOT_TMPFS_SIZE=24m start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  mkdir -p "$E2E_DIR/small"
  echo small >"$E2E_DIR/small/file"
  for spec in "rootfs bb:full" "small small:one"; do
    set -- $spec
    out=$($PY "$WSCLIENT" "$SOCK" /images/create \
      "{\"method\":\"zfs-copy\",\"zfs_dataset\":\"$E2E_DIR/$1\",\"tag\":\"$2\",\"dns\":false}")
    echo "$out" | tail -1 | jq -r .close_reason | jq -r .data | grep -Eq '^[0-9a-f]{12}$'
  done
}

teardown_file() { stop_kleened; }

avail() { df --output=avail -B1 "$E2E_DIR/root" | tail -1 | tr -d ' '; }

# Fill the root's filesystem to 0 bytes free with files in volume `filler`.
fill_disk() {
  local d="$E2E_DIR/root/volumes/filler"
  [ -d "$d" ]
  dd if=/dev/zero of="$d/big" bs=1M 2>/dev/null || true
  local i=0
  while [ "$(avail)" -gt 0 ] && [ $i -lt 10000 ]; do
    dd if=/dev/zero of="$d/small.$i" bs=4k count=1 2>/dev/null || true
    i=$((i + 1))
  done
  [ "$(avail)" = 0 ]
}

# Directories of containers under the root that no container row owns.
unowned_container_dirs() {
  local ids d
  ids=$(sqlite3 "$E2E_DIR/root/metadata.sqlite" 'SELECT id FROM containers')
  for d in "$E2E_DIR"/root/container/*; do
    [ -e "$d" ] || continue
    echo "$ids" | grep -qx "$(basename "$d")" || echo "$d"
  done
}

@test "at 0 bytes free every removal works; creations fail with the declared statuses" {
  api POST /volumes/create '{"name":"filler"}'
  [ "$status_code" = 201 ]
  api POST /volumes/create '{"name":"v1"}'
  [ "$status_code" = 201 ]
  api POST /containers/create '{"name":"c1","image":"bb:full","cmd":["/bin/true"],
    "mounts":[{"type":"volume","source":"v1","destination":"/data"}]}'
  [ "$status_code" = 201 ]
  api POST /containers/create '{"name":"c2","image":"bb:full","cmd":["/bin/true"]}'
  [ "$status_code" = 201 ]
  api POST /networks/create '{"name":"n1","type":"loopback","subnet":"10.77.0.0/24"}'
  [ "$status_code" = 201 ]
  api POST /networks/create '{"name":"n2","type":"loopback","subnet":"10.78.0.0/24"}'
  [ "$status_code" = 201 ]
  api POST /networks/connect '{"container":"c2","network":"n2"}'
  [ "$status_code" = 204 ]
  [ -s "$E2E_DIR/root/space.reserve" ]
  fill_disk

  # Creations: whatever fails answers what the API declares, and leaves nothing behind.
  api POST /containers/create '{"name":"late","image":"bb:full","cmd":["/bin/true"],
    "mounts":[{"type":"volume","source":"late","destination":"/etc"}]}'
  echo "container create: $status_code $body"
  [[ "$status_code" =~ ^(201|404)$ ]]
  [ -z "$(unowned_container_dirs)" ]
  api POST /volumes/create '{"name":"late2"}'
  echo "volume create: $status_code $body"
  [[ "$status_code" =~ ^(201|500)$ ]]
  api POST /networks/create '{"name":"late3","type":"loopback","subnet":"10.79.0.0/24"}'
  echo "network create: $status_code $body"
  [[ "$status_code" =~ ^(201|409)$ ]]
  out=$($PY "$WSCLIENT" "$SOCK" /images/create \
    "{\"method\":\"zfs-copy\",\"zfs_dataset\":\"$E2E_DIR/rootfs\",\"tag\":\"bb:late\",\"dns\":false}")
  echo "image create: $out"
  [ "$(echo "$out" | tail -1 | jq -r .close_reason | jq -r .msg_type)" = error ]
  fill_disk

  # Removals, each at 0 bytes free.
  api POST /networks/n2/disconnect/c2
  echo "$body"
  [ "$status_code" = 204 ]
  fill_disk
  api DELETE /containers/c1
  echo "$body"
  [ "$status_code" = 200 ]
  fill_disk
  api DELETE /volumes/v1
  echo "$body"
  [ "$status_code" = 200 ]
  fill_disk
  api DELETE /networks/n1
  echo "$body"
  [ "$status_code" = 200 ]
  fill_disk
  api DELETE /images/small:one
  echo "$body"
  [ "$status_code" = 200 ]
  fill_disk
  api POST /containers/prune
  echo "$body"
  [ "$status_code" = 200 ]
  echo "$body" | jq -e 'length >= 1'
  fill_disk
  api POST /networks/prune
  echo "$body"
  [ "$status_code" = 200 ]
  fill_disk
  api POST '/images/prune?all=true'
  echo "$body"
  [ "$status_code" = 200 ]
  api POST /volumes/prune
  echo "$body"
  [ "$status_code" = 200 ]
  echo "$body" | jq -e 'index("filler") != null'

  # Everything is gone, the room is back and so is the reserve.
  api GET '/containers/list?all=true'
  [ "$(echo "$body" | jq length)" = 0 ]
  api GET /volumes/list
  [ "$(echo "$body" | jq -r '[.[].name] | join(",")')" = "$(sqlite3 "$E2E_DIR/root/metadata.sqlite" 'SELECT group_concat(name) FROM volumes')" ]
  [ "$(avail)" -gt 4000000 ]
  [ "$(stat -c %s "$E2E_DIR/root/space.reserve")" = 4194304 ]
  [ "$(sqlite3 "$E2E_DIR/root/metadata.sqlite" 'PRAGMA integrity_check')" = ok ]
  assert_alive
}

@test "a prune names what it could not remove, and removes the rest" {
  out=$($PY "$WSCLIENT" "$SOCK" /images/create \
    "{\"method\":\"zfs-copy\",\"zfs_dataset\":\"$E2E_DIR/rootfs\",\"tag\":\"bb:full\",\"dns\":false}")
  echo "$out" | tail -1 | jq -r .close_reason | jq -r .data | grep -Eq '^[0-9a-f]{12}$'
  api POST /containers/create '{"name":"stuck","image":"bb:full","cmd":["/bin/true"]}'
  [ "$status_code" = 201 ]
  stuck=$(echo "$body" | jq -r .id)
  api POST /containers/create '{"name":"free","image":"bb:full","cmd":["/bin/true"]}'
  [ "$status_code" = 201 ]
  free=$(echo "$body" | jq -r .id)
  # a mount below the container's directory (in kleened's mount namespace): its files
  # cannot be deleted
  mkdir "$E2E_DIR/root/container/$stuck/upper/blocker"
  nsenter -t "$(kleened_pid)" -m mount -t tmpfs -o size=1m tmpfs \
    "$E2E_DIR/root/container/$stuck/upper/blocker"
  api POST /containers/prune
  nsenter -t "$(kleened_pid)" -m umount "$E2E_DIR/root/container/$stuck/upper/blocker"
  [ "$status_code" = 500 ]
  echo "$body" | jq -r .message | grep -q "$stuck"
  echo "$body" | jq -r .message | grep -q "removed: \[\"$free\"\]"
  api GET '/containers/list?all=true'
  [ "$(echo "$body" | jq -r '[.[].id] | join(",")')" = "$stuck" ]
  api POST /containers/prune
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c .)" = "[\"$stuck\"]" ]
  [ -z "$(ls -A "$E2E_DIR/root/container")" ]
}

@test "kleened starts on a full disk, and a removal then works" {
  api POST /volumes/create '{"name":"filler"}'
  [ "$status_code" = 201 ]
  api POST /networks/create '{"name":"nfull","type":"loopback","subnet":"10.80.0.0/24"}'
  [ "$status_code" = 201 ]
  fill_disk
  pid=$(kleened_pid)
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fill_disk
  respawn_kleened
  assert_alive
  fill_disk
  api DELETE /networks/nfull
  echo "$body"
  [ "$status_code" = 200 ]
  api DELETE /volumes/filler
  [ "$status_code" = 200 ]
  [ "$(sqlite3 "$E2E_DIR/root/metadata.sqlite" 'PRAGMA integrity_check')" = ok ]
}
