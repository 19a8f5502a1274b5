#!/usr/bin/env bats
# What a container gets from kleened, and what it must not: none of kleened's environment,
# file descriptors, blocked or ignored signals, umask or working directory reach the
# container's pid 1 (the reaper) or its processes; bind mounts cannot reach into kleened's own
# root and run directories nor cover /proc or /sys; a container's root filesystem is mounted
# only in the container's own mount namespace, so nothing of it stays in kleened's namespace
# after a kill -9 (issue 12, items 2, 4 and 6).
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  # kleened with a secret in its environment, a blocked and an ignored signal, a stray open
  # fd, an odd umask and cwd, a raised soft limit of open files and OOM protection: nothing of it may show
  # in a container.
  export KLEENE_TEST_SECRET=s3cr3t-value
  ulimit -Sn 4096 2>/dev/null || true
  exec 7</etc/hostname
  cd /tmp
  umask 0007
  trap '' USR2
  # (lowering it needs CAP_SYS_RESOURCE, which a test machine may lack)
  echo -500 2>/dev/null >/proc/self/oom_score_adj || true
  start_kleened
  echo 0 >/proc/self/oom_score_adj
  trap - USR2
  umask 0022
  cd - >/dev/null
  exec 7<&-
  unset KLEENE_TEST_SECRET
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

@test "kleened itself has the secret (so the tests below can fail)" {
  tr '\0' '\n' <"/proc/$(kleened_pid)/environ" | grep -qx 'KLEENE_TEST_SECRET=s3cr3t-value'
}

@test "nothing of kleened's environment reaches pid 1, the main process or an exec" {
  run klee run -d --name envc bb sleep 60
  [ "$status" -eq 0 ]
  run klee exec envc sh -c 'tr "\0" "\n" </proc/1/environ; echo ---; tr "\0" "\n" </proc/self/environ'
  [ "$status" -eq 0 ]
  [[ "$output" != *KLEENE_TEST_SECRET* ]]
  [[ "$output" != *s3cr3t* ]]
  # pid 1 (the reaper) has no environment at all
  pid1=$(echo "$output" | sed -n '2,/^---$/p' | grep -v -e '^---$' -e '^$' -e 'has exited' || true)
  [ -z "$pid1" ]
  # the monitor neither (it is a process on the host, spawned by kleened)
  mon=$(jq -r .monitor_pid "$E2E_DIR"/run/containers/*/state.json | head -1)
  [ -n "$mon" ]
  [ "$(tr -d '\0' <"/proc/$mon/environ" | wc -c)" -eq 0 ]
  run klee exec envc sh -c 'tr "\0" "\n" </proc/$(pgrep -x sleep || echo 2)/environ 2>/dev/null; pid=$(ps -o pid,comm | awk "\$2 == \"sleep\" {print \$1}"); tr "\0" "\n" </proc/$pid/environ'
  [[ "$output" != *s3cr3t* ]]
}

@test "pid 1 and the processes hold no inherited fd, blocked or ignored signal, umask or cwd" {
  run klee run -d --name fdc bb sleep 60
  [ "$status" -eq 0 ]
  # the main process: stdio only
  run klee exec fdc sh -c 'pid=$(ps -o pid,comm | awk "\$2 == \"sleep\" {print \$1}"); ls /proc/$pid/fd | tr "\n" " "; echo; grep -E "^Sig(Blk|Ign):" /proc/$pid/status; cat /proc/$pid/cwd/.cwdprobe 2>/dev/null; readlink /proc/$pid/cwd'
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "0 1 2 " ]
  [[ "$output" == *"SigBlk:	0000000000000000"* ]]
  [[ "$output" == *"SigIgn:	0000000000000000"* ]]
  [ "${lines[4]}" = "/" ]
  # pid 1: stdio (/dev/null, opened before the root changed) and its own signalfd, nothing
  # else; it blocks the signals it forwards, ignores none
  run klee exec fdc sh -c 'for f in /proc/1/fd/*; do echo "fd $(readlink $f)"; done; grep -E "^Sig(Blk|Ign):" /proc/1/status'
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep -c '^fd ')" -eq 4 ]
  [ "$(echo "$output" | grep -c '^fd .*/null$')" -eq 3 ]
  [ "$(echo "$output" | grep -c '^fd anon_inode:\[signalfd\]$')" -eq 1 ]
  [[ "$output" == *"SigIgn:	0000000000000000"* ]]
  # the exec'd process: stdio only, umask 0022, cwd /, 1024 open files at most (soft)
  run klee exec fdc sh -c 'ls /proc/self/fd | tr "\n" " "; echo; umask; pwd; ulimit -n'
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "0 1 2 3 " ] # 3: the directory ls reads
  [ "${lines[2]}" = "0022" ]
  [ "${lines[3]}" = "/" ]
  [ "${lines[4]}" = "1024" ]
  [ "$(cat "/proc/$(kleened_pid)/oom_score_adj")" -le 0 ]
  run klee exec fdc sh -c 'cat /proc/1/oom_score_adj /proc/self/oom_score_adj'
  [ "${lines[1]}" = 0 ]
  [ "${lines[2]}" = 0 ]
  # (not through sh, which sets dispositions of its own)
  run klee exec fdc grep -E "^Sig(Blk|Ign):" /proc/self/status
  [ "$status" -eq 0 ]
  [[ "$output" == *"SigBlk:	0000000000000000"* ]]
  [[ "$output" == *"SigIgn:	0000000000000000"* ]]
}
