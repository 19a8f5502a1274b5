#!/usr/bin/env bats
# Containers as thin virtual machines (docs/thin-vm.md): an init as the container's pid 1.
# busybox init with an inittab (a service, shutdown actions), the stop command (exec.stop),
# the failure paths. The systemd case (a Debian 12 rootfs made with debootstrap) is in
# thin_vm_systemd.bats.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  export KLEENED_WRAPPER="$BATS_TEST_DIRNAME/with-cgroupfs"
  start_kleened
  local r="$E2E_DIR/rootfs"
  "$SCRIPTS/mk-busybox-rootfs" "$r"
  mkdir -p "$r/www"
  echo "hello from the thin vm" >"$r/www/index.html"
  # busybox init: a one-shot at boot, a service kept running, actions at shutdown.
  cat >"$r/etc/inittab" <<'T'
::sysinit:/bin/echo sysinit-ran
::respawn:/usr/sbin/httpd -f -p 127.0.0.1:8080 -h /www
::shutdown:/bin/echo shutdown-action-ran
::shutdown:/bin/touch /run/shutdown-ran
T
  klee image create -t vm:latest zfs-copy "$r" >/dev/null
}

teardown_file() {
  stop_kleened
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || api POST /containers/prune
}

not_running() { ! running "$1"; }
running() { api GET "/containers/$1/inspect"; [ "$(echo "$body" | jq -r .container.running)" = true ]; }
exit_code_of() { jq -r '.exit_code' "$E2E_DIR/run/containers/$1/state.json"; }
log_has() { klee container logs "$1" | grep -q -- "$2"; }
cid_of() { api GET "/containers/$1/inspect"; echo "$body" | jq -r .container.id; }

# wait_for N CMD...: retry CMD every 0.1 s for up to N seconds
wait_for() {
  local n=$(($1 * 10)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}

@test "busybox init as pid 1: the inittab's service answers, stop runs the shutdown actions" {
  run klee run -d -l disabled --name bbvm vm /sbin/init
  [ "$status" -eq 0 ]
  cid=$(cid_of bbvm)
  running bbvm
  # pid 1 is the init itself, not Kleene's reaper
  run klee exec bbvm cat /proc/1/comm
  [ "${lines[1]}" = "init" ]
  run klee exec bbvm sh -c 'tr "\0" "\n" </proc/1/environ | grep ^container='
  [ "${lines[1]}" = "container=kleene" ]
  # the service of the inittab answers
  wait_for 5 klee exec bbvm wget -qO- http://127.0.0.1:8080/
  run klee exec bbvm wget -qO- http://127.0.0.1:8080/
  [[ "$output" == *"hello from the thin vm"* ]]
  # the console is on the log
  wait_for 5 log_has bbvm sysinit-ran
  start=$(date +%s%N)
  run klee stop -t 8 bbvm
  [ "$status" -eq 0 ]
  ms=$((($(date +%s%N) - start) / 1000000))
  [ "$ms" -lt 8000 ] # the init's own shutdown, well within the grace period
  ! running bbvm || false
  run klee container logs bbvm
  [[ "$output" == *"shutdown-action-ran"* ]]
  # busybox init ends with 0 after its shutdown actions ("reboot" is refused in a container)
  [ "$(exit_code_of "$cid")" = "0" ]
}

@test "init mode: cgroups of its own, tmpfs /run and /tmp, stable machine-id, nothing of the host's" {
  run klee run -d -l disabled --name cgvm vm /sbin/init
  [ "$status" -eq 0 ]
  cid=$(cid_of cgvm)
  run klee exec cgvm cat /proc/self/mountinfo
  [[ "$output" == *" /run rw,"*"- tmpfs "* ]]
  [[ "$output" == *" /tmp rw,"*"- tmpfs "* ]]
  [[ "$output" == *" /run/lock rw,"*"- tmpfs "* ]]
  [[ "$output" == *" /sys/fs/cgroup/systemd rw,"*"- cgroup "* ]]
  # every hierarchy the host has is there, rooted at the container's own cgroup: its
  # cgroup.procs lists only the container's processes, and the host's cgroups are not seen
  for h in $(ls /sys/fs/cgroup); do
    run klee exec cgvm ls /sys/fs/cgroup/$h/cgroup.procs
    [ "$status" -eq 0 ]
  done
  host_procs=$(wc -l </sys/fs/cgroup/systemd/cgroup.procs)
  run klee exec cgvm sh -c 'cat /sys/fs/cgroup/systemd/cgroup.procs | wc -l'
  [ "${lines[1]}" -lt "$host_procs" ]
  run klee exec cgvm cat /proc/1/cgroup
  [[ "$output" == *"name=systemd:/"$'\n'* || "$output" == *"name=systemd:/" ]]
  [[ "$output" != *"process_api"* && "$output" != *"kleene"* ]]
  # writable: the init may make cgroups of its own
  run klee exec cgvm mkdir /sys/fs/cgroup/systemd/made-inside
  [ "$status" -eq 0 ]
  # the tmpfs holding the hierarchies is read-only
  run klee exec cgvm mkdir /sys/fs/cgroup/other
  [ "$status" -ne 0 ]
  mid1=$(klee exec cgvm cat /etc/machine-id | sed -n 2p)
  [[ "$mid1" =~ ^[0-9a-f]{32}$ ]]
  run klee stop -t 8 cgvm
  [ "$status" -eq 0 ]
  # the cgroups (also the one made inside) are gone with the container
  [ -z "$(find /sys/fs/cgroup/ -maxdepth 6 -type d -name "$cid" 2>/dev/null)" ]
  # the same machine-id at the next start
  run klee start -d cgvm
  [ "$status" -eq 0 ]
  mid2=$(klee exec cgvm cat /etc/machine-id | sed -n 2p)
  [ "$mid1" = "$mid2" ]
}

@test "init mode survives a kill -9 of kleened and is re-adopted; stop afterwards runs the shutdown" {
  run klee run -d -l disabled --name survive vm /sbin/init
  [ "$status" -eq 0 ]
  cid=$(cid_of survive)
  pid1=$(jq -r .container_pid "$E2E_DIR/run/containers/$cid/state.json")
  kill -KILL "$(kleened_pid)"
  sleep 0.2
  kill -0 "$pid1"
  respawn_kleened
  running survive
  wait_for 5 klee exec survive wget -qO- http://127.0.0.1:8080/
  run klee exec survive wget -qO- http://127.0.0.1:8080/
  [[ "$output" == *"hello from the thin vm"* ]]
  run klee stop -t 8 survive
  [ "$status" -eq 0 ]
  run klee container logs survive
  [[ "$output" == *"shutdown-action-ran"* ]]
}

@test "the stop command (--stop-cmd, -J exec.stop) runs before the stop signal; its output is logged" {
  run klee run -d -l disabled --name stopcmd --stop-cmd 'echo stop-cmd-ran; touch /run/x' vm /sbin/init
  [ "$status" -eq 0 ]
  run klee stop -t 8 stopcmd
  [ "$status" -eq 0 ]
  run klee container logs stopcmd
  [[ "$output" == *"stop-cmd-ran"*"shutdown-action-ran"* ]]
  # the jail parameter, on a container without an init: the command runs, then SIGTERM
  run klee run -d -l disabled --name jailstop -J 'exec.stop=echo exec-stop-ran' vm sleep 100
  [ "$status" -eq 0 ]
  run klee stop jailstop
  [ "$status" -eq 0 ]
  run klee container logs jailstop
  [[ "$output" == *"exec-stop-ran"* ]]
  api GET /containers/jailstop/inspect
  cid=$(echo "$body" | jq -r .container.id)
  [ "$(exit_code_of "$cid")" = "143" ]
}

@test "failure: a stop command that hangs is cut by the grace period, then SIGKILL" {
  run klee run -d -l disabled --name hang --stop-cmd 'sleep 100' vm /sbin/init
  [ "$status" -eq 0 ]
  cid=$(cid_of hang)
  start=$(date +%s%N)
  run klee stop -t 1 hang
  [ "$status" -eq 0 ]
  ms=$((($(date +%s%N) - start) / 1000000))
  [ "$ms" -ge 900 ]
  [ "$ms" -lt 5000 ]
  [ "$(exit_code_of "$cid")" = "137" ]
}

@test "failure: an init that exits at once ends the container with its exit code, nothing left" {
  run klee run -d -l disabled --name quick --init plain vm sh -c 'exit 7'
  [ "$status" -eq 0 ]
  cid=$(cid_of quick)
  wait_for 5 not_running quick
  [ "$(exit_code_of "$cid")" = "7" ]
  [ -z "$(find /sys/fs/cgroup/ -maxdepth 6 -type d -name "$cid" 2>/dev/null)" ]
  ! findmnt -rn -o TARGET | grep -q "$cid" || false
}

@test "failure: init mode with a command that is no init: the stop signal is ignored, SIGKILL after the grace" {
  # sh as pid 1 has no handler for SIGRTMIN+3: the kernel drops it, the grace period ends it
  run klee run -d -l disabled --name notinit --init systemd vm sh -c 'sleep 100'
  [ "$status" -eq 0 ]
  cid=$(cid_of notinit)
  running notinit
  start=$(date +%s%N)
  run klee stop -t 1 notinit
  [ "$status" -eq 0 ]
  ms=$((($(date +%s%N) - start) / 1000000))
  [ "$ms" -ge 900 ]
  [ "$(exit_code_of "$cid")" = "137" ]
  # auto: a command that is not an init path keeps Kleene's reaper as pid 1
  run klee run -l disabled vm cat /proc/1/comm
  [ "${lines[2]}" = "kleene-init" ]
  # auto: an init path the image lacks is no init (resolved inside the container's root):
  # the start fails with the command's error, nothing hangs
  run timeout 20 "$KLEE" --host "http://$SOCK" run -l disabled vm /usr/sbin/init
  [ "$status" -ne 0 ]
  [ "$status" -ne 124 ]
  [[ "$output" == *"/usr/sbin/init"* ]]
  # and a bad mode is refused
  run klee run -l disabled --init bogus vm true
  [ "$status" -ne 0 ]
  [[ "$output" == *"bogus"* ]]
  api POST /containers/create '{"image":"vm","cmd":["true"],"init":"bogus"}'
  [ "$status_code" = 400 ] || [ "$status_code" = 422 ]
}
