#!/usr/bin/env bats
# Image builds over the /images/build WebSocket (API.md §7.4, §8.3; docs/dockerfile.md) against
# a real kleened with a busybox base image: every instruction, the step/snapshot stream, the
# image's inspect, failures with exact messages, cleanup:false images, the build cache,
# .dockerignore, multi-stage builds, and a client that goes away mid-build.
load helpers

PY=/usr/bin/python3
WSCLIENT="$BATS_TEST_DIRNAME/wsclient.py"
SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create zfs-copy "$E2E_DIR/rootfs" -t busybox:latest >/dev/null
}

teardown_file() {
  stop_kleened
}

setup() {
  CTX=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  echo lol >"$CTX/test.txt"
  echo lel >"$CTX/test2.txt"
}

# ws_build CONFIG: $ws_out has one JSON line per frame, the close last.
ws_build() { ws_out=$($PY "$WSCLIENT" "$SOCK" /images/build "$1" "${@:2}"); }
# build [extra json fields]: the Dockerfile in $CTX
build() { ws_build "{\"context\":\"$CTX\",\"container_config\":{}${1:+,$1}}" "${@:2}"; }
close_code() { echo "$ws_out" | tail -1 | jq -r .close_code; }
close_field() { echo "$ws_out" | tail -1 | jq -r .close_reason | jq -r ".$1"; }
frames() { echo "$ws_out" | jq -r 'select(.frame != null) | .frame'; }
# output frames after "starting"
output() { frames | tail -n +2; }
image_id() { frames | head -1 | jq -r .data; }
inspect() { curl -s --unix-socket "$SOCK" "http://localhost/images/$1/inspect"; }
layers() { ls -A "$E2E_DIR/root/image/layers" | sort | tr '\n' ' '; }
images() { curl -s --unix-socket "$SOCK" http://localhost/images/list | jq -r '[.[].id] | sort | join(",")'; }

@test "config cast errors: text frame then 1002 invalid parameters" {
  ws_build "{\"context\":\"/x\",\"quiet\":\"lol\",\"container_config\":{}}"
  [ "$(frames)" = "Invalid boolean. Got: string" ]
  [ "$(close_code)" = 1002 ]
  [ "$(close_field message)" = "invalid parameters" ]
  ws_build '{"container_config":{}}'
  [ "$(frames)" = "Missing field: context" ]
  ws_build "{\"context\":\"/x\",\"buildargs\":\"should-be-JSON\",\"container_config\":{}}"
  [ "$(frames)" = "Invalid object. Got: string" ]
  [ "$(close_code)" = 1002 ]
}

@test "Dockerfile errors: starting, the error, 1011 failed to process Dockerfile" {
  build
  [ "$(frames | sed -n 2p)" = "cannot open the Dockerfile $CTX/Dockerfile: No such file or directory" ]
  [ "$(frames | head -1 | jq -r .msg_type)" = starting ]
  [ "$(frames | head -1 | jq -r .data)" = "" ]
  [ "$(close_code)" = 1011 ]
  [ "$(close_field message)" = "failed to process Dockerfile" ]
  printf 'FROM busybox\nBOGUS x\n' >"$CTX/Dockerfile"
  build
  [ "$(frames | tail -1)" = "error in 'BOGUS x': invalid instruction" ]
  [ "$(close_field message)" = "failed to process Dockerfile" ]
  printf 'ENV testvar=lol\nFROM busybox\n' >"$CTX/Dockerfile"
  build
  [ "$(frames | tail -1)" = "'ENV testvar=lol' not permitted before a FROM instruction" ]
}

@test "every instruction: stream, files, inspect" {
  mkdir -p "$CTX/dir/sub"
  echo a >"$CTX/dir/a"
  echo b >"$CTX/dir/sub/b"
  cat >"$CTX/Dockerfile" <<'DF'
ARG base=busybox
FROM ${base}:latest
ARG greeting=hello
ENV TEST1=lol
ENV TEST2 "testing test"
LABEL version="1.0" desc=x
EXPOSE 80/tcp 53/udp
RUN echo "$greeting $TEST1" > /root/run.txt
RUN ["/bin/sh", "-c", "echo exec-form $TEST2"]
COPY test.txt /root/
COPY *.txt /glob/
COPY dir /copied
COPY test.txt /new/deep/file.txt
WORKDIR /etc
COPY test2.txt relative.txt
WORKDIR sub
RUN pwd
USER nobody
RUN id -un
USER root
ENTRYPOINT ["/bin/echo"]
CMD ["hi"]
DF
  build "\"buildargs\":{\"greeting\":\"howdy\"},\"tag\":\"every:one\""
  echo "$ws_out"
  [ "$(close_code)" = 1000 ]
  [ "$(close_field message)" = "image created" ]
  id=$(image_id)
  [ "$(close_field data)" = "$id" ]
  output | grep -qx 'Step 1/22 : ARG base=busybox'
  output | grep -qx 'Step 9/22 : RUN \["/bin/sh", "-c", "echo exec-form $TEST2"\]'
  output | grep -qx 'exec-form testing test'
  output | grep -qx '/etc/sub'
  output | grep -qx 'nobody'
  [ "$(output | grep -c '^--> Snapshot created: @[0-9a-f]\{12\}$')" = 9 ]
  j=$(inspect every:one)
  [ "$(echo "$j" | jq -c .cmd)" = '["hi"]' ]
  [ "$(echo "$j" | jq -c .entrypoint)" = '["/bin/echo"]' ]
  [ "$(echo "$j" | jq -c .labels)" = '{"desc":"x","version":"1.0"}' ]
  [ "$(echo "$j" | jq -c .exposed_ports)" = '["80/tcp","53/udp"]' ]
  [ "$(echo "$j" | jq -c .env)" = '["TEST1=lol","TEST2=testing test"]' ]
  [ "$(echo "$j" | jq -r .user)" = root ]
  [ "$(echo "$j" | jq -r '.instructions | length')" = 22 ]
  [ "$(echo "$j" | jq -r '.instructions[7][0]')" = 'RUN echo "$greeting $TEST1" > /root/run.txt' ]
  echo "$j" | jq -r '.instructions[7][1]' | grep -qx '@[0-9a-f]\{12\}'
  [ "$(echo "$j" | jq -r '.instructions[13][1]')" = "" ] # WORKDIR has no snapshot
  # the files, seen from a build FROM the image
  cat >"$CTX/Dockerfile" <<'DF'
FROM every:one
RUN cat /root/run.txt /root/test.txt /glob/test.txt /glob/test2.txt /copied/a /copied/sub/b /new/deep/file.txt /etc/relative.txt && stat -c %U /copied/a
DF
  build
  [ "$(close_code)" = 1000 ]
  [ "$(output | grep -v '^Step\|^-->' | tr -s '\n' ' ')" = "howdy lol lol lol lel a b lol lel root " ]
}

@test "a failing RUN: exact message; cleanup false saves name:failed; FROM name:failed@snap works" {
  printf 'FROM busybox\nCOPY test.txt /etc/\nRUN ls notexist\nRUN echo never\n' >"$CTX/Dockerfile"
  build '"tag":"fb"'
  [ "$(close_code)" = 1011 ]
  [ "$(close_field message)" = "image build failed" ]
  [ "$(close_field data)" = "" ]
  [ "$(frames | tail -1)" = "The command '/bin/sh -c ls notexist' returned a non-zero code: 1" ]
  ! output | grep -q never || false
  [ "$(inspect fb:failed | jq -r .message)" = "image not found" ]
  build '"tag":"fb","cleanup":false'
  [ "$(close_code)" = 1011 ]
  snap=$(close_field data)
  echo "$snap" | grep -qx '@[0-9a-f]\{12\}'
  j=$(inspect fb:failed)
  [ "$(echo "$j" | jq -r .id)" = "$(image_id)" ]
  [ "$(echo "$j" | jq -r '.instructions | length')" = 3 ]
  [ "$(echo "$j" | jq -r '.instructions[1][1]')" = "$snap" ]
  printf 'FROM fb:failed%s\nRUN cat /etc/test.txt\n' "$snap" >"$CTX/Dockerfile"
  build
  [ "$(close_code)" = 1000 ]
  output | grep -qx lol
}

@test "cleanup false before any snapshot: no snapshots available; bad FROM: nothing saved" {
  printf 'FROM busybox\nRUN exit 3\n' >"$CTX/Dockerfile"
  build '"cleanup":false'
  [ "$(close_field data)" = "no snapshots available" ]
  [ "$(frames | tail -1)" = "The command '/bin/sh -c exit 3' returned a non-zero code: 3" ]
  before="$(images)"
  # not a registry reference (uppercase): the original's output, byte for byte
  printf 'FROM NonExisting\nRUN true\n' >"$CTX/Dockerfile"
  build '"cleanup":false'
  [ "$(output)" = "$(printf 'Step 1/2 : FROM NonExisting\nerror: could not find image NonExisting')" ]
  [ "$(close_field data)" = "" ]
  [ "$(images)" = "$before" ]
  # a registry reference kleened lacks is pulled (docker.io: unreachable from the test's
  # namespace): the pull's lines, then the same error with the pull's reason
  printf 'FROM nonexisting\nRUN true\n' >"$CTX/Dockerfile"
  build '"cleanup":false'
  output | grep -qx 'Pulling nonexisting...'
  output | tail -1 | grep -q '^error: could not find image nonexisting, and pulling it failed: could not pull image: '
  [ "$(close_field data)" = "" ]
  [ "$(images)" = "$before" ]
}

@test "COPY refusals: missing source, ../x, a symlink out of the context; nothing left" {
  before="$(layers)"
  printf 'FROM busybox\nCOPY nothere /x\n' >"$CTX/Dockerfile"
  build
  [ "$(frames | tail -1)" = "COPY failed: file not found in build context or excluded by .dockerignore: nothere" ]
  printf 'FROM busybox\nCOPY ../x /x\n' >"$CTX/Dockerfile"
  build
  echo "$ws_out"
  [ "$(frames | tail -1)" = "COPY failed: forbidden path outside the build context: ../x" ]
  ln -s /etc/passwd "$CTX/link"
  printf 'FROM busybox\nCOPY link /x\n' >"$CTX/Dockerfile"
  build
  [ "$(close_code)" = 1011 ]
  [ "$(frames | tail -1)" = "COPY failed: forbidden path outside the build context: link" ]
  ln -s ../../../../etc "$CTX/up"
  printf 'FROM busybox\nCOPY up/passwd /x\n' >"$CTX/Dockerfile"
  build
  [ "$(frames | tail -1)" = "COPY failed: forbidden path outside the build context: up" ]
  [ "$(layers)" = "$before" ]
  ! grep -q "$E2E_DIR/root" /proc/self/mountinfo || false
}

@test "build cache: a second build uses the cache for every step; a changed file re-runs from its COPY" {
  printf 'FROM busybox\nRUN echo one > /one\nCOPY test.txt /t\nRUN cat /t\nRUN echo two\n' >"$CTX/Dockerfile"
  build
  [ "$(close_code)" = 1000 ]
  first=$(output | grep -o '@[0-9a-f]*' | tr '\n' ' ')
  start=$(date +%s%N)
  build
  ms=$((($(date +%s%N) - start) / 1000000))
  [ "$(close_code)" = 1000 ]
  [ "$(output | grep -c '^--> Using cache @')" = 4 ]
  [ "$(output | grep -o '@[0-9a-f]*' | tr '\n' ' ')" = "$first" ]
  ! output | grep -q Snapshot || false
  [ "$ms" -lt 2000 ]
  echo changed >"$CTX/test.txt"
  build
  [ "$(output | grep -c '^--> Using cache @')" = 1 ]
  [ "$(output | grep -c '^--> Snapshot created: @')" = 3 ]
  output | grep -qx changed
  build '"nocache":true'
  [ "$(output | grep -c '^--> Using cache')" = 0 ]
}

@test ".dockerignore hides files from COPY" {
  mkdir -p "$CTX/d/build"
  echo keep >"$CTX/d/keep.txt"
  echo secret >"$CTX/d/secret.txt"
  echo o >"$CTX/d/build/out.o"
  printf '# comment\nd/secret.txt\n**/build\n' >"$CTX/.dockerignore"
  printf 'FROM busybox\nCOPY d /d\nRUN find /d | sort\n' >"$CTX/Dockerfile"
  build
  [ "$(close_code)" = 1000 ]
  [ "$(output | grep "^/d" | tr "\n" " ")" = "/d /d/keep.txt " ]
  printf 'FROM busybox\nCOPY d/secret.txt /x\n' >"$CTX/Dockerfile"
  build
  [ "$(frames | tail -1)" = "COPY failed: file not found in build context or excluded by .dockerignore: d/secret.txt" ]
}

@test "multi-stage: COPY --from a named stage; the final image has only its stage's layers" {
  cat >"$CTX/Dockerfile" <<'DF'
FROM busybox AS builder
RUN mkdir /out && echo built > /out/artifact && echo junk > /junk
FROM busybox
COPY --from=builder /out/artifact /app/artifact
RUN cat /app/artifact && ls /junk
DF
  build '"tag":"ms"'
  echo "$ws_out"
  output | grep -qx built
  [ "$(frames | tail -1)" = "The command '/bin/sh -c cat /app/artifact && ls /junk' returned a non-zero code: 1" ]
  sed -i 's/ && ls \/junk//' "$CTX/Dockerfile"
  build '"tag":"ms"'
  [ "$(close_code)" = 1000 ]
  [ "$(inspect ms | jq -r '.instructions | length')" = 5 ]
}

@test "a client that goes away mid-build: the step is stopped, nothing is left" {
  before_layers="$(layers)"
  before_images="$(images)"
  # A sleep of a duration unique to this run: other tests (and other test runs on the
  # machine) may have a "sleep 30" of their own.
  local secs=$((3000 + RANDOM % 6000))
  printf 'FROM busybox\nRUN echo started; sleep %s\n' "$secs" >"$CTX/Dockerfile"
  build "" --close-after 4
  echo "$ws_out"
  for _ in $(seq 1 100); do
    [ "$(layers)" = "$before_layers" ] && ! grep -q "$E2E_DIR/root" /proc/self/mountinfo &&
      [ -z "$(pgrep -fx "sleep $secs")" ] && break
    sleep 0.1
  done
  [ "$(layers)" = "$before_layers" ]
  [ "$(images)" = "$before_images" ]
  ! grep -q "$E2E_DIR/root" /proc/self/mountinfo || false
  local left
  left=$(pgrep -fx "sleep $secs" || true)
  [ -z "$left" ] || { echo "step left running: $left" >&2; kill $left; false; }
  assert_alive
}

@test "a RUN step silent for longer than the stream's poll interval succeeds" {
  # The build read the step's stream with a 200 ms timeout that ended the build ("timed out
  # waiting for the monitor") whenever a command printed nothing for that long.
  printf 'FROM busybox\nRUN sleep 1 && echo done > /slept\n' >"$CTX/Dockerfile"
  build '"tag":"slow:1"'
  echo "$ws_out"
  [ "$(close_code)" = 1000 ]
  id=$(image_id)
  api DELETE "/images/$id"
  [ "$status_code" = 200 ]
}
