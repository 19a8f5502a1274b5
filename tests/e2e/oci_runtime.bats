#!/usr/bin/env bats
# kleene-runtime, the OCI runtime (docs/oci-runtime.md): each command of the lifecycle on a
# busybox bundle, bad bundles (a clear error, a non-zero exit, nothing left under --root), and
# that every container leaves no process, state or cgroup behind.

load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
RT="$BUILD_DIR/src/ociruntime/kleene-runtime"

setup_file() {
  export D=$(mktemp -d /tmp/kleene-oci.XXXXXX)
  chmod 0755 "$D" # reachable by a user namespace's root (another uid on the host)
  "$SCRIPTS/mk-busybox-rootfs" "$D/base" >/dev/null
}

teardown_file() {
  # Anything a failed test left: killed and deleted through the runtime itself.
  for root in "$D"/root*; do
    [ -d "$root" ] || continue
    for id in $("$RT" --root "$root" list -q 2>/dev/null); do
      "$RT" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$D"
}

setup() {
  export ROOT="$D/root$BATS_TEST_NUMBER"
  export B="$D/bundle$BATS_TEST_NUMBER"
  mkdir -p "$B"
  cp -a "$D/base" "$B/rootfs"
  "$RT" spec --bundle "$B"
  cfg '.process.terminal = false'
}

teardown() {
  for id in $("$RT" --root "$ROOT" list -q 2>/dev/null); do
    "$RT" --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || true
  done
}

# Edit the bundle's config.json with a jq filter.
cfg() {
  jq "$1" "$B/config.json" >"$B/config.json.new" && mv "$B/config.json.new" "$B/config.json"
}

args() {
  cfg ".process.args = $(jq -cn '$ARGS.positional' --args -- "$@")"
}

rt() {
  "$RT" --root "$ROOT" "$@"
}

# create: the container keeps the stdio it is given, so never bats' own (a `run` would wait
# for the container to end); its output goes to $B/ctr.log.
rtc() {
  "$RT" --root "$ROOT" create "$@" </dev/null >>"$B/ctr.log" 2>&1
}

# The cgroup directories a container got (from its state), one per line.
cgroups_of() {
  jq -r '.cgroups[]' "$ROOT/$1/state.json"
}

# Nothing of the container is left: no state, no cgroup, no process.
assert_gone() {
  local id=$1 cgs=$2 pid=$3
  [ ! -e "$ROOT/$id" ]
  for cg in $cgs; do
    [ ! -d "$cg" ] || { echo "cgroup left: $cg"; return 1; }
  done
  if [ -n "$pid" ]; then
    ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]
  fi
}

wait_status() {
  local id=$1 want=$2
  for _ in $(seq 1 100); do
    [ "$(rt state "$id" | jq -r .status)" = "$want" ] && return 0
    sleep 0.05
  done
  rt state "$id"
  return 1
}

@test "version, features and spec" {
  run "$RT" --version
  [ "$status" -eq 0 ]
  [[ "$output" == *"kleene-runtime version"* ]]
  run "$RT" features
  [ "$status" -eq 0 ]
  echo "$output" | jq -e '.ociVersionMax and (.linux.namespaces | index("pid")) and (.hooks | length == 6)'
  # spec refuses to overwrite
  run "$RT" spec --bundle "$B"
  [ "$status" -ne 0 ]
  [[ "$output" == *"exists already"* ]]
  jq -e '.ociVersion and .root.path == "rootfs" and .process.args == ["sh"]' "$B/config.json"
  run "$RT" --systemd-cgroup list
  [ "$status" -ne 0 ]
  [[ "$output" == *"--systemd-cgroup is not supported"* ]]
  run "$RT" frobnicate
  [ "$status" -ne 0 ]
  [[ "$output" == *"unknown command"* ]]
}

@test "run: output, exit code, and nothing left behind" {
  args sh -c 'echo hello from $(hostname); exit 3'
  cd "$B"
  run rt run c1
  [ "$status" -eq 3 ]
  [ "$output" = "hello from kleene" ]
  [ -z "$(ls -A "$ROOT")" ]
  # the default cgroup directory is gone in every hierarchy
  ! ls -d /sys/fs/cgroup/*/$(awk -F: '$2 ~ /memory/ {print $3}' /proc/self/cgroup)/kleene/c1 2>/dev/null || false
}

@test "create, state, start, kill, delete" {
  mkdir "$B/out"
  cfg '.mounts += [{"destination": "/out", "type": "bind", "source": "'"$B/out"'", "options": ["rbind", "rw"]}]'
  args sh -c 'echo started > /out/marker; exec sleep 100'
  rtc --bundle "$B" --pid-file "$B/pid" c1
  pid=$(cat "$B/pid")
  [ "$pid" -gt 0 ]
  run rt state c1
  [ "$status" -eq 0 ]
  echo "$output" | jq -e --arg b "$B" --argjson p "$pid" \
    '.ociVersion and .id == "c1" and .status == "created" and .pid == $p and .bundle == $b and .annotations == {}'
  # created: the process waits, the command has not run
  sleep 0.2
  [ ! -e "$B/out/marker" ]
  [ -d "/proc/$pid" ]
  cgs=$(cgroups_of c1)
  [ -n "$cgs" ]
  for cg in $cgs; do grep -qx "$pid" "$cg/cgroup.procs"; done
  run rt start c1
  [ "$status" -eq 0 ]
  for _ in $(seq 1 50); do [ -e "$B/out/marker" ] && break; sleep 0.05; done
  [ "$(cat "$B/out/marker")" = started ]
  [ "$(rt state c1 | jq -r .status)" = running ]
  # the pid is the command itself (pid 1 of the container)
  [ "$(cat /proc/$pid/comm)" = sleep ]
  run rt start c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"only a created container can start"* ]]
  # delete refuses a running container
  run rt delete c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"delete --force"* ]]
  run rt kill c1 KILL
  [ "$status" -eq 0 ]
  wait_status c1 stopped
  [ "$(rt state c1 | jq -r .pid)" = 0 ]
  run rt kill c1 TERM
  [ "$status" -ne 0 ]
  [[ "$output" == *"not running"* ]]
  run rt delete c1
  [ "$status" -eq 0 ]
  assert_gone c1 "$cgs" "$pid"
  run rt state c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"does not exist"* ]]
}

@test "kill: signal names and numbers, --all, and the default TERM" {
  args sh -c 'trap "echo got USR1 >> /tmp/log" USR1; trap "exit 42" TERM; while :; do sleep 0.05; done'
  rtc --bundle "$B" c1
  rt start c1
  sleep 0.3
  run rt kill c1 SIGUSR1
  [ "$status" -eq 0 ]
  run rt kill c1 10
  [ "$status" -eq 0 ]
  run rt kill c1 NOSUCHSIG
  [ "$status" -ne 0 ]
  [[ "$output" == *"unknown signal"* ]]
  run rt kill c1
  [ "$status" -eq 0 ]
  wait_status c1 stopped
  rt delete c1
  # kill --all reaches every process of the container
  args sh -c 'sleep 100 & sleep 100 & exec sleep 100'
  rtc --bundle "$B" c2
  rt start c2
  for _ in $(seq 1 100); do [ "$(rt ps --format json c2 | jq length)" -eq 3 ] && break; sleep 0.05; done
  [ "$(rt ps --format json c2 | jq length)" -eq 3 ]
  run rt kill --all c2 KILL
  [ "$status" -eq 0 ]
  wait_status c2 stopped
  # --all of a stopped container succeeds, as runc's (containerd's CRI sends it after every
  # task exit); a plain kill of it is still an error
  run rt kill --all c2 KILL
  [ "$status" -eq 0 ]
  run rt kill c2 KILL
  [ "$status" -ne 0 ]
  [[ "$output" == *"not running"* ]]
  rt delete c2
}

@test "delete of a created container, delete --force of a running one" {
  args sleep 100
  rtc --bundle "$B" --pid-file "$B/pid1" c1
  pid1=$(cat "$B/pid1")
  cgs1=$(cgroups_of c1)
  # runtime-spec: a container that is not stopped is not deleted (created included)
  run rt delete c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"is created"* ]]
  [ "$(rt state c1 | jq -r .status)" = created ]
  run rt delete --force c1
  [ "$status" -eq 0 ]
  assert_gone c1 "$cgs1" "$pid1"
  rtc --bundle "$B" --pid-file "$B/pid2" c2
  pid2=$(cat "$B/pid2")
  cgs2=$(cgroups_of c2)
  rt start c2
  run rt delete --force c2
  [ "$status" -eq 0 ]
  assert_gone c2 "$cgs2" "$pid2"
  # --force on what does not exist is no error (runc's habit), without it it is
  run rt delete --force c2
  [ "$status" -eq 0 ]
  run rt delete c2
  [ "$status" -ne 0 ]
}

@test "bad bundles: a clear error, a non-zero exit, nothing left" {
  check_bad() {
    local want=$1
    run rt create --bundle "$B" bad
    [ "$status" -ne 0 ] || { echo "create succeeded"; return 1; }
    [[ "$output" == *"$want"* ]] || { echo "got: $output"; return 1; }
    [ -z "$(ls -A "$ROOT" 2>/dev/null)" ] || { echo "left: $(ls -A "$ROOT")"; return 1; }
  }
  cp "$B/config.json" "$B/good.json"
  rm "$B/config.json"
  check_bad "config.json: No such file or directory"
  echo '{"ociVersion": "1.0.2", "root": ' >"$B/config.json"
  check_bad "invalid JSON"
  jq '.ociVersion = "2.0.0"' "$B/good.json" >"$B/config.json"
  check_bad "ociVersion: 2.0.0 is not supported"
  jq '.root.path = "../elsewhere"' "$B/good.json" >"$B/config.json"
  check_bad "leads outside the bundle"
  jq '.root.path = "missing"' "$B/good.json" >"$B/config.json"
  check_bad "root.path"
  jq '.process.user.uid = "root"' "$B/good.json" >"$B/config.json"
  check_bad "process.user.uid: expected an integer"
  jq '.process.args = ["/no/such/program"]' "$B/good.json" >"$B/config.json"
  check_bad "/no/such/program"
  jq '.mounts += [{"destination": "/x", "type": "bind", "source": "/no/such/dir", "options": ["bind"]}]' "$B/good.json" >"$B/config.json"
  check_bad "/no/such/dir"
  jq '.process.terminal = true' "$B/good.json" >"$B/config.json"
  check_bad "--console-socket is required"
  jq '.linux.sysctl = {"kernel.panic": "1"}' "$B/good.json" >"$B/config.json"
  check_bad "not namespaced"
  jq '.process.capabilities.effective += ["CAP_SYS_RESOURCE"]' "$B/good.json" >"$B/config.json"
  # CAP_SYS_RESOURCE (24) is missing from this machine's bounding set (HOST-FACTS §0)
  if [ $(( 0x$(awk '/^CapBnd/ {print $2}' /proc/self/status) >> 24 & 1 )) = 0 ]; then
    check_bad "cap_sys_resource is not available"
  fi
  cp "$B/good.json" "$B/config.json"
  run rt create --bundle "$B" 'bad/id'
  [ "$status" -ne 0 ]
  [[ "$output" == *"invalid container id"* ]]
  # a duplicate id is refused and leaves the first alone
  rtc --bundle "$B" dup
  run rt create --bundle "$B" dup
  [ "$status" -ne 0 ]
  [[ "$output" == *"already exists"* ]]
  [ "$(rt state dup | jq -r .status)" = created ]
  rt delete --force dup
  [ -z "$(ls -A "$ROOT")" ]
}

@test "list -q and --format json, ps --format json, state of many" {
  args sleep 100
  rtc --bundle "$B" a1
  rtc --bundle "$B" a2
  rt start a2
  run rt list -q
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'a1\na2')" ]
  rt list --format json | jq -e --arg b "$B" \
    'length == 2 and .[0].id == "a1" and .[0].status == "created" and .[1].status == "running" and .[1].bundle == $b'
  rt list | grep -q '^a2 .* running'
  pid=$(rt state a2 | jq .pid)
  [ "$(rt ps --format json a2)" = "[$pid]" ]
  rt ps a2 | grep -q "sleep 100"
  rt delete --force a1
  rt delete --force a2
}

@test "config: hostname, env, cwd, user, readonly root, rlimits, capabilities" {
  cfg '.hostname = "box1" | .process.env += ["FOO=bar baz"] | .process.cwd = "/tmp/work"
       | .process.user = {"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 63}
       | .process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 800}]
       | .process.capabilities.bounding += ["CAP_NET_RAW"]'
  args sh -c 'hostname; echo "$FOO"; pwd; id -u; id -g; id -G; ulimit -n; ulimit -Hn; umask;
              touch /rootfile 2>&1 | grep -c "Read-only"; grep CapBnd /proc/self/status'
  cd "$B"
  run rt run c1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = box1 ]
  [ "${lines[1]}" = "bar baz" ]
  [ "${lines[2]}" = /tmp/work ]
  [ "${lines[3]}" = 1000 ]
  [ "${lines[4]}" = 1000 ]
  [ "${lines[5]}" = "1000 5" ]
  [ "${lines[6]}" = 512 ]
  [ "${lines[7]}" = 800 ]
  [ "${lines[8]}" = 0077 ]
  [ "${lines[9]}" = 1 ]
  # CAP_AUDIT_WRITE(29), CAP_KILL(5), CAP_NET_BIND_SERVICE(10), CAP_NET_RAW(13)
  [ "${lines[10]}" = "CapBnd:	0000000020002420" ]
}

@test "config: mounts, masked and read-only paths, devices, sysctl" {
  mkdir -p "$B/data"
  echo hi >"$B/data/f"
  cfg '.root.readonly = false
       | .mounts += [{"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro"]},
                     {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700"]}]
       | .linux.devices = [{"path": "/dev/kfoo", "type": "c", "major": 1, "minor": 3, "fileMode": 384, "uid": 0, "gid": 0}]
       | .linux.sysctl = {"net.ipv4.ip_forward": "1"}
       | .linux.maskedPaths += ["/proc/timer_list"]'
  args sh -c 'cat /data/f; touch /data/g 2>&1 | grep -c Read-only; stat -c %a /scratch;
              grep -c " /scratch tmpfs" /proc/mounts; stat -c "%F %a" /proc/timer_list; (echo x > /proc/sys/kernel/ns_last_pid) 2>&1 | grep -c Read-only;
              stat -c "%t:%T %a" /dev/kfoo; stat -c %t:%T /dev/null; cat /proc/sys/net/ipv4/ip_forward; touch /rootfile && echo rw'
  cd "$B"
  run rt run c1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = hi ]
  [ "${lines[1]}" = 1 ]
  [ "${lines[2]}" = 700 ]
  [ "${lines[3]}" = 1 ]
  [ "${lines[4]}" = "character special file 666" ]
  [ "${lines[5]}" = 1 ]
  [ "${lines[6]}" = "1:3 600" ]
  [ "${lines[7]}" = "1:3" ]
  [ "${lines[8]}" = 1 ]
  [ "${lines[9]}" = rw ]
  # the host's forwarding setting is untouched (the sysctl was the container's netns')
  [ ! -e "$B/rootfs/rootfile" ] || rm "$B/rootfs/rootfile"
}

@test "config: namespaces joined by path and a user namespace with mappings" {
  ns="kleene-oci-$$-$RANDOM"
  ip netns add "$ns"
  cfg '.linux.namespaces = [.linux.namespaces[] | if .type == "network" then .path = "/run/netns/'"$ns"'" else . end]'
  args sh -c 'readlink /proc/self/ns/net'
  cd "$B"
  run rt run c1
  want=$(ip netns exec "$ns" readlink /proc/self/ns/net)
  ip netns del "$ns"
  [ "$status" -eq 0 ]
  [ "$output" = "$want" ]
  # a user namespace: root inside is 100000 outside
  chown -R 100000:100000 "$B/rootfs"
  cfg '.linux.namespaces = [.linux.namespaces[] | del(.path)] + [{"type": "user"}]
       | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
       | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
       | .mounts = [.mounts[] | select(.destination != "/sys/fs/cgroup")]'
  args sh -c 'cat /proc/self/uid_map; id -u; sleep 0.5'
  rtc --bundle "$B" --pid-file "$B/pid" c2 || { cat "$B/ctr.log"; false; }
  rt start c2
  sleep 0.2
  [ "$(awk '/^Uid:/ {print $2}' /proc/$(cat "$B/pid")/status)" = 100000 ]
  wait_status c2 stopped
  rt delete c2
}

@test "pause and resume, update" {
  args sleep 100
  rtc --bundle "$B" c1
  rt start c1
  run rt pause c1
  [ "$status" -eq 0 ]
  [ "$(rt state c1 | jq -r .status)" = paused ]
  run rt pause c1
  [ "$status" -ne 0 ]
  run rt resume c1
  [ "$status" -eq 0 ]
  [ "$(rt state c1 | jq -r .status)" = running ]
  run rt update --pids-limit 7 --memory 64m c1
  [ "$status" -eq 0 ]
  grep -qx 7 "$(grep '/pids' <(cgroups_of c1) | head -1)/pids.max"
  grep -qx 67108864 "$(grep '/memory' <(cgroups_of c1) | head -1)/memory.limit_in_bytes"
  echo '{"pids": {"limit": 9}}' >"$B/res.json"
  run rt update --resources "$B/res.json" c1
  [ "$status" -eq 0 ]
  grep -qx 9 "$(grep '/pids' <(cgroups_of c1) | head -1)/pids.max"
  # a paused container is thawed and killed by delete --force
  rt pause c1
  run rt delete --force c1
  [ "$status" -eq 0 ]
  [ -z "$(ls -A "$ROOT")" ]
}

@test "exec: a command line and a process file, in the container's namespaces" {
  args sleep 100
  rtc --bundle "$B" c1
  rt start c1
  run rt exec c1 sh -c 'hostname; echo $$; readlink /proc/1/exe'
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = kleene ]
  [ "${lines[1]}" != 1 ]
  [ "${lines[2]}" = /bin/busybox ]
  run rt exec --env X=1 --cwd /tmp --user 1000:1000 c1 sh -c 'echo $X $(pwd) $(id -u); exit 5'
  [ "$status" -eq 5 ]
  [ "$output" = "1 /tmp 1000" ]
  cat >"$B/proc.json" <<'J'
{"user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "echo from-process-file; grep CapEff /proc/self/status"], "cwd": "/", "env": ["PATH=/bin"]}
J
  run rt exec --process "$B/proc.json" c1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = from-process-file ]
  [ "${lines[1]}" = "CapEff:	0000000000000000" ]
  run rt exec c1 /no/such
  [ "$status" -ne 0 ]
  [[ "$output" == *"/no/such"* ]]
  # exec --detach with a pid file: the process runs on
  rt exec --detach --pid-file "$B/xpid" c1 sleep 50 </dev/null >/dev/null 2>&1
  kill -0 "$(cat "$B/xpid")"
  rt delete --force c1
}

@test "hooks: each kind runs, with the state on stdin" {
  cat >"$B/hook.sh" <<'H'
#!/bin/sh
# $1: the hook's name; the state goes to <bundle>/hooks.log
read -r state
echo "$1 $(echo "$state" | jq -c '[.id, .status, (.pid > 0)]')" >> "$(echo "$state" | jq -r .bundle)/hooks.log"
H
  chmod +x "$B/hook.sh"
  h() { echo '[{"path": "'"$B/hook.sh"'", "args": ["hook.sh", "'"$1"'"]}]'; }
  cfg ".hooks = {\"prestart\": $(h prestart), \"createRuntime\": $(h createRuntime),
                 \"poststart\": $(h poststart), \"poststop\": $(h poststop)}"
  args sleep 100
  rtc --bundle "$B" c1
  grep -q '^createRuntime \["c1","creating",true\]' "$B/hooks.log"
  ! grep -q prestart "$B/hooks.log" || false
  ! grep -q poststart "$B/hooks.log" || false
  rt start c1
  grep -q '^prestart \["c1","created",true\]' "$B/hooks.log"
  grep -q '^poststart \["c1","running",true\]' "$B/hooks.log"
  rt delete --force c1
  grep -q '^poststop \["c1","stopped",false\]' "$B/hooks.log"
  # a failing createRuntime hook fails the create and leaves nothing
  cfg '.hooks = {"createRuntime": [{"path": "/bin/false"}]}'
  run rt create --bundle "$B" c2
  [ "$status" -ne 0 ]
  [[ "$output" == *"createRuntime: hook /bin/false: exited with 1"* ]]
  [ -z "$(ls -A "$ROOT")" ]
}

@test "hooks: prestart at start; failing poststart and poststop hooks only warn; createContainer and startContainer in the container" {
  cat >"$B/hook.sh" <<'H'
#!/bin/sh
read -r state
echo "$1" >> "$(echo "$state" | jq -r .bundle)/hooks.log"
H
  chmod +x "$B/hook.sh"
  h() { echo '{"path": "'"$B/hook.sh"'", "args": ["hook.sh", "'"$1"'"]}'; }
  cfg ".root.readonly = false | .hooks = {
         \"prestart\": [$(h prestart)],
         \"createContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"hostname > $B/rootfs/cc.out\"]}],
         \"startContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"hostname > /sc.out\"]}],
         \"poststart\": [{\"path\": \"/bin/false\"}, $(h poststart)],
         \"poststop\": [{\"path\": \"/bin/false\"}, $(h poststop)]}"
  args sh -c 'echo ran > /cmd.out; sleep 100'
  rtc --bundle "$B" c1
  [ ! -e "$B/hooks.log" ]
  # createContainer: in the container's namespaces (its hostname), before pivot_root
  [ "$(cat "$B/rootfs/cc.out")" = kleene ]
  [ ! -e "$B/rootfs/sc.out" ]
  run rt start c1
  [ "$status" -eq 0 ]
  [[ "$output" == *"warning: poststart: hook /bin/false: exited with 1"* ]]
  [ "$(head -1 "$B/hooks.log")" = prestart ]
  grep -qx poststart "$B/hooks.log"
  for _ in $(seq 1 50); do [ -e "$B/rootfs/cmd.out" ] && break; sleep 0.05; done
  # startContainer: inside the container's root
  [ "$(cat "$B/rootfs/sc.out")" = kleene ]
  run rt delete --force c1
  [ "$status" -eq 0 ]
  [[ "$output" == *"warning: poststop: hook /bin/false: exited with 1"* ]]
  grep -qx poststop "$B/hooks.log"
  [ -z "$(ls -A "$ROOT")" ]
}

@test "create without a process: created, start refuses, delete --force" {
  cfg 'del(.process)'
  rtc --bundle "$B" c1
  [ "$(rt state c1 | jq -r .status)" = created ]
  run rt start c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"no process"* ]]
  # nothing to run: the container is stopped, and deleted as such
  wait_status c1 stopped
  rt delete c1
  [ -z "$(ls -A "$ROOT")" ]
}

@test "a failing prestart hook fails start, and the container is stopped and deleted; access-time options on a bind" {
  cfg '.root.readonly = false | .hooks = {"prestart": [{"path": "/bin/false"}]}
       | .mounts += [{"destination": "/mnt/etc", "source": "/etc", "options": ["rbind", "ro", "noatime"]}]'
  args sh -c 'echo ran > /tmp/ran; sleep 100'
  rtc --bundle "$B" --pid-file "$B/pid" c1
  grep ' /mnt/etc ' /proc/$(cat "$B/pid")/mountinfo | grep -q 'ro,.*noatime'
  run rt start c1
  [ "$status" -ne 0 ]
  [[ "$output" == *"prestart: hook /bin/false: exited with 1"* ]]
  # stopped and deleted: the lifecycle went on at delete
  [ ! -e "$B/rootfs/tmp/ran" ]
  run rt state c1
  [ "$status" -ne 0 ]
  assert_gone c1 "" "$(cat "$B/pid")"
}

@test "no mount namespace: the host's, and every mount undone at delete" {
  cfg '.linux.namespaces = [.linux.namespaces[] | select(.type != "mount")]'
  args sh -c 'readlink /proc/1/ns/mnt >/dev/null; readlink /proc/self/ns/mnt; sleep 100'
  rtc --bundle "$B" --pid-file "$B/pid" c1
  [ "$(readlink /proc/$(cat "$B/pid")/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ]
  grep -q " $B/rootfs/proc " /proc/self/mountinfo
  rt start c1
  rt delete --force c1
  ! grep -q " $B/rootfs" /proc/self/mountinfo || false
  [ -z "$(ls -A "$ROOT")" ]
}

@test "a pid namespace joined by path; mount propagation options" {
  unshare --pid --fork --kill-child sleep 1000 3>&- &
  upid=$!
  for _ in $(seq 1 50); do [ -e /proc/$upid/ns/pid_for_children ] && [ "$(readlink /proc/$upid/ns/pid_for_children)" != "$(readlink /proc/self/ns/pid)" ] && break; sleep 0.05; done
  cfg '.linux.namespaces = [.linux.namespaces[] | if .type == "pid" then .path = "/proc/'"$upid"'/ns/pid_for_children" else . end]
       | .mounts += [{"destination": "/tmp/sh", "type": "tmpfs", "source": "tmpfs", "options": ["shared"]},
                     {"destination": "/mnt/etc", "source": "/etc", "options": ["rbind", "rslave"]}]'
  args sleep 100
  timeout 20 "$RT" --root "$ROOT" create --bundle "$B" --pid-file "$B/pid" c1 </dev/null >"$B/ctr.log" 2>&1 ||
    { kill -KILL $upid; cat "$B/ctr.log"; false; }
  pid=$(cat "$B/pid")
  want=$(readlink /proc/$upid/ns/pid_for_children)
  got=$(readlink /proc/$pid/ns/pid)
  grep ' /tmp/sh \| /mnt/etc ' /proc/$pid/mountinfo >"$B/mi" || true
  # the container dies with its pid namespace's init
  kill -KILL $upid
  rt delete --force c1
  [ "$got" = "$want" ]
  cat "$B/mi"
  grep -q ' /tmp/sh .* shared:' "$B/mi"
  # rslave: never shared (a slave only where the host's /etc is shared itself)
  grep ' /mnt/etc ' "$B/mi" | grep -vq 'shared:'
}

@test "terminal: the pty master goes over --console-socket; run in the foreground relays it" {
  cat >"$B/console.py" <<'P'
import array, os, socket, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
open(path + ".ready", "w").close()
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
master = fds[0]
out = b""
deadline = time.time() + 10
while time.time() < deadline:
    try:
        b = os.read(master, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
    if b"DONE" in out:
        break
sys.stdout.write(out.decode(errors="replace"))
P
  cfg '.process.terminal = true | .process.consoleSize = {"height": 30, "width": 100}'
  args sh -c 'tty; stty size; echo DONE; sleep 1'
  python3 "$B/console.py" "$B/console.sock" >"$B/console.out" &
  cpid=$!
  for _ in $(seq 1 100); do [ -e "$B/console.sock.ready" ] && break; sleep 0.05; done
  rtc --bundle "$B" --console-socket "$B/console.sock" c1
  rt start c1
  wait $cpid
  cat "$B/console.out"
  grep -q '^/dev/pts/0' "$B/console.out"
  grep -q '^30 100' "$B/console.out"
  grep -q DONE "$B/console.out"
  rt delete --force c1
  # run in the foreground without a console socket: the terminal is relayed to our stdio
  args sh -c 'tty; echo DONE2'
  cd "$B"
  run rt run c2 </dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"/dev/pts/0"* ]]
  [[ "$output" == *"DONE2"* ]]
  [ -z "$(ls -A "$ROOT")" ]
}
