#!/usr/bin/env bats
# Issue 13 items 5 and 6, driven as a user would: a published port already published by a
# running container, or held by another program on the host (a second client holding it), makes
# the start fail with the holder named and nothing applied; `klee network rm` keeps a network
# with running containers unless --force. Everything in the test's own network namespace.
load helpers

setup_file() {
  start_kleened
  ROOTFS=$(mktemp -d /tmp/kleene-rootfs.XXXXXX)
  "$BATS_TEST_DIRNAME/../../scripts/mk-busybox-rootfs" "$ROOTFS/r" >/dev/null
  klee image create zfs-copy "$ROOTFS/r" -t bb:latest >/dev/null
  rm -rf "$ROOTFS"
  klee network create -t bridge --subnet 10.78.1.0/24 pnet >/dev/null
}
teardown_file() { stop_kleened; }

teardown() {
  [ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null && wait "$HOLDER" 2>/dev/null
  HOLDER=
  stop_containers
  klee container prune -f >/dev/null 2>&1 || true
}

running() { api GET "/containers/$1/inspect"; [ "$(echo "$body" | jq -r .container.running)" = true ]; }

@test "a port published by a running container: the second start fails naming it; nothing applied" {
  run klee run -d --name web1 -n pnet -p 8088:80 bb sh -c 'httpd -f -p 80 -h /tmp'
  [ "$status" -eq 0 ]
  id1=${lines[0]}
  running web1
  klee create --name web2 -n pnet -p 8088:80 bb sh -c 'httpd -f -p 80 -h /tmp' >/dev/null
  rules_before=$(in_ns nft list table inet kleene)
  run klee start -d web2
  [ "$status" -ne 0 ]
  [[ "$output" == *"port 8088/tcp is already published by running container web1 ($id1)"* ]]
  ! running web2 || false
  # nothing half-applied: no endpoint plugged, the firewall unchanged, no rootfs mounted
  [ "$(klee isc web2 | jq -r '.container_endpoints[0].epair')" = null ]
  [ "$(in_ns nft list table inet kleene)" = "$rules_before" ]
  ! findmnt -rn -o TARGET | grep -q "$(klee isc web2 | jq -r .container.dataset)/rootfs" || false
  # another protocol or another port is fine
  run klee run -d --name web3 -n pnet -p 8088:80/udp bb sleep 30
  [ "$status" -eq 0 ]
  running web3
  # once web1 is gone, web2 starts
  klee stop web1 >/dev/null
  run klee start -d web2
  [ "$status" -eq 0 ]
  running web2
}

@test "a port held by another program on the host: the start fails naming the program" {
  # a second program (not a container) listening on 8099 in the daemon's namespace
  ip netns exec "$E2E_NS" python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8099)); s.listen(1); print("ready", flush=True); time.sleep(60)' >"$BATS_TEST_TMPDIR/holder.out" &
  HOLDER=$!
  for _ in $(seq 1 100); do grep -q ready "$BATS_TEST_TMPDIR/holder.out" && break; sleep 0.05; done
  run klee run -d --name busy -n pnet -p 8099:80 bb sleep 30
  [ "$status" -ne 0 ]
  [[ "$output" == *"port 8099/tcp is already in use on the host by python3 (pid "* ]]
  # the failed run leaves no container (and no rule) behind
  api GET /containers/busy/inspect
  [ "$status_code" = 404 ]
  ! in_ns nft list table inet kleene | grep -q 8099 || false
  kill "$HOLDER"; wait "$HOLDER" 2>/dev/null || true
  HOLDER=
  run klee run -d --name busy -n pnet -p 8099:80 bb sleep 30
  [ "$status" -eq 0 ]
  running busy
}

@test "network rm: refused with running containers connected (listed) unless --force; stopped ones are disconnected" {
  klee network create -t bridge --subnet 10.78.2.0/24 rmnet >/dev/null
  run klee run -d --name n1 -n rmnet bb sleep 30
  id1=${lines[0]}
  run klee network rm rmnet
  [ "$status" -eq 1 ]
  [[ "$output" == *"network rmnet has running containers connected: n1 ($id1). Use --force"* ]]
  klee isn rmnet >/dev/null
  running n1
  # a stopped container does not keep it
  klee network create -t bridge --subnet 10.78.3.0/24 rmnet2 >/dev/null
  klee create --name n2 -n rmnet2 bb true >/dev/null
  run klee network rm rmnet2
  [ "$status" -eq 0 ]
  [ "$(klee isc n2 | jq '.container_endpoints | length')" = 0 ]
  # --force: the API's disconnect-all
  run klee network rm -f rmnet
  [ "$status" -eq 0 ]
  run klee isn rmnet
  [ "$output" = "network not found" ]
  # the original's behaviour through the API is unchanged: DELETE disconnects running ones
  klee network create -t bridge --subnet 10.78.4.0/24 rmnet3 >/dev/null
  klee run -d --name n3 -n rmnet3 bb sleep 30 >/dev/null
  api DELETE /networks/rmnet3
  [ "$status_code" = 200 ]
}
