#!/usr/bin/env bats
# What users read (issue 13 item 11), against a real kleened: a failed run/create leaves no
# container and says why once; Dockerfile errors name their line; lowercase instructions and
# indented lines build as with Docker; no typos or Elixir atoms in messages.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
  klee network create -t bridge --subnet 10.61.0.0/24 msgnet >/dev/null
}

teardown_file() { stop_kleened; }

teardown() {
  stop_containers
  api POST /containers/prune
}

no_containers() { [ "$(curl -s --unix-socket "$SOCK" 'http://localhost/containers/list?all=true' | jq length)" = 0 ]; }

@test "run with an unknown network, a bad IP, a missing binary, an unknown user: no container left" {
  run klee run -n nosuchnet bb echo hi
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$(echo "$output" | grep -c 'network not found')" -eq 1 ]
  no_containers
  run klee create -n msgnet --ip 10.99.0.5 bb echo hi
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$(echo "$output" | grep -c 'outside the network')" -eq 1 ]
  no_containers
  run klee run bb /no/such/binary
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"/no/such/binary: No such file or directory"* ]]
  # the daemon names the container once (not "starting container X: starting container X: ...")
  [ "$(echo "$output" | grep -o 'starting container [0-9a-f]*' | wc -l)" -eq 1 ]
  no_containers
  run klee run -d -u nosuchuser bb id
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"nosuchuser"* ]]
  [ "$(echo "$output" | grep -o 'starting container [0-9a-f]*' | wc -l)" -eq 1 ]
  [ "$(echo "$output" | grep -c 'error starting exec instance')" -eq 0 ]
  no_containers
  # a run that started keeps its container as before (exit code is the process's)
  run klee run bb sh -c 'exit 3'
  [ "$status" -eq 3 ]
  ! no_containers || false
}

@test "lowercase instructions, indented lines and indented comments build as with Docker" {
  ctx=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  printf 'from bb\n  # an indented comment\n  run echo lower \\\n      case\n\tcmd ["echo", "x"]\n' >"$ctx/Dockerfile"
  run klee build -t lower "$ctx"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Step 2/3 : run echo lower       case'
  echo "$output" | grep -qx 'lower case'
  [ "$(klee image inspect lower | jq -c .cmd)" = '["echo","x"]' ]
}

@test "Dockerfile errors name their line with our klee; the original's exact text without the opt-in" {
  ctx=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  printf 'FROM bb\n\n# comment\nFOO bar\n' >"$ctx/Dockerfile"
  run klee build "$ctx"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -qx "line 4: error in 'FOO bar': invalid instruction"
  printf 'FROM bb\nRUN true\nRUN false\n' >"$ctx/Dockerfile"
  run klee build --rm "$ctx"
  [ "$status" -eq 1 ]
  echo "$output" | grep -qx "line 3: The command '/bin/sh -c false' returned a non-zero code: 1"
  printf 'ARG a\nENV x=1\nFROM bb\n' >"$ctx/Dockerfile"
  run klee build "$ctx"
  echo "$output" | grep -qx "line 2: 'ENV x=1' not permitted before a FROM instruction"
  # without "line_numbers" (the original client) the text is the original's
  printf 'FROM bb\n\nFOO bar\n' >"$ctx/Dockerfile"
  run /usr/bin/python3 "$BATS_TEST_DIRNAME/ws_probe.py" "$SOCK" /images/build \
    --send "{\"context\":\"$ctx\",\"container_config\":{}}"
  echo "$output"
  [[ "$output" == *"error in 'FOO bar': invalid instruction"* ]]
  [[ "$output" != *"line 3"* ]]
}

@test "messages carry no Elixir atoms or typos: missing Dockerfile, missing mount source, image create" {
  run klee build "$E2E_DIR/nonexistent-context"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot open the Dockerfile $E2E_DIR/nonexistent-context/Dockerfile: No such file or directory"* ]]
  [[ "$output" != *":enoent"* ]]
  run klee create -m "$E2E_DIR/nothere:/x" bb
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$output" = "could not create container: invalid mount source '$E2E_DIR/nothere': No such file or directory" ]
  run klee create -m a:b:c:d bb
  [ "$status" -eq 125 ]
  [[ "$output" == *"separated"* ]]
}
