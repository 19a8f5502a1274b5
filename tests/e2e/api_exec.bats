#!/usr/bin/env bats
# Exec instances and container stop over the API (API.md §6 Exec, §7.3, §8.2; CONFORMANCE.md
# §2 exec_test and Appendix A) against a real kleened with a busybox image: the wire strings,
# close codes and exit codes a client matches on, and the logs endpoint of ours.
load helpers

PY=/usr/bin/python3
WSCLIENT="$BATS_TEST_DIRNAME/wsclient.py"
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
  api POST /containers/prune
}

# create_container NAME [CMD-JSON]: sets $cid
create_container() {
  api POST /containers/create "{\"name\":\"$1\",\"image\":\"bb\",\"cmd\":${2:-[]},\"network_driver\":\"host\"}"
  [ "$status_code" = 201 ]
  cid=$(echo "$body" | jq -r .id)
}
# create_exec CONTAINER [CMD-JSON] [EXTRA]: sets $eid
create_exec() {
  api POST /exec/create "{\"container_id\":\"$1\",\"cmd\":${2:-[]}${3:+,$3}}"
  [ "$status_code" = 201 ]
  eid=$(echo "$body" | jq -r .id)
}
# ws_start CONFIG [--close-after N]: $ws_out has one JSON line per frame, the close last.
ws_start() { ws_out=$($PY "$WSCLIENT" "$SOCK" /exec/start "$@"); }
close_code() { echo "$ws_out" | tail -1 | jq -r .close_code; }
close_reason() { echo "$ws_out" | tail -1 | jq -r .close_reason; }
frames() { echo "$ws_out" | jq -r 'select(.frame != null) | .frame'; }
running() { api GET "/containers/$1/inspect"; [ "$(echo "$body" | jq -r .container.running)" = true ]; }

@test "attached start: starting, output, close 1000 with the container's exit; exit codes" {
  create_container att '["/bin/sh","-c","uname"]'
  create_exec att
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":true}"
  [ "$(echo "$ws_out" | head -1 | jq -r .frame)" = '{"data":"","message":"","msg_type":"starting"}' ]
  [ "$(frames | sed -n 2p)" = "Linux" ]
  [ "$(close_code)" = 1000 ]
  [ "$(close_reason)" = "{\"data\":\"\",\"message\":\"executable $eid and its container exited with exit-code 0\",\"msg_type\":\"closing\"}" ]
  ! running att || false
  create_exec att '["/bin/sh","-c","exit 3"]'
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":\"true\"}"
  [ "$(echo "$(close_reason)" | jq -r .message)" = "executable $eid and its container exited with exit-code 3" ]
  api DELETE "/containers/$cid"
  [ "$status_code" = 200 ]
}

@test "a second process in a running container; stop_container true stops the container" {
  create_container two '["/bin/sleep","10"]'
  create_exec two
  root=$eid
  ws_start "{\"exec_id\":\"$root\",\"attach\":false,\"start_container\":true}"
  [ "$(close_code)" = 1001 ]
  [ "$(close_reason)" = '{"data":"","message":"succesfully started execution instance in detached mode","msg_type":"closing"}' ]
  [ "$(echo "$ws_out" | wc -l)" = 1 ]
  running two
  create_exec two '["/bin/echo","test test"]'
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":false}"
  [ "$(frames | sed -n 2p)" = "test test" ]
  [ "$(echo "$(close_reason)" | jq -r .message)" = "$eid has exited with exit-code 0" ]
  running two
  # starting it again: it is gone
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":false}"
  [ "$(frames)" = "error: could not find execution instance matching '$eid'" ]
  [ "$(close_code)" = 1011 ]
  api POST "/exec/$root/stop?force_stop=false&stop_container=true"
  [ "$status_code" = 200 ]
  [ "$body" = "{\"id\":\"$root\"}" ]
  ! running two || false
}

@test "stop_container=false, force_stop=true: the attached exec ends 137, the container runs on" {
  create_container kill9 '["/bin/sleep","60"]'
  create_exec kill9
  root=$eid
  ws_start "{\"exec_id\":\"$root\",\"attach\":false,\"start_container\":true}"
  create_exec kill9 '["/bin/sleep","99"]'
  $PY "$WSCLIENT" "$SOCK" /exec/start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":false}" >"$E2E_DIR/ws.out" &
  wspid=$!
  for _ in $(seq 1 100); do grep -q starting "$E2E_DIR/ws.out" 2>/dev/null && break; sleep 0.05; done
  api POST "/exec/$eid/stop?force_stop=true&stop_container=false"
  [ "$status_code" = 200 ]
  [ "$body" = "{\"id\":\"$eid\"}" ]
  wait $wspid
  ws_out=$(cat "$E2E_DIR/ws.out")
  [ "$(close_code)" = 1000 ]
  [ "$(echo "$(close_reason)" | jq -r .message)" = "$eid has exited with exit-code 137" ]
  running kill9
  api POST "/exec/$eid/stop?force_stop=true&stop_container=false"
  [ "$status_code" = 404 ]
  [ "$body" = "{\"message\":\"could not find execution instance matching '$eid'\"}" ]
}

@test "stop_container=true on a second exec: 143 and its container exited; container stop" {
  create_container st '["/bin/sleep","60"]'
  create_exec st
  ws_start "{\"exec_id\":\"$eid\",\"attach\":false,\"start_container\":true}"
  create_exec st '["/bin/sleep","11"]'
  $PY "$WSCLIENT" "$SOCK" /exec/start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":false}" >"$E2E_DIR/ws.out" &
  wspid=$!
  for _ in $(seq 1 100); do grep -q starting "$E2E_DIR/ws.out" 2>/dev/null && break; sleep 0.05; done
  api POST "/exec/$eid/stop?force_stop=false&stop_container=true"
  [ "$status_code" = 200 ]
  wait $wspid
  ws_out=$(cat "$E2E_DIR/ws.out")
  [ "$(echo "$(close_reason)" | jq -r .message)" = "executable $eid and its container exited with exit-code 143" ]
  ! running st || false
  api POST "/containers/st/stop"
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"container not running"}' ]
  api POST "/containers/nonexisting/stop"
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"container not found"}' ]
  create_exec st
  ws_start "{\"exec_id\":\"$eid\",\"attach\":false,\"start_container\":true}"
  running st
  api POST "/containers/st/stop"
  [ "$status_code" = 200 ]
  [ "$body" = "{\"id\":\"$cid\"}" ]
  ! running st || false
}

@test "error cases of exec create, start and stop (exec_test)" {
  create_container errs '["/bin/sleep","60"]'
  ws_start '{"exec_id":"x","attach":"mustbeboolean","start_container":true}'
  [ "$(echo "$ws_out" | wc -l)" = 1 ]
  [ "$(close_code)" = 1002 ]
  [ "$(close_reason)" = '{"data":"","message":"invalid parameters: Invalid boolean. Got: string","msg_type":"error"}' ]
  ws_start '{"exec_id":"x","start_container":true}'
  [ "$(close_reason)" = '{"data":"","message":"invalid parameters: Missing field: attach","msg_type":"error"}' ]
  api POST /exec/create '{"container_id":"nonexisting"}'
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"container not found"}' ]
  ws_start '{"exec_id":"wrongid","attach":true,"start_container":true}'
  [ "$(frames)" = "error: could not find execution instance matching 'wrongid'" ]
  [ "$(close_code)" = 1011 ]
  [ "$(close_reason)" = '{"data":"","message":"error starting exec instance","msg_type":"error"}' ]
  create_exec errs
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":false}"
  [ "$(frames)" = "error: cannot start container when 'start_container' is false." ]
  [ "$(close_code)" = 1011 ]
  ws_start "{\"exec_id\":\"$eid\",\"attach\":false,\"start_container\":true}"
  [ "$(close_code)" = 1001 ]
  ws_start "{\"exec_id\":\"$eid\",\"attach\":false,\"start_container\":true}"
  [ "$(frames)" = "error: executable already started" ]
  [ "$(close_code)" = 1011 ]
  root=$eid
  create_exec errs
  api POST "/exec/$eid/stop?force_stop=false&stop_container=true"
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"execution instance have not been started"}' ]
  running errs
  api POST "/exec/$root/stop?force_stop=false&stop_container=true"
  [ "$status_code" = 200 ]
  api POST "/exec/$root/stop?force_stop=false&stop_container=true"
  [ "$status_code" = 404 ]
  [ "$body" = "{\"message\":\"could not find execution instance matching '$root'\"}" ]
  api DELETE "/containers/errs"
  [ "$status_code" = 200 ]
}

@test "tty: not a tty without, /dev/pts/N with" {
  create_container tty '["/usr/bin/tty"]'
  create_exec tty
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":true}"
  [[ "$(frames | sed -n 2p)" == "not a tty"* ]]
  create_exec tty '[]' '"tty":true'
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":true}"
  [[ "$(frames | sed -n 2p)" == /dev/pts/* ]]
}

@test "a client that goes away stops its process (SIGTERM); the container ends with it" {
  create_container gone '["/bin/sh","-c","echo up; exec sleep 60"]'
  create_exec gone
  ws_start "{\"exec_id\":\"$eid\",\"attach\":true,\"start_container\":true}" --close-after 2
  for _ in $(seq 1 100); do running gone || break; sleep 0.05; done
  ! running gone || false
}

@test "logs: the main process's output, plain and followed; 404" {
  create_container logs '["/bin/sh","-c","echo one; sleep 1; echo two"]'
  create_exec logs
  ws_start "{\"exec_id\":\"$eid\",\"attach\":false,\"start_container\":true}"
  out=$(curl -s --unix-socket "$SOCK" "http://localhost/containers/logs/logs?follow=true")
  [ "$out" = "$(printf 'one\ntwo')" ]
  out=$(curl -s -D "$E2E_DIR/h" --unix-socket "$SOCK" "http://localhost/containers/logs/logs")
  [ "$out" = "$(printf 'one\ntwo')" ]
  grep -qi 'content-type: application/octet-stream' "$E2E_DIR/h"
  api GET /containers/nonexisting/logs
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"container not found"}' ]
}
