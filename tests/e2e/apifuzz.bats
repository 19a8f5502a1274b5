#!/usr/bin/env bats
# A short run of the API fuzzer (tests/torture/apifuzz.py; longer runs: tests/torture/
# apifuzz.sh): 20 s of requests built from kleened's own route table and schemas
# (api_schema_dump), malformed, wrongly typed, huge and hostile, against this file's ASan
# kleened with LeakSanitizer on. No finding (a 5xx, a request left without an answer, a
# WebSocket without a close frame, kleened gone) and no sanitizer report when it stops.
load helpers

PY=/usr/bin/python3
SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
FUZZ="$BATS_TEST_DIRNAME/../torture/apifuzz.py"

setup_file() {
  EXTRA_TOP=$'request_timeout: 5\nwebsocket_idle_timeout: 5' \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  klee image create -t fz:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
  mkdir -p "$E2E_DIR/ctx"
  printf 'FROM fz\nRUN echo built\n' >"$E2E_DIR/ctx/Dockerfile"
  "$BUILD_DIR/tests/torture/api_schema_dump" >"$E2E_DIR/dump.json"
}

teardown_file() { stop_kleened; }

@test "the dump holds every route and schema the server uses" {
  [ "$(jq '.routes | length' "$E2E_DIR/dump.json")" -ge 30 ]
  [ "$(jq -r '.routes[] | select(.path == "/networks/create") | .body' "$E2E_DIR/dump.json")" = NetworkConfig ]
  [ "$(jq -r '.routes[] | select(.path == "/exec/start") | .kind' "$E2E_DIR/dump.json")" = websocket ]
  [ "$(jq -r '.schemas.NetworkConfig.fields[] | select(.name == "name") | .pattern' "$E2E_DIR/dump.json")" = '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' ]
}

@test "a build with jail_param (what the fuzzer found leaking): the image is made" {
  out=$($PY "$BATS_TEST_DIRNAME/wsclient.py" "$SOCK" /images/build \
    "{\"context\":\"$E2E_DIR/ctx\",\"tag\":\"jp:1\",\"container_config\":{\"jail_param\":[\"mount.nodevfs\"],\"network_driver\":\"host\"}}")
  echo "$out"
  [ "$(echo "$out" | tail -1 | jq -r .close_code)" = 1000 ]
  api GET /images/jp:1/inspect
  [ "$status_code" = 200 ]
  # the leak itself shows when kleened stops (below)
}

@test "20 s of fuzzed requests: no finding" {
  seed=${APIFUZZ_SEED:-$RANDOM}
  run $PY "$FUZZ" --socket "$SOCK" --pid "$(kleened_pid)" --dump "$E2E_DIR/dump.json" \
    --workdir "$E2E_DIR" --image fz --seconds 20 --min-requests 101 --seed "$seed" --json "$E2E_DIR/fuzz.json"
  echo "$output"
  [ "$status" = 0 ]
  [ "$(jq '.requests > 100' "$E2E_DIR/fuzz.json")" = true ]
  [ "$(jq '.findings | length' "$E2E_DIR/fuzz.json")" = 0 ]
}

@test "after the fuzzing, kleened stops with no sanitizer report (LeakSanitizer on)" {
  stop_containers
  pid=$(kleened_pid)
  kill -TERM "$pid"
  for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  ! kill -0 "$pid" 2>/dev/null || false
  ! grep -E -A40 'AddressSanitizer|LeakSanitizer|runtime error:' "$E2E_DIR/kleened.log" || false
}
