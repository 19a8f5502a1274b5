#!/usr/bin/env bats
# klee volume commands against a real kleened, as a user would type them.
load helpers

setup_file() { start_kleened; }
teardown_file() { stop_kleened; }

@test "klee volume create prints the name and creates the volume" {
  run klee volume create data1
  [ "$status" -eq 0 ]
  [ "$output" = data1 ]
  [ -d "$E2E_DIR/root/volumes/data1" ]
}

@test "klee volume ls shows a header, a rule and the volumes newest first" {
  klee volume create data2 >/dev/null
  run klee volume ls
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" =~ ^\ VOLUME\ NAME\ +CREATED ]]
  [[ "${lines[1]}" =~ ^─+$ ]]
  [[ "${lines[2]}" =~ ^\ data2\ +(Less\ than\ a\ second|[0-9]+\ seconds?)\ ago ]]
  [[ "${lines[3]}" =~ ^\ data1\  ]]
  run klee lsv
  [ "${lines[2]%% ago*}" = "$(klee volume ls | sed -n 3p | sed 's/ ago.*//')" ]
}

@test "klee volume inspect prints the volume as JSON; isv is the same" {
  run klee volume inspect data1
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .volume.name)" = data1 ]
  [ "$(echo "$output" | jq -c .mountpoints)" = "[]" ]
  run klee isv data1
  [ "$(echo "$output" | jq -r .volume.name)" = data1 ]
}

@test "inspecting an unknown volume prints the server's message and exits 1" {
  run klee volume inspect nope
  [ "$status" -eq 1 ]
  [ "$output" = "No such volume" ]
}

@test "klee volume rm removes volumes in order and stops at the first failure" {
  klee volume create r1 >/dev/null
  klee volume create r2 >/dev/null
  run klee volume rm r1 nope r2
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = r1 ]
  [ "${lines[1]}" = "No such volume" ]
  [ ! -e "$E2E_DIR/root/volumes/r1" ]
  [ -d "$E2E_DIR/root/volumes/r2" ]
  run klee rmv r2
  [ "$status" -eq 0 ]
  [ "$output" = r2 ]
}

@test "an invalid volume name is refused with a clear message" {
  run klee volume create ../evil
  [ "$status" -eq 1 ]
  [[ "$output" == *"invalid volume name"* ]]
  [ ! -e "$E2E_DIR/root/evil" ]
}

@test "klee volume prune -f removes unused volumes and lists them" {
  run klee volume prune -f
  [ "$status" -eq 0 ]
  [ "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' ' ')" = "data1 data2 " ]
  run klee volume ls
  [ "${#lines[@]}" -eq 2 ]
}

@test "klee volume prune asks first and does nothing when declined" {
  klee volume create keep >/dev/null
  run bash -c "echo n | '$KLEE' --host 'http://$SOCK' volume prune"
  [ "$status" -eq 1 ]
  [[ "$output" == *"Are you sure you want to continue? [y/N]"* ]]
  [[ "$output" == *"Aborted!"* ]]
  [ -d "$E2E_DIR/root/volumes/keep" ]
  run bash -c "echo y | '$KLEE' --host 'http://$SOCK' volume prune"
  [ "$status" -eq 0 ]
  [[ "$output" == *keep* ]]
}

@test "klee reaches kleened through KLEE_HOST and a config file too" {
  run env KLEE_HOST="http://$SOCK" "$KLEE" volume ls
  [ "$status" -eq 0 ]
  printf 'host: http://%s\n' "$SOCK" >"$E2E_DIR/klee.yaml"
  run "$KLEE" --config "$E2E_DIR/klee.yaml" volume ls
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == *"VOLUME NAME"* ]]
}
