#!/usr/bin/env bats
# Name resolution between containers through the Kleene API (docs/api.md "Name resolution"):
# /etc/hosts lists the containers of the networks a container shares, with their names,
# aliases (EndPointConfig `aliases`) and ids; `extra_hosts`; a resolv.conf of kleened's only
# with `dns*` (a container made the original way keeps its image's). Everything happens in the
# test's own network namespace.
load helpers

setup_file() {
  start_kleened
  "$BATS_TEST_DIRNAME/../../scripts/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create zfs-copy "$E2E_DIR/rootfs" -t bb:latest >/dev/null
  klee network create -t bridge --subnet 10.78.1.0/24 nr >/dev/null
}
teardown_file() { stop_kleened; }
teardown() { stop_containers; }

@test "containers on a network reach each other by name and alias; the original config is unchanged" {
  klee container create -l ipnet --name srv bb sh -c 'echo up > /tmp/i; exec httpd -f -p 80 -h /tmp' >/dev/null
  api POST /networks/connect '{"container": "srv", "network": "nr", "ip_address": "<auto>", "aliases": ["db", "db.internal"]}'
  [ "$status_code" = 204 ]
  api GET /containers/srv/inspect
  [ "$(echo "$body" | jq -c '.container_endpoints[0].aliases')" = '["db","db.internal"]' ]
  klee container start -d srv >/dev/null
  run klee run -n nr bb sh -c 'printf "GET /i HTTP/1.0\r\n\r\n" | nc -w 2 db.internal 80; cat /etc/hosts; echo resolv-mounts=$(grep -c " /etc/resolv.conf " /proc/mounts)'
  [ "$status" -eq 0 ]
  [[ "$output" == *up* ]]
  [[ "$output" == *$'\tsrv db db.internal '* ]]
  # no dns fields: the image's resolv.conf, as before (nothing mounted over it)
  [[ "$output" == *"resolv-mounts=0"* ]]
  # the running container on a second network (hot-plugged): both networks' containers in
  # its /etc/hosts, its own file rewritten in place
  klee network create -t bridge --subnet 10.78.2.0/24 nr2 >/dev/null
  klee container create -l ipnet -n nr2 --name other bb true >/dev/null
  ino=$(klee exec srv stat -c %i /etc/hosts | grep -E '^[0-9]+$')
  api POST /networks/connect '{"container": "srv", "network": "nr2", "ip_address": "<auto>", "aliases": ["db2"]}'
  [ "$status_code" = 204 ]
  run klee exec srv cat /etc/hosts
  [[ "$output" == *$'10.78.1.2\tsrv db db.internal '* ]]
  [[ "$output" == *$'\tsrv db2 '* ]]
  [[ "$output" == *$'\tother '* ]]
  [ "$(klee exec srv stat -c %i /etc/hosts | grep -E '^[0-9]+$')" = "$ino" ]
  klee stop srv >/dev/null
  klee rmc other >/dev/null
}

@test "extra_hosts and dns through the API; bad values are refused and nothing is made" {
  api POST /containers/create '{"name": "xh", "image": "bb", "cmd": ["sh", "-c", "cat /etc/hosts /etc/resolv.conf"], "extra_hosts": ["foo:10.1.2.3"], "dns": ["9.9.9.9"], "dns_options": ["ndots:2"]}'
  [ "$status_code" = 201 ]
  api GET /containers/xh/inspect
  [ "$(echo "$body" | jq -c '[.container.extra_hosts, .container.dns, .container.dns_search]')" = '[["foo:10.1.2.3"],["9.9.9.9"],null]' ]
  run klee container start xh
  [[ "$output" == *$'10.1.2.3\tfoo'* ]]
  [[ "$output" == *"nameserver 9.9.9.9"* ]]
  [[ "$output" == *"options ndots:2"* ]]
  api POST /containers/create '{"name": "bad1", "image": "bb", "extra_hosts": ["foo bar:1.2.3.4"]}'
  [ "$status_code" = 404 ]
  [[ "$(echo "$body" | jq -r .message)" == *"invalid extra host"* ]]
  api POST /containers/create '{"name": "bad2", "image": "bb", "dns": ["not-an-address"]}'
  [ "$status_code" = 404 ]
  [[ "$(echo "$body" | jq -r .message)" == *"invalid nameserver"* ]]
  api POST /networks/connect '{"container": "xh", "network": "nr", "aliases": ["a/b"]}'
  [ "$status_code" = 409 ]
  [[ "$(echo "$body" | jq -r .message)" == *"invalid alias"* ]]
  api GET /containers/bad1/inspect
  [ "$status_code" = 404 ]
  api GET /containers/xh/inspect
  [ "$(echo "$body" | jq '.container_endpoints | length')" -eq 0 ]
  klee rmc xh >/dev/null
}
