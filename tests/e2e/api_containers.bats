#!/usr/bin/env bats
# The container records API (API.md §5.1-§5.6, §6 Containers, §8.1, §8.6) over curl against
# a real kleened: create with every field and the exact inspect shape, the declared status
# codes of every failure, name uniqueness (decision 5), list/all, update/rename semantics,
# remove/prune, volume pre-population from the image and nullfs checks.
load helpers

PY=/usr/bin/python3
WSCLIENT="$BATS_TEST_DIRNAME/wsclient.py"
SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  mkdir -p "$E2E_DIR/rootfs/srv/data"
  echo hello >"$E2E_DIR/rootfs/srv/data/greeting"
  out=$($PY "$WSCLIENT" "$SOCK" /images/create \
    "{\"method\":\"zfs-copy\",\"zfs_dataset\":\"$E2E_DIR/rootfs\",\"tag\":\"bb:ctr\",\"dns\":false}")
  echo "$out" | tail -1 | jq -r .close_reason | jq -r .data >"$E2E_DIR/image.id"
  mkdir -p "$E2E_DIR/hostdir"
}

teardown_file() { stop_kleened; }

image_id() { cat "$E2E_DIR/image.id"; }

# remove every container (none runs here)
teardown() {
  api GET '/containers/list?all=true'
  for id in $(echo "$body" | jq -r '.[].id' 2>/dev/null); do api DELETE "/containers/$id"; done
}

@test "create with every field; inspect shows every field, null where unset" {
  [[ "$(image_id)" =~ ^[0-9a-f]{12}$ ]]
  api POST /containers/create "{\"name\":\"web\",\"image\":\"bb:ctr\",\"cmd\":[\"/bin/echo\",\"hi\"],
    \"user\":\"www\",\"env\":[\"A=1\"],\"jail_param\":[\"host.hostname=web.local\"],
    \"network_driver\":\"vnet\",\"restart_policy\":\"on-startup\",\"persist\":true,
    \"public_ports\":[{\"interfaces\":[],\"host_port\":\"8080\",\"container_port\":\"80\"}],
    \"mounts\":[{\"type\":\"nullfs\",\"source\":\"$E2E_DIR/hostdir\",\"destination\":\"/mnt/h\",\"read_only\":true}],
    \"memory\":33554432,\"cpus\":1.5,\"pids_limit\":64,
    \"extra_hosts\":[\"db:10.0.0.5\"],\"dns\":[\"9.9.9.9\"],\"dns_search\":[\"example.org\"],\"dns_options\":[\"ndots:2\"]}"
  echo "$body"
  [ "$status_code" = 201 ]
  id=$(echo "$body" | jq -r .id)
  [[ "$id" =~ ^[0-9a-f]{12}$ ]]
  [ "$(echo "$body" | jq -r 'keys | join(",")')" = id ]

  api GET /containers/web/inspect
  [ "$status_code" = 200 ]
  echo "$body" | jq .
  [ "$(echo "$body" | jq -r 'keys | join(",")')" = "container,container_endpoints,container_mountpoints" ]
  c=$(echo "$body" | jq -c .container)
  [ "$(echo "$c" | jq -r 'keys | join(",")')" = "auto_remove,cmd,cpus,created,dataset,dns,dns_options,dns_search,env,extra_hosts,id,image_id,init,jail_param,labels,memory,name,network_driver,persist,pids_limit,public_ports,restart_policy,running,stop_cmd,stop_signal,stop_timeout,user,workdir" ]
  [ "$(echo "$c" | jq -r .id)" = "$id" ]
  [ "$(echo "$c" | jq -r .name)" = web ]
  [ "$(echo "$c" | jq -r .image_id)" = "$(image_id)" ]
  [ "$(echo "$c" | jq -c .cmd)" = '["/bin/echo","hi"]' ]
  [ "$(echo "$c" | jq -r .user)" = www ]
  [ "$(echo "$c" | jq -c .env)" = '["A=1"]' ]
  [ "$(echo "$c" | jq -c .jail_param)" = '["host.hostname=web.local"]' ]
  [ "$(echo "$c" | jq -r .network_driver)" = vnet ]
  [ "$(echo "$c" | jq -r .restart_policy)" = on-startup ]
  [ "$(echo "$c" | jq -r .persist)" = true ]
  [ "$(echo "$c" | jq -r .running)" = false ]
  [ "$(echo "$c" | jq -r .dataset)" = "$E2E_DIR/root/container/$id" ]
  [[ "$(echo "$c" | jq -r .created)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$ ]]
  [ "$(echo "$c" | jq -cS .public_ports)" = '[{"container_port":"80","host_port":"8080","interfaces":[],"ip_address":"","ip_address6":"","protocol":"tcp"}]' ]
  [ "$(echo "$c" | jq -c '[.memory,.cpus,.pids_limit]')" = '[33554432,1.5,64]' ]
  # ours (docs/api.md "Name resolution")
  [ "$(echo "$c" | jq -c '[.extra_hosts,.dns,.dns_search,.dns_options]')" = '[["db:10.0.0.5"],["9.9.9.9"],["example.org"],["ndots:2"]]' ]
  [ "$(echo "$body" | jq -c .container_endpoints)" = '[]' ]
  [ "$(echo "$body" | jq -cS .container_mountpoints)" = "[{\"container_id\":\"$id\",\"destination\":\"/mnt/h\",\"read_only\":true,\"source\":\"$E2E_DIR/hostdir\",\"type\":\"nullfs\"}]" ]
  [ -d "$E2E_DIR/root/container/$id/upper" ]
  [ -d "$E2E_DIR/root/container/$id/work" ]
  [ -d "$E2E_DIR/root/container/$id/rootfs" ]
}

@test "create with defaults: generated name, the image's cmd and user, our limits null" {
  api POST /containers/create '{"image":"bb:ctr"}'
  [ "$status_code" = 201 ]
  id=$(echo "$body" | jq -r .id)
  api GET "/containers/$id/inspect"
  c=$(echo "$body" | jq -c .container)
  [[ "$(echo "$c" | jq -r .name)" =~ ^[a-z]+_[a-z]+$ ]]
  [ "$(echo "$c" | jq -c .cmd)" = '["/bin/sh","/etc/rc"]' ]
  [ "$(echo "$c" | jq -r .user)" = root ]
  [ "$(echo "$c" | jq -c '[.env,.jail_param,.public_ports]')" = '[[],[],[]]' ]
  [ "$(echo "$c" | jq -c '[.network_driver,.restart_policy,.persist]')" = '["ipnet","no",false]' ]
  [ "$(echo "$c" | jq -c '[.memory,.cpus,.pids_limit]')" = '[null,null,null]' ]
}

@test "create failures: 404 with the message, nothing left behind" {
  before=$(ls "$E2E_DIR/root/container" | wc -l)
  api POST /containers/create '{"image":"nonexisting"}'
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"no such image '"'"'nonexisting'"'"'"}' ]
  api POST /containers/create '{"image":"bb:ctr","name":"x"}'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = 'x does not match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+$' ]
  for name in '../../etc' 'a\nb' 'evil\u202etxt'; do
    api POST /containers/create "{\"image\":\"bb:ctr\",\"name\":\"$name\"}"
    [ "$status_code" = 404 ]
    [[ "$(echo "$body" | jq -r .message)" == *'does not match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+$' ]]
  done
  # a 1 MB name: 422 at the edge (issue 12 item 7)
  printf '{"image":"bb:ctr","name":"%s"}' "$(head -c 1000000 /dev/zero | tr '\0' a)" >"$E2E_DIR/big.json"
  out=$(curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' \
    --data-binary @"$E2E_DIR/big.json" -w '\n%{http_code}' http://localhost/containers/create)
  [ "${out##*$'\n'}" = 422 ]
  [ "$(echo "${out%$'\n'*}" | jq -c '.errors[0] | [.source.pointer, .detail]')" = '["/name","String length is larger than maxLength: 255"]' ]
  api POST /containers/create '{"image":"bb:ctr","network_driver":"host","public_ports":[{"interfaces":[],"host_port":"80","container_port":"80"}]}'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "cannot publish ports of a container using the 'host' network driver" ]
  api POST /containers/create '{"image":"bb:ctr","public_ports":[{"interfaces":[],"host_port":"99999","container_port":"80"}]}'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "invalid port value (should be in the range 0 - 65535)" ]
  api POST /containers/create "{\"image\":\"bb:ctr\",\"mounts\":[{\"type\":\"nullfs\",\"source\":\"$E2E_DIR/missing\",\"destination\":\"/m\"}]}"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "invalid mount source '$E2E_DIR/missing': No such file or directory" ]
  api POST /containers/create '{"image":"bb:ctr","mounts":[{"type":"volume","source":"v","destination":"/a/../etc"}]}'
  [ "$status_code" = 404 ]
  api POST /containers/create '{"image":"bb:ctr","jail_param":["no.such.param"]}'
  [ "$status_code" = 404 ]
  [[ "$(echo "$body" | jq -r .message)" == *no.such.param* ]]
  # a schema error is still the 422 of API.md §3.2
  api POST /containers/create '{"image":"bb:ctr","memory":"lots"}'
  [ "$status_code" = 422 ]
  [ "$(ls "$E2E_DIR/root/container" | wc -l)" = "$before" ]
  api GET '/containers/list?all=true'
  [ "$body" = '[]' ]
}

@test "names are unique: a taken name is refused at create and at rename" {
  api POST /containers/create '{"image":"bb:ctr","name":"/one"}'
  [ "$status_code" = 201 ]
  one=$(echo "$body" | jq -r .id)
  api POST /containers/create '{"image":"bb:ctr","name":"one"}'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "container name 'one' is already taken" ]
  api POST /containers/create '{"image":"bb:ctr","name":"two"}'
  api POST /containers/two/update '{"name":"one"}'
  [ "$status_code" = 409 ]
  [ "$(echo "$body" | jq -r .message)" = "container name 'one' is already taken" ]
  api GET /containers/one/inspect
  [ "$(echo "$body" | jq -r .container.id)" = "$one" ]
}

@test "inspect, update and remove of an unknown container: the declared 404s" {
  api GET /containers/notexist/inspect
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"container not found"}' ]
  api POST /containers/notexist/update '{"name":"abc"}'
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"no such container '"'"'notexist'"'"'"}' ]
  api DELETE /containers/notexist
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"no such container"}' ]
}

@test "list: newest first, running only unless all=true, summary fields" {
  api POST /containers/create '{"image":"bb:ctr","name":"first"}'
  first=$(echo "$body" | jq -r .id)
  sleep 0.01
  api POST /containers/create '{"image":"bb:ctr","name":"second"}'
  second=$(echo "$body" | jq -r .id)
  api GET /containers/list
  [ "$status_code" = 200 ]
  [ "$body" = '[]' ]
  api GET '/containers/list?all=false'
  [ "$body" = '[]' ]
  api GET '/containers/list?all=true'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r '[.[].id] | join(",")')" = "$second,$first" ]
  s=$(echo "$body" | jq -c '.[0]')
  [ "$(echo "$s" | jq -r 'keys | join(",")')" = "auto_remove,cmd,cpus,created,dataset,dns,dns_options,dns_search,env,extra_hosts,id,image_id,image_name,image_tag,init,jail_param,jid,labels,memory,name,network_driver,persist,pids_limit,public_ports,restart_policy,running,stop_cmd,stop_signal,stop_timeout,user,workdir" ]
  # unset: extra_hosts [], the dns fields null
  [ "$(echo "$s" | jq -c '[.extra_hosts,.dns,.dns_search,.dns_options]')" = '[[],null,null,null]' ]
  [ "$(echo "$s" | jq -c '[.image_name,.image_tag,.jid,.running]')" = '["bb","ctr",null,false]' ]
}

@test "update: null keeps a field, omitted fields are reset, image/mounts/driver ignored" {
  api POST /containers/create '{"image":"bb:ctr","name":"upd","cmd":["/bin/true"],"env":["A=1"],"user":"www","persist":true,"restart_policy":"on-startup"}'
  id=$(echo "$body" | jq -r .id)
  api GET /containers/upd/inspect
  before=$(echo "$body" | jq -c .container)
  api POST /containers/upd/update '{"name":null,"cmd":null,"user":null,"env":null,"jail_param":null,"restart_policy":null,"persist":null,"network_driver":"host","image":"whatever","mounts":[],"public_ports":[]}'
  [ "$status_code" = 201 ]
  [ "$body" = "{\"id\":\"$id\"}" ]
  api GET /containers/upd/inspect
  [ "$(echo "$body" | jq -c .container)" = "$before" ]
  api POST /containers/upd/update '{"name":"/renamed","env":["B=2"]}'
  [ "$status_code" = 201 ]
  api GET /containers/renamed/inspect
  c=$(echo "$body" | jq -c .container)
  [ "$(echo "$c" | jq -r .name)" = renamed ]
  [ "$(echo "$c" | jq -c .env)" = '["B=2"]' ]
  [ "$(echo "$c" | jq -c .cmd)" = '["/bin/sh","/etc/rc"]' ]   # reset to [] → the image's
  [ "$(echo "$c" | jq -r .user)" = root ]
  [ "$(echo "$c" | jq -c '[.persist,.restart_policy,.network_driver]')" = '[false,"no","ipnet"]' ]
  api POST /containers/renamed/update '{"name":"x"}'
  [ "$status_code" = 409 ]
  api POST "/containers/$id/update" '{"memory":4194304,"cpus":0.25}'
  api GET "/containers/$id/inspect"
  [ "$(echo "$body" | jq -c '[.container.memory,.container.cpus,.container.pids_limit]')" = '[4194304,0.25,null]' ]
}

@test "remove and prune: ids, persist survives, a removed container is gone" {
  api POST /containers/create '{"image":"bb:ctr","name":"p1"}'
  p1=$(echo "$body" | jq -r .id)
  sleep 0.01
  api POST /containers/create '{"image":"bb:ctr","name":"keep","persist":true}'
  keep=$(echo "$body" | jq -r .id)
  sleep 0.01
  api POST /containers/create '{"image":"bb:ctr","name":"p2"}'
  p2=$(echo "$body" | jq -r .id)
  api POST /containers/prune
  [ "$status_code" = 200 ]
  [ "$body" = "[\"$p1\",\"$p2\"]" ]
  [ ! -e "$E2E_DIR/root/container/$p1" ]
  api DELETE /containers/keep
  [ "$status_code" = 200 ]
  [ "$body" = "{\"id\":\"$keep\"}" ]
  [ ! -e "$E2E_DIR/root/container/$keep" ]
  api DELETE "/containers/$keep"
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"no such container"}' ]
  api POST /containers/prune
  [ "$body" = '[]' ]
}

@test "a volume mount creates the volume and fills it from the image; remove keeps it" {
  api POST /containers/create '{"image":"bb:ctr","name":"vol","mounts":[{"type":"volume","source":"data","destination":"/srv/data"}]}'
  [ "$status_code" = 201 ]
  id=$(echo "$body" | jq -r .id)
  [ "$(cat "$E2E_DIR/root/volumes/data/greeting")" = hello ]
  api GET /volumes/data/inspect
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -cS '.mountpoints')" = "[{\"container_id\":\"$id\",\"destination\":\"/srv/data\",\"read_only\":false,\"source\":\"data\",\"type\":\"volume\"}]" ]
  api GET /containers/vol/inspect
  [ "$(echo "$body" | jq -c '.container_mountpoints[0] | [.type,.source,.destination]')" = '["volume","data","/srv/data"]' ]
  # in use: the volume cannot be removed (decision 16)
  api DELETE /volumes/data
  [ "$status_code" = 404 ]
  api DELETE /containers/vol
  [ "$status_code" = 200 ]
  api GET /volumes/data/inspect
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c .mountpoints)" = '[]' ]
  api DELETE /volumes/data
  [ "$status_code" = 200 ]
}

@test "nullfs mounts: a regular file and a directory are accepted, a device is not" {
  echo x >"$E2E_DIR/hostfile"
  api POST /containers/create "{\"image\":\"bb:ctr\",\"mounts\":[{\"type\":\"nullfs\",\"source\":\"$E2E_DIR/hostfile\",\"destination\":\"/etc/hostfile\"},{\"type\":\"nullfs\",\"source\":\"$E2E_DIR/hostdir\",\"destination\":\"/h\"}]}"
  [ "$status_code" = 201 ]
  api POST /containers/create '{"image":"bb:ctr","mounts":[{"type":"nullfs","source":"/dev/null","destination":"/n"}]}'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "could not determine source type, must be either directory or regular file" ]
  assert_alive
}

@test "an image used by a container cannot be removed" {
  api POST /containers/create '{"image":"bb:ctr","name":"user"}'
  api DELETE /images/bb:ctr
  [ "$status_code" != 200 ]
  api DELETE /containers/user
  [ "$status_code" = 200 ]
}
