#!/usr/bin/env bats
# Labels (ours, docs/api.md "Labels") on containers, images, networks and volumes: through the
# Kleene API (opt-in `labels`, shown by inspect and list), through klee (--label, ls -f label=),
# refused when bad (a clear 422 naming the label), and absent from requests of the original
# protocol, which keep working.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create zfs-copy "$E2E_DIR/rootfs" -t busybox:latest >/dev/null
}

teardown_file() { stop_kleened; }

@test "API: volume, network, container created with labels show them in inspect and list" {
  api POST /volumes/create '{"name":"lv","labels":{"com.example.app":"web","tier":""}}'
  [ "$status_code" = 201 ]
  api GET /volumes/lv/inspect
  [ "$(echo "$body" | jq -c .volume.labels)" = '{"com.example.app":"web","tier":""}' ]
  api GET /volumes/list
  [ "$(echo "$body" | jq -c '.[] | select(.name == "lv") | .labels')" = '{"com.example.app":"web","tier":""}' ]

  api POST /networks/create '{"name":"ln","type":"loopback","subnet":"10.9.1.0/24","labels":{"a":"1"}}'
  [ "$status_code" = 201 ]
  api GET /networks/ln/inspect
  [ "$(echo "$body" | jq -c .network.labels)" = '{"a":"1"}' ]
  api GET /networks/list
  [ "$(echo "$body" | jq -c '.[] | select(.name == "ln") | .labels')" = '{"a":"1"}' ]

  api POST /containers/create '{"name":"lc","image":"busybox","cmd":["/bin/true"],"labels":{"com.docker.compose.project":"p","x":"y z"}}'
  [ "$status_code" = 201 ]
  api GET /containers/lc/inspect
  [ "$(echo "$body" | jq -c .container.labels)" = '{"com.docker.compose.project":"p","x":"y z"}' ]
  api GET '/containers/list?all=true'
  [ "$(echo "$body" | jq -c '.[] | select(.name == "lc") | .labels')" = '{"com.docker.compose.project":"p","x":"y z"}' ]
  # an update that does not name labels keeps them; one that does replaces them
  api POST /containers/lc/update '{"name":"lc2"}'
  [ "$status_code" = 201 ]
  api GET /containers/lc2/inspect
  [ "$(echo "$body" | jq -c .container.labels)" = '{"com.docker.compose.project":"p","x":"y z"}' ]
  api POST /containers/lc2/update '{"labels":{"only":"this"}}'
  [ "$status_code" = 201 ]
  api GET /containers/lc2/inspect
  [ "$(echo "$body" | jq -c .container.labels)" = '{"only":"this"}' ]
}

@test "API: the original protocol (no labels field) still works and shows empty labels" {
  api POST /volumes/create '{"name":"plain"}'
  [ "$status_code" = 201 ]
  api POST /networks/create '{"name":"plainnet","type":"loopback","subnet":"10.9.2.0/24"}'
  [ "$status_code" = 201 ]
  api POST /containers/create '{"name":"plainc","image":"busybox","cmd":["/bin/true"]}'
  [ "$status_code" = 201 ]
  api GET /volumes/plain/inspect
  [ "$(echo "$body" | jq -c .volume.labels)" = '{}' ]
  api GET /networks/plainnet/inspect
  [ "$(echo "$body" | jq -c .network.labels)" = '{}' ]
  api GET /containers/plainc/inspect
  [ "$(echo "$body" | jq -c .container.labels)" = '{}' ]
  # labels: null is the same as none
  api POST /volumes/create '{"name":"nullv","labels":null}'
  [ "$status_code" = 201 ]
}

@test "API: bad labels are a 422 at /labels naming the label, and create nothing" {
  api POST /volumes/create '{"name":"badv","labels":{"a b":"x"}}'
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r '.errors[0].source.pointer')" = /labels ]
  [[ "$(echo "$body" | jq -r '.errors[0].detail')" == "label key 'a b': only printable ASCII"* ]]
  api GET /volumes/badv/inspect
  [ "$status_code" = 404 ]

  api POST /networks/create '{"name":"badn","type":"loopback","labels":{"k":1}}'
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r '.errors[0].detail')" = "label 'k': the value must be a string" ]
  api POST /containers/create '{"name":"badc","image":"busybox","labels":{"k":"\u001b[2J"}}'
  [ "$status_code" = 422 ]
  [[ "$(echo "$body" | jq -r '.errors[0].detail')" == *"control character"* ]]
  api POST /containers/create '{"name":"badc","image":"busybox","labels":["k"]}'
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r '.errors[0].detail')" = "Invalid object. Got: array" ]
  many=$(jq -nc '[range(0;257)] | map({key: "k\(.)", value: ""}) | from_entries')
  api POST /volumes/create "{\"name\":\"manyv\",\"labels\":$many}"
  [ "$status_code" = 422 ]
  [[ "$(echo "$body" | jq -r '.errors[0].detail')" == *"too many"* ]]
  long=$(printf 'k%.0s' $(seq 1 256))
  api POST /volumes/create "{\"name\":\"longv\",\"labels\":{\"$long\":\"\"}}"
  [ "$status_code" = 422 ]
  [[ "$(echo "$body" | jq -r '.errors[0].detail')" == *"longer than 255 bytes"* ]]
  api GET /containers/badc/inspect
  [ "$status_code" = 404 ]
  assert_alive
}

@test "klee: --label on volume/network/container create and run; inspect shows them; ls -f label=" {
  run klee volume create -l app=web --label tier vl
  [ "$status" -eq 0 ]
  [ "$(klee volume inspect vl | jq -c .volume.labels)" = '{"app":"web","tier":""}' ]
  run klee network create -l app=web --label=zone=a=b --subnet 10.9.3.0/24 nl
  [ "$status" -eq 0 ]
  [ "$(klee network inspect nl | jq -c .network.labels)" = '{"app":"web","zone":"a=b"}' ]
  run klee container create --name cl --label app=web --label tier=db busybox /bin/true
  [ "$status" -eq 0 ]
  [ "$(klee container inspect cl | jq -c .container.labels)" = '{"app":"web","tier":"db"}' ]
  run klee run --name rl --label app=other busybox /bin/true
  [ "$status" -eq 0 ]
  [ "$(klee container inspect rl | jq -c .container.labels)" = '{"app":"other"}' ]
  # several label filters: all of them (docker)
  run klee lsc -a -f label=app --format '{{.Name}}'
  [ "$(echo "$output" | sort | tr '\n' ' ')" = "cl rl " ]
  run klee lsc -a -f label=app=web --format '{{.Name}}'
  [ "$output" = cl ]
  run klee lsc -a -f label=app -f label=tier=db --format '{{.Name}}'
  [ "$output" = cl ]
  run klee lsc -a -f label=app=nope --format '{{.Name}}'
  [ -z "$output" ]
  run klee lsc -a -f label= --format '{{.Name}}'
  [ "$status" -eq 2 ]
  # bad labels are usage errors before anything is sent
  run klee volume create -l 'a b=c' vbad
  [ "$status" -eq 2 ]
  [[ "$output" == *"Invalid value for '--label': label key 'a b'"* ]]
  run klee volume inspect vbad
  [ "$status" -ne 0 ]
  run klee container create --label '=x' busybox
  [ "$status" -eq 2 ]
  [[ "$output" == *"label key is empty"* ]]
}

@test "images: LABEL of the Dockerfile, --label of the build (wins), inherited by a child" {
  ctx=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  printf 'FROM busybox\nLABEL app=base "my key"="v 1"\nLABEL tier=x\n' >"$ctx/Dockerfile"
  run klee build -t lbase --label tier=db --label extra "$ctx"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(klee image inspect lbase | jq -cS .labels)" = '{"app":"base","extra":"","my key":"v 1","tier":"db"}' ]
  api GET /images/list
  [ "$(echo "$body" | jq -c '.[] | select(.name == "lbase") | .labels.tier')" = '"db"' ]
  printf 'FROM lbase\nLABEL app=child\n' >"$ctx/Dockerfile"
  run klee build -t lchild "$ctx"
  [ "$status" -eq 0 ]
  [ "$(klee image inspect lchild | jq -cS .labels)" = '{"app":"child","extra":"","my key":"v 1","tier":"db"}' ]
  run klee build -t lbad --label 'bad key=1' "$ctx"
  [ "$status" -eq 2 ]
  run klee image inspect lbad
  [ "$status" -ne 0 ]
}
