#!/usr/bin/env bats
# The network API against a real kleened in its own netns (API.md §6 Networks, §9): exact
# bodies and status codes, the links and the nft table made in that netns, and nothing left
# after removal. Containers are rows inserted with sqlite3 (no image needed); a "running"
# one is a process in its own netns with the state.json a monitor writes.
load helpers

setup_file() { start_kleened; }
teardown_file() {
  # processes started inside tests (their variables do not reach here): by recorded pid
  for f in fake.pid restarted.pid; do
    [ -s "$E2E_DIR/$f" ] && kill "$(cat "$E2E_DIR/$f")" 2>/dev/null
  done
  stop_kleened
}

db() { sqlite3 "$E2E_DIR/root/metadata.sqlite" "$@"; }

add_container() { # id name driver
  db "INSERT OR IGNORE INTO images (id, created) VALUES ('0123456789ab', '2024');
      INSERT INTO containers (id, name, image_id, created, network_driver, doc)
      VALUES ('$1', '$2', '0123456789ab', '2024', '$3', '{\"public_ports\":[]}');"
}

# The whole ruleset of the test netns must load again as it is.
nft_valid() {
  in_ns nft list ruleset >"$E2E_DIR/ruleset.nft"
  in_ns nft -c -f "$E2E_DIR/ruleset.nft"
}

@test "create: 201 with a 12-hex id; the bridge gets the <auto> gateway; list and inspect" {
  api POST /networks/create '{"name":"testnet","type":"bridge","subnet":"10.13.37.0/24","gateway":"<auto>"}'
  [ "$status_code" = 201 ]
  id=$(echo "$body" | jq -r .id)
  [[ "$id" =~ ^[0-9a-f]{12}$ ]]
  in_ns ip -br addr show kleene0 | grep -q '10.13.37.1/24'
  api GET /networks/list
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c 'map(del(.created))')" = "[{\"id\":\"$id\",\"name\":\"testnet\",\"type\":\"bridge\",\"interface\":\"kleene0\",\"subnet\":\"10.13.37.0/24\",\"subnet6\":\"\",\"gateway\":\"<auto>\",\"gateway6\":\"\",\"nat\":\"\",\"icc\":true,\"internal\":false,\"labels\":{},\"ip_range\":\"\"}]" ]
  echo "$body" | jq -r '.[0].created' | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$'
  api GET /networks/testnet/inspect
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c '[.network.id, .network_endpoints]')" = "[\"$id\",[]]" ]
  api GET "/networks/${id:0:4}/inspect"
  [ "$status_code" = 200 ]
  in_ns nft list table inet kleene | grep -q 'kleene0'
  nft_valid
}

@test "create errors are 409 with the original's messages, in its order" {
  api POST /networks/create '{"name":"testnet","type":"bridge","subnet":"172.18.0.0-16"}'
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"invalid subnet: could not parse cidr block: \"172.18.0.0-16\""}' ]
  api POST /networks/create '{"name":"x","type":"loopback","subnet6":"10.0.0.0/8"}'
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"invalid subnet6: wrong IP protocol"}' ]
  api POST /networks/create '{"name":"x","type":"loopback","gateway":"fd00::1"}'
  [ "$body" = '{"message":"invalid gateway: wrong IP protocol"}' ]
  api POST /networks/create '{"name":"x","type":"loopback","gateway6":"10.0.0.1"}'
  [ "$body" = '{"message":"invalid gateway6: wrong IP protocol"}' ]
  api POST /networks/create '{"name":"testnet","type":"loopback"}'
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"network name is already taken"}' ]
  api POST /networks/create '{"name":"x","type":"nosuch"}'
  [ "$status_code" = 422 ]
  api POST /networks/create '{"name":"x","type":"bridge","interface":"abcdefghijklmnop"}'
  [ "$status_code" = 422 ]
  api GET /networks/list
  [ "$(echo "$body" | jq length)" = 1 ]
}

@test "inspect and remove of an unknown network: 404 with and without the period" {
  api GET /networks/nosuch/inspect
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"network not found"}' ]
  api POST /networks/create '{"name":"gone","type":"loopback"}'
  id=$(echo "$body" | jq -r .id)
  in_ns ip link show kleene1
  api DELETE /networks/gone
  [ "$status_code" = 200 ]
  [ "$body" = "{\"id\":\"$id\"}" ]
  api DELETE /networks/gone
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"network not found."}' ]
  ! in_ns ip link show kleene1 || false
  nft_valid
}

@test "connect and disconnect: codes, messages, addresses, the table" {
  add_container aaaaaaaaaaa1 c1 ipnet
  add_container aaaaaaaaaaa2 c2 host
  add_container aaaaaaaaaaa3 c3 vnet
  api POST /networks/connect '{"container":"c1","network":"testnet","ip_address":"<auto>"}'
  [ "$status_code" = 204 ]
  [ -z "$body" ]
  api POST /networks/connect '{"container":"c1","network":"testnet"}'
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"container already connected to the network"}' ]
  api POST /networks/connect '{"container":"nosuch","network":"testnet"}'
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"container not found"}' ]
  api POST /networks/connect '{"container":"c1","network":"nosuch"}'
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"network not found"}' ]
  api POST /networks/connect '{"container":"c2","network":"testnet"}'
  [ "$status_code" = 409 ]
  [ "$body" = "{\"message\":\"containers with the 'host' network-driver cannot connect to networks.\"}" ]
  api POST /networks/connect '{"container":"c3","network":"testnet","ip_address":"10.13.37.1"}'
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"ip address 10.13.37.1 is the gateway of the network"}' ]
  api POST /networks/connect '{"container":"c3","network":"testnet","ip_address":"10.13.37.2"}'
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"ip address 10.13.37.2 is already in use in the network"}' ]
  api POST /networks/connect '{"container":"c3","network":"testnet","ip_address":"10.99.0.1"}'
  [ "$status_code" = 409 ]
  [ "$body" = "{\"message\":\"ip address 10.99.0.1 is outside the network's subnet 10.13.37.0/24\"}" ]
  api POST /networks/connect '{"container":"c3","network":"testnet","ip_address":"10.13.37.50"}'
  [ "$status_code" = 204 ]
  api GET /networks/testnet/inspect
  [ "$(echo "$body" | jq -c '[.network_endpoints[] | [.container_id, .ip_address, .ip_address6, .epair]]')" = '[["aaaaaaaaaaa1","10.13.37.2","",null],["aaaaaaaaaaa3","10.13.37.50","",null]]' ]
  nft_valid
  api POST /networks/testnet/disconnect/c3
  [ "$status_code" = 204 ]
  api POST /networks/testnet/disconnect/c3
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"endpoint configuration not found"}' ]
  api POST /networks/nosuch/disconnect/c3
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"network not found"}' ]
  api POST /networks/testnet/disconnect/nosuch
  [ "$status_code" = 409 ]
  [ "$body" = '{"message":"container not found"}' ]
}

@test "a running container is hot-plugged: veth in its netns, epair shown, removed on disconnect" {
  add_container bbbbbbbbbbb1 runner ipnet
  # the fake records its own pid (not a subshell's), and must sit in a netns of its own
  rm -f "$E2E_DIR/fake.pid"
  ip netns exec "$E2E_NS" unshare --net sh -c "echo \$\$ >$E2E_DIR/fake.pid; exec sleep 300" \
    >/dev/null 2>&1 3>&- 4>&- &
  for _ in $(seq 1 100); do [ -s "$E2E_DIR/fake.pid" ] && break; sleep 0.05; done
  FAKE_PID=$(cat "$E2E_DIR/fake.pid")
  fake_ns=$(readlink /proc/$FAKE_PID/ns/net)
  [ "$fake_ns" != "$(readlink /proc/self/ns/net)" ]
  [ "$fake_ns" != "$(in_ns readlink /proc/self/ns/net)" ]
  mkdir -p "$E2E_DIR/run/containers/bbbbbbbbbbb1"
  echo "{\"container_id\":\"bbbbbbbbbbb1\",\"container_pid\":$FAKE_PID,\"running\":true}" \
    >"$E2E_DIR/run/containers/bbbbbbbbbbb1/state.json"
  api POST /networks/connect '{"container":"runner","network":"testnet","ip_address":"<auto>"}'
  [ "$status_code" = 204 ]
  api GET /networks/testnet/inspect
  ep=$(echo "$body" | jq -c '.network_endpoints[] | select(.container_id == "bbbbbbbbbbb1")')
  epair=$(echo "$ep" | jq -r .epair)
  [ "$epair" = "kv$(echo "$ep" | jq -r .id)" ]
  [ "$(echo "$ep" | jq -r .ip_address)" = 10.13.37.3 ]
  in_ns ip link show "$epair" | grep -q 'master kleene0'
  nsenter --net=/proc/$FAKE_PID/ns/net ip -br addr show eth0 | grep -q '10.13.37.3/24'
  nsenter --net=/proc/$FAKE_PID/ns/net ip route | grep -q '^default via 10.13.37.1 dev eth0'
  # traffic stays inside our namespaces: the container pings its gateway
  nsenter --net=/proc/$FAKE_PID/ns/net busybox ping -c1 -W2 10.13.37.1 >/dev/null
  nft_valid
  api POST /networks/testnet/disconnect/runner
  [ "$status_code" = 204 ]
  ! in_ns ip link show "$epair" || false
  ! nsenter --net=/proc/$FAKE_PID/ns/net ip link show eth0 || false
  kill "$FAKE_PID"
  FAKE_PID=
}

@test "custom network on an existing link: connect works, removal keeps the link" {
  in_ns ip link add custom0 type bridge
  api POST /networks/create '{"name":"cust","type":"custom","interface":"custom0","subnet":"10.50.0.0/24"}'
  [ "$status_code" = 201 ]
  api POST /networks/create '{"name":"cust2","type":"custom","interface":"nosuch0"}'
  [ "$status_code" = 409 ]
  api POST /networks/connect '{"container":"c1","network":"cust","ip_address":"<auto>"}'
  [ "$status_code" = 204 ]
  api POST /networks/connect '{"container":"c3","network":"cust"}'
  [ "$status_code" = 409 ]
  [ "$body" = "{\"message\":\"containers using the 'vnet' network-driver can't connect to custom networks\"}" ]
  in_ns nft list table inet kleene | grep -q custom0
  api DELETE /networks/cust
  [ "$status_code" = 200 ]
  in_ns ip link show custom0
  ! in_ns nft list table inet kleene | grep -q custom0 || false
  in_ns ip link del custom0
}

@test "prune removes only networks without endpoints; remove disconnects; nothing is left" {
  api POST /networks/create '{"name":"unused","type":"bridge","subnet":"10.60.0.0/24","gateway":"<auto>"}'
  unused=$(echo "$body" | jq -r .id)
  api POST /networks/prune
  [ "$status_code" = 200 ]
  [ "$body" = "[\"$unused\"]" ]
  api GET /networks/list
  [ "$(echo "$body" | jq -r '[.[].name] | join(",")')" = testnet ]
  api DELETE /networks/testnet
  [ "$status_code" = 200 ]
  [ "$(db 'SELECT count(*) FROM endpoints')" = 0 ]
  api GET /networks/list
  [ "$body" = "[]" ]
  [ "$(in_ns ip -o link | grep -c -E 'kleene|kv')" = 0 ]
  ! in_ns nft list table inet kleene | grep -E 'kleene[0-9]|10\.13\.37' || false
  nft_valid
  assert_alive
}

@test "names: one character set and 255 characters at most, refused with 422; nothing made" {
  for name in '../../etc' 'a\nb' 'evil\u202etxt' 'a b' '.hidden' ''; do
    api POST /networks/create "{\"name\":\"$name\",\"type\":\"loopback\"}"
    [ "$status_code" = 422 ]
    [ "$(echo "$body" | jq -c '.errors[0] | [.source.pointer, .detail]')" = '["/name","Invalid format. Expected ~r/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/"]' ]
  done
  # a 1 MB name (under the 1 MiB body limit): refused before anything reads it
  printf '{"name":"%s","type":"loopback"}' "$(head -c 1000000 /dev/zero | tr '\0' a)" >"$E2E_DIR/big.json"
  out=$(curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' \
    --data-binary @"$E2E_DIR/big.json" -w '\n%{http_code}' http://localhost/networks/create)
  [ "${out##*$'\n'}" = 422 ]
  [ "$(echo "${out%$'\n'*}" | jq -r '.errors[0].detail')" = "String length is larger than maxLength: 255" ]
  api POST /networks/create "{\"name\":\"$(printf 'n%.0s' $(seq 255))\",\"type\":\"loopback\"}"
  [ "$status_code" = 201 ]
  api DELETE "/networks/$(echo "$body" | jq -r .id)"
  [ "$status_code" = 200 ]
  api GET /networks/list
  [ "$body" = "[]" ]
  assert_alive
}

@test "a subnet overlapping another network's is refused (409) unless allow_subnet_overlap" {
  api POST /networks/create '{"name":"wide","type":"bridge","subnet":"10.80.0.0/16"}'
  [ "$status_code" = 201 ]
  api POST /networks/create '{"name":"inner","type":"bridge","subnet":"10.80.5.0/24"}'
  [ "$status_code" = 409 ]
  [ "$body" = "{\"message\":\"subnet 10.80.5.0/24 overlaps 10.80.0.0/16 of network 'wide' (set allow_subnet_overlap to share it)\"}" ]
  ! in_ns ip link show kleene1 || false
  api POST /networks/create '{"name":"inner","type":"bridge","subnet":"10.80.5.0/24","allow_subnet_overlap":true}'
  [ "$status_code" = 201 ]
  [ "$(echo "$body" | jq -r .id)" != null ]
  api GET /networks/inner/inspect
  [ "$(echo "$body" | jq -c '.network | has("allow_subnet_overlap")')" = false ]
  for n in inner wide; do api DELETE /networks/$n; [ "$status_code" = 200 ]; done
  nft_valid
}

@test "kleened restart re-creates the bridges and the table of stored networks" {
  api POST /networks/create '{"name":"persist","type":"bridge","subnet":"10.70.0.0/24","gateway":"<auto>"}'
  [ "$status_code" = 201 ]
  kill -TERM "$KLEENED_PID"; wait "$KLEENED_PID" 2>/dev/null || true
  in_ns ip link del kleene0
  # no container ran: kleened removed its table when it stopped
  ! in_ns nft list table inet kleene 2>/dev/null || false
  ip netns exec "$E2E_NS" "$KLEENED" -c "$E2E_DIR/config.yaml" >>"$E2E_DIR/kleened.log" 2>&1 3>&- 4>&- &
  KLEENED_PID=$!
  echo "$KLEENED_PID" >"$E2E_DIR/restarted.pid"
  for _ in $(seq 1 100); do
    curl -s --unix-socket "$SOCK" http://localhost/version >/dev/null && break
    sleep 0.05
  done
  in_ns ip -br addr show kleene0 | grep -q '10.70.0.1/24'
  in_ns nft list table inet kleene | grep -q '10.70.0.0/24'
  api DELETE /networks/persist
  [ "$status_code" = 200 ]
  ! in_ns ip link show kleene0 || false
  kill -TERM "$KLEENED_PID"
  wait "$KLEENED_PID" || true
}
