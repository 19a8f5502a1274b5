#!/usr/bin/env bats
# Our klee's container record commands (KLEE-CLI.md: create, lsc, isc, rmc, container
# rename/update/prune) against a real kleened (API.md §6 Containers, §8.1).
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  mkdir -p "$E2E_DIR/rootfs/srv/www"
  echo page >"$E2E_DIR/rootfs/srv/www/index.html"
  klee image create -t bb:cli zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() { stop_kleened; }

teardown() {
  for id in $(curl -s --unix-socket "$SOCK" 'http://localhost/containers/list?all=true' | jq -r '.[].id'); do
    klee rmc "$id" >/dev/null || true
  done
}

@test "klee create prints the id; lsc -a shows it, lsc (running only) does not" {
  run klee create --name web -e A=1 bb:cli /bin/echo hi
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^[0-9a-f]{12}$ ]]
  id=$output
  run klee lsc -a
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" =~ ^\ CONTAINER\ ID\ +NAME\ +IMAGE\ +COMMAND\ +CREATED\ +AUTORUN\ +STATUS\ +IP\ ADDRESS\ +PORTS\ *$ ]]
  [[ "${lines[2]}" =~ ^\ $id\ +web\ +bb:cli\ +/bin/echo\ hi\ .*\ no\ +Created ]]
  [ "${#lines[@]}" -eq 3 ]
  run klee lsc
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 2 ]
}

@test "klee create without a name or a command: generated name, the image's command" {
  run klee create bb:cli
  [ "$status" -eq 0 ]
  id=$output
  run klee isc "$id"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -c .container.cmd)" = '["/bin/sh","/etc/rc"]' ]
  [[ "$(echo "$output" | jq -r .container.name)" =~ ^[a-z]+_[a-z]+$ ]]
}

@test "klee create of a missing image and with a taken name fail with the server's message" {
  run klee create nonexisting
  [ "$status" -ne 0 ]
  [[ "$output" == *"no such image 'nonexisting'"* ]]
  run klee create --name dup bb:cli
  [ "$status" -eq 0 ]
  run klee create --name dup bb:cli
  [ "$status" -ne 0 ]
  [[ "$output" == *"container name 'dup' is already taken"* ]]
}

@test "klee create -m: a volume is made and filled from the image; isc shows the mount" {
  run klee create --name vol -m site:/srv/www bb:cli
  [ "$status" -eq 0 ]
  id=$output
  [ "$(cat "$E2E_DIR/root/volumes/site/index.html")" = page ]
  run klee isc vol
  [ "$(echo "$output" | jq -c '.container_mountpoints[0] | [.type,.source,.destination,.read_only]')" = '["volume","site","/srv/www",false]' ]
  run klee create -m "$E2E_DIR/nothere:/x" bb:cli
  [ "$status" -ne 0 ]
  [[ "$output" == *"invalid mount source '$E2E_DIR/nothere': No such file or directory"* ]]
}

@test "klee container rename and update" {
  run klee create --name before -e A=1 bb:cli
  id=$output
  run klee container rename before after
  [ "$status" -eq 0 ]
  [ "$output" = "$id" ]
  run klee isc after
  [ "$(echo "$output" | jq -r .container.id)" = "$id" ]
  run klee container update -e B=2 --persist after
  [ "$status" -eq 0 ]
  [ "$output" = "$id" ]
  run klee isc "$id"
  [ "$(echo "$output" | jq -c '[.container.env,.container.persist,.container.name]')" = '[["B=2"],true,"after"]' ]
  run klee container rename after x
  [ "$status" -ne 0 ]
  [[ "$output" == *"x does not match"* ]]
}

@test "klee rmc and klee container prune" {
  run klee create --name p1 bb:cli
  p1=$output
  sleep 0.01
  run klee create --name keep --persist bb:cli
  keep=$output
  sleep 0.01
  run klee create --name p2 bb:cli
  p2=$output
  run klee container prune -f
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$p1" ]
  [ "${lines[1]}" = "$p2" ]
  [ "${#lines[@]}" -eq 2 ]
  run klee rmc keep
  [ "$status" -eq 0 ]
  [ "$output" = "$keep" ]
  run klee rmc keep
  [ "$status" -ne 0 ]
  [[ "$output" == *"no such container"* ]]
  run klee lsc -a
  [ "${#lines[@]}" -eq 2 ]
}
