#!/usr/bin/env bats
# TLS listeners with client certificates made at test time: a client without a certificate
# (or with one from another CA) is refused, one with a certificate from the CA is served.
load helpers

setup_file() {
  export CERTS=$(mktemp -d /tmp/kleene-certs.XXXXXX)
  make_certs "$CERTS"
  export PORT=18085
  export EXTRA_LISTENERS="  - address: \"https://127.0.0.1:$PORT\"
    tlscert: $CERTS/server.pem
    tlskey: $CERTS/server.key
    tlscacert: $CERTS/ca.pem
    tlsverify: true
  - address: \"https://127.0.0.1:$((PORT + 1))\"
    tlscert: $CERTS/server.pem
    tlskey: $CERTS/server.key"
  start_kleened
}
teardown_file() {
  stop_kleened
  rm -rf "$CERTS"
}

tls_curl() { in_ns curl -s --cacert "$CERTS/ca.pem" "$@"; }

@test "a client with a certificate from the CA is served over TLS" {
  run tls_curl --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
    -w '\n%{http_code}' "https://127.0.0.1:$PORT/volumes/list"
  [ "$status" -eq 0 ]
  [ "${output##*$'\n'}" = 200 ]
  [ "${output%$'\n'*}" = "[]" ]
}

@test "the volume API works over TLS with a client certificate" {
  run tls_curl --cert "$CERTS/client.pem" --key "$CERTS/client.key" -X POST \
    -H 'Content-Type: application/json' --data '{"name":"tlsvol"}' \
    -w '\n%{http_code}' "https://127.0.0.1:$PORT/volumes/create"
  [ "${output##*$'\n'}" = 201 ]
  run tls_curl --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
    "https://127.0.0.1:$PORT/volumes/tlsvol/inspect"
  [ "$(echo "$output" | jq -r .volume.name)" = tlsvol ]
}

@test "a client without a certificate is refused at the handshake" {
  run tls_curl -w '\n%{http_code}' "https://127.0.0.1:$PORT/volumes/list"
  [ "$status" -ne 0 ]
  [ "${output##*$'\n'}" = 000 ]
  assert_alive
}

@test "a client with a certificate from another CA is refused at the handshake" {
  run tls_curl --cert "$CERTS/rogue.pem" --key "$CERTS/rogue.key" -w '\n%{http_code}' \
    "https://127.0.0.1:$PORT/volumes/list"
  [ "$status" -ne 0 ]
  [ "${output##*$'\n'}" = 000 ]
  assert_alive
}

@test "a TLS listener without tlsverify serves clients without certificates" {
  run tls_curl -w '\n%{http_code}' "https://127.0.0.1:$((PORT + 1))/volumes/list"
  [ "$status" -eq 0 ]
  [ "${output##*$'\n'}" = 200 ]
}

@test "plain HTTP to a TLS port gets no API answer" {
  run in_ns curl -s -m 5 -w '\n%{http_code}' "http://127.0.0.1:$PORT/volumes/list"
  [ "${output##*$'\n'}" != 200 ]
  assert_alive
}

@test "klee works over TLS with a client certificate (libcurl loaded on demand)" {
  run in_ns "$KLEE" --host "https://127.0.0.1:$PORT" --tlscacert "$CERTS/ca.pem" \
    --tlscert "$CERTS/client.pem" --tlskey "$CERTS/client.key" volume create tlsklee
  [ "$status" -eq 0 ]
  [ "$output" = tlsklee ]
  run in_ns "$KLEE" --host "https://127.0.0.1:$PORT" --tlscacert "$CERTS/ca.pem" \
    --tlscert "$CERTS/client.pem" --tlskey "$CERTS/client.key" volume ls
  [ "$status" -eq 0 ]
  [[ "$output" == *tlsklee* ]]
  # without a client certificate it is refused at the handshake, with the TLS alert's words
  run in_ns "$KLEE" --host "https://127.0.0.1:$PORT" --tlscacert "$CERTS/ca.pem" volume ls
  [ "$status" -eq 1 ]
  [[ "$output" != *tlsklee* ]]
  [[ "$output" == *"certificate required"* ]]
}
