#!/usr/bin/env bats
# The engine's event bus through the Docker door's GET /events (docs/docker-api.md "Events"),
# driven by Debian's docker CLI and docker-py: the order and attributes of container, network,
# volume and image events, `since`/`until`, filters, a live `docker events` stopped by PID,
# and Docker's 400 for malformed parameters.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  stop_kleened
}

teardown() {
  # (a stopped follower takes the TERM once continued)
  [ -z "${FOLLOW_PID:-}" ] || kill -CONT "$FOLLOW_PID" 2>/dev/null || true
  [ -z "${FOLLOW_PID:-}" ] || kill "$FOLLOW_PID" 2>/dev/null || true
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

# The events from $1 (a Unix time) until a second from now, as JSON lines.
events_since() {
  local since=$1
  shift
  docker events --since "$since" --until "$(($(date +%s) + 1))" --format '{{json .}}' "$@"
}

@test "docker events --since --until: a container's life, a network, a volume and a tag, in order, with their attributes" {
  t0=$(date +%s)
  cid=$(docker create --name evc --label team=blue bb sh -c 'exit 3')
  docker start evc
  run docker wait evc
  [ "$output" = 3 ]
  docker rm evc
  docker network create evnet >/dev/null
  docker network rm evnet
  docker volume create evvol >/dev/null
  docker volume rm evvol
  docker tag bb:latest bb:evtag
  docker rmi bb:evtag >/dev/null
  run events_since "$t0"
  [ "$status" -eq 0 ]
  echo "$output" >"$BATS_TEST_TMPDIR/ev"
  # the container's events, by its name
  run jq -r 'select(.Type == "container" and .Actor.Attributes.name == "evc") | .Action' "$BATS_TEST_TMPDIR/ev"
  [ "$(echo $output)" = "create start die destroy" ]
  # Docker's shape: 64-hex id (the Kleene id first), legacy fields, attributes
  run jq -r 'select(.Type == "container" and .Action == "die") | [.Actor.ID, .id, .status, .from, .scope, .Actor.Attributes.exitCode, .Actor.Attributes.image, .Actor.Attributes.team, (.timeNano / 1000000000 | floor) - .time] | @tsv' "$BATS_TEST_TMPDIR/ev"
  [ "$(echo "$output" | cut -f1)" = "$cid" ]
  [ "$(echo "$output" | cut -f2)" = "$cid" ]
  [ "$(echo "$output" | cut -f3-)" = "$(printf 'die\tbb\tlocal\t3\tbb\tblue\t0')" ]
  [ "${#cid}" -eq 64 ]
  # the network's and the volume's
  run jq -r 'select(.Type == "network" and .Actor.Attributes.name == "evnet") | .Action + " " + .Actor.Attributes.name + " " + (.Actor.ID | length | tostring)' "$BATS_TEST_TMPDIR/ev"
  [ "$output" = "$(printf 'create evnet 64\ndestroy evnet 64')" ]
  run jq -r 'select(.Type == "volume") | .Action + " " + .Actor.ID + " " + .Actor.Attributes.driver' "$BATS_TEST_TMPDIR/ev"
  [ "$output" = "$(printf 'create evvol local\ndestroy evvol local')" ]
  # the image: a second name, then that name taken off again (the image stays)
  run jq -r 'select(.Type == "image" and .Action != "import") | .Action + " " + .Actor.Attributes.name' "$BATS_TEST_TMPDIR/ev"
  [ "$output" = "$(printf 'tag bb:evtag\nuntag bb:evtag')" ]
  run jq -r 'select(.Type == "image") | .Actor.ID' "$BATS_TEST_TMPDIR/ev"
  [[ "$(echo "$output" | head -1)" == sha256:* ]]
  # and in time order: the container's events before the network's, the volume's, the image's
  run jq -r 'select((.Type == "container" and .Actor.Attributes.name == "evc") or .Actor.Attributes.name == "evnet" or .Actor.ID == "evvol" or (.Type == "image" and .Action != "import")) | .Type' "$BATS_TEST_TMPDIR/ev"
  [ "$(echo $output)" = "container container container container network network volume volume image image" ]
  run jq -s '[.[].timeNano] | . == sort' "$BATS_TEST_TMPDIR/ev"
  [ "$output" = true ]
}

@test "docker events: filters type, event, container, label, image; since in the future gives nothing" {
  t0=$(date +%s)
  docker run --name evf1 --label team=red bb sh -c 'exit 5' || true
  docker run --name evf2 bb true
  docker network create evfnet >/dev/null
  docker network rm evfnet
  run events_since "$t0" --filter type=container --filter event=die
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r '.Actor.Attributes.name + "=" + .Actor.Attributes.exitCode' | tr '\n' ' ')" = "evf1=5 evf2=0 " ]
  run events_since "$t0" --filter container=evf1
  [ "$(echo "$output" | jq -r .Action | tr '\n' ' ')" = "create attach start die " ]
  run events_since "$t0" --filter label=team=red --filter event=start
  [ "$(echo "$output" | jq -r .Actor.Attributes.name)" = evf1 ]
  run events_since "$t0" --filter type=network --filter network=evfnet
  [ "$(echo "$output" | jq -r .Action | tr '\n' ' ')" = "create destroy " ]
  # image: the container events of containers of that image
  run events_since "$t0" --filter image=bb --filter event=create
  [ "$(echo "$output" | jq -r .Actor.Attributes.name | tr '\n' ' ')" = "evf1 evf2 " ]
  run events_since "$t0" --filter image=other
  [ -z "$output" ]
  # two values of one key: either
  run events_since "$t0" --filter container=evf1 --filter container=evf2 --filter event=destroy
  [ -z "$output" ]
  run events_since "$t0" --filter container=evf1 --filter container=evf2 --filter event=start
  [ "$(echo "$output" | wc -l)" -eq 2 ]
  run docker events --since "$(($(date +%s) + 100))" --until "$(($(date +%s) + 1))"
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}

@test "docker events: stop, kill, restart and exec in Docker's order (kill, die, stop; exec_create/start/die)" {
  t0=$(date +%s)
  docker run -d --name evs bb sleep 1000 >/dev/null
  docker exec evs sh -c 'exit 2' || true
  docker stop -t 5 evs
  docker start evs
  docker kill -s KILL evs
  docker start evs
  docker restart -t 5 evs
  docker rm -f evs
  run events_since "$t0" --filter container=evs
  echo "$output" >"$BATS_TEST_TMPDIR/ev"
  run jq -r '.Action + (if .Actor.Attributes.signal then " " + .Actor.Attributes.signal else "" end) + (if .Actor.Attributes.exitCode then " " + .Actor.Attributes.exitCode else "" end)' "$BATS_TEST_TMPDIR/ev"
  echo "$output"
  [ "$output" = "$(printf '%s\n' create start 'exec_create: sh -c exit 2' 'exec_start: sh -c exit 2' 'exec_die 2' \
    'kill 15' 'die 143' stop start 'kill 9' 'die 137' start 'kill 15' 'die 143' stop start restart \
    'kill 9' 'die 137' destroy)" ]
  # exec events carry the exec's 64-hex id
  [ "$(jq -r 'select(.Action == "exec_die") | .Actor.Attributes.execID | length' "$BATS_TEST_TMPDIR/ev")" = 64 ]
}

@test "docker events follows live until stopped by PID; a container that ends by itself gives die" {
  docker events --filter type=container --format '{{.Action}} {{.Actor.Attributes.name}}' >"$BATS_TEST_TMPDIR/live" 2>&1 &
  FOLLOW_PID=$!
  # the subscription starts with the request: wait until the CLI is connected
  for _ in $(seq 1 100); do
    ss -xp 2>/dev/null | grep -q "pid=$FOLLOW_PID," && break
    sleep 0.05
  done
  docker run -d --name evl bb sh -c 'sleep 0.3; exit 7' >/dev/null
  for _ in $(seq 1 100); do
    grep -q "^die evl" "$BATS_TEST_TMPDIR/live" && break
    sleep 0.1
  done
  cat "$BATS_TEST_TMPDIR/live"
  [ "$(head -3 "$BATS_TEST_TMPDIR/live" | tr '\n' ' ')" = "create evl start evl die evl " ]
  kill "$FOLLOW_PID"
  wait "$FOLLOW_PID" || true
  FOLLOW_PID=
  # the exit code came from the monitor, for a process nobody waited for
  run events_since "$(($(date +%s) - 30))" --filter container=evl --filter event=die
  [ "$(echo "$output" | jq -r .Actor.Attributes.exitCode)" = 7 ]
  assert_alive
}

@test "docker-py: client.events(decode=True) with since, until and filters" {
  t0=$(date +%s)
  docker run --name evpy --label app=py bb sh -c 'exit 4' || true
  docker rm evpy
  docker volume create evpyvol >/dev/null
  docker volume rm evpyvol
  until=$(($(date +%s) + 1))
  run timeout 60 /usr/bin/python3 - "unix://$DOCKER_SOCK" "$t0" "$until" <<'PY'
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
since, until = int(sys.argv[2]), int(sys.argv[3])
evs = list(c.events(decode=True, since=since, until=until, filters={"label": "app=py"}))
print(" ".join(e["Action"] for e in evs))
assert [e["Action"] for e in evs] == ["create", "attach", "start", "die", "destroy"], evs
assert all(e["Type"] == "container" and e["Actor"]["Attributes"]["name"] == "evpy" for e in evs)
assert evs[3]["Actor"]["Attributes"]["exitCode"] == "4"
vol = list(c.events(decode=True, since=since, until=until, filters={"type": "volume"}))
assert [(e["Action"], e["Actor"]["ID"]) for e in vol] == [("create", "evpyvol"), ("destroy", "evpyvol")], vol
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = ok ]
}

@test "docker events: malformed since, until or filters get Docker's 400; kleened stays up" {
  dapi GET '/events?since=yesterday'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == *since* ]]
  dapi GET '/events?until=1.2.3'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == *until* ]]
  dapi GET '/events?filters=%7Bbad'
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" != null ]
  dapi GET '/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D'
  [ "$status_code" = 400 ]
  [[ "$(echo "$body" | jq -r .message)" == *colour* ]]
  dapi GET '/events?filters=%7B%22type%22%3A%5B%22spaceship%22%5D%7D'
  [ "$status_code" = 400 ]
  run docker events --filter type=spaceship
  [ "$status" -ne 0 ]
  # a past window ends at once with what it held
  dapi GET "/events?since=1&until=2"
  [ "$status_code" = 200 ]
  [ -z "$body" ]
  assert_alive
}

@test "Kleene API GET /system/events: the same bus as JSON lines; klee's containers give events too; 422 on a bad since" {
  t0=$(date +%s)
  klee container create --name kev bb sh -c 'exit 9' >/dev/null
  klee container start -a kev >/dev/null 2>&1 || true
  klee volume create kevvol >/dev/null
  klee volume rm kevvol >/dev/null
  klee container rm kev >/dev/null
  run curl -s --max-time 20 --unix-socket "$SOCK" "http://localhost/system/events?since=$t0&until=$(($(date +%s) + 1))"
  [ "$status" -eq 0 ]
  echo "$output" >"$BATS_TEST_TMPDIR/kev"
  run jq -r 'select(.type == "container" and .attributes.name == "kev") | .action + (if .attributes.exitCode then " " + .attributes.exitCode else "" end)' "$BATS_TEST_TMPDIR/kev"
  echo "$output"
  [ "$(echo $output)" = "create attach start die 9 destroy" ]
  [ "$(jq -r 'select(.type == "container") | .actor | length' "$BATS_TEST_TMPDIR/kev" | sort -u)" = 12 ]
  run curl -s --max-time 20 --unix-socket "$SOCK" "http://localhost/system/events?since=$t0&until=$(($(date +%s) + 1))&type=volume"
  [ "$(echo "$output" | jq -r '.action + " " + .actor' | tr '\n' ' ')" = "create kevvol destroy kevvol " ]
  run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://localhost/system/events?since=soon"
  [ "$output" = 422 ]
  run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://localhost/system/events?type=spaceship"
  [ "$output" = 422 ]
}

@test "docker events: a network's connect, the disconnect of a container removed, and of its containers when it is removed" {
  t0=$(date +%s)
  docker network create evnet2 >/dev/null
  cid=$(docker create --name evn --network evnet2 bb true)
  cid2=$(docker create --name evn2 --network evnet2 bb true)
  docker rm evn2
  docker network rm evnet2
  docker rm evn
  run events_since "$t0" --filter type=network --filter network=evnet2
  echo "$output"
  [ "$(echo "$output" | jq -r '.Action + " " + .Actor.Attributes.name + " " + (.Actor.Attributes.container // "-")' | tr '\n' ',')" = "create evnet2 -,connect evnet2 $cid,connect evnet2 $cid2,disconnect evnet2 $cid2,disconnect evnet2 $cid,destroy evnet2 -," ]
}

@test "docker events: run --rm gives create, attach, start, die, destroy; a detached --rm one too" {
  t0=$(date +%s)
  docker run --rm --name evrm bb sh -c 'exit 1' || true
  docker run -d --rm --name evrmd bb sh -c 'sleep 0.2; exit 2' >/dev/null
  for _ in $(seq 1 100); do
    docker ps -a --format '{{.Names}}' | grep -q '^evrmd$' || break
    sleep 0.1
  done
  # (a container filter matches names by prefix, as dockerd's: evrm matches evrmd too)
  run events_since "$t0" --filter container=evrm
  [ "$(echo "$output" | jq -r 'select(.Actor.Attributes.name == "evrm") | .Action + (if .Actor.Attributes.exitCode then " " + .Actor.Attributes.exitCode else "" end)' | tr '\n' ',')" = "create,attach,start,die 1,destroy," ]
  run events_since "$t0" --filter container=evrmd
  [ "$(echo "$output" | jq -r '.Action + (if .Actor.Attributes.exitCode then " " + .Actor.Attributes.exitCode else "" end)' | tr '\n' ',')" = "create,start,die 2,destroy," ]
}

@test "a subscriber that stops reading loses the oldest events and is told; the engine never waits for it" {
  curl -sN --unix-socket "$SOCK" "http://localhost/system/events?type=volume" >"$BATS_TEST_TMPDIR/slow" &
  FOLLOW_PID=$!
  for _ in $(seq 1 100); do
    ss -xp 2>/dev/null | grep -q "pid=$FOLLOW_PID," && break
    sleep 0.05
  done
  kill -STOP "$FOLLOW_PID"
  # 1,200 events of about 3 KB (labels): far more than the ring (1,024) and the socket's buffers
  run timeout 120 /usr/bin/python3 - "$SOCK" <<'PY'
import http.client, json, socket, sys, time
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sys.argv[1])
c = Conn("localhost")
labels = {"k%d" % i: "v" * 1000 for i in range(3)}
t0 = time.time()
for i in range(600):
    c.request("POST", "/volumes/create", json.dumps({"name": "evslow%d" % i, "labels": labels}),
              {"Content-Type": "application/json"})
    assert c.getresponse().read() is not None
    c.request("DELETE", "/volumes/evslow%d" % i)
    c.getresponse().read()
print("%.1f" % (time.time() - t0))
PY
  echo "$output"
  [ "$status" -eq 0 ]
  kill -CONT "$FOLLOW_PID"
  for _ in $(seq 1 200); do
    grep -q '"actor":"evslow599"' "$BATS_TEST_TMPDIR/slow" && break
    sleep 0.1
  done
  # told how many it lost, then the newest events
  grep -q '^{"lost":[0-9]*}$' "$BATS_TEST_TMPDIR/slow"
  grep '"action":"destroy"' "$BATS_TEST_TMPDIR/slow" | tail -1 | grep -q '"actor":"evslow599"'
  # fewer events than were emitted reached it: the rest was dropped, not kept for it
  [ "$(grep -c '"type":"volume"' "$BATS_TEST_TMPDIR/slow")" -lt 1200 ]
  kill "$FOLLOW_PID"
  FOLLOW_PID=
  assert_alive
}
