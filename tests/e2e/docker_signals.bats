#!/usr/bin/env bats
# Any signal to a container's main process (issue 14): `docker kill -s` with names (bare,
# SIG-prefixed, any case), numbers, RTMIN+n / RTMAX-n, as dockerd takes them, through the
# Docker door and the Kleene API (ours: POST /containers/{id}/kill, `klee kill -s`). The main
# process traps the signals and writes down what it got; STOP (which the container's reaper
# cannot pass on) stops it and CONT lets it go on; an init as pid 1 gets the signal itself.
# Docker's 400 "Invalid signal: X" for a bad name, 409 for a container that does not run.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

setup_file() {
  # cgroups in kleened's mount namespace, for the init as pid 1
  export KLEENED_WRAPPER="$BATS_TEST_DIRNAME/with-cgroupfs"
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  # The main process: a trap for each signal of the test that writes its name; a counter
  # that moves while the process runs (and stands still while it is stopped).
  cat >"$E2E_DIR/rootfs/trapper.sh" <<'S'
#!/bin/sh
echo $$ >/tmp/pid
for s in HUP USR1 USR2 WINCH ALRM CONT TSTP PWR URG 37 50 64; do
  trap "echo $s >>/tmp/got" $s
done
i=0
while :; do
  i=$((i + 1))
  echo $i >/tmp/count
  sleep 0.1
done
S
  chmod 755 "$E2E_DIR/rootfs/trapper.sh"
  # a process that outlives the main one
  cat >"$E2E_DIR/rootfs/leftover.sh" <<'S'
#!/bin/sh
trap "echo USR1 >>/tmp/left" USR1
echo $$ >/tmp/lpid
while :; do sleep 0.1; done
S
  chmod 755 "$E2E_DIR/rootfs/leftover.sh"
  # busybox init as pid 1, with a service that keeps it busy
  printf '::respawn:/bin/sleep 1000\n' >"$E2E_DIR/rootfs/etc/inittab"
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  stop_kleened
}

teardown() {
  stop_containers
  api POST /containers/prune
}

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" "$@"; }

dapi() {
  local out
  out=$(curl -s -X "$1" --unix-socket "$DOCKER_SOCK" -w '\n%{http_code}' "http://localhost$2")
  status_code=${out##*$'\n'}
  body=${out%$'\n'*}
}

# wait_for SECONDS CMD...: until CMD succeeds (CMD runs again each time: a function, not a
# test of a value computed once)
wait_for() {
  local n=$(($1 * 10))
  shift
  for _ in $(seq 1 "$n"); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# got C SIGNAME: the main process of C has trapped SIGNAME (a line of /tmp/got)
got() { docker exec "$1" cat /tmp/got 2>/dev/null | grep -qx "$2"; }
count() { docker exec "$1" cat /tmp/count; }
# state C: the state letter of the main process (R, S, T ...) from /proc inside
state() { docker exec "$1" sh -c 'set -- $(cat /proc/$(cat /tmp/pid)/stat); echo $3'; }
is_stopped() { [ "$(state "$1")" = T ]; }
is_going() { [ "$(state "$1")" != T ]; }
count_above() { [ "$(count "$1")" -gt "$2" ]; }
start_trapper() {
  docker run -d --name "$1" bb /trapper.sh >/dev/null
  wait_for 5 docker exec "$1" test -s /tmp/count
}

@test "docker kill -s: names with and without SIG, any case, numbers, RTMIN+n and RTMAX-n reach the main process" {
  start_trapper sg
  # name, SIG-prefixed name, lower case, numbers (USR2 is 12, URG 23)
  docker kill -s USR1 sg
  wait_for 5 got sg USR1
  docker kill -s SIGHUP sg
  wait_for 5 got sg HUP
  docker kill -s sigalrm sg
  wait_for 5 got sg ALRM
  docker kill -s 12 sg
  wait_for 5 got sg USR2
  docker kill -s 23 sg
  wait_for 5 got sg URG
  # WINCH by name and by number, as the docker CLI forwards it (signal=28 or WINCH)
  docker kill -s WINCH sg
  wait_for 5 got sg WINCH
  docker exec sg sh -c ': >/tmp/got'
  docker kill -s 28 sg
  wait_for 5 got sg WINCH
  docker kill -s PWR sg
  wait_for 5 got sg PWR
  # real-time signals: RTMIN+3 is 37, RTMAX-14 is 50, RTMAX is 64
  docker kill -s RTMIN+3 sg
  wait_for 5 got sg 37
  docker kill -s SIGRTMAX-14 sg
  wait_for 5 got sg 50
  docker kill -s RTMAX sg
  wait_for 5 got sg 64
  # TSTP is trapped here: the process goes on
  docker kill -s TSTP sg
  wait_for 5 got sg TSTP
  # every one of them left the container running
  [ "$(docker inspect -f '{{.State.Running}}' sg)" = true ]
  # the kill events carry the signal's number, as dockerd's
  run docker events --since 0 --until "$(($(date +%s) + 1))" --filter container=sg --filter event=kill --format '{{.Actor.Attributes.signal}}'
  [ "$status" -eq 0 ]
  [ "$(echo $output)" = "10 1 14 12 23 28 28 30 37 50 64 20" ]
}

@test "docker kill -s STOP stops the main process (the reaper cannot pass it on), CONT lets it go on" {
  start_trapper st
  docker kill -s STOP st
  wait_for 5 is_stopped st
  # stopped: the counter stands still
  c1=$(count st)
  sleep 0.5
  [ "$(count st)" = "$c1" ]
  [ "$(docker inspect -f '{{.State.Running}}' st)" = true ]
  docker kill -s SIGCONT st
  wait_for 5 got st CONT
  is_going st
  wait_for 5 count_above st "$c1"
  # by number: STOP is 19, CONT 18
  docker kill -s 19 st
  wait_for 5 is_stopped st
  docker kill -s 18 st
  wait_for 5 is_going st
  # a stopped main process still ends with KILL
  docker kill -s STOP st
  wait_for 5 is_stopped st
  docker kill st
  run docker wait st
  [ "$output" = 137 ]
}

@test "signals once the main process has ended: what is left in the container gets them, STOP included" {
  # the main process ends at once, its child stays behind and keeps the container running
  docker run -d --name left bb sh -c '/leftover.sh & sleep 0.3'
  wait_for 5 docker exec left test -s /tmp/lpid
  # the main process (pid 2, the reaper's child) has ended
  wait_for 5 docker exec left sh -c '! test -e /proc/2'
  docker kill -s USR1 left
  wait_for 5 docker exec left grep -qx USR1 /tmp/left
  docker kill -s STOP left
  left_stopped() { [ "$(docker exec left sh -c 'set -- $(cat /proc/$(cat /tmp/lpid)/stat); echo $3')" = T ]; }
  left_going() { ! left_stopped; }
  wait_for 5 left_stopped
  docker kill -s CONT left
  wait_for 5 left_going
}

@test "an init as pid 1 gets the signal itself: STOP stops busybox init, CONT lets it go on" {
  docker run -d --name vm bb /sbin/init >/dev/null
  wait_for 5 docker exec vm pgrep -x sleep
  init_state() { docker exec vm sh -c 'set -- $(cat /proc/1/stat); echo $2 $3'; }
  init_stopped() { [ "$(init_state)" = "(init) T" ]; }
  init_going() { [ "$(init_state)" = "(init) S" ] || [ "$(init_state)" = "(init) R" ]; }
  init_going
  docker kill -s STOP vm
  wait_for 5 init_stopped
  docker kill -s CONT vm
  wait_for 5 init_going
  [ "$(docker inspect -f '{{.State.Running}}' vm)" = true ]
}

@test "docker kill: Docker's 400 Invalid signal for a bad name or number, 409 for a container that does not run" {
  start_trapper bad
  for s in FOO SIGFOO 0 65 SIG9 RTMIN+31 RTMAX-31 -1; do
    dapi POST "/containers/bad/kill?signal=${s//+/%2B}"
    [ "$status_code" = 400 ]
    [ "$(echo "$body" | jq -r .message)" = "Invalid signal: $s" ]
  done
  run docker kill -s NOPE bad
  [ "$status" -ne 0 ]
  [[ "$output" == *"Invalid signal: NOPE"* ]]
  # RTMIN+3 with '+' encoded, as the CLI sends it; none given is KILL
  dapi POST "/containers/bad/kill?signal=RTMIN%2B3"
  [ "$status_code" = 204 ]
  wait_for 5 got bad 37
  docker create --name idle bb true >/dev/null
  dapi POST "/containers/idle/kill?signal=WINCH"
  [ "$status_code" = 409 ]
  [ "$(echo "$body" | jq -r .message)" = "Container idle is not running" ]
  dapi POST "/containers/nosuch/kill?signal=WINCH"
  [ "$status_code" = 404 ]
  dapi POST /containers/bad/kill
  [ "$status_code" = 204 ]
  run docker wait bad
  [ "$output" = 137 ]
}

@test "Kleene API and klee kill -s: any signal by name or number; bad ones 422" {
  start_trapper kl
  api POST "/containers/kl/kill?signal=WINCH"
  [ "$status_code" = 200 ]
  wait_for 5 got kl WINCH
  api POST "/containers/kl/kill?signal=sigrtmin%2B3"
  [ "$status_code" = 200 ]
  wait_for 5 got kl 37
  run klee kill -s SIGPWR kl
  [ "$status" -eq 0 ]
  wait_for 5 got kl PWR
  run klee kill -s RTMAX-14 kl
  [ "$status" -eq 0 ]
  wait_for 5 got kl 50
  run klee kill -s STOP kl
  [ "$status" -eq 0 ]
  wait_for 5 is_stopped kl
  run klee kill -s 18 kl
  [ "$status" -eq 0 ]
  wait_for 5 is_going kl
  api POST "/containers/kl/kill?signal=65"
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r .message)" = "invalid signal '65'" ]
  run klee kill -s NOPE kl
  [ "$status" -eq 1 ]
  [[ "$output" == *"invalid signal 'NOPE'"* ]]
  [ "$(docker inspect -f '{{.State.Running}}' kl)" = true ]
}

@test "docker run without -d forwards the signals it gets (WINCH, USR1, a real-time one) to the main process" {
  # the CLI itself, started directly so that $! is its pid (sig-proxy: on by default without a tty)
  DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" run --name px bb /trapper.sh >"$BATS_TEST_TMPDIR/px.out" 2>&1 &
  cli=$!
  wait_for 10 docker exec px test -s /tmp/count
  kill -WINCH "$cli"
  wait_for 5 got px WINCH
  kill -USR1 "$cli"
  wait_for 5 got px USR1
  kill -s RTMIN+3 "$cli"
  wait_for 5 got px 37
  [ "$(docker inspect -f '{{.State.Running}}' px)" = true ]
  # nothing the CLI forwarded was refused
  ! grep -i "error\|cannot be sent" "$BATS_TEST_TMPDIR/px.out" || false
  docker kill px
  wait "$cli" || true
}

@test "a stop signal of the container's own: docker run --stop-signal, the Kleene API's stop_signal, bad ones refused" {
  # INT ends the process with 5 at once; TERM would be ignored until the KILL of the grace
  docker run -d --name ss --stop-signal int bb sh -c 'trap "" TERM; trap "exit 5" INT; while :; do sleep 0.1; done' >/dev/null
  [ "$(docker inspect -f '{{.Config.StopSignal}}' ss)" = SIGINT ]
  t0=$(date +%s%N)
  docker stop -t 20 ss
  [ $((($(date +%s%N) - t0) / 1000000)) -lt 10000 ]
  [ "$(docker inspect -f '{{.State.ExitCode}}' ss)" = 5 ]
  # without one: SIGTERM, as before
  docker create --name dflt bb true >/dev/null
  [ "$(docker inspect -f '{{.Config.StopSignal}}' dflt)" = SIGTERM ]
  run docker create --name badss --stop-signal FOO bb true
  [ "$status" -ne 0 ]
  [[ "$output" == *"Invalid signal: FOO"* ]]
  # the Kleene API (ours): at create, in inspect, changed by update, "" back to the default
  api POST /containers/create '{"name":"kss","image":"bb","cmd":["sh","-c","trap \"\" TERM; trap \"exit 7\" USR1; while :; do sleep 0.1; done"],"stop_signal":"10"}'
  [ "$status_code" = 201 ]
  api GET /containers/kss/inspect
  [ "$(echo "$body" | jq -r .container.stop_signal)" = SIGUSR1 ]
  docker start kss
  wait_for 5 docker exec kss true
  api POST "/containers/kss/stop?timeout=20"
  [ "$status_code" = 200 ]
  [ "$(docker inspect -f '{{.State.ExitCode}}' kss)" = 7 ]
  api POST /containers/kss/update '{"stop_signal":"rtmin+2"}'
  [ "$status_code" = 201 ]
  api GET /containers/kss/inspect
  [ "$(echo "$body" | jq -r .container.stop_signal)" = SIGRTMIN+2 ]
  api POST /containers/kss/update '{"stop_signal":"NOPE"}'
  [ "$status_code" = 409 ]
  [[ "$(echo "$body" | jq -r .message)" == *"invalid stop_signal 'NOPE'"* ]]
  api POST /containers/kss/update '{"stop_signal":""}'
  api GET /containers/kss/inspect
  [ "$(echo "$body" | jq -r .container.stop_signal)" = null ]
  api POST /containers/create '{"name":"kbad","image":"bb","stop_signal":"65"}'
  [ "$status_code" = 404 ] # the original answers 404 for every failure of create
  [ "$(echo "$body" | jq -r .message)" = "invalid stop_signal '65'" ]
  api GET /containers/kbad/inspect
  [ "$status_code" = 404 ]
}

@test "klee run --stop-signal: klee stop sends it; a bad one is a usage error" {
  run klee run -d --name kstop --stop-signal SIGQUIT bb sh -c 'trap "" TERM; trap "exit 9" QUIT; while :; do sleep 0.1; done'
  [ "$status" -eq 0 ]
  wait_for 5 docker exec kstop true
  api GET /containers/kstop/inspect
  [ "$(echo "$body" | jq -r .container.stop_signal)" = SIGQUIT ]
  run klee stop -t 20 kstop
  [ "$status" -eq 0 ]
  [ "$(docker inspect -f '{{.State.ExitCode}}' kstop)" = 9 ]
  run klee create --stop-signal NOPE bb true
  [ "$status" -eq 2 ]
  [[ "$output" == *"Invalid value for '--stop-signal': 'NOPE' is not a signal"* ]]
}

# restop IN OUT SIGNAL NAME: the docker archive IN with config.StopSignal set and RepoTags
# NAME, as OUT (the config renamed to its new digest)
restop() {
  python3 - "$@" <<'P'
import hashlib, io, json, sys, tarfile
src, dst, sig, name = sys.argv[1:5]
with tarfile.open(src) as t:
    files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
manifest = json.loads(files.pop("manifest.json"))
cfg = json.loads(files.pop(manifest[0]["Config"]))
cfg["config"]["StopSignal"] = sig
blob = json.dumps(cfg).encode()
cname = hashlib.sha256(blob).hexdigest() + ".json"
files[cname] = blob
manifest[0]["Config"] = cname
manifest[0]["RepoTags"] = [name]
files["manifest.json"] = json.dumps(manifest).encode()
with tarfile.open(dst, "w") as t:
    for n, data in files.items():
        info = tarfile.TarInfo(n)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
P
}

@test "an image's StopSignal: kept by docker load, the default of its containers, inherited by a build, set by STOPSIGNAL, written by docker save" {
  docker save bb -o "$BATS_TEST_TMPDIR/bb.tar"
  restop "$BATS_TEST_TMPDIR/bb.tar" "$BATS_TEST_TMPDIR/sq.tar" SIGQUIT sq:latest
  docker load -i "$BATS_TEST_TMPDIR/sq.tar"
  [ "$(docker image inspect -f '{{.Config.StopSignal}}' sq)" = SIGQUIT ]
  api GET /images/sq/inspect
  [ "$(echo "$body" | jq -r .stop_signal)" = SIGQUIT ]
  # without one: no StopSignal in the image
  [ "$(docker image inspect -f '{{.Config.StopSignal}}' bb)" = "" ]
  # its containers stop with it, unless they have their own
  docker run -d --name sqc sq sh -c 'trap "" TERM; trap "exit 3" QUIT; while :; do sleep 0.1; done' >/dev/null
  [ "$(docker inspect -f '{{.Config.StopSignal}}' sqc)" = SIGQUIT ]
  docker stop -t 20 sqc
  [ "$(docker inspect -f '{{.State.ExitCode}}' sqc)" = 3 ]
  docker create --name sqown --stop-signal INT sq true >/dev/null
  [ "$(docker inspect -f '{{.Config.StopSignal}}' sqown)" = SIGINT ]
  # a build FROM it keeps it, STOPSIGNAL (with an ARG) changes it
  mkdir "$BATS_TEST_TMPDIR/ctx"
  printf 'FROM sq\nLABEL x=y\n' >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  docker build -q -t sq2 "$BATS_TEST_TMPDIR/ctx" >/dev/null
  [ "$(docker image inspect -f '{{.Config.StopSignal}}' sq2)" = SIGQUIT ]
  printf 'FROM sq\nARG S=usr2\nSTOPSIGNAL $S\n' >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  docker build -q -t sq3 "$BATS_TEST_TMPDIR/ctx" >/dev/null
  [ "$(docker image inspect -f '{{.Config.StopSignal}}' sq3)" = SIGUSR2 ]
  printf 'FROM bb\nARG S\nSTOPSIGNAL $S\n' >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  run docker build -q --build-arg S=NOPE -t sq4 "$BATS_TEST_TMPDIR/ctx"
  [ "$status" -ne 0 ]
  [[ "$output" == *"error in 'STOPSIGNAL \$S': invalid signal 'NOPE'"* ]]
  # the same steps with another signal: another image, not the first one again (build cache)
  docker build -q --build-arg S=USR1 -t sq5 "$BATS_TEST_TMPDIR/ctx" >/dev/null
  docker build -q --build-arg S=SIGUSR2 -t sq6 "$BATS_TEST_TMPDIR/ctx" >/dev/null
  [ "$(docker image inspect -f '{{.Config.StopSignal}}' sq5)" = SIGUSR1 ]
  [ "$(docker image inspect -f '{{.Config.StopSignal}}' sq6)" = SIGUSR2 ]
  printf 'FROM bb\nSTOPSIGNAL SIGNOPE\n' >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  run docker build -q -t sq4 "$BATS_TEST_TMPDIR/ctx"
  [ "$status" -ne 0 ]
  [[ "$output" == *"invalid signal 'SIGNOPE'"* ]]
  # docker save writes it back; a name that is no signal here is left out at load
  docker save sq2 -o "$BATS_TEST_TMPDIR/sq2.tar"
  cfg=$(tar xOf "$BATS_TEST_TMPDIR/sq2.tar" manifest.json | jq -r '.[0].Config')
  [ "$(tar xOf "$BATS_TEST_TMPDIR/sq2.tar" "$cfg" | jq -r .config.StopSignal)" = SIGQUIT ]
  restop "$BATS_TEST_TMPDIR/bb.tar" "$BATS_TEST_TMPDIR/bad.tar" SIGNOPE badsig:latest
  docker load -i "$BATS_TEST_TMPDIR/bad.tar"
  [ "$(docker image inspect -f '{{.Config.StopSignal}}' badsig)" = "" ]
}
