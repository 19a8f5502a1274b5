#!/usr/bin/env bats
# klee against a real kleened with a busybox image: run, exec (-i, -t), stop, start, logs,
# what a container sees (pid 1, processes, capabilities, mounts), and the survival of a
# container across a kill -9 of kleened.
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

@test "klee run IMAGE echo hi prints hi and exits 0; exit codes are the process's" {
  run klee run bb echo hi
  [ "$status" -eq 0 ]
  [ "${lines[2]}" = "hi" ]
  [[ "${lines[-1]}" == "executable "*" and its container exited with exit-code 0" ]]
  run klee run bb sh -c 'exit 3'
  [ "$status" -eq 3 ]
}

@test "run -d, exec hostname, exec -i with stdin, exec -t, pid 1 and ps, stop (143), start attached" {
  run klee run -d --name det bb sleep 30
  [ "$status" -eq 0 ]
  cid=${lines[0]}
  running det
  run klee exec det hostname
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "$cid" ]
  [[ "${lines[-1]}" == *" has exited with exit-code 0" ]]
  run bash -c "echo hello | '$KLEE' --host 'http://$SOCK' exec -i det sh -c 'read l; echo got:\$l'"
  [ "$status" -eq 0 ]
  [[ "$output" == *"got:hello"* ]]
  run script -qec "'$KLEE' --host 'http://$SOCK' exec -t det tty" /dev/null
  [[ "$output" == *"/dev/pts/"* ]]
  run klee exec det ps -o pid,comm
  [ "$status" -eq 0 ]
  # pid 1 is the reaper; besides it only the container's processes (sleep, ps)
  [[ "$(echo "$output" | awk '$1 == 1 {print}')" == *"kleene-init"* || "$(echo "$output" | awk '$1 == 1 {print}')" == *"init"* ]]
  n=$(echo "$output" | awk '$1 ~ /^[0-9]+$/' | wc -l)
  [ "$n" -eq 3 ]
  echo "$output" | grep -q sleep
  # stop: the attached session of the main process ends 143
  run klee exec det sh -c 'grep CapEff /proc/self/status'
  [[ "$output" == *"CapEff:"* ]]
  ! [[ "$output" == *"CapEff:	000001ffffffffff"* ]] || false
  klee stop det >/dev/null
  ! running det || false
  "$KLEE" --host "http://$SOCK" start det >"$BATS_TEST_TMPDIR/start.out" 2>&1 &
  kpid=$!
  for _ in $(seq 1 100); do running det && break; sleep 0.05; done
  running det
  run klee stop det
  [ "$status" -eq 0 ]
  [ "$output" = "$cid" ]
  wait $kpid || rc=$?
  [ "${rc:-0}" -eq 143 ]
  grep -q "and its container exited with exit-code 143" "$BATS_TEST_TMPDIR/start.out"
}

@test "mounts: a volume (rw, on the host) and a read-only bind" {
  mkdir -p "$E2E_DIR/hostdir"
  echo from-host >"$E2E_DIR/hostdir/f"
  run klee run --mount vol1:/data --mount "$E2E_DIR/hostdir:/ro:ro" bb sh -c 'echo v > /data/x; cat /ro/f; touch /ro/g'
  [ "$status" -eq 1 ]
  [[ "$output" == *"from-host"* ]]
  [[ "$output" == *"Read-only file system"* ]]
  [ "$(cat "$E2E_DIR/root/volumes/vol1/x")" = v ]
  [ ! -e "$E2E_DIR/hostdir/g" ]
}

@test "logs and logs -f" {
  run klee run -d --name lg bb sh -c 'echo one; sleep 1; echo two'
  [ "$status" -eq 0 ]
  run klee container logs -f lg
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'one\ntwo')" ]
  run klee container logs lg
  [ "$output" = "$(printf 'one\ntwo')" ]
}

@test "a container survives kill -9 of kleened: ls, exec, logs, stop after the restart" {
  run klee run -d --name surv bb sh -c 'echo before-kill; exec sleep 300'
  [ "$status" -eq 0 ]
  cid=${lines[0]}
  for _ in $(seq 1 50); do [ "$(klee container logs surv)" = before-kill ] && break; sleep 0.05; done
  kill -KILL "$KLEENED_PID"
  wait "$KLEENED_PID" 2>/dev/null || true
  respawn_kleened
  run klee lsc
  [[ "$output" == *"$cid"*" Up "* ]]
  run klee exec surv echo still-here
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "still-here" ]
  run klee container logs surv
  [ "$output" = "before-kill" ]
  run klee stop surv
  [ "$status" -eq 0 ]
  [ "$output" = "$cid" ]
  ! running surv || false
}
