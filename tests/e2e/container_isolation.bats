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

# POST /containers/create with one nullfs mount; sets $status_code and $body
create_bind() {
  local name=""
  [ -n "${3:-}" ] && name="\"name\":\"$3\","
  api POST /containers/create "{\"image\":\"bb\",$name\"cmd\":[\"ls\",\"/m\"],\"mounts\":[{\"type\":\"nullfs\",\"source\":\"$1\",\"destination\":\"$2\"}]}"
}

@test "bind mount sources inside kleened's root or run directory are refused, by any name" {
  mkdir -p "$E2E_DIR/ok" "$E2E_DIR/alias"
  for src in "$E2E_DIR/root" "$E2E_DIR/root/container" "$E2E_DIR/root/metadata.sqlite" \
    "$E2E_DIR/run" "$E2E_DIR/root/image/../volumes"; do
    create_bind "$src" /m
    [ "$status_code" = 404 ]
    [[ "$(echo "$body" | jq -r .message)" == "invalid mount source '$src': it is inside kleened's own directories"* ]]
  done
  # through a symlink
  ln -sfn "$E2E_DIR/root/image" "$E2E_DIR/lnk"
  create_bind "$E2E_DIR/lnk" /m
  [ "$status_code" = 404 ]
  [[ "$(echo "$body" | jq -r .message)" == *"it is inside kleened's own directories"* ]]
  # through a second name (a bind mount of the root elsewhere, in kleened's mount namespace)
  nsenter -t "$(kleened_pid)" -m mount --bind "$E2E_DIR/root" "$E2E_DIR/alias"
  create_bind "$E2E_DIR/alias/container" /m
  s=$status_code m=$(echo "$body" | jq -r .message)
  nsenter -t "$(kleened_pid)" -m umount "$E2E_DIR/alias"
  [ "$s" = 404 ]
  [[ "$m" == *"it is inside kleened's own directories"* ]]
  # a directory beside them is fine, and volumes (which live in the root) too
  create_bind "$E2E_DIR/ok" /m
  [ "$status_code" = 201 ]
  run klee run --mount isovol:/data bb sh -c 'echo hi >/data/f; cat /data/f'
  [ "$status" -eq 0 ]
  [ "${lines[2]}" = hi ]
  assert_alive
}

@test "a symlinked source is resolved once, at start, and checked there: swapping it in is refused" {
  mkdir -p "$E2E_DIR/innocent"
  touch "$E2E_DIR/innocent/harmless"
  ln -sfn "$E2E_DIR/innocent" "$E2E_DIR/swap"
  create_bind "$E2E_DIR/swap" /m swapped
  [ "$status_code" = 201 ]
  run klee start -a swapped
  [ "$status" -eq 0 ]
  [[ "$output" == *harmless* ]]
  # the link now leads into kleened's root: the start refuses it, nothing is mounted
  ln -sfn "$E2E_DIR/root" "$E2E_DIR/swap"
  run klee start -a swapped
  [ "$status" -ne 0 ]
  [[ "$output" == *"it is inside $E2E_DIR/root, kleened's own directory"* ]]
  [[ "$output" != *metadata.sqlite* ]]
  api GET /containers/swapped/inspect
  [ "$(echo "$body" | jq -r .container.running)" = false ]
  assert_alive
}

@test "mount destinations on /proc or /sys are refused, also through the image's symlinks" {
  for dst in /proc /proc/sys/kernel /sys /sys/kernel/x //proc/./sys /proc/../proc/x; do
    create_bind "$E2E_DIR/ok" "$dst"
    [ "$status_code" = 404 ]
    [[ "$(echo "$body" | jq -r .message)" == "invalid mount destination '"*"': nothing can be mounted on /"*" or below it" ]] || [[ "$(echo "$body" | jq -r .message)" == *"'..' is not allowed"* ]]
  done
  api POST /containers/create '{"image":"bb","mounts":[{"type":"volume","source":"pv","destination":"/proc/sys"}]}'
  [ "$status_code" = 404 ]
  [[ "$(echo "$body" | jq -r .message)" == *"nothing can be mounted on /proc or below it"* ]]
  # /procl -> /proc in the image: the path is fine, where it leads is not
  cp -a "$E2E_DIR/rootfs" "$E2E_DIR/rootfs-lnk"
  ln -s /proc "$E2E_DIR/rootfs-lnk/procl"
  ln -s sys "$E2E_DIR/rootfs-lnk/sysl"
  klee image create -t bblnk:latest zfs-copy "$E2E_DIR/rootfs-lnk" >/dev/null
  mkdir -p "$E2E_DIR/ok"
  for dst in /procl/sys /sysl/kernel; do
    api POST /containers/create "{\"image\":\"bblnk\",\"cmd\":[\"true\"],\"mounts\":[{\"type\":\"nullfs\",\"source\":\"$E2E_DIR/ok\",\"destination\":\"$dst\"}]}"
    [ "$status_code" = 201 ]
    id=$(echo "$body" | jq -r .id)
    run klee start -a "$id"
    [ "$status" -ne 0 ]
    [[ "$output" == *"bind mount destination $dst: it is on the container's /"*", which cannot be mounted over"* ]]
  done
  assert_alive
}

# The kleene-monitor processes of this test's kleened (they live in its network namespace).
our_monitors() {
  local ns p
  ns=$(readlink "/proc/$(kleened_pid)/ns/net")
  for p in $(pgrep -x kleene-monitor); do
    [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$ns" ] && echo "$p"
  done
  return 0
}

monitor_of() { jq -r .monitor_pid "$E2E_DIR/run/containers/$1/state.json"; }

@test "a running container's root filesystem is mounted in its own mount namespace only" {
  run klee run -d --name rootc bb sleep 60
  [ "$status" -eq 0 ]
  id=${lines[0]}
  # the container's root is the overlay
  run klee exec rootc sh -c 'awk "\$5 == \"/\" {print \$0}" /proc/self/mountinfo'
  [[ "$output" == *" - overlay overlay "* ]]
  # kleened's namespace (and the monitor's, the same) has nothing of it, nor the host's
  [ "$(grep -c "$E2E_DIR/root/container/$id" "/proc/$(kleened_pid)/mountinfo")" -eq 0 ]
  [ "$(grep -c "$E2E_DIR/root/container/$id" "/proc/$(monitor_of "$id")/mountinfo")" -eq 0 ]
  [ "$(grep -c "$E2E_DIR/root/container/$id" /proc/self/mountinfo)" -eq 0 ]
  klee stop rootc >/dev/null
  # again after a restart
  run klee container start -d rootc
  [ "$status" -eq 0 ]
  run klee exec rootc ls /
  [ "$status" -eq 0 ]
  [ "$(grep -c "$E2E_DIR/root/container/$id" "/proc/$(kleened_pid)/mountinfo")" -eq 0 ]
  klee stop rootc >/dev/null
  klee container rm rootc >/dev/null
}

@test "a start interrupted by a kill -9 of kleened leaves no mount behind; the container starts again" {
  # A container that keeps kleened's mount namespace alive after kleened is gone (its monitor
  # was spawned there), as any running container does.
  run klee run -d --name holder bb sleep 600
  [ "$status" -eq 0 ]
  holder=${lines[0]}
  api POST /containers/create '{"name":"intr","image":"bb","cmd":["sleep","60"]}'
  [ "$status_code" = 201 ]
  id=$(echo "$body" | jq -r .id)
  # The spare monitor, stopped: the start hands it the spec, spawns the next spare and then
  # waits for an answer that does not come.
  hmon=$(monitor_of "$holder")
  spare=""
  for _ in $(seq 1 100); do
    spare=$(our_monitors | grep -vx "$hmon" | head -1)
    [ -n "$spare" ] && break
    sleep 0.05
  done
  [ -n "$spare" ]
  kill -STOP "$spare"
  (timeout 30 "$KLEE" --host "http://$SOCK" container start -d intr >/dev/null 2>&1 &)
  n=0
  for _ in $(seq 1 200); do
    n=$(our_monitors | grep -vx -e "$hmon" -e "$spare" | wc -l)
    [ "$n" -ge 1 ] && break
    sleep 0.05
  done
  [ "$n" -ge 1 ]
  sleep 0.2
  # kleened dies in the middle of the start
  kill -KILL "$(kleened_pid)"
  kill -KILL "$spare"
  # nothing of the container is mounted in kleened's namespace (kept alive by the holder's
  # monitor), nor in the host's
  [ "$(grep -c "$E2E_DIR/root/container/$id" "/proc/$hmon/mountinfo")" -eq 0 ]
  [ "$(grep -c "$E2E_DIR/root/container/$id" /proc/self/mountinfo)" -eq 0 ]
  # a new kleened re-adopts the holder; the interrupted container starts and is removed
  respawn_kleened
  api GET /containers/holder/inspect
  [ "$(echo "$body" | jq -r .container.running)" = true ]
  run klee container start -d intr
  [ "$status" -eq 0 ]
  run klee exec intr echo inside
  [ "${lines[1]}" = inside ]
  klee stop intr >/dev/null
  klee container rm intr >/dev/null
  [ ! -e "$E2E_DIR/root/container/$id" ]
  klee stop holder >/dev/null
  klee container rm holder >/dev/null
  assert_alive
}
