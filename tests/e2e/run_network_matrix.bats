#!/usr/bin/env bats
# The connectivity matrix of containers on networks, end to end: outbound NAT to an "outside"
# host, published ports (tcp and udp) from outside, from another container and from the
# container itself (hairpin), icc=false and internal networks, IPv6, hot connect/disconnect,
# a valid ruleset after every change and nothing left at the end.
#
# Topology, all inside namespaces made here:
#   test netns ($E2E_NS, kleened)  up0 192.0.2.1/24  <-- veth -->  ext0 192.0.2.2/24  outside ($OUT)
# The test netns's default route goes via 192.0.2.2 (so up0 is the host gateway interface
# kleened NATs to); the outside netns has no route to any container subnet, so it only ever
# sees the masqueraded source 192.0.2.1.
load helpers

HOST_ADDR=192.0.2.1
OUT_ADDR=192.0.2.2

# A tiny static UDP echo server for the image (busybox-static has no `nc -u` nor udpsvd):
# udpecho PORT answers every datagram with "echo:<datagram>".
build_udpecho() {
  local src="$BATS_FILE_TMPDIR/udpecho.c"
  cat >"$src" <<'C'
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    int off = 0;
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[1]))};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("udpecho");
        return 1;
    }
    for (;;) {
        char buf[512], out[600];
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        ssize_t n = recvfrom(s, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&peer, &pl);
        if (n < 0)
            continue;
        buf[n] = '\0';
        int m = snprintf(out, sizeof(out), "echo:%s", buf);
        sendto(s, out, (size_t)m, 0, (struct sockaddr *)&peer, pl);
    }
}
C
  cc -static -O2 -o "$1" "$src"
}

# The outside TCP server: answers every connection with the peer address it sees.
start_outside_server() {
  ip netns exec "$OUT" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000))
s.listen(16)
while True:
    c, a = s.accept()
    c.sendall(("outside-saw:%s\n" % a[0]).encode())
    c.close()
' </dev/null >/dev/null 2>&1 3>&- &
  echo $! >"$E2E_DIR/outside.pid"
}

setup_file() {
  start_kleened
  export OUT="kleene-out-$$-$RANDOM"
  echo "$OUT" >"$E2E_DIR/outside.ns"
  ip netns add "$OUT"
  ip netns exec "$OUT" ip link set lo up
  in_ns ip link add up0 type veth peer name ext0 netns "$OUT"
  in_ns ip addr add "$HOST_ADDR/24" dev up0
  in_ns ip link set up0 up
  ip netns exec "$OUT" ip addr add "$OUT_ADDR/24" dev ext0
  ip netns exec "$OUT" ip link set ext0 up
  in_ns ip route add default via "$OUT_ADDR" dev up0
  start_outside_server

  ROOTFS=$(mktemp -d /tmp/kleene-rootfs.XXXXXX)
  "$BATS_TEST_DIRNAME/../../scripts/mk-busybox-rootfs" "$ROOTFS/r" >/dev/null
  build_udpecho "$ROOTFS/r/bin/udpecho"
  klee image create zfs-copy "$ROOTFS/r" -t bb:latest >/dev/null
  rm -rf "$ROOTFS"
  # Created after the default route exists: `<host-gateway>` resolves to up0.
  klee network create -t bridge --subnet 10.77.11.0/24 front >/dev/null
  klee network create -t bridge --subnet 10.77.12.0/24 back >/dev/null
  for _ in $(seq 1 50); do ip netns exec "$OUT" python3 -c '
import socket; socket.create_connection(("127.0.0.1", 9000), 1)' 2>/dev/null && break; sleep 0.1; done
}

teardown_file() {
  local pid
  pid=$(cat "$E2E_DIR/outside.pid" 2>/dev/null) && [ -n "$pid" ] && kill "$pid" 2>/dev/null
  stop_kleened
  [ -n "${OUT:-}" ] && ip netns del "$OUT" 2>/dev/null
  return 0
}

in_out() { ip netns exec "$OUT" "$@"; }

# The ruleset kleened applied must load again as it is listed (nft -c: check only).
fw_valid() {
  local f="$BATS_TEST_TMPDIR/ruleset.nft"
  in_ns nft list table inet kleene >"$f"
  in_ns nft -c -f "$f"
}

# Wait until a TCP port answers from where "$@" runs (a command prefix).
wait_http() {
  local url=$1
  shift
  for _ in $(seq 1 50); do
    "$@" curl -s -m 1 "$url" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

udp_ask() { # udp_ask HOST PORT MSG (from the outside netns)
  in_out python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(512)[0].decode())' "$@"
}

@test "(a) a container reaches the outside host through NAT; the outside sees the masqueraded source" {
  in_ns ip route get "$OUT_ADDR" | grep -q 'dev up0'
  ! in_out ip route get 10.77.11.2 2>/dev/null | grep -q via || false
  run klee run --name natc -n front bb sh -c "nc -w 2 $OUT_ADDR 9000 </dev/null"
  [ "$status" -eq 0 ]
  [[ "$output" == *"outside-saw:$HOST_ADDR"* ]]
  in_ns nft list table inet kleene | grep -q 'oifname "up0" masquerade'
  fw_valid
  klee rmc natc >/dev/null
}

@test "(b) a published port is reachable from the outside host via the host's address" {
  klee run -d --name web -n front -p 8080:80 bb sh -c 'echo published > /tmp/index.html; httpd -f -p 80 -h /tmp' >/dev/null
  fw_valid
  wait_http "http://$HOST_ADDR:8080/index.html" in_out
  run in_out curl -s -m 2 "http://$HOST_ADDR:8080/index.html"
  [ "$output" = published ]
  # an unpublished port of the container stays closed from outside
  ip=$(klee isc web | jq -r '.container_endpoints[0].ip_address')
  run in_out curl -s -m 1 "http://$ip:80/index.html"
  [ "$output" != published ]
}

@test "(c) another container reaches a published port via the host address; a container reaches its own (hairpin)" {
  # (busybox-static's wget crashes; a GET through nc instead)
  get="printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2"
  run klee run --name other -n front bb sh -c "$get $HOST_ADDR 8080"
  [ "$status" -eq 0 ]
  [[ "$output" == *published* ]]
  run klee run --name other1 -n front bb sh -c "$get 10.77.11.1 8080"
  [[ "$output" == *published* ]]
  run klee run --name other2 -n back bb sh -c "$get $HOST_ADDR 8080"
  [ "$status" -eq 0 ]
  [[ "$output" == *published* ]]
  run klee exec web sh -c "$get $HOST_ADDR 8080"
  [ "$status" -eq 0 ]
  [[ "$output" == *published* ]]
  klee rmc other other1 other2 >/dev/null
  klee stop web >/dev/null
  ! in_ns nft list table inet kleene | grep -q 8080 || false
  fw_valid
  klee rmc web >/dev/null
}

@test "(d) a udp published port answers from outside, a tcp one on the same number does not interfere" {
  klee run -d --name dns -n front -p 5353:53/udp bb udpecho 53 >/dev/null
  fw_valid
  in_ns nft list table inet kleene | grep -q 'udp . 5353 :'
  for _ in $(seq 1 30); do udp_ask "$HOST_ADDR" 5353 hi >/dev/null 2>&1 && break; sleep 0.1; done
  run udp_ask "$HOST_ADDR" 5353 hello-udp
  [ "$status" -eq 0 ]
  [ "$output" = "echo:hello-udp" ]
  # from a container on another network, through the host address
  run klee run --name udpc -n back bb sh -c "echo x | nc -w 1 $HOST_ADDR 5353"
  [[ "$output" != *echo:* ]] # tcp 5353 is not published
  klee stop dns >/dev/null
  ! in_ns nft list table inet kleene | grep -q 5353 || false
  run udp_ask "$HOST_ADDR" 5353 again
  [ "$status" -ne 0 ]
  klee rmc dns udpc >/dev/null
  fw_valid
}

@test "(e) icc=false: containers cannot reach each other but reach the gateway" {
  klee network create -t bridge --subnet 10.77.13.0/24 --icc false noicc >/dev/null
  fw_valid
  klee run -d --name isrv -n noicc bb sh -c 'while true; do echo hello | nc -l -p 7000; done' >/dev/null
  ip=$(klee isc isrv | jq -r '.container_endpoints[0].ip_address')
  [[ "$ip" == 10.77.13.* ]]
  run klee run --name icli -n noicc bb sh -c "nc -w 2 $ip 7000 </dev/null; ping -c 1 -W 2 10.77.13.1 >/dev/null && echo gw-ok"
  [[ "$output" != *hello* ]]
  [[ "$output" == *gw-ok* ]]
  run klee exec isrv ping -c 1 -W 2 10.77.13.1
  [ "$status" -eq 0 ]
  # the same pair on an icc network does talk (the server really answers)
  run in_ns sh -c "echo | busybox nc -w 2 $ip 7000"
  [[ "$output" == *hello* ]]
  klee stop isrv >/dev/null
  klee rmc isrv icli >/dev/null
  klee rmn noicc >/dev/null
  fw_valid
}

@test "(f) internal: no reach to the outside host, the network itself still works" {
  klee network create -t bridge --subnet 10.77.14.0/24 --internal inner >/dev/null
  fw_valid
  run klee run --name inn -n inner bb sh -c "nc -w 2 $OUT_ADDR 9000 </dev/null; ping -c 1 -W 2 10.77.14.1 >/dev/null && echo gw-ok"
  [[ "$output" != *outside-saw* ]]
  [[ "$output" == *gw-ok* ]]
  ! in_ns nft list table inet kleene | grep -q 'ip saddr 10.77.14.0/24 oifname "up0" masquerade' || false
  klee rmc inn >/dev/null
  klee rmn inner >/dev/null
  fw_valid
}

@test "(g) IPv6: containers get an address from --subnet6 and reach each other over IPv6" {
  klee network create -t bridge --subnet 10.77.15.0/24 --subnet6 fd00:77::/64 six >/dev/null
  fw_valid
  klee run -d --name six1 -n six bb sh -c 'while true; do echo hello6 | nc -l -p 7006; done' >/dev/null
  ip6=$(klee isc six1 | jq -r '.container_endpoints[0].ip_address6')
  [[ "$ip6" == fd00:77::* ]]
  run klee exec six1 ip -6 addr show eth0
  [[ "$output" == *"inet6 $ip6/64"* ]]
  run klee run --name six2 -n six bb sh -c "ping6 -c 1 -W 2 $ip6 >/dev/null && echo ping6-ok; nc -w 2 $ip6 7006 </dev/null"
  [[ "$output" == *ping6-ok* ]]
  [[ "$output" == *hello6* ]]
  klee stop six1 >/dev/null
  klee rmc six1 six2 >/dev/null
  klee rmn six >/dev/null
  fw_valid
}

@test "(h) connect and disconnect of a running container add and remove its interface" {
  klee run -d --name hot -n front bb sleep 300 >/dev/null
  run klee exec hot ip -o link
  [[ "$output" == *eth0* ]]
  [[ "$output" != *eth1* ]]
  klee network connect back hot >/dev/null
  fw_valid
  run klee exec hot ip -o -4 addr show eth1
  [ "$status" -eq 0 ]
  [[ "$output" == *"inet 10.77.12."* ]]
  ip=$(klee isc hot | jq -r '.container_endpoints[] | select(.ip_address | startswith("10.77.12.")) | .ip_address')
  in_ns busybox ping -c 1 -W 2 "$ip"
  klee network disconnect back hot >/dev/null
  fw_valid
  run klee exec hot ip -o link
  [[ "$output" != *eth1* ]]
  [[ "$output" == *eth0* ]]
  klee stop hot >/dev/null
  klee rmc hot >/dev/null
}

@test "(i) removing the networks leaves no link, no veth and no rule behind" {
  fw_valid
  klee rmn front back >/dev/null
  # link names only: the up0 line names its peer's netns (kleene-out-...)
  ! in_ns ip -o link | grep -qE '^[0-9]+: kleene' || false
  ! in_ns ip -o link | grep -qE '^[0-9]+: kv' || false
  run in_ns nft list table inet kleene
  if [ "$status" -eq 0 ]; then
    ! grep -Eq 'dnat|masquerade|drop' <<<"$output" || false
  fi
}
