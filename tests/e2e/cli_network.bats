#!/usr/bin/env bats
# klee network commands against a real kleened (in its own netns), as a user would type them.
load helpers

setup_file() { start_kleened; }
teardown_file() { stop_kleened; }

db() { sqlite3 "$E2E_DIR/root/metadata.sqlite" "$@"; }

@test "klee network create prints the id and sends the options as the original does" {
  run klee network create -t bridge --subnet 10.2.3.0/24 --icc false --internal testnet
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^[0-9a-f]{12}$ ]]
  run klee network inspect testnet
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -c '.network | [.type, .interface, .subnet, .gateway, .gateway6, .icc, .internal, .nat]')" = '["bridge","kleene0","10.2.3.0/24","<auto>","<auto>",false,true,""]' ]
  [ "$(echo "$output" | jq -c .network_endpoints)" = "[]" ]
  in_ns ip -br addr show kleene0 | grep -q '10.2.3.1/24'
}

@test "loopback is the default type and gets no gateway; --gw/--nat-if/-i are passed" {
  run klee network create --subnet 10.2.4.0/24 --gw 10.2.4.9 -i mynet0 --nat-if eth9 lonet
  [ "$status" -eq 0 ]
  run klee isn lonet
  [ "$(echo "$output" | jq -c '.network | [.type, .interface, .gateway, .nat, .icc]')" = '["loopback","mynet0","","eth9",true]' ]
  run klee network create -t bridge --nat false --gw 10.2.5.1 --gw6 '' --subnet 10.2.5.0/24 bnet
  run klee isn bnet
  [ "$(echo "$output" | jq -c '.network | [.gateway, .gateway6, .nat]')" = '["10.2.5.1","",""]' ]
  run klee network create --nat maybe x
  [ "$status" -eq 2 ]
  [[ "$output" == *"Invalid value for '--nat': 'maybe' is not a valid boolean."* ]]
}

@test "klee network ls: ID, NAME, TYPE, SUBNET by name; lsn is the same" {
  run klee network ls
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" =~ ^\ ID\ +NAME\ +TYPE\ +SUBNET ]]
  [[ "${lines[1]}" =~ ^─+$ ]]
  [[ "${lines[2]}" =~ ^\ [0-9a-f]{12}\ +bnet\ +bridge\ +10\.2\.5\.0/24 ]]
  [[ "${lines[3]}" =~ \ lonet\ +loopback\ +10\.2\.4\.0/24 ]]
  [[ "${lines[4]}" =~ \ testnet\ +bridge\ +10\.2\.3\.0/24 ]]
  [ "${#lines[@]}" -eq 5 ]
  [ "$(klee lsn)" = "$output" ]
}

@test "errors: the server's message, non-zero exit" {
  run klee network create --subnet 172.18.0.0-16 y
  [ "$status" -eq 1 ]
  [ "$output" = 'invalid subnet: could not parse cidr block: "172.18.0.0-16"' ]
  run klee network create testnet
  [ "$output" = "network name is already taken" ]
  run klee network inspect nosuch
  [ "$status" -eq 1 ]
  [ "$output" = "network not found" ]
  run klee network rm nosuch
  [ "$output" = "network not found." ]
}

@test "klee network connect / disconnect a container (--ip, <auto>), and the errors" {
  db "INSERT INTO images (id, created) VALUES ('0123456789ab', '2024');
      INSERT INTO containers (id, name, image_id, created, network_driver, doc)
      VALUES ('aaaaaaaaaaa1', 'web', '0123456789ab', '2024', 'ipnet', '{\"public_ports\":[]}'),
             ('aaaaaaaaaaa2', 'db', '0123456789ab', '2024', 'vnet', '{\"public_ports\":[]}');"
  run klee network connect testnet web
  [ "$status" -eq 0 ]
  [ "$output" = "" ]
  run klee network connect --ip 10.2.3.77 testnet db
  [ "$status" -eq 0 ]
  run klee isn testnet
  [ "$(echo "$output" | jq -c '[.network_endpoints[] | [.container_id, .ip_address]]')" = '[["aaaaaaaaaaa1","10.2.3.2"],["aaaaaaaaaaa2","10.2.3.77"]]' ]
  run klee network connect testnet web
  [ "$status" -eq 1 ]
  [ "$output" = "container already connected to the network" ]
  run klee network connect lonet db
  [ "$output" = "containers using the 'vnet' network-driver can't connect to loopback networks" ]
  run klee network connect testnet nosuch
  [ "$output" = "container not found" ]
  run klee network disconnect testnet db
  [ "$status" -eq 0 ]
  [ "$output" = "" ]
  run klee network disconnect testnet db
  [ "$status" -eq 1 ]
  [ "$output" = "endpoint configuration not found" ]
}

@test "klee network prune -f removes the unused ones; rmn removes the rest and leaves nothing" {
  run klee network prune -f
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 2 ]
  run klee lsn
  [ "${#lines[@]}" -eq 3 ]
  [[ "${lines[2]}" =~ \ testnet\  ]]
  id=$(klee isn testnet | jq -r .network.id)
  run klee rmn testnet
  [ "$status" -eq 0 ]
  [ "$output" = "$id" ]
  [ "$(db 'SELECT count(*) FROM endpoints')" = 0 ]
  [ "$(in_ns ip -o link | grep -c -E 'kleene|mynet|kv')" = 0 ]
  in_ns nft list ruleset >"$E2E_DIR/r.nft"
  in_ns nft -c -f "$E2E_DIR/r.nft"
  ! grep -q '10\.2\.' "$E2E_DIR/r.nft" || false
}

@test "klee network with no arguments prints help" {
  run klee network create
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: klee network create [OPTIONS] NETWORK_NAME"* ]]
  [[ "$output" == *"--subnet6"* ]]
  run klee network
  [[ "$output" == *"connect"* && "$output" == *"disconnect"* ]]
}
