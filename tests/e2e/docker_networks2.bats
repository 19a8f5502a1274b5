#!/usr/bin/env bats
# dockerd's predefined networks host and none in the Docker door (docs/docker-api.md "The
# predefined networks host and none"): listed, inspected by name and by their stable id, with
# the containers of that mode; rm, create, connect and disconnect refused with dockerd's
# words; prune leaves them; they are never Kleene networks and do not make the default one.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() { stop_kleened; }

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" "$@"; }

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

@test "inspect host and none by name and id does not make the default network nor a Kleene network" {
  dapi GET /v1.41/networks/host
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r '.Name + " " + .Driver + " " + .Scope')" = "host host local" ]
  hid=$(echo "$body" | jq -r .Id)
  [[ "$hid" =~ ^[0-9a-f]{64}$ ]]
  dapi GET /v1.41/networks/none
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r '.Name + " " + .Driver + " " + .Scope')" = "none null local" ]
  nid=$(echo "$body" | jq -r .Id)
  [[ "$nid" =~ ^[0-9a-f]{64}$ ]]
  [ "$hid" != "$nid" ]
  # by the full id and a prefix; the same id every time
  [ "$(docker network inspect -f '{{.Name}}' "$hid")" = host ]
  [ "$(docker network inspect -f '{{.Name}} {{.Id}}' "${nid:0:12}")" = "none $nid" ]
  # the Kleene API: no network at all (neither these nor the default bridge)
  api GET /networks/list
  [ "$(echo "$body" | jq length)" = 0 ]
  run klee network ls
  [ "$status" -eq 0 ]
  [[ "$output" != *host* ]]
  [[ "$output" != *none* ]]
  # the id is derived from the name alone (docs/docker-api.md): the hex SHA-1 of
  # "kleene:predefined-network:NAME::1" then of "…::2", cut to 64 digits; the same on every
  # kleened
  for n in host none; do
    want=$(for r in 1 2; do printf 'kleene:predefined-network:%s::%s' "$n" "$r" | sha1sum | cut -c1-40; done | tr -d '\n' | cut -c1-64)
    [ "$(docker network inspect -f '{{.Id}}' "$n")" = "$want" ]
  done
}

@test "docker network ls: bridge, host, none; filters driver, type, name, id, dangling" {
  run docker network ls --format '{{.Name}} {{.Driver}} {{.Scope}}'
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | sort | tr '\n' ',')" = "bridge bridge local,host host local,none null local," ]
  [ "$(docker network ls -q --filter driver=null --format '{{.Name}}')" = none ]
  [ "$(docker network ls --filter driver=host --format '{{.Name}}')" = host ]
  [ "$(docker network ls --filter type=builtin --format '{{.Name}}' | sort | tr '\n' ' ')" = "bridge host none " ]
  docker network create mynet >/dev/null
  [ "$(docker network ls --filter type=custom --format '{{.Name}}')" = mynet ]
  [ "$(docker network ls --filter name=ho --format '{{.Name}}')" = host ]
  hid=$(docker network inspect -f '{{.Id}}' host)
  [ "$(docker network ls --filter id="${hid:0:10}" --format '{{.Name}}')" = host ]
  # dockerd never counts a predefined network as dangling
  run docker network ls --filter dangling=true --format '{{.Name}}'
  [[ "$output" != *host* ]]
  [[ "$output" != *none* ]]
  [[ "$output" == *mynet* ]]
  [ "$(docker network ls --filter label=x --format '{{.Name}}')" = "" ]
  # the Kleene API lists the two real ones only
  api GET /networks/list
  [ "$(echo "$body" | jq -r '[.[].name] | sort | join(" ")')" = "bridge mynet" ]
  docker network rm mynet
}

@test "rm, create, connect, disconnect of host and none are refused; prune leaves them" {
  run docker network rm host
  [ "$status" -ne 0 ]
  [[ "$output" == *"host is a pre-defined network and cannot be removed"* ]]
  dapi DELETE /v1.41/networks/none
  [ "$status_code" = 403 ]
  [ "$(echo "$body" | jq -r .message)" = "none is a pre-defined network and cannot be removed" ]
  dapi POST /v1.41/networks/create '{"Name":"host"}'
  [ "$status_code" = 403 ]
  [[ "$(echo "$body" | jq -r .message)" == "operation is not permitted on predefined host network"* ]]
  run docker network create none
  [ "$status" -ne 0 ]
  [[ "$output" == *"operation is not permitted on predefined none network"* ]]
  docker create --name cb bb true >/dev/null
  run docker network connect host cb
  [ "$status" -ne 0 ]
  [[ "$output" == *"container cannot be disconnected from host network or connected to host network"* ]]
  dapi POST /v1.41/networks/none/connect '{"Container":"cb"}'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == *"private (none) mode"* ]]
  run docker network disconnect host cb
  [ "$status" -ne 0 ]
  [[ "$output" == *"container cb is not connected to network host"* ]]
  docker create --name ch --network host bb true >/dev/null
  run docker network disconnect host ch
  [ "$status" -ne 0 ]
  [[ "$output" == *"container cannot be disconnected from host network or connected to host network"* ]]
  run docker network connect host ch
  [ "$status" -ne 0 ]
  [[ "$output" == *"already exists in network host"* ]]
  dapi POST /v1.41/networks/host/connect '{"Container":"nosuch"}'
  [ "$status_code" = 404 ]
  run docker network prune -f
  [ "$status" -eq 0 ]
  [ "$(docker network ls --format '{{.Name}}' | sort | tr '\n' ' ')" = "bridge host none " ]
  # nothing of this reached the Kleene networks
  api GET /networks/list
  [ "$(echo "$body" | jq -r '[.[].name] | join(" ")')" = bridge ]
  docker rm cb ch >/dev/null
}

@test "containers in host or none mode are the Containers of inspect; their NetworkSettings name the network's id" {
  docker create --name mh --network host bb true >/dev/null
  docker create --name mn --network none bb true >/dev/null
  docker create --name mb bb true >/dev/null
  hid=$(docker network inspect -f '{{.Id}}' host)
  nid=$(docker network inspect -f '{{.Id}}' none)
  [ "$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' host)" = "mh " ]
  [ "$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' none)" = "mn " ]
  mh=$(docker inspect -f '{{.Id}}' mh)
  dapi GET /v1.41/networks/host
  [ "$(echo "$body" | jq -r --arg c "$mh" '.Containers[$c].Name')" = mh ]
  [ "$(docker inspect -f '{{.NetworkSettings.Networks.host.NetworkID}}' mh)" = "$hid" ]
  [ "$(docker inspect -f '{{.NetworkSettings.Networks.none.NetworkID}}' mn)" = "$nid" ]
  # docker-py sees the same
  run python3 -c '
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1])
n = c.networks.get("host")
print(n.name, n.attrs["Driver"], " ".join(x.name for x in n.containers))
print(" ".join(sorted(x.name for x in c.networks.list())))
' "$DOCKER_SOCK"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "host host mh" ]
  [ "${lines[1]}" = "bridge host none" ]
  docker rm mh mn mb >/dev/null
}
