#!/usr/bin/env bats
# GET /containers/{id}/logs?follow=1 right after the start of a container that exits at once
# (docker-py's containers.run): kleened may connect to the container's monitor just as it
# ends, and asking it for the log then fails with a broken pipe. That was a 500; the log must
# come from container.log instead. This file's kleened sleeps 100 ms at that point
# (KLEENED_DELAY_POINT, engine.h), so that the monitor is usually gone by then.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  export KLEENED_DELAY_POINT=log-monitor-connected:100
  start_kleened
  unset KLEENED_DELAY_POINT
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  stop_kleened
}

@test "logs -f of a container that has just ended (its monitor going away): 200 and the whole log, never a 500" {
  for k in 1 2 3; do
    /usr/bin/python3 "$BATS_TEST_DIRNAME/docker_logs_race.py" "$DOCKER_SOCK" bb 15 >"$E2E_DIR/race$k.out" 2>&1 &
  done
  wait
  cat "$E2E_DIR"/race*.out
  [ "$(cat "$E2E_DIR"/race*.out | grep -c '^bad 0 of 15$')" = 3 ]
  # the delay point was passed (the test widens the race it claims to)
  grep -q 'delay point log-monitor-connected' "$E2E_DIR/kleened.log"
  assert_alive
}
