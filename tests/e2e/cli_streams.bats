#!/usr/bin/env bats
# Streams as Docker users expect them (issue 13 items 1-3), driven as a user would: stdin's
# end reaches the container's process (pipes, </dev/null, tar), stdout and stderr stay apart
# (from the process to klee's own stdout and stderr, and in the log), and a terminal's size
# is followed (a pty through python). Plus the opt-in protocol itself, spoken by a third-party
# client (exec_mux.py), next to the original protocol which stays as it was.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  stop_kleened
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || api POST /containers/prune
}

K() { printf '%q ' "$KLEE" --host "http://$SOCK" "$@"; }

@test "stdin's end: echo hi | klee run --rm -i IMAGE sh -c 'cat; echo done' ends" {
  run timeout 20 bash -c "echo hi | $(K run --rm -i bb sh -c 'cat; echo done')"
  [ "$status" -eq 0 ]
  [[ "$output" == *$'hi\ndone'* ]]
  # --rm removed it
  api GET /containers/list?all=true
  [ "$(echo "$body" | jq length)" -eq 0 ]
}

@test "klee run without -i: the process reads EOF at once, as with docker" {
  run timeout 20 bash -c "$(K run --rm bb sh -c 'cat; echo after-eof')"
  [ "$status" -eq 0 ]
  [[ "$output" == *"after-eof"* ]]
}

@test "klee exec -i C cat </dev/null ends; tar c . | klee exec -i C tar x -C /dst copies a tree" {
  klee run -d --name ex bb sleep 60 >/dev/null
  run timeout 20 bash -c "$(K exec -i ex cat) </dev/null"
  [ "$status" -eq 0 ]
  [[ "${lines[-1]}" == *" has exited with exit-code 0" ]]
  # a tree with a binary file bigger than any buffer on the way
  mkdir -p "$E2E_DIR/tree/sub"
  head -c 3000000 /dev/urandom >"$E2E_DIR/tree/sub/big.bin"
  echo small >"$E2E_DIR/tree/small.txt"
  want=$(cd "$E2E_DIR/tree" && md5sum sub/big.bin small.txt)
  klee exec ex mkdir /dst >/dev/null
  run timeout 60 bash -c "cd '$E2E_DIR/tree' && tar c . | $(K exec -i ex tar x -C /dst)"
  [ "$status" -eq 0 ]
  run klee exec ex sh -c 'cd /dst && md5sum sub/big.bin small.txt'
  [ "$status" -eq 0 ]
  [[ "$output" == *"$want"* ]]
}

@test "stdout and stderr apart: klee's own stdout and stderr; 2>/dev/null hides the container's stderr" {
  run timeout 20 bash -c "$(K run --name sep bb sh -c 'echo to-out; echo to-err >&2; exit 4') 2>'$E2E_DIR/err'"
  [ "$status" -eq 4 ]
  [[ "$output" == *"to-out"* ]]
  [[ "$output" != *"to-err"* ]]
  grep -qx to-err "$E2E_DIR/err"
  ! grep -q to-out "$E2E_DIR/err" || false
  run timeout 20 bash -c "$(K start sep) 2>/dev/null"
  [ "$status" -eq 4 ]
  [[ "$output" == *"to-out"* ]]
  [[ "$output" != *"to-err"* ]]
}

@test "logs: each line on the stream it came from; --stdout and --stderr select one" {
  klee run --name lg bb sh -c 'echo o1; echo e1 >&2; printf o2; echo e2 >&2; echo; echo o3' >/dev/null 2>&1
  klee container logs lg >"$E2E_DIR/out" 2>"$E2E_DIR/err"
  printf 'o1\no2\no3\n' | cmp - "$E2E_DIR/out"
  printf 'e1\ne2\n' | cmp - "$E2E_DIR/err"
  klee container logs --stdout lg >"$E2E_DIR/out" 2>"$E2E_DIR/err"
  printf 'o1\no2\no3\n' | cmp - "$E2E_DIR/out"
  [ ! -s "$E2E_DIR/err" ]
  klee container logs --stderr lg >"$E2E_DIR/out" 2>"$E2E_DIR/err"
  [ ! -s "$E2E_DIR/out" ]
  printf 'e1\ne2\n' | cmp - "$E2E_DIR/err"
  # the API without the new parameters: the merged bytes, as before. The order across the
  # two streams is the order the monitor read the pipes in, so lg's unfinished stdout line
  # (o2) may be cut by e2; whole lines from each stream keep their order within it.
  klee run --name lm bb sh -c 'echo o1; echo e1 >&2; echo o2; echo e2 >&2' >/dev/null 2>&1
  run curl -s --unix-socket "$SOCK" "http://localhost/containers/lm/logs?follow=false"
  echo "$output"
  [ "$(echo "$output" | grep '^o' | tr '\n' ' ')" = "o1 o2 " ]
  [ "$(echo "$output" | grep '^e' | tr '\n' ' ')" = "e1 e2 " ]
  [ "$(echo "$output" | wc -l)" = 4 ]
  # multiplexed: 8-byte headers, stream 2 for stderr
  curl -s --unix-socket "$SOCK" "http://localhost/containers/lg/logs?multiplex=true&stdout=false" >"$E2E_DIR/mux"
  printf '\x02\x00\x00\x00\x00\x00\x00\x03e1\n\x02\x00\x00\x00\x00\x00\x00\x03e2\n' | cmp - "$E2E_DIR/mux"
}

@test "logs -f of a running container keeps the streams apart" {
  klee run -d --name lf bb sh -c 'echo a-out; echo a-err >&2; sleep 1; echo b-out; echo b-err >&2' >/dev/null
  timeout 20 "$KLEE" --host "http://$SOCK" container logs -f lf >"$E2E_DIR/out" 2>"$E2E_DIR/err"
  printf 'a-out\nb-out\n' | cmp - "$E2E_DIR/out"
  printf 'a-err\nb-err\n' | cmp - "$E2E_DIR/err"
}

@test "exec -it follows the terminal's size: the initial one and a resize (SIGWINCH)" {
  klee run -d --name tt bb sleep 60 >/dev/null
  run timeout 40 /usr/bin/python3 "$BATS_TEST_DIRNAME/pty_session.py" 30 100 \
    'expect:# ' 'send:stty size\r' 'expect:30 100' \
    'resize:41:133' 'send:stty size\r' 'expect:41 133' 'send:exit\r' \
    -- "$KLEE" --host "http://$SOCK" exec -it tt sh
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "run -it follows the terminal's size and the shell sees typed input" {
  run timeout 40 /usr/bin/python3 "$BATS_TEST_DIRNAME/pty_session.py" 25 90 \
    'expect:# ' 'send:stty size\r' 'expect:25 90' \
    'resize:50:70' 'send:stty size; echo typed-$((6*7))\r' 'expect:50 70' 'expect:typed-42' \
    'send:exit 5\r' \
    -- "$KLEE" --host "http://$SOCK" run --rm -it bb sh
  echo "$output"
  [ "$status" -eq 5 ]
}

@test "protocol: multiplex gives tagged binary frames, close_stdin ends input, starting says so" {
  api POST /containers/create '{"image":"bb","cmd":["sh","-c","cat; echo err >&2; exit 7"]}'
  cid=$(echo "$body" | jq -r .id)
  api POST /exec/create "{\"container_id\":\"$cid\"}"
  eid=$(echo "$body" | jq -r .id)
  run timeout 30 /usr/bin/python3 "$BATS_TEST_DIRNAME/exec_mux.py" "$SOCK" "$eid" \
    --bin 'line1
' --bin 'line2' --text '{"msg_type":"close_stdin"}'
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .starting.multiplex)" = true ]
  [ "$(echo "$output" | jq -r .starting.msg_type)" = starting ]
  [ "$(echo "$output" | jq -r .stdout)" = "$(printf 'line1\nline2')" ]
  [ "$(echo "$output" | jq -r .stderr)" = "err" ]
  [ "$(echo "$output" | jq -r .text)" = "" ]
  [ "$(echo "$output" | jq -r .bad_frames)" = 0 ]
  [ "$(echo "$output" | jq -r .close_code)" = 1000 ]
  [[ "$(echo "$output" | jq -r .close_reason)" == *"exited with exit-code 7"* ]]
}

@test "protocol: a resize without a tty is harmless; a malformed control message closes 1002 and stops the process" {
  api POST /containers/create '{"image":"bb","cmd":["cat"]}'
  cid=$(echo "$body" | jq -r .id)
  api POST /exec/create "{\"container_id\":\"$cid\"}"
  eid=$(echo "$body" | jq -r .id)
  run timeout 30 /usr/bin/python3 "$BATS_TEST_DIRNAME/exec_mux.py" "$SOCK" "$eid" \
    --text '{"msg_type":"resize","rows":10,"cols":20}' --bin 'ok
' --sleep 0.3 --text '{"msg_type":"bogus"}'
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .stdout)" = "ok" ]
  [ "$(echo "$output" | jq -r .close_code)" = 1002 ]
  [[ "$(echo "$output" | jq -r .close_reason)" == *"invalid control message: unknown msg_type"* ]]
  # the process was stopped like after a client that went away; the daemon is fine
  for _ in $(seq 50); do
    api GET "/containers/$cid/inspect"
    [ "$(echo "$body" | jq -r .container.running)" = false ] && break
    sleep 0.1
  done
  [ "$(echo "$body" | jq -r .container.running)" = false ]
  api GET /version
  [ "$status_code" = 200 ]
}

@test "protocol: without multiplex (the original client) output is text frames, merged, and text input is stdin" {
  api POST /containers/create '{"image":"bb","cmd":["sh","-c","read l; echo got:$l; echo err >&2"]}'
  cid=$(echo "$body" | jq -r .id)
  api POST /exec/create "{\"container_id\":\"$cid\"}"
  eid=$(echo "$body" | jq -r .id)
  run timeout 30 /usr/bin/python3 "$BATS_TEST_DIRNAME/exec_mux.py" "$SOCK" "$eid" --no-multiplex \
    --text '{"msg_type":"close_stdin"}
'
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -c .starting)" = '{"data":"","message":"","msg_type":"starting"}' ]
  [ "$(echo "$output" | jq -r .text)" = "$(printf 'got:{"msg_type":"close_stdin"}\nerr')" ]
  [ "$(echo "$output" | jq -r .stdout)" = "" ]
  [ "$(echo "$output" | jq -r .close_code)" = 1000 ]
}
