#!/usr/bin/env bats
# docker-compose (Debian's 1.29, issue 14) against this test's kleened through the Docker
# door: a project with two services (a busybox httpd with a published port and a client that
# reaches it by its service name), a named volume and a network. up -d, ps, logs, exec -T,
# restart, down -v; what compose made is checked through both doors. Published-port traffic
# stays inside the test's network namespace (kleened runs there).
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

setup_file() {
  command -v docker-compose >/dev/null || skip "docker-compose is not installed (scripts/install-deps)"
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
  mkdir -p "$E2E_DIR/proj"
  cat >"$E2E_DIR/proj/docker-compose.yml" <<'YAML'
version: "3.7"
services:
  web:
    image: bb:latest
    command: ["sh", "-c", "echo web-says-hi > /www/index.html; exec httpd -f -p 80 -h /www"]
    ports:
      - "18080:80"
    volumes:
      - data:/www
    networks:
      - appnet
  client:
    image: bb:latest
    # (busybox-static's wget crashes here: a GET through nc)
    command:
      - sh
      - -c
      - 'while true; do printf "GET /index.html HTTP/1.0\r\n\r\n" | nc -w 2 web 80; sleep 1; done'
    depends_on:
      - web
    networks:
      - appnet
volumes:
  data:
networks:
  appnet:
YAML
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] || return 0
  compose down -v >/dev/null 2>&1 || true
  stop_kleened
}

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" "$@"; }
# compose inside the test's netns: the published port is reached at 127.0.0.1 there
compose() {
  (cd "$E2E_DIR/proj" && DOCKER_HOST="unix://$DOCKER_SOCK" COMPOSE_INTERACTIVE_NO_CLI=1 \
    timeout 120 docker-compose -p kproj --ansi never "$@")
}

# wait_for CMD...: up to 15 s for CMD to succeed
wait_for() {
  for _ in $(seq 1 150); do "$@" && return 0; sleep 0.1; done
  "$@"
}

client_got_page() { compose logs client 2>/dev/null | grep -q web-says-hi; }
port_serves() { in_ns curl -s -m 1 http://127.0.0.1:18080/index.html | grep -q web-says-hi; }
client_reaches_web() {
  compose exec -T client sh -c 'printf "GET /index.html HTTP/1.0\r\n\r\n" | nc -w 2 web 80' 2>&1 |
    grep -q web-says-hi
}

@test "compose up -d: two services, a named volume and a network; ps lists them running" {
  run compose up -d
  echo "$output"
  [ "$status" -eq 0 ]
  run compose ps
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *kproj_web_1*Up* ]]
  [[ "$output" == *kproj_client_1*Up* ]]
  [[ "$output" == *18080-\>80/tcp* ]]
  # what compose made, through the Docker door and the Kleene API
  [ "$(docker network ls -q --filter name=kproj_appnet | wc -l)" -eq 1 ]
  [ "$(docker volume ls -q --filter name=kproj_data)" = kproj_data ]
  api GET /networks/kproj_appnet/inspect
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq '.network_endpoints | length')" -eq 2 ]
  api GET /containers/kproj_web_1/inspect
  [ "$(echo "$body" | jq -r '.container.labels["com.docker.compose.service"]')" = web ]
  [ "$(echo "$body" | jq -r '.container_endpoints[0].aliases | index("web") != null')" = true ]
}

@test "compose: the client reaches the server by its service name; the published port answers" {
  wait_for client_got_page
  wait_for port_serves
  # /etc/hosts of the client names the server by service, container name and id
  run compose exec -T client cat /etc/hosts
  [ "$status" -eq 0 ]
  [[ "$output" == *kproj_web_1* ]]
  [[ "$output" == *" web "* ]] || [[ "$output" == *" web"$'\n'* ]] || [[ "$output" == *$'\t'"web "* ]]
}

@test "compose logs and exec -T" {
  run compose logs web
  [ "$status" -eq 0 ]
  [[ "$output" == *"web_1"* ]]
  run compose exec -T web cat /www/index.html
  [ "$status" -eq 0 ]
  [ "$output" = web-says-hi ]
  run compose exec -T web sh -c 'exit 3'
  [ "$status" -eq 3 ]
}

@test "compose restart: both services run again and still find each other" {
  web_before=$(docker inspect -f '{{.State.StartedAt}}' kproj_web_1)
  run compose restart
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(docker inspect -f '{{.State.Running}}' kproj_web_1)" = true ]
  [ "$(docker inspect -f '{{.State.Running}}' kproj_client_1)" = true ]
  [ "$(docker inspect -f '{{.State.StartedAt}}' kproj_web_1)" != "$web_before" ]
  wait_for port_serves
  # (under load the restarted client may take a moment to answer an exec)
  wait_for client_reaches_web
}

@test "compose down -v leaves no container, network or volume (both doors)" {
  run compose down -v
  echo "$output"
  [ "$status" -eq 0 ]
  [ -z "$(docker ps -aq --filter label=com.docker.compose.project=kproj)" ]
  [ -z "$(docker network ls -q --filter name=kproj)" ]
  [ -z "$(docker volume ls -q --filter name=kproj)" ]
  api GET '/containers/list?all=true'
  [ "$(echo "$body" | jq '[.[] | select(.name | startswith("kproj"))] | length')" -eq 0 ]
  api GET /networks/list
  [ "$(echo "$body" | jq '[.[] | select(.name | startswith("kproj"))] | length')" -eq 0 ]
  api GET /volumes/list
  [ "$(echo "$body" | jq '[.[] | select(.name | startswith("kproj"))] | length')" -eq 0 ]
  ! in_ns nft list table inet kleene 2>/dev/null | grep -q 18080 || false
  assert_alive
}
