#!/usr/bin/env bats
# `docker attach` to a running container through the Docker door (issue 14; docs/docker-api.md
# "Attach"): the main process's stream from the attach on, its stdin and terminal, several
# clients at once, the detach keys (the CLI's and the server's own), the exit code, `docker
# start -ai`, and what dockerd refuses. Debian's docker CLI on a pseudo-terminal
# (pty_session.py) and a raw client (docker_attach_raw.py) against this test's kleened.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker
PTY="$BATS_TEST_DIRNAME/pty_session.py"
RAW="$BATS_TEST_DIRNAME/docker_attach_raw.py"

setup_file() {
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  stop_kleened
}

teardown() {
  [ -z "${BG_PID:-}" ] || kill -9 "$BG_PID" 2>/dev/null || true
  stop_containers
  api POST /containers/prune
}

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" "$@"; }

running() { [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ]; }

# wait until FILE holds TEXT (10 s)
wait_for_text() {
  for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "not in $1: $2"; cat "$1"; return 1
}

@test "docker attach -it: type, see, detach with ctrl-p ctrl-q, attach again, exit code" {
  docker run -dit --name sh1 bb sh
  # what the shell wrote before the attach is not replayed
  run timeout 40 /usr/bin/python3 "$PTY" 30 100 \
    'send:\r' 'expect:# ' 'send:echo typed-$((6*7))\r' 'expect:typed-42' \
    'send:stty size\r' 'expect:30 100' 'send:\x10\x11' 'expect:read escape sequence' \
    -- env DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" attach sh1
  echo "$output"
  [ "$status" -ne 124 ]
  running sh1
  # the shell kept its state: attach again and end it
  run timeout 40 /usr/bin/python3 "$PTY" 30 100 \
    'send:\r' 'expect:# ' 'send:echo again\r' 'expect:again' 'send:exit 7\r' \
    -- env DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" attach sh1
  echo "$output"
  [ "$status" -eq 7 ]
  for _ in $(seq 1 50); do running sh1 || break; sleep 0.1; done
  ! running sh1 || false
  [ "$(docker inspect -f '{{.State.ExitCode}}' sh1)" = 7 ]
}

@test "several clients attached at once: each sees the output, any of them types" {
  docker run -dit --name sh2 bb sh
  DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" attach --no-stdin sh2 >"$BATS_TEST_TMPDIR/watch" 2>&1 &
  BG_PID=$!
  # a raw client types (the CLI watcher has no stdin); both CLI clients see its command
  run timeout 30 /usr/bin/python3 "$RAW" "$DOCKER_SOCK" sh2 'stream=1&stdin=1&stdout=1&stderr=1' \
    'send:echo from-raw-$((40+2))\r' 'expect:from-raw-42' 'open:0.5'
  echo "$output"
  [ "$status" -eq 0 ]
  wait_for_text "$BATS_TEST_TMPDIR/watch" from-raw-42
  run timeout 40 /usr/bin/python3 "$PTY" 30 100 \
    'send:\r' 'expect:# ' 'send:echo from-pty-$((50+1))\r' 'expect:from-pty-51' 'send:\x10\x11' \
    'expect:read escape sequence' \
    -- env DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" attach sh2
  echo "$output"
  [ "$status" -ne 124 ]
  wait_for_text "$BATS_TEST_TMPDIR/watch" from-pty-51
  # the clients that went left the shell and its terminal as they were
  running sh2
  kill -0 "$BG_PID"
  run timeout 30 /usr/bin/python3 "$RAW" "$DOCKER_SOCK" sh2 'stream=1&stdin=1&stdout=1' \
    'send:echo still-$((3+4))\r' 'expect:still-7' 'open:0.5'
  [ "$status" -eq 0 ]
  wait_for_text "$BATS_TEST_TMPDIR/watch" still-7
  # the shell ends: the watcher ends with its exit code
  run timeout 30 /usr/bin/python3 "$RAW" "$DOCKER_SOCK" sh2 'stream=1&stdin=1&stdout=1' \
    'send:exit 3\r' 'eof'
  echo "$output"
  [ "$status" -eq 0 ]
  st=0; timeout 10 tail --pid="$BG_PID" -f /dev/null || st=$?
  [ "$st" -eq 0 ]
  st=0; wait "$BG_PID" || st=$?
  [ "$st" -eq 3 ]
  BG_PID=
}

@test "two clients attached before the start: one gets the start, the other joins the process" {
  docker create -it --name j1 bb sh
  /usr/bin/python3 "$RAW" "$DOCKER_SOCK" j1 'stream=1&stdin=1&stdout=1' \
    'expect:joined-5' 'open:0.3' >"$BATS_TEST_TMPDIR/a" 2>&1 &
  BG_PID=$!
  /usr/bin/python3 "$RAW" "$DOCKER_SOCK" j1 'stream=1&stdin=1&stdout=1' \
    'open:2' 'send:echo joined-$((2+3))\r' 'expect:joined-5' 'open:0.3' >"$BATS_TEST_TMPDIR/b" 2>&1 &
  B_PID=$!
  sleep 0.5
  docker start j1
  st=0; wait "$B_PID" || st=$?
  cat "$BATS_TEST_TMPDIR/b"
  [ "$st" -eq 0 ]
  st=0; wait "$BG_PID" || st=$?
  cat "$BATS_TEST_TMPDIR/a"
  [ "$st" -eq 0 ]
  BG_PID=
  running j1
}

@test "detach keys scanned by kleened: the default ctrl-p ctrl-q, detachKeys, a bad spec" {
  t0=$(date +%s)
  docker run -dit --name sh3 bb sh
  # ctrl-p followed by another key is input; ctrl-p ctrl-q ends the session, not the shell
  run timeout 30 /usr/bin/python3 "$RAW" "$DOCKER_SOCK" sh3 'stream=1&stdin=1&stdout=1' \
    'send:echo one\x10x-$((1+1))\r' 'expect:x-2' 'send:\x10' 'send:\x11' 'eof'
  echo "$output"
  [ "$status" -eq 0 ]
  running sh3
  run timeout 30 /usr/bin/python3 "$RAW" "$DOCKER_SOCK" sh3 'stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,y' \
    'send:echo two-$((2+2))\r' 'expect:two-4' 'send:\x10\x11' 'open:1' 'send:\x18y' 'eof'
  echo "$output"
  [ "$status" -eq 0 ]
  running sh3
  # each detach is an event, as dockerd's
  run docker events --since "$t0" --until "$(($(date +%s) + 1))" --filter container=sh3 --format '{{.Action}}'
  echo "$output"
  [ "$(echo "$output" | grep -c '^detach$')" -eq 2 ]
  [ "$(echo "$output" | grep -c '^attach$')" -eq 2 ]
  run timeout 30 /usr/bin/python3 "$RAW" "$DOCKER_SOCK" sh3 'stream=1&stdin=1&stdout=1&detachKeys=ctrl-1'
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *" 400 "* ]]
  [[ "$output" == *"invalid detach keys (ctrl-1)"* ]]
  # (the CLI shows the status only: "unable to upgrade to tcp, received 400")
  run docker attach --no-stdin --detach-keys=ctrl-1 sh3
  echo "$output"
  [ "$status" -ne 0 ]
  running sh3
}

@test "docker attach without a tty: stdout and stderr apart, from the attach on; --no-stdin" {
  docker run -d --name nt bb sh -c 'i=0; while true; do i=$((i+1)); echo out$i; echo err$i >&2; sleep 0.2; done'
  for _ in $(seq 1 100); do docker logs nt 2>/dev/null | grep -qx out2 && break; sleep 0.1; done
  DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" attach nt >"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e" &
  BG_PID=$!
  wait_for_text "$BATS_TEST_TMPDIR/o" '^out[0-9]*$'
  wait_for_text "$BATS_TEST_TMPDIR/e" '^err[0-9]*$'
  kill -9 "$BG_PID"
  BG_PID=
  cat "$BATS_TEST_TMPDIR/o" "$BATS_TEST_TMPDIR/e"
  ! grep -q err "$BATS_TEST_TMPDIR/o" || false
  ! grep -q out "$BATS_TEST_TMPDIR/e" || false
  # the output before the attach is in the log, not in the attach
  ! grep -qx out1 "$BATS_TEST_TMPDIR/o" || false
  ! grep -qx out2 "$BATS_TEST_TMPDIR/o" || false
  running nt

  # stdin (OpenStdin, -d: no StdinOnce): the input reaches the process; its end ends the
  # session, not the process's stdin
  docker run -di --name ci bb sh -c 'while read l; do echo got:$l; done; echo stdin-closed; sleep 1000'
  local n
  for n in 1 2 3; do
    mkfifo "$BATS_TEST_TMPDIR/in$n"
    [ "$n" = 2 ] && opt=--no-stdin || opt=
    DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" attach $opt ci <"$BATS_TEST_TMPDIR/in$n" \
      >"$BATS_TEST_TMPDIR/out$n" 2>&1 &
    BG_PID=$!
    exec 4>"$BATS_TEST_TMPDIR/in$n"
    # (a client whose attach has not been served yet would miss the output: wait for the event)
    for _ in $(seq 1 100); do
      [ "$(docker events --since 0 --until "$(($(date +%s) + 1))" --filter container=ci --filter event=attach --format x | wc -l)" -ge "$n" ] && break
      sleep 0.1
    done
    echo "line$n" >&4
    if [ "$n" != 2 ]; then wait_for_text "$BATS_TEST_TMPDIR/out$n" "got:line$n"; fi
    exec 4>&-
    sleep 0.5
    kill -9 "$BG_PID"
    BG_PID=
    running ci
  done
  # --no-stdin: line2 never reached the process; the ends of input closed nothing
  run docker logs ci
  [ "$output" = $'got:line1\ngot:line3' ]
  [[ "$(cat "$BATS_TEST_TMPDIR/out1")" == *"got:line1"* ]]
  [[ "$(cat "$BATS_TEST_TMPDIR/out3")" != *"got:line1"* ]]

  # without -i, a detached container's process reads EOF (dockerd: an empty stdin)
  docker run -d --name ne bb sh -c 'cat; echo stdin-eof; sleep 1000'
  for _ in $(seq 1 100); do docker logs ne 2>&1 | grep -q stdin-eof && break; sleep 0.1; done
  [ "$(docker logs ne)" = stdin-eof ]
  running ne
}

@test "a client that goes away leaves the container running; StdinOnce closes its stdin" {
  # the client of an attached start (what `docker run -it` does) killed: the shell runs on
  # (a killed docker CLI, not one that lost its terminal: that one sends the container a HUP)
  docker create -it --name k1 bb sh
  /usr/bin/python3 "$RAW" "$DOCKER_SOCK" k1 'stream=1&stdin=1&stdout=1&stderr=1' \
    'expect:# ' 'send:echo up-$((1+1))\r' 'expect:up-2' 'open:60' >"$BATS_TEST_TMPDIR/k1" 2>&1 &
  BG_PID=$!
  sleep 0.5
  docker start k1
  wait_for_text "$BATS_TEST_TMPDIR/k1" 101
  for _ in $(seq 1 100); do docker logs k1 2>&1 | grep -q up-2 && break; sleep 0.1; done
  kill -9 "$BG_PID"
  BG_PID=
  sleep 1
  running k1
  run timeout 30 /usr/bin/python3 "$RAW" "$DOCKER_SOCK" k1 'stream=1&stdin=1&stdout=1' \
    'send:echo still-$((2+3))\r' 'expect:still-5' 'send:exit\r' 'eof'
  echo "$output"
  [ "$status" -eq 0 ]
  # docker run -i (StdinOnce) killed: the process's stdin closes, it runs on
  mkfifo "$BATS_TEST_TMPDIR/in"
  DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" run -i --name k2 bb sh -c 'cat; echo cat-ended; sleep 1000' \
    <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/k2" 2>&1 &
  BG_PID=$!
  exec 4>"$BATS_TEST_TMPDIR/in"
  echo fed >&4
  wait_for_text "$BATS_TEST_TMPDIR/k2" fed
  kill -9 "$BG_PID"
  exec 4>&-
  BG_PID=
  for _ in $(seq 1 100); do docker logs k2 2>&1 | grep -q cat-ended && break; sleep 0.1; done
  run docker logs k2
  [ "$output" = $'fed\ncat-ended' ]
  running k2
}

@test "docker start -ai: with and without a terminal" {
  docker create -it --name sa bb sh
  run timeout 40 /usr/bin/python3 "$PTY" 25 80 \
    'expect:# ' 'send:echo in-start-$((3*3))\r' 'expect:in-start-9' 'send:exit 5\r' \
    -- env DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" start -ai sa
  echo "$output"
  [ "$status" -eq 5 ]
  docker create -i --name sb bb sh -c 'cat; echo done >&2; exit 3'
  run timeout 30 bash -c "echo fed | DOCKER_HOST=unix://$DOCKER_SOCK $DOCKER_BIN start -ai sb 2>&1"
  echo "$output"
  [ "$status" -eq 3 ]
  [ "$output" = $'fed\ndone' ]
}

@test "attach to a container that does not run: the CLI's refusal, as with dockerd" {
  docker create --name st bb true
  run docker attach st
  [ "$status" -ne 0 ]
  [[ "$output" == *"You cannot attach to a stopped container, start it first"* ]]
  docker start st
  for _ in $(seq 1 50); do running st || break; sleep 0.1; done
  run docker attach st
  [ "$status" -ne 0 ]
  [[ "$output" == *"You cannot attach to a stopped container, start it first"* ]]
  run docker attach nosuch
  [ "$status" -ne 0 ]
  [[ "$output" == *"No such container: nosuch"* ]]
}

@test "docker exec -it: the detach keys leave the process running" {
  docker run -d --name ex bb sleep 1000
  run timeout 40 /usr/bin/python3 "$PTY" 25 80 \
    'expect:# ' 'send:touch /tmp/in-exec; echo ready-$((2*4))\r' 'expect:ready-8' 'send:\x18x' \
    -- env DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" exec -it --detach-keys=ctrl-x,x ex sh
  echo "$output"
  [ "$status" -ne 124 ]
  docker exec ex test -e /tmp/in-exec
  run docker exec ex ps
  echo "$output"
  [ "$(echo "$output" | grep -c ' sh$')" -ge 1 ]
}

@test "after the sessions, kleened stops with no sanitizer report (LeakSanitizer on)" {
  stop_containers
  pid=$(kleened_pid)
  kill -TERM "$pid"
  for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  ! kill -0 "$pid" 2>/dev/null || false
  ! grep -E -A40 'AddressSanitizer|LeakSanitizer|runtime error:' "$E2E_DIR/kleened.log" || false
}
