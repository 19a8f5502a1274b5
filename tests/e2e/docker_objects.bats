#!/usr/bin/env bats
# The Docker door's networks and volumes (docs/docker-api.md "Networks", "Volumes"), driven by
# Debian's docker CLI (API 1.41) against this test's kleened on its own docker socket: create
# with labels and IPAM, ls with --filter, inspect, connect/disconnect, rm, prune; refused
# fields in Docker's error shape; the objects are the Kleene API's (one engine, no second
# store).
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

@test "docker volume create/ls/inspect/rm with --label and --filter label=" {
  run docker volume create --label app=web --label tier dv1
  [ "$status" -eq 0 ]
  [ "$output" = dv1 ]
  run docker volume create dv2
  [ "$status" -eq 0 ]
  run docker volume inspect dv1
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r '.[0].Driver')" = local ]
  [ "$(echo "$output" | jq -cS '.[0].Labels')" = '{"app":"web","tier":""}' ]
  [ "$(echo "$output" | jq -r '.[0].Mountpoint')" = "$E2E_DIR/root/volumes/dv1" ]
  # the same volume through the Kleene API
  api GET /volumes/dv1/inspect
  [ "$(echo "$body" | jq -cS .volume.labels)" = '{"app":"web","tier":""}' ]
  run docker volume ls -q --filter label=app=web
  [ "$output" = dv1 ]
  run docker volume ls -q --filter label=tier
  [ "$output" = dv1 ]
  run docker volume ls -q --filter label=app=db
  [ -z "$output" ]
  run docker volume ls -q --filter name=dv
  [ "$(echo "$output" | sort | tr '\n' ' ')" = "dv1 dv2 " ]
  run docker volume ls -q --filter dangling=true --filter name=dv2
  [ "$output" = dv2 ]
  run docker volume ls --format '{{.Name}} {{.Driver}}' --filter name=dv2
  [ "$output" = "dv2 local" ]
  run docker volume rm dv2
  [ "$status" -eq 0 ]
  [ "$output" = dv2 ]
  run docker volume inspect dv2
  [ "$status" -ne 0 ]
  [[ "${output,,}" == *"no such volume"* ]]
  dapi GET /v1.41/volumes/dv2
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "get dv2: no such volume" ]
  run docker volume rm dv2
  [ "$status" -ne 0 ]
  run docker volume rm -f dv2
  [ "$status" -eq 0 ]
  # anonymous: a 64-hex name
  dapi POST /v1.41/volumes/create '{}'
  [ "$status_code" = 201 ]
  [[ "$(echo "$body" | jq -r .Name)" =~ ^[0-9a-f]{64}$ ]]
  docker volume rm "$(echo "$body" | jq -r .Name)" dv1
}

@test "docker volume: refused fields and bad labels in Docker's error shape; in use is 409" {
  run docker volume create -d nfs x1
  [ "$status" -ne 0 ]
  [[ "$output" == *"volume driver 'nfs' is not supported"* ]]
  run docker volume create -o type=tmpfs x2
  [ "$status" -ne 0 ]
  [[ "$output" == *"DriverOpts are not supported"* ]]
  dapi POST /v1.41/volumes/create '{"Name":"x3","Labels":{"a b":"c"}}'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == "invalid Labels: label key 'a b'"* ]]
  dapi POST /v1.41/volumes/create '{"Name":"x4","Frobnicate":1}'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" = "volume field Frobnicate is not supported by kleened" ]
  dapi GET '/v1.41/volumes?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D'
  [ "$status_code" = 400 ]
  run docker volume ls -q
  [ -z "$(echo "$output" | grep '^x')" ]
  # a volume a container mounts is in use
  docker volume create used >/dev/null
  klee container create --name user -m used:/data bb /bin/true >/dev/null
  run docker volume rm used
  [ "$status" -ne 0 ]
  [[ "$output" == *"volume is in use"* ]]
  run docker volume ls -q --filter dangling=false
  [ "$output" = used ]
  klee container rm user >/dev/null
  docker volume rm used >/dev/null
  assert_alive
}

@test "docker volume prune: unused volumes, --filter label=, SpaceReclaimed" {
  docker volume create --label keep=yes pk >/dev/null
  docker volume create --label keep=no pn >/dev/null
  docker volume create pz >/dev/null
  head -c 100000 /dev/urandom >"$E2E_DIR/root/volumes/pn/blob"
  run docker volume prune -f --filter label=keep=no
  [ "$status" -eq 0 ]
  [[ "$output" == *"pn"* ]]
  [[ "$output" != *"pk"* ]]
  [[ "$output" == *"Total reclaimed space: 10"* ]]
  run docker volume ls -q
  [[ "$output" == *pk* && "$output" == *pz* && "$output" != *pn* ]]
  dapi POST '/v1.41/volumes/prune?filters=%7B%22label!%22%3A%5B%22keep%22%5D%7D'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c .VolumesDeleted)" = '["pz"]' ]
  run docker volume prune -f
  [ "$status" -eq 0 ]
  run docker volume ls -q
  [ -z "$output" ]
}

@test "docker network create/ls/inspect: bridge with IPAM, Internal, Labels, icc option" {
  run docker network create --subnet 10.77.0.0/24 --gateway 10.77.0.254 --ip-range 10.77.0.128/25 \
    --internal --label app=web -o com.docker.network.bridge.enable_icc=false dn1
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^[0-9a-f]{64}$ ]]
  id=$output
  run docker network inspect dn1
  [ "$status" -eq 0 ]
  n=$(echo "$output" | jq '.[0]')
  [ "$(echo "$n" | jq -r .Id)" = "$id" ]
  [ "$(echo "$n" | jq -r .Driver)" = bridge ]
  [ "$(echo "$n" | jq -r .Scope)" = local ]
  [ "$(echo "$n" | jq -r .Internal)" = true ]
  [ "$(echo "$n" | jq -c .IPAM.Config)" = '[{"Subnet":"10.77.0.0/24","Gateway":"10.77.0.254","IPRange":"10.77.0.128/25"}]' ]
  [ "$(echo "$n" | jq -r '.Options["com.docker.network.bridge.enable_icc"]')" = false ]
  [ "$(echo "$n" | jq -c .Labels)" = '{"app":"web"}' ]
  # the Kleene network behind it
  api GET /networks/dn1/inspect
  [ "$(echo "$body" | jq -c '.network | [.type, .subnet, .gateway, .icc, .internal, .ip_range, .labels]')" = '["bridge","10.77.0.0/24","10.77.0.254",false,true,"10.77.0.128/25",{"app":"web"}]' ]
  [ "${id:0:12}" = "$(echo "$body" | jq -r .network.id)" ]
  # by id prefix and full id
  [ "$(docker network inspect -f '{{.Name}}' "${id:0:20}")" = dn1 ]
  [ "$(docker network inspect -f '{{.Name}}' "$id")" = dn1 ]
  # without IPAM: a free subnet of the pool, like dockerd
  run docker network create dn2
  [ "$status" -eq 0 ]
  sub=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' dn2)
  [[ "$sub" =~ ^172\.(1[89]|2[0-9]|3[01])\.0\.0/16$ ]]
  run docker network create dn3
  sub3=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' dn3)
  [ -n "$sub3" ]
  [ "$sub3" != "$sub" ]
  run docker network ls --format '{{.Name}} {{.Driver}} {{.Scope}}' --filter label=app=web
  [ "$output" = "dn1 bridge local" ]
  run docker network ls -q --filter name=dn
  [ "$(echo "$output" | wc -l)" = 3 ]
  run docker network ls -q --filter label=app=nope
  [ -z "$output" ]
  run docker network create dn1
  [ "$status" -ne 0 ]
  [[ "$output" == *"network with name dn1 already exists"* ]]
}

@test "docker network: refused drivers, options and fields name what is refused" {
  run docker network create -d macvlan m1
  [ "$status" -ne 0 ]
  [[ "$output" == *"network driver 'macvlan' is not supported"* ]]
  run docker network create -o com.docker.network.driver.mtu=1400 m2
  [ "$status" -ne 0 ]
  [[ "$output" == *"network option com.docker.network.driver.mtu is not supported"* ]]
  run docker network create --ipv6 m3
  [ "$status" -ne 0 ]
  [[ "$output" == *"EnableIPv6 without an IPv6 subnet"* ]]
  run docker network create --aux-address a=10.78.0.5 --subnet 10.78.0.0/24 m4
  [ "$status" -ne 0 ]
  [[ "$output" == *"AuxiliaryAddresses is not supported"* ]]
  dapi POST /v1.41/networks/create '{"Name":"m5","IPAM":{"Config":[{"Subnet":"10.78.0.0/24","IPRange":"10.79.0.0/25"}]}}'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" = "ip range 10.79.0.0/25 is not inside the subnet 10.78.0.0/24" ]
  dapi POST /v1.41/networks/create '{"Name":"m6","Labels":{"k":"\u001b"}}'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == *"control character"* ]]
  dapi POST /v1.41/networks/create '{"Name":"m7","Frob":true}'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" = "network field Frob is not supported by kleened" ]
  dapi GET /v1.41/networks/nope
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "network nope not found" ]
  run docker network ls -q --filter name=m
  [ -z "$output" ]
  assert_alive
}

@test "docker network connect/disconnect/rm/prune with containers" {
  docker network create --subnet 10.80.0.0/24 --ip-range 10.80.0.64/26 cn >/dev/null
  klee container create --name c1 --driver ipnet bb /bin/sleep 60 >/dev/null
  klee container create --name c2 --driver ipnet bb /bin/true >/dev/null
  run docker network connect cn c1
  echo "$output"
  [ "$status" -eq 0 ]
  run docker network connect --ip 10.80.0.9 cn c2
  [ "$status" -eq 0 ]
  run docker network inspect cn
  cs=$(echo "$output" | jq -c '[.[0].Containers[] | [.Name, .IPv4Address]] | sort')
  # automatic addresses come from the IPRange (its first host address); static ones from the
  # whole subnet
  [ "$cs" = '[["c1","10.80.0.65/24"],["c2","10.80.0.9/24"]]' ]
  c1=$(klee container inspect c1 | jq -r .container.id)
  [ "$(echo "$output" | jq -r '.[0].Containers | keys[]' | grep -c "^$c1")" = 1 ]
  run docker network connect cn c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"already exists in network cn"* ]]
  run docker network connect --link c1:x cn c2
  [ "$status" -ne 0 ]
  [[ "$output" == *"Links is not supported"* ]]
  run docker network disconnect cn c2
  [ "$status" -eq 0 ]
  run docker network disconnect cn c2
  [ "$status" -ne 0 ]
  [[ "$output" == *"is not connected to network cn"* ]]
  # a running container keeps the network from going (dockerd's rule)
  klee container start -d c1 >/dev/null
  run docker network rm cn
  [ "$status" -ne 0 ]
  [[ "$output" == *"has active endpoints"* ]]
  klee container stop c1 >/dev/null
  run docker network rm cn
  [ "$status" -eq 0 ]
  run docker network inspect cn
  [ "$status" -ne 0 ]
  # prune: only unused networks, label filters
  docker network create --label keep=1 p1 >/dev/null
  docker network create p2 >/dev/null
  docker network create --subnet 10.81.0.0/24 p3 >/dev/null
  klee network connect p3 c2 >/dev/null
  run docker network prune -f --filter label!=keep
  [ "$status" -eq 0 ]
  [[ "$output" == *p2* ]]
  [[ "$output" != *p1* && "$output" != *p3* ]]
  run docker network ls -q --filter name=p
  [ "$(echo "$output" | wc -l)" = 2 ]
  # until: only networks made before it (a duration before now, a time)
  run docker network prune -f --filter until=1h
  [ "$status" -eq 0 ]
  run docker network prune -f --filter until=2001-01-01T00:00:00Z
  [ "$status" -eq 0 ]
  [ -n "$(docker network ls -q --filter name=p1)" ]
  dapi POST '/v1.41/networks/prune?filters=%7B%22until%22%3A%5B%22soon%22%5D%7D'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == "invalid filter 'until=soon'"* ]]
  dapi POST "/v1.41/networks/prune?filters=%7B%22until%22%3A%5B%22$(date -d '+1 min' +%s)%22%5D%7D"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c .NetworksDeleted)" = '["p1"]' ]
  klee container rm c1 c2 >/dev/null
  run docker network prune -f
  [ "$status" -eq 0 ]
  # only the predefined networks stay (the default one, host and none), as with dockerd
  [ "$(docker network ls --format '{{.Name}}' | sort | tr '\n' ' ')" = "bridge host none " ]
  run docker network rm bridge
  [ "$status" -ne 0 ]
  [[ "$output" == *"bridge is a pre-defined network and cannot be removed"* ]]
}

@test "docker images/inspect/history/tag/rmi/prune: the engine's images in Docker's shapes" {
  ctx=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  printf 'FROM bb\nLABEL app=web\nRUN echo hi >/hi\nCMD ["/bin/sh"]\n' >"$ctx/Dockerfile"
  klee build -t web:1 "$ctx" >/dev/null
  run docker images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"bb:latest "* ]]
  [[ "$output" == *"web:1 "* ]]
  kid=$(klee image inspect web:1 | jq -r .id)
  run docker images -q --filter label=app=web
  [ "$output" = "${kid}" ]
  run docker images -q --filter reference='we*'
  [ "$output" = "${kid}" ]
  run docker images -q --filter reference='bb:latest'
  [ "$output" = "$(klee image inspect bb | jq -r .id)" ]
  run docker images -q --filter since=bb
  [ "$output" = "${kid}" ]
  run docker images -q --filter before=web:1
  [ "$output" = "$(klee image inspect bb | jq -r .id)" ]
  run docker image inspect web:1
  [ "$status" -eq 0 ]
  i=$(echo "$output" | jq '.[0]')
  [[ "$(echo "$i" | jq -r .Id)" =~ ^sha256:${kid}[0-9a-f]{52}$ ]]
  [ "$(echo "$i" | jq -c .RepoTags)" = '["web:1"]' ]
  [ "$(echo "$i" | jq -c .Config.Labels)" = '{"app":"web"}' ]
  [ "$(echo "$i" | jq -c .Config.Cmd)" = '["/bin/sh"]' ]
  [ "$(echo "$i" | jq -r .Os)" = linux ]
  [ "$(echo "$i" | jq '.RootFS.Layers | length')" = 2 ]
  [ "$(echo "$i" | jq .Size)" -gt 0 ]
  long=$(echo "$i" | jq -r .Id)
  [ "$(docker image inspect -f '{{.Id}}' "$long")" = "$long" ]
  [ "$(docker image inspect -f '{{.Id}}' "${kid}")" = "$long" ]
  run docker image inspect nope:1
  [ "$status" -ne 0 ]
  [[ "$output" == *"No such image: nope:1"* ]]
  # history: newest first, the RUN's layer has its size, the base layer below
  run docker history --no-trunc --format '{{.CreatedBy}}|{{.Size}}' web:1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 'CMD ["/bin/sh"]|0B' ]
  [[ "${lines[1]}" == 'RUN echo hi >/hi|'* ]]
  [ "${lines[1]}" != 'RUN echo hi >/hi|0B' ]
  [ "${lines[2]}" = 'LABEL app=web|0B' ]
  [[ "${lines[-1]}" == '|'* ]]
  # tag adds a name, as Docker's (both find the image)
  run docker tag web:1 web:2
  [ "$status" -eq 0 ]
  [ "$(klee image inspect web:2 | jq -r .id)" = "$kid" ]
  [ "$(docker image inspect -f '{{json .RepoTags}}' web:1)" = '["web:1","web:2"]' ]
  run docker tag nope:1 x:1
  [ "$status" -ne 0 ]
  # rmi of one of several names untags it (also while a container uses the image), of the
  # last name removes the image: a 409 while a container uses it
  klee container create --name imguser web:2 /bin/true >/dev/null
  run docker rmi web:1
  [ "$status" -eq 0 ]
  [ "$output" = "Untagged: web:1" ]
  run docker rmi web:2
  [ "$status" -ne 0 ]
  [[ "$output" == *"conflict: unable to remove repository reference \"web:2\" (must force) - container "*" is using its referenced image ${kid:0:12}"* ]]
  klee container rm imguser >/dev/null
  run docker rmi web:2
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Untagged: web:2"* ]]
  [[ "$output" == *"Deleted: sha256:${kid}"* ]]
  run docker image inspect web:2
  [ "$status" -ne 0 ]
  # names with slashes (and a registry host) reach the image endpoints (the engine's names
  # have none yet: the answer is its "no such image", not the router's "page not found")
  dapi GET /v1.41/images/reg.example:5000/a/bb:x/json
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "No such image: reg.example:5000/a/bb:x" ]
  dapi GET /v1.41/images/a/b/history
  [ "$(echo "$body" | jq -r .message)" = "No such image: a/b" ]
  dapi DELETE /v1.41/images/a/b/c
  [ "$(echo "$body" | jq -r .message)" = "No such image: a/b/c" ]
  # prune: dangling ones (untagged), -a all unused; label filters are refused
  klee build "$ctx" >/dev/null
  run docker image prune -f --filter label=app=nope
  [ "$status" -eq 0 ]
  [ -n "$(docker images -q --filter dangling=true)" ]
  run docker image prune -f --filter until=10m
  [ "$status" -eq 0 ]
  [ -n "$(docker images -q --filter dangling=true)" ]
  run docker image prune -f --filter label=app=web
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"deleted: sha256:"* ]]
  [[ "$output" == *"Total reclaimed space:"* ]]
  [ -z "$(docker images -q --filter dangling=true)" ]
  [ -n "$(docker images -q bb)" ]
}

@test "a bad label filter is a 400 on every endpoint that filters (checked once, in dk_filters)" {
  # {"label":["=x"]}: a label filter without a key
  f='%7B%22label%22%3A%5B%22%3Dx%22%5D%7D'
  for ep in "GET /v1.41/volumes" "GET /v1.41/networks" "GET /v1.41/images/json" \
    "GET /v1.41/containers/json" "POST /v1.41/volumes/prune" "POST /v1.41/networks/prune" \
    "POST /v1.41/images/prune"; do
    dapi ${ep% *} "${ep#* }?filters=$f"
    [ "$status_code" = 400 ] || { echo "$ep: $status_code $body"; false; }
    [[ "$(echo "$body" | jq -r .message)" == "invalid filter: "* ]] || { echo "$ep: $body"; false; }
  done
  # label! too
  dapi GET '/v1.41/volumes?filters=%7B%22label%21%22%3A%5B%22%3Dx%22%5D%7D'
  [ "$status_code" = 400 ]
}
