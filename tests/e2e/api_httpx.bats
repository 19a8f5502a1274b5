#!/usr/bin/env bats
# The original klee speaks to kleened through httpx (KLEE-CLI.md): its requests, as httpx
# frames them (keep-alive, Accept-Encoding, JSON bodies with Content-Length), get the answers
# of API.md, over the UNIX socket and over TLS with a client certificate.
load helpers

setup_file() {
  export CERTS=$(mktemp -d /tmp/kleene-certs.XXXXXX)
  make_certs "$CERTS"
  export PORT=18180
  export EXTRA_LISTENERS="  - address: \"https://127.0.0.1:$PORT\"
    tlscert: $CERTS/server.pem
    tlskey: $CERTS/server.key
    tlscacert: $CERTS/ca.pem
    tlsverify: true"
  start_kleened
}
teardown_file() {
  stop_kleened
  rm -rf "$CERTS"
}

hx() { timeout 20 /usr/bin/python3 "$BATS_TEST_DIRNAME/httpx_client.py" unix "$SOCK" "$@"; }
hx_tls() {
  in_ns timeout 20 /usr/bin/python3 "$BATS_TEST_DIRNAME/httpx_client.py" tls \
    "https://127.0.0.1:$PORT" "$CERTS/ca.pem" "$CERTS/client.pem" "$CERTS/client.key" "$@"
}

@test "httpx over the UNIX socket: the volume calls of klee" {
  run hx POST /volumes/create '{"name": "hxvol"}'
  [ "$status" -eq 0 ]
  [ "$output" = '201 {"id":"hxvol"}' ]
  run hx GET /volumes/list
  [ "${output%% *}" = 200 ]
  [ "$(echo "${output#* }" | jq -r '.[0].name')" = hxvol ]
  run hx GET /volumes/hxvol/inspect
  [ "$(echo "${output#* }" | jq -r .volume.name)" = hxvol ]
  run hx DELETE /volumes/hxvol
  [ "$output" = '200 {"id":"hxvol"}' ]
  run hx GET /volumes/hxvol/inspect
  [ "${output%% *}" = 404 ]
  [ "$(echo "${output#* }" | jq -r .message)" != null ]
}

@test "httpx over the UNIX socket: list calls and a 422" {
  run hx GET '/containers/list?all=true'
  [ "$output" = "200 []" ]
  run hx GET /images/list
  [ "$output" = "200 []" ]
  run hx GET /networks/list
  [ "$output" = "200 []" ]
  run hx POST /volumes/create '{"name": 7}'
  [ "${output%% *}" = 422 ]
  [ "$(echo "${output#* }" | jq -r '.errors[0].detail')" = "Invalid string. Got: integer" ]
}

@test "httpx over TLS with a client certificate" {
  run hx_tls POST /volumes/create '{"name": "hxtls"}'
  [ "$status" -eq 0 ]
  [ "$output" = '201 {"id":"hxtls"}' ]
  run hx_tls GET /volumes/list
  [ "$(echo "${output#* }" | jq -r '.[] | select(.name == "hxtls") | .name')" = hxtls ]
}
