#!/usr/bin/env bats
# Podman 4.3 (through conmon) driving the OCI runtime under test: `podman --runtime RUNTIME`.
# conmon calls the runtime as `create --bundle B --pid-file P [--console-socket S] ID`
# without --root, then start, exec, kill, delete --force. Storage, run root, libpod's
# tmpdir and events are under this file's temp dir; containers run with --network none.
# OCI_RUNTIME=/usr/sbin/runc runs the same tests against runc (see oci_clients.bash).
load oci_clients

setup_file() {
  oci_require podman conmon || return 0
  oci_ns_start
  export POD_CG="kle2e-pod-$$"
  mkdir -p "$OCI_DIR/shared"
  # podman asks for RLIMIT_NOFILE 1048576 and lowers its own NPROC hard limit; neither fits
  # this host's hard limits (HOST-FACTS.md §4)
  cat >"$OCI_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF="$OCI_DIR/containers.conf"
  oci_make_image
  pod load -q -i "$OCI_DIR/busybox.tar" >/dev/null
}

teardown_file() {
  [ -z "${OCI_SKIP:-}" ] || return 0
  [ -n "${OCI_DIR:-}" ] && pod rm -f -a -t 0 >/dev/null 2>&1
  oci_ns_stop "${POD_CG:-kle2e-pod-none}"
}

# podman with everything of its own under $OCI_DIR and the runtime under test
pod() {
  ons podman --root "$OCI_DIR/storage" --runroot "$OCI_DIR/runroot" --tmpdir "$OCI_DIR/libpod" \
    --runtime "$OCI_RT" "$@"
}
pod_run() { pod run --cgroup-parent "/$POD_CG" "$@"; }
state_of() { pod inspect -f '{{.State.Status}}' "$1"; }
exited() { [ "$(state_of "$1")" = exited ]; }

# after each test: nothing of it left for the next one
teardown() {
  [ -z "${OCI_SKIP:-}" ] || return 0
  pod rm -f -a -t 0 >/dev/null 2>&1
  return 0
}

@test "podman run: true, an exit status and the output of a command" {
  run pod_run --rm "$OCI_IMAGE" true
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  run pod_run --rm --name p-out "$OCI_IMAGE" sh -c 'echo out-$((40+2)); echo err >&2; exit 7'
  [ "$status" -eq 7 ]
  [[ "$output" == *out-42* ]]
  [[ "$output" == *err* ]]
  [ -z "$(pod ps -a -q)" ]
}

@test "podman run -it: an interactive shell through the console socket" {
  oci_interactive_shell nsenter -t "$ONS_PID" -m -- podman --root "$OCI_DIR/storage" \
    --runroot "$OCI_DIR/runroot" --tmpdir "$OCI_DIR/libpod" --runtime "$OCI_RT" \
    run -it --rm --cgroup-parent "/$POD_CG" "$OCI_IMAGE" sh
  echo "$output"
  [ "$status" -eq 5 ]
  [[ "$output" == *"tty-42 /dev/pts/0"* ]]
}

@test "podman exec: a second process in a running container, its output and exit status" {
  pod_run -d --name p-exec "$OCI_IMAGE" sleep 300
  [ "$(state_of p-exec)" = running ]
  run pod exec p-exec sh -c 'echo exec-$((2+3)) $(cat /proc/1/cmdline | tr "\0" " ")'
  [ "$status" -eq 0 ]
  [[ "$output" == *"exec-5 sleep 300"* ]]
  run pod exec p-exec sh -c 'exit 3'
  [ "$status" -eq 3 ]
  pod rm -f -t 0 p-exec
}

@test "podman exec -it: an interactive shell in a running container through a console socket" {
  pod_run -d --name p-exect "$OCI_IMAGE" sleep 300
  oci_interactive_shell nsenter -t "$ONS_PID" -m -- podman --root "$OCI_DIR/storage" \
    --runroot "$OCI_DIR/runroot" --tmpdir "$OCI_DIR/libpod" --runtime "$OCI_RT" exec -it p-exect sh
  echo "$output"
  [ "$status" -eq 5 ]
  [[ "$output" == *"tty-42 /dev/pts/"* ]]
  pod rm -f -t 0 p-exect
}

@test "podman stop: SIGTERM reaches the container's process, which exits with its own status" {
  pod_run -d --name p-stop -v "$OCI_DIR/shared:/shared" "$OCI_IMAGE" \
    sh -c 'trap "echo got-term >/shared/stop; exit 3" TERM; echo up >/shared/stop; while :; do sleep 0.1; done'
  oci_wait_for 10 grep -q up "$OCI_DIR/shared/stop"
  run pod stop -t 10 p-stop
  [ "$status" -eq 0 ]
  grep -q got-term "$OCI_DIR/shared/stop"
  [ "$(state_of p-stop)" = exited ]
  [ "$(pod inspect -f '{{.State.ExitCode}}' p-stop)" = 3 ]
  pod rm p-stop
}

@test "podman kill: SIGKILL ends a process that ignores SIGTERM" {
  pod_run -d --name p-kill "$OCI_IMAGE" sh -c 'trap "" TERM; while :; do sleep 0.1; done'
  pod kill -s TERM p-kill
  sleep 0.5
  [ "$(state_of p-kill)" = running ]
  pod kill p-kill
  oci_wait_for 10 exited p-kill
  [ "$(pod inspect -f '{{.State.ExitCode}}' p-kill)" = 137 ]
  pod rm p-kill
}

@test "podman rm: a stopped container leaves nothing behind; rm -f ends a running one" {
  pod_run --name p-rm "$OCI_IMAGE" true
  pod rm p-rm
  run pod inspect p-rm
  [ "$status" -ne 0 ]
  pod_run -d --name p-rmf "$OCI_IMAGE" sleep 300
  id=$(pod inspect -f '{{.Id}}' p-rmf)
  [ -d "/sys/fs/cgroup/pids/$POD_CG/libpod-$id" ]
  pod rm -f -t 0 p-rmf
  run pod inspect p-rmf
  [ "$status" -ne 0 ]
  [ ! -e "/sys/fs/cgroup/pids/$POD_CG/libpod-$id" ]
  [ -z "$(pod ps -a -q)" ]
}
