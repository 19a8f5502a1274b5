#!/usr/bin/env bats
# The Docker door's GET /system/df (docs/docker-api.md "Disk usage"), as `docker system df`
# and `docker system df -v` render it and as docker-py reads it: the engine's images, layers,
# containers and volumes with their sizes and users.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  stop_kleened
}

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" "$@"; }

dapi() {
  local out
  out=$(curl -s -X "$1" --unix-socket "$DOCKER_SOCK" -w '\n%{http_code}' "http://localhost$2")
  status_code=${out##*$'\n'}
  body=${out%$'\n'*}
}

@test "GET /system/df: layers, images, containers with their own bytes, volumes with size and users" {
  docker volume create dfvol >/dev/null
  docker volume create dfidle >/dev/null
  # 1 MiB in the volume, 2 MiB in the container's own layer
  docker run --name dfc -v dfvol:/data bb sh -c 'dd if=/dev/zero of=/data/f bs=1024 count=1024 2>/dev/null; dd if=/dev/zero of=/big bs=1024 count=2048 2>/dev/null'
  dapi GET /system/df
  [ "$status_code" = 200 ]
  echo "$body" | jq . >"$BATS_TEST_TMPDIR/df"
  # the image: its layer's bytes, one container
  [ "$(jq '.Images | length' "$BATS_TEST_TMPDIR/df")" = 1 ]
  [ "$(jq -r '.Images[0].RepoTags[0]' "$BATS_TEST_TMPDIR/df")" = bb:latest ]
  [ "$(jq '.Images[0].Containers' "$BATS_TEST_TMPDIR/df")" = 1 ]
  [ "$(jq '.Images[0].SharedSize' "$BATS_TEST_TMPDIR/df")" = 0 ]
  size=$(jq '.Images[0].Size' "$BATS_TEST_TMPDIR/df")
  [ "$size" -gt 100000 ]
  [ "$(jq .LayersSize "$BATS_TEST_TMPDIR/df")" = "$size" ]
  [ "$(jq '.BuildCache' -c "$BATS_TEST_TMPDIR/df")" = "[]" ]
  # the container: its own 2 MiB (and a little), its root filesystem with the image's
  rw=$(jq '.Containers[] | select(.Names[0] == "/dfc") | .SizeRw' "$BATS_TEST_TMPDIR/df")
  [ "$rw" -ge 2097152 ]
  [ "$rw" -lt 3000000 ]
  [ "$(jq '.Containers[] | select(.Names[0] == "/dfc") | .SizeRootFs' "$BATS_TEST_TMPDIR/df")" = "$((rw + size))" ]
  # the volumes: the one mounted holds 1 MiB and has one user
  [ "$(jq '.Volumes[] | select(.Name == "dfvol") | .UsageData.RefCount' "$BATS_TEST_TMPDIR/df")" = 1 ]
  vs=$(jq '.Volumes[] | select(.Name == "dfvol") | .UsageData.Size' "$BATS_TEST_TMPDIR/df")
  [ "$vs" -ge 1048576 ]
  [ "$(jq '.Volumes[] | select(.Name == "dfidle") | .UsageData.RefCount' "$BATS_TEST_TMPDIR/df")" = 0 ]
  docker rm dfc
  docker volume rm dfvol dfidle
}

@test "docker system df and docker system df -v render kleened's usage" {
  docker volume create dfv2 >/dev/null
  docker run --name dfc2 -v dfv2:/data bb sh -c 'dd if=/dev/zero of=/data/f bs=1024 count=512 2>/dev/null'
  run docker system df --format '{{.Type}} {{.TotalCount}} {{.Active}}'
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "Images 1 1" ]
  [ "${lines[1]}" = "Containers 1 0" ]
  [ "${lines[2]}" = "Local Volumes 1 1" ]
  [ "${lines[3]}" = "Build Cache 0 0" ]
  run docker system df
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == TYPE*TOTAL*ACTIVE*SIZE*RECLAIMABLE* ]]
  run docker system df -v
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Images space usage:"* ]]
  echo "$output" | grep -E '^bb +latest +[0-9a-f]{12} '
  echo "$output" | grep -E "^[0-9a-f]{12} +bb .*dfc2$"
  echo "$output" | grep -E '^dfv2 +1 +5[0-9][0-9](\.[0-9]+)?kB'
  # docker-py reads it too
  run timeout 60 /usr/bin/python3 -c '
import sys, docker
d = docker.DockerClient(base_url=sys.argv[1]).df()
assert [v["Name"] for v in d["Volumes"]] == ["dfv2"], d["Volumes"]
assert d["Containers"][0]["Names"] == ["/dfc2"]
print(d["LayersSize"] > 0)' "unix://$DOCKER_SOCK"
  [ "$output" = True ]
  docker rm dfc2
  docker volume rm dfv2
}

# A start that hands its process to a waiting attach looked for the attach's session after
# the attach had freed it, when the process had ended before the start's thread woke up
# (a loaded machine: test 2 above failed 1 run in 4 with "the attached client went away" for
# a run that had worked). A stress check: it depends on the scheduler.
@test "docker run of a process that ends at once, 40 times: each is started and answered" {
  # (without --rm: its removal after the end gave the start's thread time to look)
  for i in $(seq 1 40); do
    run docker run --name "quick$i" bb true
    [ "$status" -eq 0 ]
    [ -z "$output" ]
  done
  docker container prune -f >/dev/null
}
