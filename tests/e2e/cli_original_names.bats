#!/usr/bin/env bats
# The original's names on Linux (issue 13 item 15): dataset names of `image create zfs-copy|
# zfs-clone` are directories under zfs_dataset_root; the common -J parameters have Linux
# meanings; `update -J vnet` of a running container gives the original's refusal.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  export POOL=$(mktemp -d /tmp/kleene-pool.XXXXXX)
  export EXTRA_TOP="zfs_dataset_root: $POOL"
  start_kleened
  mkdir -p "$POOL/zroot"
  "$SCRIPTS/mk-busybox-rootfs" "$POOL/zroot/kleene_basejail" >/dev/null
}

teardown_file() {
  stop_kleened
  rm -rf "$POOL"
}

teardown() { stop_containers; api POST /containers/prune; }

@test "zfs-copy and zfs-clone take the original's dataset names, under zfs_dataset_root" {
  run klee image create -t based:copy zfs-copy zroot/kleene_basejail
  echo "$output"
  [ "$status" -eq 0 ]
  run klee image create -t based:clone zfs-clone zroot/kleene_basejail
  [ "$status" -eq 0 ]
  run klee run --rm based:clone echo from the clone
  [ "${lines[2]}" = "from the clone" ]
  # an absolute directory still works
  run klee image create -t based:abs zfs-copy "$POOL/zroot/kleene_basejail"
  [ "$status" -eq 0 ]
}

@test "a dataset name without its directory: a clear error, nothing made" {
  before=$(klee lsi -q | wc -l)
  run klee image create zfs-clone zroot/nothere
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"invalid dataset: $POOL/zroot/nothere is no directory on this host (dataset 'zroot/nothere' under zfs_dataset_root $POOL)"* ]]
  run klee image create zfs-copy "zroot/../etc"
  [ "$status" -eq 1 ]
  [[ "$output" == *"invalid dataset"* ]]
  [ "$(klee lsi -q | wc -l)" -eq "$before" ]
}

@test "-J exec.jail_user, exec.clean/exec.noclean, mount.devfs/mount.nodevfs have their Linux meanings" {
  klee image inspect based:copy >/dev/null 2>&1 || klee image create -t based:copy zfs-copy zroot/kleene_basejail >/dev/null
  run klee run --rm -u root -J exec.jail_user=nobody based:copy id -un
  [ "${lines[2]}" = nobody ]
  # exec.clean (the default): the login environment; exec.noclean: only what is given
  run klee run --rm based:copy sh -c 'echo "user=$USER"'
  [ "${lines[2]}" = "user=root" ]
  run klee run --rm -J exec.noclean based:copy sh -c 'echo "user=$USER"'
  [ "${lines[2]}" = "user=" ]
  run klee run --rm -J exec.clean=false based:copy sh -c 'echo "user=$USER"'
  [ "${lines[2]}" = "user=" ]
  # mount.devfs (the default) gives a minimal /dev; mount.nodevfs leaves the image's /dev
  run klee run --rm based:copy sh -c 'test -c /dev/null && echo devfs'
  [ "${lines[2]}" = devfs ]
  run klee run --rm -J mount.nodevfs based:copy sh -c 'test -c /dev/null || echo no-devfs'
  [ "${lines[2]}" = no-devfs ]
}

@test "update -J vnet of a running container: the original's 409; of a stopped one: refused as unsupported" {
  klee image inspect based:copy >/dev/null 2>&1 || klee image create -t based:copy zfs-copy zroot/kleene_basejail >/dev/null
  klee run -d --name vn based:copy sleep 60 >/dev/null
  api POST /containers/vn/update '{"jail_param":["vnet"]}'
  [ "$status_code" = 409 ]
  [ "$(echo "$body" | jq -r .message)" = "an error ocurred while updating the container: '/usr/sbin/jail' returned non-zero exitcode 1 when attempting to modify the container 'jail: vnet cannot be changed after creation
'" ]
  run klee container update -J vnet vn
  [ "$status" -eq 1 ]
  [[ "$output" == *"jail: vnet cannot be changed after creation"* ]]
  # nothing was saved
  [ "$(klee isc vn | jq -c .container.jail_param)" = "[]" ]
  klee stop vn >/dev/null
  run klee container update -J vnet vn
  [ "$status" -eq 1 ]
  [[ "$output" == *"unsupported jail parameter 'vnet'"* ]]
}
