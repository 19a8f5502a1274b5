#!/usr/bin/env bats
# POST /build on the Docker door (issue 14, docs/docker-api.md "Build"): Debian's docker CLI
# with the classic builder (DOCKER_BUILDKIT=0) and docker-py send a tar build context to this
# test's kleened, which builds it with the engine's builder; the JSON-lines answer, the
# refusals in Docker's error shape, a cancelled build, /build/prune.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  [ -z "${DKB_LOG:-}" ] || cp "$E2E_DIR/kleened.log" "$DKB_LOG"
  stop_kleened
}

setup() {
  CTX=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
}

teardown() {
  stop_containers
  api POST /containers/prune
  rm -rf "$CTX"
}

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_BUILDKIT=0 "$DOCKER_BIN" "$@"; }

# dbuild QUERY FILE [curl options...] -> $status_code and $body (POST /build with FILE as body)
dbuild() {
  local query=$1 file=$2
  shift 2
  local out
  out=$(curl -s -g -X POST --unix-socket "$DOCKER_SOCK" -H 'Content-Type: application/x-tar' \
    --data-binary "@$file" "$@" -w '\n%{http_code}' "http://localhost/v1.41/build?$query")
  status_code=${out##*$'\n'}
  body=${out%$'\n'*}
}

image_count() { klee image ls -q 2>/dev/null | wc -l; }
staging_count() { find "$E2E_DIR/root/image/layers" -maxdepth 1 -name '.staging*' | wc -l; }
layer_count() { find "$E2E_DIR/root/image/layers" -mindepth 1 -maxdepth 1 | wc -l; }

@test "docker build -t -f --build-arg --label --no-cache, then docker run shows the result" {
  mkdir "$CTX/sub"
  cat >"$CTX/sub/Dockerfile" <<'EOF'
FROM bb
ARG A
COPY hello.txt /hello.txt
RUN echo "A=$A" > /a.txt
LABEL from=dockerfile
CMD ["sh", "-c", "cat /hello.txt /a.txt"]
EOF
  echo hello-from-context >"$CTX/hello.txt"
  cd "$CTX"
  run docker build -t dkx -f sub/Dockerfile --build-arg A=1 --label l=v --no-cache .
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Step 1/6 : FROM bb$'
  echo "$output" | grep -q '^Step 4/6 : RUN echo "A=$A" > /a.txt$'
  id=$(echo "$output" | sed -n 's/^Successfully built \([0-9a-f]\{12\}\)$/\1/p')
  [ -n "$id" ]
  echo "$output" | grep -qx 'Successfully tagged dkx:latest'
  run docker run --rm dkx
  [ "$status" -eq 0 ]
  [ "$output" = "hello-from-context
A=1" ]
  # the labels: --label over the Dockerfile's LABEL; the id is the Kleene image's
  run docker inspect --format '{{index .Config.Labels "l"}} {{index .Config.Labels "from"}} {{.Id}}' dkx
  [ "$status" -eq 0 ]
  [[ "$output" == "v dockerfile sha256:$id"* ]]
  # the same image through the Kleene API
  api GET /images/list
  [ "$(echo "$body" | jq -r '.[] | select(.name == "dkx") | .id')" = "$id" ]
}

@test "docker build -q prints the id; an unchanged rebuild uses the cache and keeps the id" {
  printf 'FROM bb\nRUN echo cached > /c\n' >"$CTX/Dockerfile"
  run docker build -q -t dkq "$CTX"
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
  first=$output
  run docker build -t dkq "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Using cache'
  echo "$output" | grep -qx "Successfully built ${first:7:12}"
}

@test "docker build: a failing RUN exits with its code and says why; nothing is left" {
  printf 'FROM bb\nRUN echo before\nRUN echo out; exit 3\n' >"$CTX/Dockerfile"
  images=$(image_count)
  layers=$(layer_count)
  run docker build -t dkfail "$CTX"
  [ "$status" -eq 3 ]
  echo "$output" | grep -q "The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"
  echo "$output" | grep -qx out # the step's output came first
  [ "$(image_count)" -eq "$images" ]
  [ "$(layer_count)" -eq "$layers" ]
  [ "$(staging_count)" -eq 0 ]
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  # rm=0: the failed stage is kept as <name>:failed (Kleene's kept intermediate container)
  run docker build --rm=false -t dkfail "$CTX"
  [ "$status" -eq 3 ]
  api GET /images/list
  [ "$(echo "$body" | jq -r '.[] | select(.name == "dkfail") | .tag')" = failed ]
  klee rmi dkfail:failed
  # a failing command whose text is not UTF-8: the error still comes, as U+FFFD
  printf 'FROM bb\nRUN echo \377; exit 2\n' >"$CTX/Dockerfile"
  run docker build "$CTX"
  [ "$status" -eq 2 ]
  echo "$output" | grep -q "The command '/bin/sh -c echo $(printf '\xef\xbf\xbd'); exit 2' returned a non-zero code: 2"
  assert_alive
}

@test "the body: gzip, chunked and Content-Length, larger than max_body_bytes; a malformed one" {
  head -c 3000000 /dev/urandom >"$CTX/big.bin"
  printf 'FROM bb\nCOPY big.bin /big.bin\nCMD ["md5sum", "/big.bin"]\n' >"$CTX/Dockerfile"
  want=$(md5sum <"$CTX/big.bin" | cut -d' ' -f1)
  tar -C "$CTX" -czf "$E2E_DIR/ctx.tgz" Dockerfile big.bin
  dbuild 't=dkbig' "$E2E_DIR/ctx.tgz"
  [ "$status_code" = 200 ]
  echo "$body" | jq -se 'map(select(.aux)) | .[0].aux.ID | test("^sha256:[0-9a-f]{64}$")'
  echo "$body" | jq -se 'map(.stream // "") | index("Successfully tagged dkbig:latest\n") != null'
  run docker run --rm dkbig
  [ "${output%% *}" = "$want" ]
  # chunked
  tar -C "$CTX" -cf "$E2E_DIR/ctx.tar" Dockerfile big.bin
  dbuild 't=dkbig2' "$E2E_DIR/ctx.tar" -H 'Transfer-Encoding: chunked'
  [ "$status_code" = 200 ]
  echo "$body" | grep -q 'Successfully tagged dkbig2:latest'
  # a broken archive (gzip's magic, then junk): a 400 in Docker's shape, nothing left
  { printf '\037\213'; head -c 5000 /dev/urandom; } >"$E2E_DIR/junk"
  dbuild 't=junk' "$E2E_DIR/junk"
  [ "$status_code" = 400 ]
  echo "$body" | jq -e '.message | test("could not unpack the build context")'
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  # no archive at all: the body is the Dockerfile (docker build - < Dockerfile); binary junk
  # does not parse
  printf 'garbage\001\002\003 x\n' >"$E2E_DIR/junk2"
  dbuild 't=junk' "$E2E_DIR/junk2"
  [ "$status_code" = 400 ]
  echo "$body" | jq -e '.message | test("^Dockerfile parse error: ")'
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  assert_alive
}

@test "refusals before the build in Docker's error shape: no Dockerfile, bad query, BuildKit, unknown target" {
  printf 'FROM bb\n' >"$CTX/Dockerfile"
  tar -C "$CTX" -cf "$E2E_DIR/ok.tar" Dockerfile
  echo x >"$CTX/other"
  tar -C "$CTX" -cf "$E2E_DIR/nodf.tar" other
  dbuild '' "$E2E_DIR/nodf.tar"
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" = "Cannot locate specified Dockerfile: Dockerfile" ]
  dbuild 'dockerfile=sub/nothere' "$E2E_DIR/ok.tar"
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" = "Cannot locate specified Dockerfile: sub/nothere" ]
  dbuild 'dockerfile=../Dockerfile' "$E2E_DIR/ok.tar"
  [ "$status_code" = 400 ]
  # an empty body
  : >"$E2E_DIR/empty"
  dbuild '' "$E2E_DIR/empty"
  [ "$status_code" = 400 ]
  echo "$body" | jq -e '.message | test("empty")'
  # a Dockerfile that does not parse
  printf 'FROM bb\nFOO bar\n' >"$CTX/Dockerfile"
  tar -C "$CTX" -cf "$E2E_DIR/bad.tar" Dockerfile
  dbuild '' "$E2E_DIR/bad.tar"
  [ "$status_code" = 400 ]
  echo "$body" | jq -e '.message | test("^Dockerfile parse error: line 2: ")'
  for q in 'version=2' 'squash=1' 'remote=https://example.com/x.git' 't=a&t=b' \
    'platform=linux/s390x' 'buildargs=[1]' 'labels={"a":1}' 'memory=1000000' \
    'target=nothere' 'networkmode=container:x'; do
    dbuild "$q" "$E2E_DIR/ok.tar"
    echo "$q -> $status_code $body"
    [ "$status_code" = 400 ]
    [ "$(echo "$body" | jq -r .message)" != null ]
  done
  dbuild 'version=2' "$E2E_DIR/ok.tar"
  echo "$body" | jq -e '.message | test("BuildKit")'
  dbuild 't=a&t=b' "$E2E_DIR/ok.tar"
  echo "$body" | jq -e '.message | test("several tags")'
  dbuild 'target=nothere' "$E2E_DIR/ok.tar"
  [ "$(echo "$body" | jq -r .message)" = "failed to reach build target nothere in Dockerfile" ]
  # a message that quotes bytes that are not UTF-8 is still Docker's JSON (was an empty body)
  dbuild 't=a&t=%FFb' "$E2E_DIR/ok.tar"
  [ "$status_code" = 400 ]
  [ "$(echo "$body" | jq -r .message)" = "several tags (t=a, t=$(printf '\xef\xbf\xbd')b): a kleened image has one name:tag; give one and use docker tag after the build" ]
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  assert_alive
}

@test "docker build - < Dockerfile: the body is the Dockerfile, no context" {
  printf 'FROM bb\nRUN echo from-stdin > /s\nCMD ["cat", "/s"]\n' >"$CTX/Dockerfile"
  run docker build -t dkstdin - <"$CTX/Dockerfile"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Successfully tagged dkstdin:latest'
  run docker run --rm dkstdin
  [ "$output" = from-stdin ]
  # COPY has nothing to copy from
  printf 'FROM bb\nCOPY x /x\n' | { run docker build - ; echo "$status $output" >"$E2E_DIR/stdin2.out"; }
  grep -q 'COPY failed: file not found in build context' "$E2E_DIR/stdin2.out"
}

@test "docker build --target stops after that stage" {
  cat >"$CTX/Dockerfile" <<'EOF'
FROM bb AS first
RUN echo first > /stage
FROM bb AS second
RUN echo second > /stage
EOF
  run docker build --target first -t dkt "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Step 2/2 : RUN echo first'
  run docker run --rm dkt cat /stage
  [ "$output" = first ]
}

@test "a client that goes away cancels the build: no step container, layer or upload left" {
  printf 'FROM bb\nRUN echo started; sleep 60\n' >"$CTX/Dockerfile"
  tar -C "$CTX" -cf "$E2E_DIR/slow.tar" Dockerfile
  layers=$(layer_count)
  run curl -s -N --max-time 3 -X POST --unix-socket "$DOCKER_SOCK" --data-binary "@$E2E_DIR/slow.tar" \
    'http://localhost/v1.41/build?t=slow'
  echo "$output" | grep -q started
  for _ in $(seq 1 100); do
    [ "$(staging_count)" -eq 0 ] && [ -z "$(ls -A "$E2E_DIR/root/uploads")" ] && break
    sleep 0.1
  done
  [ "$(staging_count)" -eq 0 ]
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  [ "$(layer_count)" -eq "$layers" ]
  ! pgrep -f "sleep 60" -P "$(kleened_pid)" >/dev/null || false
  [ -z "$(ls -A "$E2E_DIR/run/build" 2>/dev/null)" ]
  api GET /images/list
  [ "$(echo "$body" | jq '[.[] | select(.name == "slow")] | length')" = 0 ]
  assert_alive
}

@test "/build/prune forgets the build cache: the next build runs its steps again" {
  printf 'FROM bb\nRUN echo prune-me > /p\n' >"$CTX/Dockerfile"
  run docker build -t dkp "$CTX"
  [ "$status" -eq 0 ]
  run docker build -t dkp "$CTX"
  echo "$output" | grep -q 'Using cache'
  dapi_out=$(curl -s -X POST --unix-socket "$DOCKER_SOCK" http://localhost/v1.41/build/prune)
  [ "$(echo "$dapi_out" | jq '.CachesDeleted | length')" -ge 1 ]
  [ "$(echo "$dapi_out" | jq .SpaceReclaimed)" = 0 ]
  run docker build -t dkp "$CTX"
  [ "$status" -eq 0 ]
  ! echo "$output" | grep -q 'Using cache' || false
  echo "$output" | grep -q 'Snapshot created'
}

@test "docker-py: images.build(path=, tag=), a failing build raises BuildError" {
  run timeout 120 /usr/bin/python3 "$BATS_TEST_DIRNAME/docker_py_build.py" "unix://$DOCKER_SOCK" "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  assert_alive
}

@test "kleened killed during a docker build: its start stops the step and removes the upload" {
  printf 'FROM bb\nCOPY Dockerfile /df\nRUN echo started; sleep 60\n' >"$CTX/Dockerfile"
  tar -C "$CTX" -cf "$E2E_DIR/crash.tar" Dockerfile
  curl -s -N --max-time 60 -X POST --unix-socket "$DOCKER_SOCK" --data-binary "@$E2E_DIR/crash.tar" \
    'http://localhost/v1.41/build?t=crashed' >"$E2E_DIR/crash.out" 2>&1 3>&- &
  client=$!
  for _ in $(seq 1 200); do
    grep -q started "$E2E_DIR/crash.out" && break
    sleep 0.05
  done
  grep -q started "$E2E_DIR/crash.out"
  [ -n "$(ls -A "$E2E_DIR/root/uploads")" ]
  kill -KILL "$(kleened_pid)"
  wait "$client" || true
  respawn_kleened
  grep -q "removing the build context .* interrupted by a crash" "$E2E_DIR/kleened.log"
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  for _ in $(seq 1 100); do
    [ -z "$(ls -A "$E2E_DIR/run/build" 2>/dev/null)" ] && break
    sleep 0.05
  done
  [ -z "$(ls -A "$E2E_DIR/run/build" 2>/dev/null)" ]
  [ "$(staging_count)" -eq 0 ]
  api GET /images/list
  [ "$(echo "$body" | jq '[.[] | select(.name == "crashed")] | length')" = 0 ]
  # and a build works again
  printf 'FROM bb\nRUN echo again\n' >"$CTX/Dockerfile"
  run docker build -t again "$CTX"
  [ "$status" -eq 0 ]
  assert_alive
}

@test "a client that does not read: the build waits for it instead of queueing its output in kleened" {
  # 40 MB of output from one step; the client sends the request and reads nothing for a while
  printf 'FROM bb\nRUN head -c 40000000 /dev/zero | tr "\\0" a; echo\n' >"$CTX/Dockerfile"
  tar -C "$CTX" -cf "$E2E_DIR/loud.tar" Dockerfile
  pid=$(kleened_pid)
  rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
  before=$(rss)
  run /usr/bin/python3 - "$DOCKER_SOCK" "$E2E_DIR/loud.tar" "$pid" <<'PY'
import socket, sys, time
sock, tar, pid = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
s.sendall(b"POST /v1.41/build?t=loud HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
          b"Content-Length: %d\r\n\r\n" % len(tar) + tar)
peak = 0
for _ in range(40):  # 8 s without reading
    time.sleep(0.2)
    rss = int([l for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0].split()[1])
    peak = max(peak, rss)
print(peak)
got = s.recv(65536)
assert got.startswith(b"HTTP/1.1 200"), got[:100]
s.close()
PY
  [ "$status" -eq 0 ]
  peak=${lines[-1]}
  echo "rss before $before kB, peak $peak kB"
  # (queued, the 40 MB took 340 MB more in an ASan build; held back, about 20 MB)
  [ $((peak - before)) -lt 100000 ]
  # the client went away: the build stops, nothing is left
  for _ in $(seq 1 100); do
    [ -z "$(ls -A "$E2E_DIR/root/uploads")" ] && [ "$(staging_count)" -eq 0 ] && break
    sleep 0.1
  done
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  [ "$(staging_count)" -eq 0 ]
  assert_alive
}

@test "docker-compose build (its own builder, docker-py's API): build args, the service's image runs" {
  command -v docker-compose >/dev/null || skip "docker-compose is not installed"
  mkdir "$CTX/app"
  printf 'FROM bb\nARG GREETING=hi\nRUN echo "$GREETING" > /g\nCMD ["cat", "/g"]\n' >"$CTX/app/Dockerfile"
  printf 'version: "3"\nservices:\n  app:\n    build:\n      context: ./app\n      args:\n        GREETING: hello-compose\n    image: composed:v1\n' >"$CTX/docker-compose.yml"
  cd "$CTX"
  run env DOCKER_HOST="unix://$DOCKER_SOCK" COMPOSE_DOCKER_CLI_BUILD=0 docker-compose build
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Successfully tagged composed:v1'
  run docker run --rm composed:v1
  [ "$output" = hello-compose ]
}

@test "docker build --network: a network's name puts the RUN steps on it; none and host" {
  run docker network create --subnet 10.97.0.0/24 dkbnet
  [ "$status" -eq 0 ]
  printf 'FROM bb\nRUN ip -4 -o addr show | grep -v " lo " > /addrs; cat /addrs\n' >"$CTX/Dockerfile"
  run docker build --no-cache --network dkbnet -t dknet "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'inet 10\.97\.0\.'
  # none: only loopback
  run docker build --no-cache --network none -t dknone "$CTX"
  [ "$status" -eq 0 ]
  ! echo "$output" | grep -q 'inet 10\.97\.0\.' || false
  # host: the host's (here the test namespace's) interfaces, dkbnet's bridge among them;
  # default: the step's own namespace, loopback only
  printf 'FROM bb\nRUN echo "ifaces=$(grep -c : /proc/net/dev)"\n' >"$CTX/Dockerfile"
  run docker build --no-cache --network host -t dkhost "$CTX"
  [ "$status" -eq 0 ]
  n=$(echo "$output" | sed -n 's/^ifaces=//p')
  [ "$n" -ge 2 ]
  run docker build --no-cache -t dkdefault "$CTX"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | sed -n 's/^ifaces=//p')" = 1 ]
  # nothing of the build stays on the network
  run docker network inspect -f '{{len .Containers}}' dkbnet
  [ "$output" = 0 ]
  run docker network rm dkbnet
  [ "$status" -eq 0 ]
}
