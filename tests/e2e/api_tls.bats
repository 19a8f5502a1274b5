#!/usr/bin/env bats
# TLS listeners with client certificates made at test time: a client without a certificate
# (or with one from another CA) is refused, one with a certificate from the CA is served.
load helpers

make_certs() {
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=kleene-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 1 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=client" \
    -keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 1 -out "$d/client.pem" 2>/dev/null
  # A client certificate from a CA the daemon does not trust.
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=rogue" \
    -keyout "$d/rogue.key" -out "$d/rogue.pem" 2>/dev/null
}

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

@test "a client without a certificate is refused" {
  run tls_curl -w '\n%{http_code}' "https://127.0.0.1:$PORT/volumes/list"
  [ "$status" -ne 0 ] || [ "${output##*$'\n'}" = 403 ]
  assert_alive
}

@test "a client with a certificate from another CA is refused" {
  run tls_curl --cert "$CERTS/rogue.pem" --key "$CERTS/rogue.key" -w '\n%{http_code}' \
    "https://127.0.0.1:$PORT/volumes/list"
  [ "$status" -ne 0 ] || [ "${output##*$'\n'}" = 403 ]
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
  # without a client certificate it is refused (at the handshake or with 403)
  run in_ns "$KLEE" --host "https://127.0.0.1:$PORT" --tlscacert "$CERTS/ca.pem" volume ls
  [ "$status" -eq 1 ]
  [[ "$output" != *tlsklee* ]]
}
