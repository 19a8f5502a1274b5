#!/usr/bin/env bats
# The Docker Engine API door (issue 14, docs/docker-api.md), driven by Debian's docker CLI
# (docker.io; its dockerd is never started) against this test's kleened on its own docker
# socket: version negotiation, the error shape, system endpoints, and containers as
# `docker run/ps/exec/logs/stop/kill/rm/wait/inspect` use them.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
# Debian's CLI (API 1.41), whatever else is first on PATH
DOCKER_BIN=/usr/bin/docker

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

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" "$@"; }

# dapi METHOD PATH [BODY] -> $status_code and $body, on the docker socket
dapi() {
  local method=$1 path=$2 data=${3-}
  local out
  if [ -n "$data" ]; then
    out=$(curl -s -X "$method" --unix-socket "$DOCKER_SOCK" -H 'Content-Type: application/json' \
      --data-binary "$data" -w '\n%{http_code}' "http://localhost$path")
  else
    out=$(curl -s -X "$method" --unix-socket "$DOCKER_SOCK" -w '\n%{http_code}' "http://localhost$path")
  fi
  status_code=${out##*$'\n'}
  body=${out%$'\n'*}
}

@test "docker socket: mode 0600, and the Kleene API is not served on it" {
  [ "$(stat -c %a "$DOCKER_SOCK")" = 600 ]
  dapi GET /containers/list
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "page not found" ]
  # and the Docker API is not on the Kleene socket
  api GET /_ping
  [ "$status_code" = 404 ]
}

@test "docker version and docker info: the CLI negotiates 1.41 with kleened" {
  run docker version --format '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}'
  [ "$status" -eq 0 ]
  [ "$output" = "1.41 1.24 linux" ]
  run docker info --format '{{.OSType}} {{.ServerVersion}}'
  [ "$status" -eq 0 ]
  [[ "$output" == "linux "* ]]
}

@test "/_ping: GET and HEAD with dockerd's headers" {
  run curl -si --unix-socket "$DOCKER_SOCK" http://localhost/_ping
  [[ "$output" == *"HTTP/1.1 200 OK"* ]]
  [[ "$output" == *"Api-Version: 1.41"* ]]
  [[ "$output" == *"Docker-Experimental: false"* ]]
  [[ "$output" == *"Ostype: linux"* ]]
  [[ "$output" == *"Cache-Control: no-cache, no-store, must-revalidate"* ]]
  [ "$(echo "$output" | tail -1)" = OK ]
  run curl -s -I --unix-socket "$DOCKER_SOCK" http://localhost/_ping
  [[ "$output" == *"Api-Version: 1.41"* ]]
  [[ "$output" == *"Content-Length: 2"* ]]
  # versioned too
  run curl -sf --unix-socket "$DOCKER_SOCK" http://localhost/v1.41/_ping
  [ "$output" = OK ]
}

@test "API versions: too new and too old are refused with Docker's error shape" {
  dapi GET /v1.99/version
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" = "client version 1.99 is too new. Maximum supported API version is 1.41" ]
  dapi GET /v1.12/version
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == "client version 1.12 is too old. Minimum supported API version is 1.24"* ]]
  dapi GET /v2.1/version
  [ "$status_code" = 400 ]
  dapi GET /v1.30/version
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r .ApiVersion)" = 1.41 ]
  # the CLI told to speak a newer version than we serve
  DOCKER_API_VERSION=1.43 run docker ps
  [ "$status" -ne 0 ]
  [[ "$output" == *"is too new. Maximum supported API version is 1.41"* ]]
  assert_alive
}

@test "unknown endpoints and methods: 404 and 405 in Docker's shape" {
  dapi GET /v1.41/nothing/here
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "page not found" ]
  dapi DELETE /v1.41/version
  [ "$status_code" = 405 ]
  [ "$(echo "$body" | jq -r .message)" != null ]
  assert_alive
}
