#!/usr/bin/env bats
# `klee build` / `klee image build` against a real kleened with a busybox base image.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create zfs-copy "$E2E_DIR/rootfs" -t busybox:latest >/dev/null
}

teardown_file() { stop_kleened; }

setup() {
  CTX=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  echo lol >"$CTX/test.txt"
}

@test "klee build: step lines, output, snapshot lines, image created + id; relative PATH" {
  printf 'FROM busybox\nARG who=world\nRUN echo hello $who\nCOPY test.txt /t\n' >"$CTX/Dockerfile"
  cd "$CTX"
  run klee build -t cb --build-arg who=klee .
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" =~ ^"Started to build image with ID "[0-9a-f]{12}$ ]]
  [ "${lines[1]}" = "Step 1/4 : FROM busybox" ]
  [ "${lines[4]}" = "hello klee" ]
  [[ "${lines[5]}" =~ ^"--> Snapshot created: @"[0-9a-f]{12}$ ]]
  [ "${lines[-2]}" = "image created" ]
  id=${lines[-1]}
  [ "$(klee image inspect cb | jq -r .id)" = "$id" ]
  run klee image build -t cb --build-arg who=klee .
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep -c '^--> Using cache @')" = 2 ]
  # an unchanged rebuild gives the same image (Docker's cache): no new untagged image
  [ "${lines[-1]}" = "$id" ]
  n_images=$(klee lsi | wc -l)
  run klee build -t cb --build-arg who=klee .
  [ "${lines[-1]}" = "$id" ]
  run klee build --build-arg who=klee .
  [ "${lines[-1]}" = "$id" ]
  [ "$(klee lsi | wc -l)" = "$n_images" ]
  [ "$(klee image inspect cb | jq -r .id)" = "$id" ]
  # another tag for the same content: an image of its own (one name:tag per image)
  run klee build -t cb2 --build-arg who=klee .
  [ "${lines[-1]}" != "$id" ]
  # a change (another build arg) gives another image
  run klee build -t cb --build-arg who=other .
  [ "${lines[-1]}" != "$id" ]
  run klee build --no-cache -q -t cb --build-arg who=klee -f Dockerfile "$CTX"
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^[0-9a-f]{12}$ ]]
  [ "$output" != "$id" ]
}

@test "multi-stage: FROM a named stage continues it (kleened read the previous stage after moving the stage list: ASan stopped it)" {
  printf 'FROM busybox AS base\nRUN echo one >/one\nFROM base\nRUN cat /one\nFROM base AS again\nRUN cat /one\n' >"$CTX/Dockerfile"
  run klee build -t fromstage:v1 "$CTX"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep -cx one)" -eq 2 ]
  assert_alive
  run klee run --rm fromstage:v1 cat /one
  echo "$output" | grep -qx one
  klee rmi fromstage:v1 >/dev/null
}

@test "klee build: a failed build exits 1 and names the last snapshot; --rm keeps nothing" {
  printf 'FROM busybox\nCOPY test.txt /t\nRUN false\n' >"$CTX/Dockerfile"
  run klee build -t cf "$CTX"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -qx "line 3: The command '/bin/sh -c false' returned a non-zero code: 1"
  echo "$output" | grep -Eq '^Failed to build image [0-9a-f]{12}\. Most recent snapshot is @[0-9a-f]{12}$'
  klee image inspect cf:failed >/dev/null
  run klee build --rm -t cf2 "$CTX"
  [ "$status" -eq 1 ]
  run klee image inspect cf2:failed
  [ "$status" -eq 1 ]
}

@test "klee build: -u, -e, -J reach the RUN steps; --help says PATH is read on the kleened host" {
  printf 'FROM busybox\nRUN id -un; echo $FOO\n' >"$CTX/Dockerfile"
  run klee build -u nobody -e FOO=bar -J exec.clean "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx nobody
  echo "$output" | grep -qx bar
  run klee build --help
  echo "$output" | tr '\n' ' ' | grep -q "kleened host"
}

@test "ENTRYPOINT, CMD, LABEL, EXPOSE: inspect shows them; klee run passes its arguments to the entrypoint" {
  cat >"$CTX/Dockerfile" <<'DF'
FROM busybox
ARG port=8080
ENTRYPOINT ["echo","hello"]
CMD ["world"]
LABEL a=b "c d"="e f"
EXPOSE 80/tcp 53/udp
EXPOSE $port 80 53/UDP
DF
  run klee build -t ep "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  j=$(klee image inspect ep)
  [ "$(echo "$j" | jq -c .entrypoint)" = '["echo","hello"]' ]
  [ "$(echo "$j" | jq -c .cmd)" = '["world"]' ]
  [ "$(echo "$j" | jq -c .labels)" = '{"a":"b","c d":"e f"}' ]
  [ "$(echo "$j" | jq -c .exposed_ports)" = '["80/tcp","53/udp","8080/tcp"]' ]
  # the listing shows them too; a base image has the empty values
  api GET /images/list
  [ "$(echo "$body" | jq -c '.[] | select(.name == "ep") | .exposed_ports')" = '["80/tcp","53/udp","8080/tcp"]' ]
  [ "$(klee image inspect busybox | jq -c '[.entrypoint, .labels, .exposed_ports]')" = '[[],{},[]]' ]

  run klee run --rm ep
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'hello world'
  run klee run --rm ep there
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'hello there'
  [[ "$output" != *world* ]]

  # a child inherits entrypoint, labels and ports (and the CMD, which it may replace) ...
  printf 'FROM ep\nLABEL a=z\nCMD ["child"]\n' >"$CTX/Dockerfile"
  run klee build -t epchild "$CTX"
  [ "$status" -eq 0 ]
  j=$(klee image inspect epchild)
  [ "$(echo "$j" | jq -c '[.entrypoint, .cmd, .labels, .exposed_ports]')" = '[["echo","hello"],["child"],{"a":"z","c d":"e f"},["80/tcp","53/udp","8080/tcp"]]' ]
  run klee run --rm epchild
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'hello child'
  # ... and an ENTRYPOINT in the child resets the inherited CMD
  printf 'FROM ep\nENTRYPOINT ["echo","bye"]\n' >"$CTX/Dockerfile"
  run klee build -t epreset "$CTX"
  [ "$status" -eq 0 ]
  [ "$(klee image inspect epreset | jq -c '[.entrypoint, .cmd]')" = '[["echo","bye"],[]]' ]
  run klee run --rm epreset
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'bye'

  # an EXPOSE word that is no port after substitution fails the build
  printf 'FROM busybox\nARG p=80/icmp\nEXPOSE $p\n' >"$CTX/Dockerfile"
  run klee build -t epbad "$CTX"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -qF "line 3: error in 'EXPOSE \$p': invalid port '80/icmp'"
}

@test "klee build -n: RUN steps are on the network (address, gateway); nothing is left after" {
  run klee network create -t bridge --subnet 10.78.0.0/24 bn
  [ "$status" -eq 0 ]
  printf 'FROM busybox\nRUN ip -4 addr show eth0 | grep 10.78.0.\nRUN ping -c1 -W2 10.78.0.1\n' >"$CTX/Dockerfile"
  run klee build -n bn -t netb "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'inet 10.78.0.'
  [ "${lines[-2]}" = "image created" ]
  # a failing step on the network cleans up too
  printf 'FROM busybox\nRUN ping -c1 -W2 10.78.0.1\nRUN false\n' >"$CTX/Dockerfile"
  run klee build -n bn --ip 10.78.0.50 --rm "$CTX"
  [ "$status" -eq 1 ]
  echo "$output" | grep -qx "line 3: The command '/bin/sh -c false' returned a non-zero code: 1"
  run klee lsc -a
  ! echo "$output" | grep -q builder_ || false
  [ "$(klee isn bn | jq '.network_endpoints | length')" = 0 ]
  run klee rmn bn
  [ "$status" -eq 0 ]
  [ "$(in_ns ip -o link | grep -c -E 'kleene|kv')" = 0 ]
  # without -n the step has no network but lo
  printf 'FROM busybox\nRUN ! ip link show eth0\n' >"$CTX/Dockerfile"
  run klee build "$CTX"
  [ "$status" -eq 0 ]
}

@test "klee build -t HOST:PORT/NAME without a tag: NAME:latest of that registry (the name was split at the port's ':'); a failed one is HOST:PORT/NAME:failed; a bad -t fails before any step" {
  printf 'FROM busybox\nRUN echo built\n' >"$CTX/Dockerfile"
  run klee build -t 127.0.0.1:5000/team/x "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  run klee image inspect 127.0.0.1:5000/team/x:latest
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .name)" = 127.0.0.1:5000/team/x ]
  [ "$(echo "$output" | jq -r .tag)" = latest ]
  run klee build -t '[::1]:5000/team/x:v2' "$CTX"
  [ "$status" -eq 0 ]
  [ "$(klee image inspect '[::1]:5000/team/x:v2' | jq -r .tag)" = v2 ]
  printf 'FROM busybox\nRUN false\n' >"$CTX/Dockerfile"
  run klee build -t localhost:5000/team/fx "$CTX"
  [ "$status" -eq 1 ]
  [ "$(klee image inspect localhost:5000/team/fx:failed | jq -r .name)" = localhost:5000/team/fx ]
  # an invalid name or tag: refused before the first step runs
  run klee build -t 'localhost:5000/Team/x:v1' "$CTX"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "invalid image reference 'localhost:5000/Team/x:v1'"
  ! echo "$output" | grep -q '^Step 1/' || false
  klee rmi 127.0.0.1:5000/team/x:latest '[::1]:5000/team/x:v2' localhost:5000/team/fx:failed >/dev/null
}
