# Shared by the oci_*.bats tests: real OCI clients (containerd's ctr, podman, dockerd) driving
# the runtime under test, each client started by the test with state of its own.
#
# The runtime under test: $OCI_RUNTIME if set (e.g. OCI_RUNTIME=/usr/sbin/runc, to check the
# harness itself against a known runtime), else this build's kleene-runtime.
#
# Everything runs in one private mount namespace per test file, held open by a sleeping
# process ($ONS_PID; enter it with `ons CMD`): in it /sys/fs/cgroup/unified is unmounted (the
# hybrid cgroup workaround containerd, dockerd and crun need here, HOST-FACTS.md §4), /run
# is a tmpfs (the clients' fixed paths such as /run/containerd/s, /run/libpod, /run/docker
# stay private) and so is /etc/docker (dockerd writes key.json there). The daemons' overlay
# and runtime mounts live in it too and vanish with it.
load helpers

OCI_RUNTIME_KLEENE="$BUILD_DIR/src/ociruntime/kleene-runtime"
OCI_RT=${OCI_RUNTIME:-$OCI_RUNTIME_KLEENE}
OCI_IMAGE=docker.io/kleene-e2e/busybox:latest
PTY_SESSION="$BATS_TEST_DIRNAME/pty_session.py"

# oci_require CLIENT...: in setup_file, whether this file can run: the runtime and the
# clients are there. If not, it sets $OCI_SKIP to the reason and fails, so that setup_file
# returns early (`oci_require ... || return 0`); setup() then skips each test with the
# reason (bats 1.8 cannot skip from setup_file).
oci_require() {
  local c
  export OCI_SKIP=""
  if [ ! -x "$OCI_RT" ]; then
    OCI_SKIP="no runtime at $OCI_RT (kleene-runtime not built)"
    return 1
  fi
  for c in "$@" umoci skopeo nsenter unshare; do
    if ! command -v "$c" >/dev/null; then
      OCI_SKIP="$c is not installed (scripts/install-deps)"
      return 1
    fi
  done
}

setup() {
  [ -z "${OCI_SKIP:-}" ] || skip "$OCI_SKIP"
}

# gap REASON: skip this test when the runtime under test is kleene-runtime, which cannot pass
# it yet (the runtime says "kleene-runtime" in --version); a peer runtime (OCI_RUNTIME=...)
# runs it, so the test itself is known to be able to pass. Each gap is in
# docs/oci-runtime-clients.md.
gap() {
  [ "${OCI_GAPS:-}" = run ] && return 0 # OCI_GAPS=run: see whether a gap is closed
  "$OCI_RT" --version 2>/dev/null | grep -q '^kleene-runtime' && skip "kleene-runtime lacks $*"
  return 0
}

# The private mount namespace, held by a sleeping process; $OCI_DIR is this file's temp dir.
oci_ns_start() {
  export OCI_DIR
  OCI_DIR=$(mktemp -d /tmp/kleene-ociclient.XXXXXX)
  unshare -m --propagation private sh -c '
    mount --make-rprivate / && mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
    if grep -q " /sys/fs/cgroup/unified " /proc/self/mountinfo; then umount /sys/fs/cgroup/unified || exit 1; fi
    if [ -d /etc/docker ]; then
      mount -t tmpfs -o mode=0755 tmpfs /etc/docker || exit 1
      : >"$0/etc-docker-existed"
    fi
    : >"$0/ns.ready"
    exec sleep 1000000' "$OCI_DIR" </dev/null >"$OCI_DIR/ns.log" 2>&1 3>&- &
  export ONS_PID=$!
  for _ in $(seq 1 100); do
    [ -e "$OCI_DIR/ns.ready" ] && return 0
    kill -0 "$ONS_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "the private mount namespace did not come up:" >&2
  cat "$OCI_DIR/ns.log" >&2
  return 1
}

ons() { nsenter -t "$ONS_PID" -m -- "$@"; }

# oci_daemon_start NAME READY-CMD CMD...: start a daemon inside the namespace, its output in
# $OCI_DIR/NAME.log and its pid in $OCI_DIR/NAME.pid; wait (20 s) until READY-CMD (a shell
# command, run in the namespace) succeeds. nsenter execs the daemon, so $! is the daemon.
oci_daemon_start() {
  local name=$1 ready=$2 pid
  shift 2
  nsenter -t "$ONS_PID" -m -- "$@" </dev/null >"$OCI_DIR/$name.log" 2>&1 3>&- &
  pid=$!
  echo "$pid" >"$OCI_DIR/$name.pid"
  for _ in $(seq 1 200); do
    ons sh -c "$ready" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start:" >&2
  tail -30 "$OCI_DIR/$name.log" >&2
  return 1
}

# Stop the daemon oci_daemon_start started as NAME: SIGTERM, up to 10 s, then SIGKILL.
oci_daemon_stop() {
  local pid
  pid=$(cat "$OCI_DIR/$1.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

# Every process still in our mount namespace other than the holder (shims, conmon,
# containers whose client died): their pids.
oci_ns_procs() {
  local ns p
  ns=$(readlink "/proc/$ONS_PID/ns/mnt") || return 0
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$ONS_PID" ] && continue
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
  done
}

# The end of a test file: kill what is left in the namespace (by pid), end the holder (the
# namespace and its mounts go with the last process), remove the cgroups named $1... (under
# every hierarchy, deepest first, once empty) and the temp dir.
oci_ns_stop() {
  local p cg h
  if [ -n "${ONS_PID:-}" ]; then
    for p in $(oci_ns_procs); do kill -KILL "$p" 2>/dev/null; done
    for _ in $(seq 1 50); do [ -z "$(oci_ns_procs)" ] && break; sleep 0.1; done
    kill -KILL "$ONS_PID" 2>/dev/null
    wait "$ONS_PID" 2>/dev/null || true
  fi
  # containers whose shim or conmon died: every process left in our cgroups
  for cg in "$@"; do
    for h in /sys/fs/cgroup/*/; do
      [ -d "$h$cg" ] || continue
      for p in $(find "$h$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
  done
  for cg in "$@"; do
    for h in /sys/fs/cgroup/*/; do
      [ -d "$h$cg" ] || continue
      for _ in $(seq 1 50); do
        find "$h$cg" -depth -type d -exec rmdir {} + 2>/dev/null
        [ -d "$h$cg" ] || break
        sleep 0.1
      done
    done
  done
  if [ -n "${OCI_DIR:-}" ]; then
    findmnt -rn -o TARGET | grep "^$OCI_DIR/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf --one-file-system "$OCI_DIR"
  fi
  return 0
}

# A busybox image made offline: the rootfs of scripts/mk-busybox-rootfs as one layer
# (umoci), saved as a docker-archive tar (skopeo) that ctr, podman and docker all load.
oci_make_image() {
  local d=$OCI_DIR/image
  mkdir -p "$d"
  "$BATS_TEST_DIRNAME/../../scripts/mk-busybox-rootfs" "$d/rootfs" >/dev/null
  umoci init --layout "$d/oci"
  umoci new --image "$d/oci:bb"
  umoci insert --image "$d/oci:bb" "$d/rootfs" /
  umoci config --image "$d/oci:bb" --config.cmd /bin/sh --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
  skopeo copy -q "oci:$d/oci:bb" "docker-archive:$OCI_DIR/busybox.tar:${OCI_IMAGE#docker.io/}"
}

# wait_for N CMD...: retry CMD every 0.1 s for up to N seconds
oci_wait_for() {
  local n=$(($1 * 10))
  shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}

# pty CMD...: run CMD on a terminal: wait for the shell prompt, type a command line, check
# its output, exit with status 5. Sets $status and $output (bats run).
oci_interactive_shell() {
  run timeout 60 python3 "$PTY_SESSION" 24 80 'expect:# ' \
    'send:echo tty-$((6*7)) $(tty)\r' 'expect:tty-42 /dev/pts/' 'send:exit 5\r' -- "$@"
}
