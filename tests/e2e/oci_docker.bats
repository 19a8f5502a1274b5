#!/usr/bin/env bats
# dockerd 20.10 driving the OCI runtime under test: `dockerd --add-runtime kleene=RUNTIME`,
# `docker run --runtime kleene`. dockerd's own containerd and its runc shim call the runtime
# as `--root R --log L --log-format json create --bundle B --pid-file P ID`, then start,
# exec, kill, delete. dockerd runs with its own data root, exec root, socket and pidfile, and
# leaves the host's firewall alone (--iptables=false --ip-forward=false --bridge=none).
# OCI_RUNTIME=/usr/sbin/runc runs the same tests against runc (see oci_clients.bash).
load oci_clients

# Debian's docker CLI (20.10, like the daemon); another may be first in PATH
DOCKER_CLI=/usr/bin/docker

setup_file() {
  oci_require dockerd "$DOCKER_CLI" || return 0
  oci_ns_start
  export DKR_CG="kle2e-dkr-$$"
  mkdir -p "$OCI_DIR/shared"
  oci_daemon_start dockerd "$DOCKER_CLI -H unix://$OCI_DIR/docker.sock version" \
    dockerd --data-root "$OCI_DIR/docker" --exec-root "$OCI_DIR/dx" -H "unix://$OCI_DIR/docker.sock" \
    --pidfile "$OCI_DIR/docker.pid" --iptables=false --ip-forward=false --bridge=none \
    --cgroup-parent "/$DKR_CG" --add-runtime "kleene=$OCI_RT"
  oci_make_image
  dk load -q -i "$OCI_DIR/busybox.tar" >/dev/null
}

teardown_file() {
  [ -z "${OCI_SKIP:-}" ] || return 0
  local c own_etc=""
  if [ -n "${OCI_DIR:-}" ] && [ -S "$OCI_DIR/docker.sock" ]; then
    for c in $(dk ps -a -q 2>/dev/null); do dk rm -f "$c" >/dev/null 2>&1; done
  fi
  [ -n "${OCI_DIR:-}" ] && oci_daemon_stop dockerd
  # dockerd writes /etc/docker/key.json: into the tmpfs of our namespace, unless the host
  # had no /etc/docker to mount it on; then it made /etc/docker and the key on the host
  [ -n "${OCI_DIR:-}" ] && [ ! -e "$OCI_DIR/etc-docker-existed" ] && own_etc=1
  oci_ns_stop "${DKR_CG:-kle2e-dkr-none}"
  if [ -n "$own_etc" ]; then
    rm -f /etc/docker/key.json
    rmdir /etc/docker 2>/dev/null
  fi
  return 0
}

dk() { ons "$DOCKER_CLI" -H "unix://$OCI_DIR/docker.sock" "$@"; }
dk_run() { dk run --runtime kleene --network none "$@"; }
state_of() { dk inspect -f '{{.State.Status}}' "$1"; }
exited() { [ "$(state_of "$1")" = exited ]; }

# after each test: nothing of it left for the next one
teardown() {
  [ -z "${OCI_SKIP:-}" ] || return 0
  local c
  for c in $(dk ps -a -q 2>/dev/null); do dk rm -f "$c" >/dev/null 2>&1; done
  return 0
}

@test "docker run: true, an exit status and the output of a command" {
  run dk_run --rm "$OCI_IMAGE" true
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  run dk_run --rm --name d-out "$OCI_IMAGE" sh -c 'echo out-$((40+2)); echo err >&2; exit 7'
  [ "$status" -eq 7 ]
  [[ "$output" == *out-42* ]]
  [[ "$output" == *err* ]]
  [ -z "$(dk ps -a -q)" ]
}

@test "docker run -it: an interactive shell through the console socket" {
  oci_interactive_shell nsenter -t "$ONS_PID" -m -- "$DOCKER_CLI" -H "unix://$OCI_DIR/docker.sock" \
    run -it --rm --runtime kleene --network none "$OCI_IMAGE" sh
  echo "$output"
  [ "$status" -eq 5 ]
  [[ "$output" == *"tty-42 /dev/pts/0"* ]]
}

@test "docker exec: a second process in a running container, its output and exit status" {
  dk_run -d --name d-exec "$OCI_IMAGE" sleep 300
  [ "$(state_of d-exec)" = running ]
  run dk exec d-exec sh -c 'echo exec-$((2+3)) $(cat /proc/1/cmdline | tr "\0" " ")'
  [ "$status" -eq 0 ]
  [[ "$output" == *"exec-5 sleep 300"* ]]
  run dk exec d-exec sh -c 'exit 3'
  [ "$status" -eq 3 ]
  dk rm -f d-exec
}

@test "docker exec -it: an interactive shell in a running container through a console socket" {
  dk_run -d --name d-exect "$OCI_IMAGE" sleep 300
  oci_interactive_shell nsenter -t "$ONS_PID" -m -- "$DOCKER_CLI" -H "unix://$OCI_DIR/docker.sock" \
    exec -it d-exect sh
  echo "$output"
  [ "$status" -eq 5 ]
  [[ "$output" == *"tty-42 /dev/pts/"* ]]
  dk rm -f d-exect
}

@test "docker stop: SIGTERM reaches the container's process, which exits with its own status" {
  dk_run -d --name d-stop -v "$OCI_DIR/shared:/shared" "$OCI_IMAGE" \
    sh -c 'trap "echo got-term >/shared/stop; exit 3" TERM; echo up >/shared/stop; while :; do sleep 0.1; done'
  oci_wait_for 10 grep -q up "$OCI_DIR/shared/stop"
  run dk stop -t 10 d-stop
  [ "$status" -eq 0 ]
  grep -q got-term "$OCI_DIR/shared/stop"
  [ "$(state_of d-stop)" = exited ]
  [ "$(dk inspect -f '{{.State.ExitCode}}' d-stop)" = 3 ]
  dk rm d-stop
}

@test "docker kill: SIGKILL ends a process that ignores SIGTERM" {
  dk_run -d --name d-kill "$OCI_IMAGE" sh -c 'trap "" TERM; while :; do sleep 0.1; done'
  dk kill -s TERM d-kill
  sleep 0.5
  [ "$(state_of d-kill)" = running ]
  dk kill d-kill
  oci_wait_for 10 exited d-kill
  [ "$(dk inspect -f '{{.State.ExitCode}}' d-kill)" = 137 ]
  dk rm d-kill
}

@test "docker rm: a stopped container leaves nothing behind; rm -f ends a running one" {
  dk_run --name d-rm "$OCI_IMAGE" true
  dk rm d-rm
  run dk inspect d-rm
  [ "$status" -ne 0 ]
  dk_run -d --name d-rmf "$OCI_IMAGE" sleep 300
  id=$(dk inspect -f '{{.Id}}' d-rmf)
  [ -d "/sys/fs/cgroup/pids/$DKR_CG/$id" ]
  dk rm -f d-rmf
  run dk inspect d-rmf
  [ "$status" -ne 0 ]
  [ ! -e "/sys/fs/cgroup/pids/$DKR_CG/$id" ]
  [ -z "$(dk ps -a -q)" ]
}
