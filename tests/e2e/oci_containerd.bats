#!/usr/bin/env bats
# containerd 1.6 driving the OCI runtime under test through its runc shim:
# `ctr run --runc-binary RUNTIME --runc-root DIR`. The shim calls the runtime as
# `--root DIR/NS --log .../log.json --log-format json create --bundle B --pid-file P
# [--console-socket S] ID`, then start, exec --process, kill [--all], delete [--force].
# OCI_RUNTIME=/usr/sbin/runc runs the same tests against runc (see oci_clients.bash).
load oci_clients

setup_file() {
  oci_require containerd ctr || return 0
  oci_ns_start
  export CTR_NS="kle2e-$$"
  mkdir -p "$OCI_DIR/ctd" "$OCI_DIR/rt" "$OCI_DIR/shared"
  cat >"$OCI_DIR/ctd/config.toml" <<TOML
version = 2
root = "$OCI_DIR/ctd/root"
state = "$OCI_DIR/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$OCI_DIR/ctd/ctd.sock"
[ttrpc]
  address = "$OCI_DIR/ctd/ctd.sock.ttrpc"
TOML
  oci_daemon_start containerd "ctr -a $OCI_DIR/ctd/ctd.sock version" \
    containerd --config "$OCI_DIR/ctd/config.toml"
  oci_make_image
  ctr_ image import "$OCI_DIR/busybox.tar" >/dev/null
}

teardown_file() {
  [ -z "${OCI_SKIP:-}" ] || return 0
  local t
  if [ -n "${OCI_DIR:-}" ] && [ -S "$OCI_DIR/ctd/ctd.sock" ]; then
    for t in $(ctr_ task ls -q 2>/dev/null); do ctr_ task delete -f "$t" >/dev/null 2>&1; done
    for t in $(ctr_ container ls -q 2>/dev/null); do ctr_ container delete "$t" >/dev/null 2>&1; done
  fi
  [ -n "${OCI_DIR:-}" ] && oci_daemon_stop containerd
  oci_ns_stop "${CTR_NS:-kle2e-none}"
}

# ctr against our containerd, in our namespace (containerd's and the cgroup path's)
ctr_() { ons ctr -a "$OCI_DIR/ctd/ctd.sock" -n "$CTR_NS" "$@"; }
# ctr run with the runtime under test; the runtime's state goes to $OCI_DIR/rt/$CTR_NS
ctr_run() { ctr_ run --runc-binary "$OCI_RT" --runc-root "$OCI_DIR/rt" "$@"; }
task_status() { ctr_ task ls | awk -v id="$1" '$1 == id {print $3}'; }
stopped() { [ "$(task_status "$1")" = STOPPED ]; }
# the runtime's own view of a container, from the state directory the shim gave it
rt_state() { ons "$OCI_RT" --root "$OCI_DIR/rt/$CTR_NS" state "$1"; }

# after each test: nothing of it left for the next one
teardown() {
  [ -z "${OCI_SKIP:-}" ] || return 0
  local t
  for t in $(ctr_ task ls -q 2>/dev/null); do ctr_ task delete -f "$t" >/dev/null 2>&1; done
  for t in $(ctr_ container ls -q 2>/dev/null); do ctr_ container delete "$t" >/dev/null 2>&1; done
  return 0
}

@test "ctr run: true, an exit status and the output of a command" {
  run ctr_run --rm "$OCI_IMAGE" c-true true
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  run ctr_run --rm "$OCI_IMAGE" c-out sh -c 'echo out-$((40+2)); echo err >&2; exit 7'
  [ "$status" -eq 7 ]
  [[ "$output" == *out-42* ]]
  [[ "$output" == *err* ]]
  # --rm deleted the containers: nothing listed, nothing left in the runtime's state
  [ -z "$(ctr_ container ls -q 2>/dev/null)" ]
  run rt_state c-true
  [ "$status" -ne 0 ]
}

@test "ctr run -t: an interactive shell through the console socket" {
  oci_interactive_shell nsenter -t "$ONS_PID" -m -- ctr -a "$OCI_DIR/ctd/ctd.sock" -n "$CTR_NS" run -t --rm \
    --runc-binary "$OCI_RT" --runc-root "$OCI_DIR/rt" "$OCI_IMAGE" c-tty sh
  echo "$output"
  [ "$status" -eq 5 ]
  [[ "$output" == *"tty-42 /dev/pts/0"* ]]
}

@test "ctr task exec: a second process in a running container, its output and exit status" {
  ctr_run -d "$OCI_IMAGE" c-exec sleep 300
  [ "$(task_status c-exec)" = RUNNING ]
  run rt_state c-exec
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .status)" = running ]
  run ctr_ task exec --exec-id e1 c-exec sh -c 'echo exec-$((2+3)) $(cat /proc/1/cmdline | tr "\0" " ")'
  [ "$status" -eq 0 ]
  [[ "$output" == *"exec-5 sleep 300"* ]]
  run ctr_ task exec --exec-id e2 c-exec sh -c 'exit 3'
  [ "$status" -eq 3 ]
  ctr_ task delete -f c-exec
  ctr_ container delete c-exec
}

@test "ctr task exec -t: an interactive shell in a running container through a console socket" {
  ctr_run -d "$OCI_IMAGE" c-exect sleep 300
  oci_interactive_shell nsenter -t "$ONS_PID" -m -- ctr -a "$OCI_DIR/ctd/ctd.sock" -n "$CTR_NS" \
    task exec -t --exec-id e3 c-exect sh
  echo "$output"
  [ "$status" -eq 5 ]
  [[ "$output" == *"tty-42 /dev/pts/"* ]]
  ctr_ task delete -f c-exect
  ctr_ container delete c-exect
}

@test "ctr task kill (stop): SIGTERM reaches the container's process, which exits" {
  ctr_run -d --mount "type=bind,src=$OCI_DIR/shared,dst=/shared,options=rbind:rw" "$OCI_IMAGE" c-stop \
    sh -c 'trap "echo got-term >/shared/stop; exit 3" TERM; echo up >/shared/stop; while :; do sleep 0.1; done'
  oci_wait_for 10 grep -q up "$OCI_DIR/shared/stop"
  ctr_ task kill c-stop
  oci_wait_for 10 stopped c-stop
  grep -q got-term "$OCI_DIR/shared/stop"
  run rt_state c-stop
  [ "$(echo "$output" | jq -r .status)" = stopped ]
  ctr_ task delete c-stop
  ctr_ container delete c-stop
}

@test "ctr task kill -s KILL, and --all, end a process that ignores SIGTERM" {
  ctr_run -d "$OCI_IMAGE" c-kill sh -c 'trap "" TERM; while :; do sleep 0.1; done'
  ctr_ task kill c-kill
  sleep 0.5
  [ "$(task_status c-kill)" = RUNNING ]
  ctr_ task kill -s KILL c-kill
  oci_wait_for 10 stopped c-kill
  ctr_ task delete c-kill
  ctr_ container delete c-kill
  # kill --all: every process of the container
  ctr_run -d "$OCI_IMAGE" c-killall sh -c 'trap "" TERM; sleep 300 & while :; do sleep 0.1; done'
  ctr_ task exec --exec-id e1 c-killall true
  ctr_ task kill -a -s KILL c-killall
  oci_wait_for 10 stopped c-killall
  ctr_ task delete c-killall
  ctr_ container delete c-killall
}

@test "ctr task delete: a stopped container leaves nothing behind; delete -f ends a running one" {
  ctr_run -d "$OCI_IMAGE" c-del true
  oci_wait_for 10 stopped c-del
  run rt_state c-del
  [ "$status" -eq 0 ]
  ctr_ task delete c-del
  run rt_state c-del
  [ "$status" -ne 0 ]
  ctr_ container delete c-del
  # the container's cgroup (cgroupsPath /$CTR_NS/c-del) is gone
  [ ! -e "/sys/fs/cgroup/pids/$CTR_NS/c-del" ]
  # delete -f of a running container (the shim calls `delete --force`)
  ctr_run -d "$OCI_IMAGE" c-delf sleep 300
  [ "$(task_status c-delf)" = RUNNING ]
  ctr_ task delete -f c-delf
  run rt_state c-delf
  [ "$status" -ne 0 ]
  ctr_ container delete c-delf
  [ ! -e "/sys/fs/cgroup/pids/$CTR_NS/c-delf" ]
  [ -z "$(ctr_ task ls -q 2>/dev/null)" ]
}
