#!/usr/bin/env bats
# Containers on networks, end to end (KLEENE-GUIDE.md §3.6, J12–J15): interfaces wired before
# the container's first process runs, traffic between containers, published ports, isolation.
# Everything happens inside the test's own network namespace.
load helpers

setup_file() {
  start_kleened
  ROOTFS=$(mktemp -d /tmp/kleene-rootfs.XXXXXX)
  "$BATS_TEST_DIRNAME/../../scripts/mk-busybox-rootfs" "$ROOTFS/r" >/dev/null
  klee image create zfs-copy "$ROOTFS/r" -t bb:latest >/dev/null
  rm -rf "$ROOTFS"
  klee network create -t bridge --subnet 10.77.1.0/24 front >/dev/null
  klee network create -t bridge --subnet 10.77.2.0/24 back >/dev/null
}
teardown_file() { stop_kleened; }

@test "a container on a bridge network has its address and default route from its first instruction" {
  run klee run --name addr -n front bb sh -c 'ip -4 addr show eth0; ip route'
  [ "$status" -eq 0 ]
  [[ "$output" == *"inet 10.77.1."*"/24"* ]]
  [[ "$output" == *"default via 10.77.1.1"* ]]
  klee rmc addr >/dev/null
}

@test "the gateway on the host side is reachable from the container" {
  run klee run --name pinger -n front bb ping -c 1 -W 2 10.77.1.1
  [ "$status" -eq 0 ]
  klee rmc pinger >/dev/null
}

@test "containers on the same network reach each other; another network does not" {
  klee run -d --name srv -n front bb sh -c 'while true; do echo hello | nc -l -p 7000; done' >/dev/null
  ip=$(klee isc srv | jq -r '.container_endpoints[0].ip_address')
  [[ "$ip" == 10.77.1.* ]]
  run klee run --name cli1 -n front bb sh -c "nc -w 2 $ip 7000 </dev/null"
  [ "$status" -eq 0 ]
  [[ "$output" == *hello* ]]
  run klee run --name cli2 -n back bb sh -c "nc -w 2 $ip 7000 </dev/null"
  [[ "$output" != *hello* ]]
  klee stop srv >/dev/null
  klee rmc srv cli1 cli2 >/dev/null
}

@test "a published port is reachable from the host through 127.0.0.1 and the bridge address" {
  klee run -d --name web -n front -p 8080:80 bb sh -c 'echo published > /tmp/index.html; httpd -f -p 80 -h /tmp' >/dev/null
  for _ in $(seq 1 40); do in_ns curl -s -m 1 http://127.0.0.1:8080/index.html | grep -q published && break; sleep 0.1; done
  run in_ns curl -s -m 2 http://127.0.0.1:8080/index.html
  [ "$output" = published ]
  run in_ns curl -s -m 2 http://10.77.1.1:8080/index.html
  [ "$output" = published ]
  in_ns nft list table inet kleene | grep -q 8080
  klee stop web >/dev/null
  ! in_ns nft list table inet kleene | grep -q 8080 || false
  klee rmc web >/dev/null
}

@test "a published port goes with its container: attached run, and a detached one ending by itself" {
  run klee run --name once -n front -p 8181:80 bb /bin/true
  [ "$status" -eq 0 ]
  ! in_ns nft list table inet kleene | grep -q 8181 || false
  klee run -d --name short -n front -p 8182:80 bb sleep 1 >/dev/null
  in_ns nft list table inet kleene | grep -q 'tcp . 8182 :'
  for _ in $(seq 1 50); do in_ns nft list table inet kleene | grep -q 8182 || break; sleep 0.1; done
  ! in_ns nft list table inet kleene | grep -q 8182 || false
  # its endpoint is unplugged too, and a start wires and publishes it again
  [ "$(klee isc short | jq -r '.container_endpoints[0].epair')" = null ]
  klee start -d short >/dev/null
  in_ns nft list table inet kleene | grep -q 'tcp . 8182 :'
  for _ in $(seq 1 50); do in_ns nft list table inet kleene | grep -q 8182 || break; sleep 0.1; done
  ! in_ns nft list table inet kleene | grep -q 8182 || false
  klee rmc once short >/dev/null
}

@test "after a kleened restart a running container's published port is in the new table, and goes when it ends" {
  klee run -d --name keep -n front -p 8183:80 bb sh -c 'echo kept > /tmp/index.html; timeout 5 httpd -f -p 80 -h /tmp' >/dev/null
  for _ in $(seq 1 40); do in_ns curl -s -m 1 http://127.0.0.1:8183/index.html | grep -q kept && break; sleep 0.1; done
  pid=$(kleened_pid)
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  in_ns nft delete table inet kleene # as after a reboot of the firewall: rebuilt from the store
  respawn_kleened
  in_ns nft list table inet kleene | grep -q 'tcp . 8183 :'
  run in_ns curl -s -m 2 http://127.0.0.1:8183/index.html
  [ "$output" = kept ]
  # the restarted kleened watches it: the port goes when the container ends by itself
  for _ in $(seq 1 80); do in_ns nft list table inet kleene | grep -q 8183 || break; sleep 0.1; done
  ! in_ns nft list table inet kleene | grep -q 8183 || false
  klee rmc keep >/dev/null
}

@test "removing the networks leaves no link and no address behind" {
  klee rmn front back
  ! in_ns ip -o link | grep -q 'kleene' || false
  ! in_ns ip -o link | grep -q ' kv' || false
}
