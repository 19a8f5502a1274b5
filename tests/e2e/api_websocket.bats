#!/usr/bin/env bats
# The common WebSocket protocol of API.md §7.1, driven by python3-websockets (the library the
# original klee uses): config frame, JSON close reasons that fit a control frame, 1002 on bad
# input, ping/pong, the idle timeout.
load helpers

setup_file() {
  export EXTRA_TOP="websocket_idle_timeout: 2"
  start_kleened
}
teardown_file() { stop_kleened; }

probe() { /usr/bin/python3 "$BATS_TEST_DIRNAME/ws_probe.py" "$SOCK" "$@"; }
last_close() { echo "$output" | tail -1; }

@test "invalid JSON as the config frame closes with 1002 invalid json" {
  run probe /images/create --send '{"method": '
  [ "$status" -eq 0 ]
  [ "$(last_close | jq -r .close_code)" = 1002 ]
  [ "$(last_close | jq -r .close_reason)" = '{"data":"","message":"invalid json","msg_type":"error"}' ]
  assert_alive
}

@test "a JSON value that is not an object is invalid json too" {
  run probe /exec/start --send '[1,2,3]'
  [ "$(last_close | jq -r .close_code)" = 1002 ]
  [ "$(last_close | jq -r .close_reason | jq -r .message)" = "invalid json" ]
}

@test "binary garbage as the config frame gives a clean 1002" {
  run probe /images/build --send-hex 0102ff
  [ "$(last_close | jq -r .close_code)" = 1002 ]
  assert_alive
}

@test "pings are answered" {
  run probe /images/create --ping --send '{"method": '
  [ "$(echo "$output" | head -1)" = '{"pong": true}' ]
}

@test "a silent client is closed after the idle timeout" {
  start=$(date +%s)
  run probe /exec/start --wait 10
  end=$(date +%s)
  [ "$(last_close | jq -r .close_code)" = 1002 ]
  [ $((end - start)) -ge 1 ]
  [ $((end - start)) -le 6 ]
  assert_alive
}

@test "close reasons are JSON WebSocketMessages that fit 123 bytes" {
  run probe /images/create --send '{"method":"fetch","url":"file:///nonexistent"}'
  reason=$(last_close | jq -r .close_reason)
  [ "${#reason}" -le 123 ]
  echo "$reason" | jq -e 'has("data") and has("message") and has("msg_type")'
}

@test "many sessions in a row leave the daemon answering" {
  for i in $(seq 1 20); do probe /exec/start --send 'x' >/dev/null; done
  assert_alive
}
