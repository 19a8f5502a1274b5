#!/usr/bin/env bats
# klee as Docker users expect (issue 13, items 4, 7, 8, 9): --rm done by kleened (also when
# klee is killed, interrupted or loses its output pipe, and when the container ends while
# kleened is down), resource limits in docker's value forms, the image's WORKDIR and -w,
# restart/stop -t/--stop-timeout/kill/wait. Driven as a user would: signals to klee, pipes.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  stop_kleened
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || api POST /containers/prune
}

running() { api GET "/containers/$1/inspect"; [ "$(echo "$body" | jq -r .container.running)" = true ]; }
exists() { api GET "/containers/$1/inspect"; [ "$status_code" = 200 ]; }
# wait up to 10 s for container $1 to be gone
gone_soon() {
  for _ in $(seq 1 200); do exists "$1" || return 0; sleep 0.05; done
  return 1
}
running_soon() {
  for _ in $(seq 1 200); do running "$1" && return 0; sleep 0.05; done
  return 1
}

@test "run --rm: the container is gone after an attached run; inspect shows auto_remove" {
  run klee run --rm --name rm1 bb echo hi
  [ "$status" -eq 0 ]
  [ "${lines[2]}" = hi ]
  ! exists rm1 || false
  run klee run --rm --name rm1b bb sh -c 'exit 4'
  [ "$status" -eq 4 ]
  ! exists rm1b || false
  klee create --rm --name rm1c bb true >/dev/null
  [ "$(klee container inspect rm1c | jq -r .container.auto_remove)" = true ]
  [ "$(klee container inspect rm1c | jq -r .container.stop_timeout)" = null ]
  # created, never started: it stays
  exists rm1c
  klee start rm1c >/dev/null
  gone_soon rm1c
}

@test "run --rm: kill -9 of klee, SIGINT to klee, SIGPIPE, and -d leave nothing behind" {
  # kill -9 while attached: kleened stops the abandoned process and removes the container
  "$KLEE" --host "http://$SOCK" run --rm --name rm2 bb sleep 30 >/dev/null 2>&1 &
  kpid=$!
  running_soon rm2
  kill -KILL $kpid
  wait $kpid || true
  gone_soon rm2
  # Ctrl-C (SIGINT to klee)
  "$KLEE" --host "http://$SOCK" run --rm --name rm3 bb sleep 30 >/dev/null 2>&1 &
  kpid=$!
  running_soon rm3
  kill -INT $kpid
  wait $kpid || true
  gone_soon rm3
  # SIGPIPE: klee's output pipe closes under it
  bash -c "'$KLEE' --host 'http://$SOCK' run --rm --name rm4 bb sh -c 'while true; do echo y; done' | head -n 3 >/dev/null"
  gone_soon rm4
  # detached: kleened removes it when it ends by itself
  run klee run -d --rm --name rm5 bb sh -c 'sleep 1'
  [ "$status" -eq 0 ]
  running rm5 || true
  gone_soon rm5
  api GET '/containers/list?all=true'
  [ "$(echo "$body" | jq '[.[] | select(.name | test("^rm[2-5]$"))] | length')" = 0 ]
}

@test "run --rm: a container that ends while kleened is down is removed at its start-up" {
  run klee run -d --rm --name rm6 bb sleep 2
  [ "$status" -eq 0 ]
  klee create --rm --name rm7 bb true >/dev/null
  running rm6
  kill -KILL "$(kleened_pid)"
  for _ in $(seq 1 100); do kill -0 "$(jq -r .monitor_pid "$E2E_DIR"/run/containers/*/state.json 2>/dev/null | head -1)" 2>/dev/null || break; sleep 0.1; done
  sleep 2.5
  respawn_kleened
  ! exists rm6 || false
  # never started: kept
  exists rm7
}

@test "--memory 64m --cpus 1.5 --pids-limit 100 on run/create/update; inspect shows them; bad values" {
  run klee create --name lim --memory 64m --cpus 1.5 --pids-limit 100 bb sleep 30
  [ "$status" -eq 0 ]
  run klee container inspect lim
  [ "$(echo "$output" | jq -c '[.container.memory,.container.cpus,.container.pids_limit]')" = '[67108864,1.5,100]' ]
  run klee container update --memory 1g --cpus 0.5 lim
  [ "$status" -eq 0 ]
  run klee container inspect lim
  [ "$(echo "$output" | jq -c '[.container.memory,.container.cpus,.container.pids_limit]')" = '[1073741824,0.5,100]' ]
  run klee container update --pids-limit 0 lim
  [ "$(klee container inspect lim | jq -c .container.pids_limit)" = null ]
  # the limits reach the container's cgroup (where this host has the controllers)
  run klee run --rm --memory 64m --pids-limit 50 bb sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
  if [[ "$output" == *"no memory controller on this host"* ]]; then
    echo "# no memory cgroup controller here: the limit itself is not checked" >&3
  else
    [ "$status" -eq 0 ]
    [[ "$output" == *67108864* ]]
    [[ "$output" == *$'\n'50* ]]
  fi
  run klee run --memory 64x bb true
  [ "$status" -eq 2 ]
  [[ "$output" == *"Invalid value for '--memory': invalid size '64x'"* ]]
  run klee run --cpus -1 bb true
  [ "$status" -eq 2 ]
  [[ "$output" == *"Invalid value for '--cpus'"* ]]
  run klee container update --pids-limit lots lim
  [ "$status" -eq 2 ]
  # nothing was created by the refused runs
  api GET '/containers/list?all=true'
  [ "$(echo "$body" | jq length)" = 1 ]
}

@test "WORKDIR: run (exec-form CMD, given cmd), exec, -w on run and exec, a missing -w directory is made" {
  ctx=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  printf 'FROM bb\nWORKDIR /app\nRUN pwd > where\nCMD ["pwd"]\n' >"$ctx/Dockerfile"
  run klee build -t wd "$ctx"
  [ "$status" -eq 0 ]
  [ "$(klee image inspect wd | jq -r .workdir)" = /app ]
  run klee run --rm wd
  [ "$status" -eq 0 ]
  [ "${lines[2]}" = /app ]
  run klee run --rm wd cat where
  [ "${lines[2]}" = /app ]
  run klee run --rm -w /tmp wd pwd
  [ "${lines[2]}" = /tmp ]
  run klee run --rm -w /new/dir wd pwd
  [ "$status" -eq 0 ]
  [ "${lines[2]}" = /new/dir ]
  run klee run -d --name wdc wd sleep 30
  [ "$status" -eq 0 ]
  [ "$(klee container inspect wdc | jq -r .container.workdir)" = /app ]
  run klee exec wdc pwd
  [ "${lines[1]}" = /app ]
  run klee exec -w /etc wdc pwd
  [ "${lines[1]}" = /etc ]
  run klee exec -w relative wdc pwd
  [ "$status" -eq 2 ]
  # an image without WORKDIR: /
  run klee run --rm bb pwd
  [ "${lines[2]}" = / ]
  # a child image keeps its parent's WORKDIR (Docker)
  printf 'FROM wd\nRUN pwd > child\n' >"$ctx/Dockerfile"
  run klee build -t wd2 "$ctx"
  [ "$status" -eq 0 ]
  run klee run --rm wd2 cat /app/child
  [ "${lines[2]}" = /app ]
}

@test "restart starts a stopped container; stop -t and --stop-timeout bound the grace" {
  run klee create --name rs bb sleep 30
  cid=${lines[0]}
  run klee restart rs
  [ "$status" -eq 0 ]
  running rs
  # a process that ignores SIGTERM: stop -t 1 kills it after about a second
  run klee run -d --name term bb sh -c 'trap "" TERM; while true; do sleep 1; done'
  running_soon term
  start=$(date +%s)
  run klee stop -t 1 term
  [ "$status" -eq 0 ]
  [ $(($(date +%s) - start)) -lt 5 ]
  ! running term || false
  run klee stop -t x term
  [ "$status" -eq 2 ]
  run klee run -d --stop-timeout 1 --name term2 bb sh -c 'trap "" TERM; while true; do sleep 1; done'
  [ "$(klee container inspect term2 | jq -r .container.stop_timeout)" = 1 ]
  running_soon term2
  start=$(date +%s)
  run klee stop term2
  [ "$status" -eq 0 ]
  [ $(($(date +%s) - start)) -lt 5 ]
  # restart -t of a running one
  run klee restart -t 1 term2
  [ "$status" -eq 0 ]
  running term2
}

@test "kill [-s SIGNAL] and wait: exit codes, a stopped container, bad signals; start --help says how to detach" {
  run klee run -d --name k1 bb sleep 30
  running_soon k1
  "$KLEE" --host "http://$SOCK" wait k1 >"$BATS_TEST_TMPDIR/wait.out" &
  wpid=$!
  sleep 0.3
  kill -0 $wpid # still waiting
  run klee kill -s TERM k1
  [ "$status" -eq 0 ]
  wait $wpid
  [ "$(cat "$BATS_TEST_TMPDIR/wait.out")" = 143 ]
  ! running k1 || false
  # waiting for a stopped container answers at once with its last exit code
  run klee wait k1
  [ "$output" = 143 ]
  run klee kill k1
  [ "$status" -eq 1 ]
  [ "$output" = "container not running" ]
  run klee run -d --name k2 bb sh -c 'trap "" TERM; sleep 30'
  running_soon k2
  run klee kill k2
  [ "$status" -eq 0 ]
  ! running k2 || false
  run klee wait k2
  [ "$output" = 137 ]
  run klee run -d --name k3 bb sleep 30
  running_soon k3
  run klee kill -s SIGWINCH k3
  [ "$status" -eq 0 ]
  run klee kill -s NOPE k3
  [ "$status" -eq 1 ]
  [[ "$output" == *"invalid signal 'NOPE'"* ]]
  running k3
  run klee wait nosuch
  [ "$status" -eq 1 ]
  [ "$output" = "container not found" ]
  run klee create --name k4 bb true
  run klee wait k4
  [ "$output" = -1 ]
  run klee start --help
  [[ "$output" == *"-d/--detach"* ]]
  [[ "$output" == *"no detach key"* ]]
}

@test "API: kill/wait/stop?timeout answers (ours), the original's stop without a query unchanged" {
  run klee run -d --name api1 bb sleep 30
  id=${lines[0]}
  running_soon api1
  api POST "/containers/api1/kill?signal=BOGUS"
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r .message)" = "invalid signal 'BOGUS'" ]
  api POST "/containers/api1/stop?timeout=abc"
  [ "$status_code" = 422 ]
  api POST "/containers/api1/stop?timeout=99999999"
  [ "$status_code" = 422 ]
  running api1
  api POST /containers/nosuch/wait
  [ "$status_code" = 404 ]
  api POST /containers/nosuch/kill
  [ "$status_code" = 404 ]
  # the original klee's stop: no query, 200 {"id"}
  api POST /containers/api1/stop
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r .id)" = "$id" ]
  api POST /containers/api1/kill
  [ "$status_code" = 409 ]
  [ "$(echo "$body" | jq -r .message)" = "container not running" ]
  api POST /containers/api1/wait
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -c .)" = "{\"id\":\"$id\",\"exit_code\":143}" ]
  # the main process gone, a process it left behind still runs: TERM reaches what is left
  run klee run -d --name api2 bb sh -c 'sleep 30 & exit 0'
  running_soon api2
  api POST "/containers/api2/kill?signal=TERM"
  [ "$status_code" = 200 ]
  api POST /containers/api2/wait
  [ "$status_code" = 200 ]
  ! running api2 || false
}
