#!/usr/bin/env bats
# The HTTP/1.1 wire behaviour of kleened's API server: persistent connections, pipelining,
# request body framing (Content-Length, chunked, 100-continue), limits, malformed input,
# timeouts, response headers, many connections, WebSocket over TLS and client certificates
# checked at the TLS handshake. Raw requests go through http_probe.py, which sends exactly the
# bytes given (with \r\n escapes) and prints each response as a JSON line.
load helpers

setup_file() {
  export CERTS=$(mktemp -d /tmp/kleene-certs.XXXXXX)
  make_certs "$CERTS"
  export TCP_PORT=18190 TLS_PORT=18191 VERIFY_PORT=18192
  # max_body_bytes has a floor of 1024 in the config, so the lowered limit is 2048.
  export EXTRA_TOP="max_body_bytes: 2048
max_header_bytes: 4096
request_timeout: 2"
  export EXTRA_LISTENERS="  - address: \"http://127.0.0.1:$TCP_PORT\"
  - address: \"https://127.0.0.1:$TLS_PORT\"
    tlscert: $CERTS/server.pem
    tlskey: $CERTS/server.key
  - address: \"https://127.0.0.1:$VERIFY_PORT\"
    tlscert: $CERTS/server.pem
    tlskey: $CERTS/server.key
    tlscacert: $CERTS/ca.pem
    tlsverify: true"
  start_kleened
}
teardown_file() {
  stop_kleened
  rm -rf "${CERTS:-/nonexistent}"
}

# Every test leaves no volume behind, also when it fails half-way (or the server wrongly
# accepted a request that should have been refused).
teardown() {
  curl -s -m 5 -X POST --unix-socket "$SOCK" http://localhost/volumes/prune >/dev/null || true
}

probe() { timeout 20 /usr/bin/python3 "$BATS_TEST_DIRNAME/http_probe.py" "$@"; }
# the Nth response printed by the last `run probe`, and its last line
nth() { echo "$output" | grep '^{"status"' | sed -n "${1}p"; }
last() { echo "$output" | tail -1; }

GET_LIST='GET /volumes/list HTTP/1.1\r\nHost: localhost\r\n\r\n'
# a raw POST /volumes/create of NAME with a Content-Length body (escapes for the probe)
create_req() {
  local b="{\"name\":\"$1\"}"
  printf 'POST /volumes/create HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n%s' \
    "${#b}" "$b"
}
# a float comparison: le A B
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# expect_refused STATUS RAW: RAW, sent on a fresh UNIX-socket connection, gets STATUS with a JSON
# {"message": ...} body; the server then closes the connection at once; kleened still answers.
expect_refused() {
  run probe "$SOCK" --send "$2" --recv 1 --eof 3
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = "$1" ]
  nth 1 | jq -e '.headers["content-type"] | startswith("application/json")'
  nth 1 | jq -e '.body | fromjson | .message | type == "string"'
  [ "$(last | jq -r .eof)" = true ]
  le "$(last | jq -r .after)" 1
  assert_alive
}

# --- 1. persistent connections -------------------------------------------------------------

@test "keep-alive: two requests on one connection are both answered" {
  run probe "$SOCK" --send "$GET_LIST" --recv 1 --send "$GET_LIST" --recv 1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(nth 1 | jq -r .status)" = 200 ]
  [ "$(nth 2 | jq -r .status)" = 200 ]
  [ "$(nth 2 | jq -r .body | jq -r type)" = array ]
}

@test "keep-alive: curl reuses the connection for two URLs (UNIX socket and TCP)" {
  run curl -sv --unix-socket "$SOCK" http://localhost/volumes/list http://localhost/version
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qi 're-using existing connection'
  run in_ns curl -sv "http://127.0.0.1:$TCP_PORT/volumes/list" "http://127.0.0.1:$TCP_PORT/version"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qi 're-using existing connection'
}

@test "Connection: close from the client: answered, then the server closes" {
  run probe "$SOCK" --send 'GET /volumes/list HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' \
    --recv 1 --eof 3
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 200 ]
  [ "$(last | jq -r .eof)" = true ]
  le "$(last | jq -r .after)" 1
}

@test "HTTP/1.0: answered with a Content-Length body, then the server closes" {
  run probe "$SOCK" --send 'GET /volumes/list HTTP/1.0\r\n\r\n' --recv 1 --eof 3
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 200 ]
  [ "$(nth 1 | jq -r .framing)" = length ]
  [ "$(nth 1 | jq -r .body | jq -r type)" = array ]
  [ "$(last | jq -r .eof)" = true ]
  le "$(last | jq -r .after)" 1
}

# --- 2. pipelining -------------------------------------------------------------------------

@test "pipelining: requests sent in one write are all answered, in order" {
  run probe "$SOCK" --send "$(create_req pipe1)GET /volumes/pipe1/inspect HTTP/1.1\r\nHost: x\r\n\r\nGET /volumes/nope/inspect HTTP/1.1\r\nHost: x\r\n\r\n$GET_LIST" \
    --recv 4
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(nth 1 | jq -r .status)" = 201 ]
  [ "$(nth 1 | jq -r .body | jq -r .id)" = pipe1 ]
  [ "$(nth 2 | jq -r .status)" = 200 ]
  [ "$(nth 2 | jq -r .body | jq -r .volume.name)" = pipe1 ]
  [ "$(nth 3 | jq -r .status)" = 404 ]
  [ "$(nth 4 | jq -r .status)" = 200 ]
  api DELETE /volumes/pipe1
  [ "$status_code" = 200 ]
}

# --- 3. request bodies ---------------------------------------------------------------------

@test "a Content-Length body creates a volume" {
  run probe "$SOCK" --send "$(create_req cl1)" --recv 1
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 201 ]
  [ "$(nth 1 | jq -r .body | jq -r .id)" = cl1 ]
  api DELETE /volumes/cl1
  [ "$status_code" = 200 ]
}

@test "a chunked body from curl creates a volume" {
  run curl -s -w '\n%{http_code}' --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary '{"name":"chunk1"}' http://localhost/volumes/create
  echo "$output"
  [ "${output##*$'\n'}" = 201 ]
  [ "$(echo "${output%$'\n'*}" | jq -r .id)" = chunk1 ]
  api DELETE /volumes/chunk1
  [ "$status_code" = 200 ]
}

@test "hand-written chunks with extensions and an empty trailer; the connection stays usable" {
  # {"name":"chunk2"} as 5 + 12 bytes; the second size in upper-case hex with two extensions
  run probe "$SOCK" --send 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{"nam\r\nC;a=b;q="x y"\r\ne":"chunk2"}\r\n0\r\n\r\n' \
    --recv 1 --send 'GET /volumes/chunk2/inspect HTTP/1.1\r\nHost: x\r\n\r\n' --recv 1
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 201 ]
  [ "$(nth 1 | jq -r .body | jq -r .id)" = chunk2 ]
  [ "$(nth 2 | jq -r .status)" = 200 ]
  api DELETE /volumes/chunk2
  [ "$status_code" = 200 ]
}

@test "Expect: 100-continue: 100 Continue first, then 201 for the body" {
  run probe "$SOCK" --send 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\nExpect: 100-continue\r\n\r\n' \
    --recv 1 --send '{"name":"cont1"}' --recv 1
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 100 ]
  [ "$(nth 2 | jq -r .status)" = 201 ]
  [ "$(nth 2 | jq -r .body | jq -r .id)" = cont1 ]
  api DELETE /volumes/cont1
  [ "$status_code" = 200 ]
}

@test "a Content-Length over max_body_bytes with Expect: 100-continue is 413 without the body" {
  run probe "$SOCK" --timeout 5 --send 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n' \
    --recv-final
  echo "$output"
  [ "$(last | jq -r .status)" = 413 ]
  last | jq -e '.body | fromjson | .message | type == "string"'
  le "$(last | jq -r .at)" 2
  assert_alive
}

@test "a Content-Length over max_body_bytes without Expect is 413 before the body arrives" {
  run probe "$SOCK" --timeout 5 --send 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{"name":' \
    --recv-final
  echo "$output"
  [ "$(last | jq -r .status)" = 413 ]
  last | jq -e '.body | fromjson | .message | type == "string"'
  le "$(last | jq -r .at)" 2
  assert_alive
}

@test "a chunked body over max_body_bytes is 413" {
  a=$(head -c 1000 /dev/zero | tr '\0' a)
  run probe "$SOCK" --send "POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n$a\r\n3e8\r\n$a\r\n3e8\r\n$a\r\n0\r\n\r\n" \
    --recv-final
  echo "$output" | cut -c1-400
  [ "$(last | jq -r .status)" = 413 ]
  last | jq -e '.body | fromjson | .message | type == "string"'
  assert_alive
}

# --- 4. malformed input --------------------------------------------------------------------

@test "malformed: a garbage request line is 400" {
  expect_refused 400 'GARBAGE\r\n\r\n'
}

@test "malformed: a header line without a colon is 400" {
  expect_refused 400 'GET /volumes/list HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n'
}

@test "malformed: an obsolete folded header line is 400" {
  expect_refused 400 'GET /volumes/list HTTP/1.1\r\nHost: x\r\nX-A: b\r\n  folded\r\n\r\n'
}

@test "malformed: HTTP/2.0 and HTTP/3.1 request lines are 505" {
  expect_refused 505 'GET /volumes/list HTTP/2.0\r\nHost: x\r\n\r\n'
  expect_refused 505 'GET /volumes/list HTTP/3.1\r\nHost: x\r\n\r\n'
}

@test "malformed: Transfer-Encoding: gzip is 501" {
  expect_refused 501 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n'
}

@test "malformed: Transfer-Encoding: chunked together with Content-Length is 400" {
  expect_refused 400 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 16\r\n\r\n10\r\n{"name":"tecl1"}\r\n0\r\n\r\n'
  api GET /volumes/tecl1/inspect
  [ "$status_code" = 404 ]
}

@test "malformed: non-numeric, negative and conflicting Content-Length are 400" {
  expect_refused 400 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{"name":"x"}'
  expect_refused 400 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -12\r\n\r\n{"name":"x"}'
  expect_refused 400 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\nContent-Length: 13\r\n\r\n{"name":"x"}'
  api GET /volumes/x/inspect
  [ "$status_code" = 404 ]
}

@test "malformed: a bad chunk size is 400" {
  expect_refused 400 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{"name":"badchunk"}\r\n0\r\n\r\n'
  api GET /volumes/badchunk/inspect
  [ "$status_code" = 404 ]
}

@test "malformed: bad percent-encoding and %00 in the path are 400" {
  expect_refused 400 'GET /volumes/%zz/inspect HTTP/1.1\r\nHost: x\r\n\r\n'
  expect_refused 400 'GET /volumes/a%00b/inspect HTTP/1.1\r\nHost: x\r\n\r\n'
}

@test "malformed: a request target not starting with / is 400" {
  expect_refused 400 'GET volumes/list HTTP/1.1\r\nHost: x\r\n\r\n'
}

@test "a header section over max_header_bytes is 431 (one under it is served)" {
  small=$(head -c 3000 /dev/zero | tr '\0' a)
  run probe "$SOCK" --send "GET /volumes/list HTTP/1.1\r\nHost: x\r\nX-Big: $small\r\n\r\n" --recv 1
  [ "$(nth 1 | jq -r .status)" = 200 ]
  big=$(head -c 5000 /dev/zero | tr '\0' a)
  expect_refused 431 "GET /volumes/list HTTP/1.1\r\nHost: x\r\nX-Big: $big\r\n\r\n"
}

@test "more than 64 header fields is 431 (40 are served)" {
  few="" many=""
  for i in $(seq 1 40); do few+="X-H$i: $i\r\n"; done
  for i in $(seq 1 65); do many+="X-H$i: $i\r\n"; done
  run probe "$SOCK" --send "GET /volumes/list HTTP/1.1\r\nHost: x\r\n$few\r\n" --recv 1
  [ "$(nth 1 | jq -r .status)" = 200 ]
  expect_refused 431 "GET /volumes/list HTTP/1.1\r\nHost: x\r\n$many\r\n"
}

@test "more than 32 query parameters is 400 and the connection stays usable (5 are served)" {
  run probe "$SOCK" --send 'GET /volumes/list?a=1&b=2&c=3&d=4&e=5 HTTP/1.1\r\nHost: x\r\n\r\n' --recv 1
  [ "$(nth 1 | jq -r .status)" = 200 ]
  q="p0=0"
  for i in $(seq 1 32); do q+="&p$i=$i"; done
  # an answer about the query, not about HTTP framing: the connection stays usable
  run probe "$SOCK" --send "GET /volumes/list?$q HTTP/1.1\r\nHost: x\r\n\r\n" --recv 1 \
    --send "$GET_LIST" --recv 1
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 400 ]
  [ "$(nth 1 | jq -r .body | jq -r .message)" = "too many query parameters" ]
  [ "$(nth 2 | jq -r .status)" = 200 ]
}

# --- 5. timeouts (request_timeout: 2) --------------------------------------------------------

@test "timeout: a client stalling in the middle of the head is closed within about 2-4 s" {
  run probe "$SOCK" --send 'GET /volumes/list HTTP/1.1\r\nHost: x\r\n' --eof 8
  echo "$output"
  [ "$(last | jq -r .eof)" = true ]
  le 1.5 "$(last | jq -r .after)"
  le "$(last | jq -r .after)" 4.5
  # nothing, or a 408, before the close
  data=$(last | jq -r .data)
  [ -z "$data" ] || [[ "$data" == "HTTP/1."?" 408"* ]]
  assert_alive
}

@test "timeout: an idle keep-alive connection is closed after about 2-4 s" {
  run probe "$SOCK" --send "$GET_LIST" --recv 1 --eof 8
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 200 ]
  [ "$(last | jq -r .eof)" = true ]
  le 1.5 "$(last | jq -r .after)"
  le "$(last | jq -r .after)" 4.5
  data=$(last | jq -r .data)
  [ -z "$data" ] || [[ "$data" == "HTTP/1."?" 408"* ]]
}

@test "timeout: other clients are served while some stall" {
  pids=()
  for i in 1 2 3; do
    probe "$SOCK" --send 'GET /volumes/list HTTP/1.1\r\nHost: x\r\n' --eof 8 >"$BATS_TEST_TMPDIR/stall$i" &
    pids+=($!)
  done
  sleep 0.3
  t0=$(date +%s%N)
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://localhost/volumes/list)
  t1=$(date +%s%N)
  for p in "${pids[@]}"; do wait "$p" || true; done
  [ "$code" = 200 ]
  [ $(((t1 - t0) / 1000000)) -lt 1000 ]
  for i in 1 2 3; do
    [ "$(jq -r .eof <"$BATS_TEST_TMPDIR/stall$i")" = true ]
  done
}

# --- 6. response headers -------------------------------------------------------------------

@test "responses carry Content-Type, Content-Length and Date" {
  date_re='^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$'
  run probe "$SOCK" --send "$GET_LIST" --recv 1 \
    --send 'GET /volumes/nope/inspect HTTP/1.1\r\nHost: x\r\n\r\n' --recv 1 \
    --send "$(create_req hdr1)" --recv 1 \
    --send 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' --recv 1
  echo "$output"
  [ "$(nth 1 | jq -r .status)" = 200 ]
  [ "$(nth 2 | jq -r .status)" = 404 ]
  [ "$(nth 3 | jq -r .status)" = 201 ]
  [ "$(nth 4 | jq -r .status)" = 422 ]
  for n in 1 2 3; do
    [ "$(nth $n | jq -r '.headers["content-type"]')" = application/json ]
  done
  [ "$(nth 4 | jq -r '.headers["content-type"]')" = "application/json; charset=utf-8" ]
  for n in 1 2 3 4; do
    nth $n | jq -e '(.headers["content-length"] | tonumber) == (.body | length)'
    nth $n | jq -r '.headers.date' | grep -Eq "$date_re"
  done
  api DELETE /volumes/hdr1
  [ "$status_code" = 200 ]
}

# --- 7. many connections -------------------------------------------------------------------

@test "50 clients in parallel each get 200 for GET /volumes/list" {
  pids=()
  for i in $(seq 1 50); do
    curl -s -m 10 -o /dev/null -w '%{http_code}\n' --unix-socket "$SOCK" \
      http://localhost/volumes/list >"$BATS_TEST_TMPDIR/c$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  [ "$(cat "$BATS_TEST_TMPDIR"/c* | grep -c '^200$')" = 50 ]
  assert_alive
}

@test "50 connections open at once, served whatever order their requests come in" {
  run probe "$SOCK" --parallel 50 "$GET_LIST"
  echo "$output"
  [ "$(echo "$output" | jq -c '.statuses | unique')" = "[200]" ]
  [ "$(echo "$output" | jq '.statuses | length')" = 50 ]
  assert_alive
}

# --- 8. TLS --------------------------------------------------------------------------------

@test "TLS: keep-alive, curl reuses the connection" {
  run in_ns curl -sv --cacert "$CERTS/ca.pem" "https://127.0.0.1:$TLS_PORT/volumes/list" \
    "https://127.0.0.1:$TLS_PORT/version"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qi 're-using existing connection'
}

@test "WebSocket over TLS: invalid JSON as the first frame closes with 1002 invalid json" {
  run in_ns timeout 30 /usr/bin/python3 - "$CERTS/ca.pem" "wss://127.0.0.1:$TLS_PORT/images/create" '{"method": ' <<'PY'
import asyncio, json, ssl, sys
import websockets

async def session():
    ctx = ssl.create_default_context(cafile=sys.argv[1])
    async with websockets.connect(sys.argv[2], ssl=ctx, ping_interval=None, open_timeout=5,
                                  close_timeout=2) as ws:
        await ws.send(sys.argv[3])
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
    print(json.dumps({"close_code": ws.close_code, "close_reason": ws.close_reason}))

async def main():
    try:
        await asyncio.wait_for(session(), 10)
    except asyncio.TimeoutError:
        print(json.dumps({"timeout": "no close frame within 10 s"}))

asyncio.run(main())
PY
  echo "status=$status output=$output"
  [ "$status" -eq 0 ]
  [ "$(last | jq -r .close_code)" = 1002 ]
  [ "$(last | jq -r .close_reason | jq -r .message)" = "invalid json" ]
  assert_alive
}

@test "tlsverify: a client with a certificate from the CA is served" {
  run in_ns curl -s --cacert "$CERTS/ca.pem" --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
    -w '\n%{http_code}' "https://127.0.0.1:$VERIFY_PORT/volumes/list"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${output##*$'\n'}" = 200 ]
}

# --- 9. refusal at the handshake -----------------------------------------------------------

@test "tlsverify: a client without a certificate is refused at the TLS handshake, not with 403" {
  run in_ns curl -s -m 10 --cacert "$CERTS/ca.pem" -w '\n%{http_code}' \
    "https://127.0.0.1:$VERIFY_PORT/volumes/list"
  echo "status=$status output=$output"
  [ "$status" -ne 0 ]
  [ "${output##*$'\n'}" = 000 ]
  assert_alive
}
