#!/usr/bin/env bats
# A thin virtual machine with systemd (docs/thin-vm.md): a Debian 12 rootfs with systemd, made
# with debootstrap from the Debian archive apt uses on this machine, once per run of this file
# (setup_file, under the test's own directory, removed in teardown_file). Skipped, with the
# reason, when debootstrap is missing or the archive cannot be reached.
load helpers

# The archive apt uses here: the first deb822 URIs (or sources.list deb line) of the release.
archive_url() {
  local u
  u=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  [ -n "$u" ] || u=$(awk '$1 == "deb" && $3 !~ /security|updates/ { print $2; exit }' \
    /etc/apt/sources.list 2>/dev/null)
  echo "${u:-http://deb.debian.org/debian}"
}

setup_file() {
  command -v debootstrap >/dev/null || skip "debootstrap is not installed (scripts/install-deps)"
  export MIRROR=$(archive_url)
  . /etc/os-release
  export CODENAME=${VERSION_CODENAME:-bookworm}
  curl -sf --max-time 10 -o /dev/null "$MIRROR/dists/$CODENAME/Release" ||
    skip "the Debian archive $MIRROR cannot be reached"
  export KLEENED_WRAPPER="$BATS_TEST_DIRNAME/with-cgroupfs"
  start_kleened
  local r="$E2E_DIR/debian"
  # about 45 s: minbase plus systemd, its sysv links and dbus
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus "$CODENAME" "$r" "$MIRROR" \
    >"$E2E_DIR/debootstrap.log" 2>&1 || {
    tail -20 "$E2E_DIR/debootstrap.log" >&2
    return 1
  }
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*_Packages
  # a unit to start by hand
  cat >"$r/etc/systemd/system/hello.service" <<'U'
[Unit]
Description=hello from the thin vm
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo hello-unit >/run/hello'
U
  klee image create -t debsd:latest zfs-copy "$r" >/dev/null
  rm -rf "$r"
}

teardown_file() {
  stop_kleened
}

running() { api GET "/containers/$1/inspect"; [ "$(echo "$body" | jq -r .container.running)" = true ]; }
cid_of() { api GET "/containers/$1/inspect"; echo "$body" | jq -r .container.id; }

# The state systemd reports, once it has left "starting"/"initializing" (up to 60 s).
system_state() {
  local s
  for _ in $(seq 1 120); do
    s=$(klee exec "$1" systemctl is-system-running 2>/dev/null | sed -n 2p | tr -d '\r')
    case "$s" in running | degraded | maintenance | stopping | offline) break ;; esac
    sleep 0.5
  done
  echo "$s"
}

@test "systemd boots as pid 1: running (or degraded by units that need hardware), a unit starts" {
  run klee run -d -l disabled --name deb debsd /sbin/init
  [ "$status" -eq 0 ]
  running deb
  run klee exec deb cat /proc/1/comm
  [ "${lines[1]}" = "systemd" ]
  state=$(system_state deb)
  echo "state: $state"
  klee exec deb systemctl --failed --no-legend --plain
  if [ "$state" = degraded ]; then
    # only units that need what a container does not have
    failed=$(klee exec deb systemctl --failed --no-legend --plain | sed -n '2,$p' |
      awk '{print $1}' | grep -v '^$' |
      grep -v -E '^(systemd-(modules-load|udev[a-z-]*|remount-fs|sysctl|binfmt|hwdb-update|journal-flush|random-seed)|sys-kernel-[a-z-]*|dev-[a-z-]*|proc-[a-z-]*)\.' || true)
    [ -z "$failed" ]
  else
    [ "$state" = running ]
  fi
  run klee exec deb systemctl start hello.service
  [ "$status" -eq 0 ]
  run klee exec deb cat /run/hello
  [ "${lines[1]}" = "hello-unit" ]
  run klee exec deb systemctl is-active hello.service
  [ "${lines[1]}" = "active" ]
  # the console is on the log
  run klee container logs deb
  [[ "$output" == *"Welcome to"* || "$output" == *"systemd"* ]]
}

@test "klee exec -it C bash works in the systemd container" {
  running deb || skip "the first test did not leave it running"
  run script -qec "$KLEE --host http://$SOCK exec -it deb bash -c 'tty; echo bash-ran-\$((40+2))'" /dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"/dev/pts/"* ]]
  [[ "$output" == *"bash-ran-42"* ]]
}

@test "the host's cgroups are neither visible nor writable; the container's own are" {
  running deb || skip "the first test did not leave it running"
  run klee exec deb cat /proc/1/cgroup
  [[ "$output" == *"name=systemd:/init.scope"* ]]
  [[ "$output" != *"kleene"* && "$output" != *"process_api"* ]]
  # the root of each hierarchy is the container's cgroup: systemd's slices, nothing of the host
  run klee exec deb ls /sys/fs/cgroup/systemd
  [[ "$output" == *"system.slice"* ]]
  [[ "$output" != *"kleene"* && "$output" != *"process_api"* ]]
  run klee exec deb ls /sys/fs/cgroup/memory
  [[ "$output" != *"process_api"* ]]
  # no way up: the namespace's root is the top, and /sys/fs/cgroup itself is read-only
  run klee exec deb sh -c 'cat /sys/fs/cgroup/memory/../cgroup.procs 2>&1 | head -1'
  [[ "$output" != *"$$"* ]]
  run klee exec deb mkdir /sys/fs/cgroup/escape
  [ "$status" -ne 0 ]
  # the host sees systemd's cgroups under the container's own
  cid=$(cid_of deb)
  ls -d /sys/fs/cgroup/systemd/kleene/"$cid"/payload/system.slice 2>/dev/null ||
    ls -d /sys/fs/cgroup/systemd/*/kleene/"$cid"/payload/system.slice
}

@test "a kill -9 of kleened leaves it running and re-adopted; klee stop ends it in under 2 s" {
  running deb || skip "the first test did not leave it running"
  cid=$(cid_of deb)
  pid1=$(jq -r .container_pid "$E2E_DIR/run/containers/$cid/state.json")
  kill -KILL "$(kleened_pid)"
  sleep 0.2
  kill -0 "$pid1"
  respawn_kleened
  running deb
  run klee exec deb systemctl is-active hello.service
  [ "${lines[1]}" = "active" ]
  start=$(date +%s%N)
  run klee stop deb
  [ "$status" -eq 0 ]
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "stop took $ms ms"
  [ "$ms" -lt 2000 ]
  ! running deb || false
  [ "$(jq -r .exit_code "$E2E_DIR/run/containers/$cid/state.json")" != 137 ]
  klee container rm deb
}
