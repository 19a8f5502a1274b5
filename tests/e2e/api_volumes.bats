#!/usr/bin/env bats
# The volume API over a UNIX socket, checked against API.md (bodies and status codes),
# and the daemon's answers to malformed requests.
load helpers

setup_file() { start_kleened; }
teardown_file() { stop_kleened; }

@test "volume create returns 201 with the name as id, and is idempotent" {
  api POST /volumes/create '{"name":"vol1"}'
  [ "$status_code" = 201 ]
  [ "$(echo "$body" | jq -r .id)" = vol1 ]
  [ -d "$E2E_DIR/root/volumes/vol1" ]
  created=$(curl -s --unix-socket "$SOCK" http://localhost/volumes/vol1/inspect | jq -r .volume.created)
  api POST /volumes/create '{"name":"vol1"}'
  [ "$status_code" = 201 ]
  again=$(curl -s --unix-socket "$SOCK" http://localhost/volumes/vol1/inspect | jq -r .volume.created)
  [ "$created" = "$again" ]
}

@test "volume list is ordered newest first with every field" {
  api POST /volumes/create '{"name":"vol2"}'
  api GET /volumes/list
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r '.[0].name')" = vol2 ]
  [ "$(echo "$body" | jq -r '.[1].name')" = vol1 ]
  [ "$(echo "$body" | jq -r '.[0] | keys | join(",")')" = "created,dataset,labels,mountpoint,name" ]
  echo "$body" | jq -r '.[0].created' | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$'
}

@test "volume inspect returns volume and mountpoints; unknown is 404 No such volume" {
  api GET /volumes/vol1/inspect
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r .volume.name)" = vol1 ]
  [ "$(echo "$body" | jq -c .mountpoints)" = "[]" ]
  api GET /volumes/nope/inspect
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "No such volume" ]
}

@test "volume remove returns the name; unknown is 404" {
  api DELETE /volumes/vol2
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r .id)" = vol2 ]
  [ ! -e "$E2E_DIR/root/volumes/vol2" ]
  api DELETE /volumes/vol2
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "No such volume" ]
}

@test "volume prune removes unused volumes and lists their names" {
  api POST /volumes/create '{"name":"p1"}'
  api POST /volumes/create '{"name":"p2"}'
  api POST /volumes/prune
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c 'sort')" = '["p1","p2","vol1"]' ]
  api GET /volumes/list
  [ "$body" = "[]" ]
}

@test "invalid volume names are refused with 422 and nothing is created" {
  for name in '../escape' 'a/b' '.hidden' '' '-x'; do
    api POST /volumes/create "{\"name\":\"$name\"}"
    [ "$status_code" = 422 ]
    [ "$(echo "$body" | jq -r '.errors[0].source.pointer')" = /name ]
  done
  [ ! -e "$E2E_DIR/root/escape" ]
  [ "$(ls "$E2E_DIR/root/volumes" | wc -l)" = 0 ]
  assert_alive
}

@test "malformed JSON is 422 and the daemon still answers" {
  api POST /volumes/create '{"name": '
  [ "$status_code" = 422 ]
  echo "$body" | jq -e '.errors[0].detail | startswith("invalid json")'
  assert_alive
}

@test "wrong types are 422 with the OpenApiSpex messages" {
  api POST /volumes/create '{"name": 42}'
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r '.errors[0].detail')" = "Invalid string. Got: integer" ]
  [ "$(echo "$body" | jq -r '.errors[0].title')" = "Invalid value" ]
  api POST /volumes/create '"just a string"'
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r '.errors[0].detail')" = "Invalid object. Got: string" ]
  api POST /volumes/create '{}'
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r '.errors[0].detail')" = "Missing field: name" ]
  assert_alive
}

@test "422 bodies carry content-type application/json; charset=utf-8" {
  ct=$(curl -s -o /dev/null -w '%{content_type}' --unix-socket "$SOCK" -X POST \
    -H 'Content-Type: application/json' --data '{}' http://localhost/volumes/create)
  [ "$ct" = "application/json; charset=utf-8" ]
}

@test "a body without content-type is 422, a non-JSON content-type is 415" {
  out=$(curl -s -w '\n%{http_code}' --unix-socket "$SOCK" -X POST -H 'Content-Type:' \
    --data-binary '{"name":"x"}' http://localhost/volumes/create)
  [ "${out##*$'\n'}" = 422 ]
  echo "${out%$'\n'*}" | jq -e '.errors[0].detail == "Missing header: content-type"'
  out=$(curl -s -w '\n%{http_code}' --unix-socket "$SOCK" -X POST -H 'Content-Type: text/plain' \
    --data-binary '{"name":"x"}' http://localhost/volumes/create)
  [ "${out##*$'\n'}" = 415 ]
}

@test "unknown paths and wrong methods are 404" {
  api GET /no/such/path
  [ "$status_code" = 404 ]
  api DELETE /volumes/list
  [ "$status_code" = 404 ]
  api GET /volumes/create
  [ "$status_code" = 404 ]
  assert_alive
}

@test "an oversized body is refused with 413 and the daemon still answers" {
  big=$(head -c 2000000 /dev/zero | tr '\0' 'a')
  out=$(printf '{"name":"%s"}' "$big" | curl -s -w '\n%{http_code}' --unix-socket "$SOCK" \
    -X POST -H 'Content-Type: application/json' --data-binary @- http://localhost/volumes/create)
  [ "${out##*$'\n'}" = 413 ]
  assert_alive
}

@test "oversized headers are refused and the daemon still answers" {
  big=$(head -c 100000 /dev/zero | tr '\0' 'a')
  code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -H "X-Big: $big" \
    http://localhost/volumes/list)
  [ "$code" -ge 400 ]
  assert_alive
}

@test "a WebSocket path without an upgrade is 400" {
  api GET /images/create
  [ "$status_code" = 400 ]
}

@test "the socket is mode 0600 and owned by root" {
  [ "$(stat -c '%a %U' "$SOCK")" = "600 root" ]
}

