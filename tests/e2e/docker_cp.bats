#!/usr/bin/env bats
# docker cp through the Docker door (docs/docker-api.md "Copying files"): the archive
# endpoints GET/HEAD/PUT /containers/{id}/archive driven by Debian's docker CLI and docker-py
# against running, created (never started) and exited containers; volumes; read-only
# volumes; symlinks of the container that point at / or /etc (the host's files must stay
# untouched and unread); hostile archives (`../`); missing paths. kleened must answer after
# every failure.
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

setup() {
  export T="$E2E_DIR/t$BATS_TEST_NUMBER"
  mkdir -p "$T"
}

teardown() {
  stop_containers
  docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
  docker volume prune -f >/dev/null 2>&1 || true
  rm -rf "$T"
}

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" "$@"; }

alive() {
  run curl -s --unix-socket "$DOCKER_SOCK" http://localhost/_ping
  [ "$output" = OK ]
}

# dput CONTAINER PATH FILE [QUERY] -> $status_code and $body
dput() {
  local out
  out=$(curl -s -X PUT --unix-socket "$DOCKER_SOCK" -H 'Content-Type: application/x-tar' \
    --data-binary "@$3" -w '\n%{http_code}' "http://localhost/v1.41/containers/$1/archive?path=$2${4:-}")
  status_code=${out##*$'\n'}
  body=${out%$'\n'*}
}

# Stop kleened (TERM) and start it again; with $1, armed to crash at that point.
restart_kleened() {
  local pid
  pid=$(kleened_pid) || pid=""
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  if [ -n "${1:-}" ]; then
    export KLEENED_CRASH_POINT=$1
    respawn_kleened
    unset KLEENED_CRASH_POINT
  else
    respawn_kleened
  fi
}

# the decoded X-Docker-Container-Path-Stat of a HEAD
path_stat() {
  curl -s -I --unix-socket "$DOCKER_SOCK" "http://localhost/v1.41/containers/$1/archive?path=$2" |
    tr -d '\r' | sed -n 's/^X-Docker-Container-Path-Stat: //ip' | base64 -d
}

@test "docker cp: a file and a directory into a running container and back out" {
  docker run -d --name run1 bb:latest sleep 600 >/dev/null
  echo "hello file" >"$T/f.txt"
  mkdir -p "$T/d/sub"
  echo one >"$T/d/a"
  echo two >"$T/d/sub/b"
  chmod 0750 "$T/d/sub"
  ln -s a "$T/d/link"
  docker cp "$T/f.txt" run1:/tmp/
  docker cp "$T/d" run1:/tmp/d
  run docker exec run1 cat /tmp/f.txt /tmp/d/a /tmp/d/sub/b
  [ "$status" -eq 0 ]
  [ "$output" = $'hello file\none\ntwo' ]
  run docker exec run1 readlink /tmp/d/link
  [ "$output" = a ]
  # owned by root (no -a), modes kept
  run docker exec run1 stat -c '%u:%g %a' /tmp/d/sub
  [ "$output" = "0:0 750" ]
  # -a keeps the owners (copyUIDGID)
  echo owned >"$T/owned.txt"
  chown 1234:4321 "$T/owned.txt"
  docker cp -a "$T/owned.txt" run1:/tmp/
  run docker exec run1 stat -c '%u:%g' /tmp/owned.txt
  [ "$output" = "1234:4321" ]
  # a gzip-compressed archive is taken too (the API allows gzip, bzip2, xz)
  tar -C "$T" -czf "$T/gz.tgz" f.txt
  dput run1 /root "$T/gz.tgz"
  [ "$status_code" = 200 ]
  run docker exec run1 cat /root/f.txt
  [ "$output" = "hello file" ]
  # a file renamed on the way in
  docker cp "$T/f.txt" run1:/tmp/renamed.txt
  run docker exec run1 cat /tmp/renamed.txt
  [ "$output" = "hello file" ]

  # and out: a file, a directory, a symlink (as a symlink)
  docker exec run1 sh -c 'echo made inside >/tmp/in.txt; mkdir -p /tmp/x/y; echo deep >/tmp/x/y/z'
  docker cp run1:/tmp/in.txt "$T/out.txt"
  [ "$(cat "$T/out.txt")" = "made inside" ]
  docker cp run1:/tmp/x "$T/xcopy"
  [ "$(cat "$T/xcopy/y/z")" = deep ]
  # hard links stay links
  docker exec run1 sh -c 'mkdir /tmp/h; echo same >/tmp/h/one; ln /tmp/h/one /tmp/h/two'
  docker cp run1:/tmp/h "$T/h"
  [ "$(stat -c %i "$T/h/one")" = "$(stat -c %i "$T/h/two")" ]
  [ "$(cat "$T/h/two")" = same ]
  docker cp run1:/tmp/d/link "$T/linkcopy"
  [ -L "$T/linkcopy" ]
  [ "$(readlink "$T/linkcopy")" = a ]
  # a directory's contents with /.
  mkdir "$T/dot"
  docker cp run1:/tmp/x/. "$T/dot"
  [ "$(cat "$T/dot/y/z")" = deep ]
  alive
}

@test "docker cp: 24 MiB both ways (streamed: the request body limit is 1 MiB), long names" {
  docker run -d --name big1 bb:latest sleep 600 >/dev/null
  head -c $((24 * 1024 * 1024)) /dev/urandom >"$T/big"
  docker cp "$T/big" big1:/tmp/big
  run docker exec big1 stat -c %s /tmp/big
  [ "$output" = $((24 * 1024 * 1024)) ]
  docker cp big1:/tmp/big "$T/big.back"
  cmp "$T/big" "$T/big.back"
  # the same body with a length instead of chunks
  tar -C "$T" -cf "$T/big.tar" big
  dput big1 /root "$T/big.tar"
  [ "$status_code" = 200 ]
  run docker exec big1 cmp /tmp/big /root/big
  [ "$status" -eq 0 ]
  # names longer than ustar's 100 bytes go both ways (pax headers)
  long=$(printf 'n%.0s' $(seq 1 120))
  mkdir -p "$T/deep/$long"
  echo far >"$T/deep/$long/$long.txt"
  ln -s "$long/$long.txt" "$T/deep/linkwithalongtarget"
  docker cp "$T/deep" big1:/tmp/
  run docker exec big1 cat "/tmp/deep/$long/$long.txt"
  [ "$output" = far ]
  docker cp big1:/tmp/deep - >"$T/deep.tar"
  run tar -tf "$T/deep.tar"
  [[ "$output" == *"deep/$long/$long.txt"* ]]
  mkdir "$T/untar"
  tar -C "$T/untar" -xf "$T/deep.tar"
  [ "$(cat "$T/untar/deep/linkwithalongtarget")" = far ]
  alive
}

@test "docker cp: into and out of a created (never started) container, then it starts and sees the files" {
  docker create --name cr1 bb:latest cat /tmp/f.txt >/dev/null
  echo "before start" >"$T/f.txt"
  docker cp "$T/f.txt" cr1:/tmp/f.txt
  # out of the image's own files, before any start
  docker cp cr1:/bin/busybox "$T/bb"
  cmp "$T/bb" "$E2E_DIR/rootfs/bin/busybox"
  docker cp cr1:/tmp/f.txt "$T/back.txt"
  [ "$(cat "$T/back.txt")" = "before start" ]
  run docker start -a cr1
  [ "$status" -eq 0 ]
  [ "$output" = "before start" ]
  # nothing of the copy stays mounted in kleened's namespace
  run grep -c "$E2E_DIR/root/container" /proc/"$KLEENED_PID"/mountinfo
  [ "$output" = 0 ]
  alive
}

@test "docker cp: a container held by a copy (stopped, or stopped while copied) is not started or removed meanwhile" {
  docker create --name hold1 bb:latest sleep 600 >/dev/null
  head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/big"
  docker cp "$T/big" hold1:/big
  # a slow reader keeps the copy (and the container's private mount) open
  curl -s --limit-rate 64k --unix-socket "$DOCKER_SOCK" -o "$T/slow.tar" \
    "http://localhost/v1.41/containers/hold1/archive?path=/big" &
  slow=$!
  for _ in $(seq 100); do [ -s "$T/slow.tar" ] && break; sleep 0.05; done
  run docker start hold1
  [ "$status" -ne 0 ]
  [[ "$output" == *"a copy into or out of the container is under way"* ]]
  run docker rm hold1
  [ "$status" -ne 0 ]
  [[ "$output" == *"under way"* ]]
  run curl -s -o /dev/null -w '%{http_code}' -I --unix-socket "$DOCKER_SOCK" "http://localhost/v1.41/containers/hold1/archive?path=/big"
  [ "$output" = 409 ]
  kill "$slow"
  wait "$slow" || true
  # the copy ended with its connection: the container starts
  for _ in $(seq 100); do docker start hold1 >/dev/null 2>&1 && break; sleep 0.1; done
  [ "$(docker inspect -f '{{.State.Running}}' hold1)" = true ]
  # a copy out of a running container keeps its overlay after a stop: no start meanwhile
  curl -s --limit-rate 64k --unix-socket "$DOCKER_SOCK" -o "$T/slow2.tar" \
    "http://localhost/v1.41/containers/hold1/archive?path=/big" &
  slow=$!
  for _ in $(seq 100); do [ -s "$T/slow2.tar" ] && break; sleep 0.05; done
  docker stop -t 1 hold1 >/dev/null
  run docker start hold1
  [ "$status" -ne 0 ]
  [[ "$output" == *"a copy into or out of the container is under way"* ]]
  kill "$slow"
  wait "$slow" || true
  for _ in $(seq 100); do docker start hold1 >/dev/null 2>&1 && break; sleep 0.1; done
  [ "$(docker inspect -f '{{.State.Running}}' hold1)" = true ]
  alive
}

@test "docker cp: out of and into an exited container" {
  docker run --name ex1 bb:latest sh -c 'echo from the run >/result.txt' >/dev/null
  [ "$(docker inspect -f '{{.State.Status}}' ex1)" = exited ]
  docker cp ex1:/result.txt "$T/result.txt"
  [ "$(cat "$T/result.txt")" = "from the run" ]
  printf 'replaced\n' >"$T/result.txt"
  docker cp "$T/result.txt" ex1:/result.txt
  docker cp ex1:/result.txt "$T/again.txt"
  [ "$(cat "$T/again.txt")" = replaced ]
  alive
}

@test "docker cp -: a tar on stdin and a tar on stdout" {
  docker run -d --name st1 bb:latest sleep 600 >/dev/null
  mkdir -p "$T/src/pkg"
  echo payload >"$T/src/pkg/file"
  tar -C "$T/src" -cf - pkg | docker cp - st1:/tmp
  run docker exec st1 cat /tmp/pkg/file
  [ "$output" = payload ]
  docker cp st1:/tmp/pkg - >"$T/out.tar"
  run tar -tf "$T/out.tar"
  [ "$status" -eq 0 ]
  [[ "$output" == *"pkg/"* ]]
  [[ "$output" == *"pkg/file"* ]]
  mkdir "$T/x"
  tar -C "$T/x" -xf "$T/out.tar"
  [ "$(cat "$T/x/pkg/file")" = payload ]
  alive
}

@test "docker cp: a file into a volume and a bind mount, running and stopped; a read-only volume refuses" {
  mkdir -p "$T/bind"
  docker run -d --name vol1 -v cpvol:/data -v rovol:/ro:ro -v "$T/bind:/bind" bb:latest sleep 600 >/dev/null
  echo into-volume >"$T/v.txt"
  docker cp "$T/v.txt" vol1:/data/v.txt
  [ "$(cat "$E2E_DIR/root/volumes/cpvol/v.txt")" = into-volume ]
  run docker cp "$T/v.txt" vol1:/ro/v.txt
  [ "$status" -ne 0 ]
  [[ "$output" == *"read-only"* ]]
  [ ! -e "$E2E_DIR/root/volumes/rovol/v.txt" ]
  docker cp "$T/v.txt" vol1:/bind/
  [ "$(cat "$T/bind/v.txt")" = into-volume ]
  docker stop -t 1 vol1 >/dev/null
  echo stopped >"$T/w.txt"
  docker cp "$T/w.txt" vol1:/data/w.txt
  [ "$(cat "$E2E_DIR/root/volumes/cpvol/w.txt")" = stopped ]
  # a bind mount of a stopped container is where a start would put it
  docker cp "$T/w.txt" vol1:/bind/w.txt
  [ "$(cat "$T/bind/w.txt")" = stopped ]
  docker cp vol1:/data/v.txt "$T/vback.txt"
  [ "$(cat "$T/vback.txt")" = into-volume ]
  run docker cp "$T/w.txt" vol1:/ro/w.txt
  [ "$status" -ne 0 ]
  [ ! -e "$E2E_DIR/root/volumes/rovol/w.txt" ]
  alive
}

@test "docker cp: container symlinks to / and /etc lead nowhere on the host, both ways" {
  docker run -d --name sym1 bb:latest sh -c 'ln -s / /toroot; ln -s /etc /toetc; mkdir /dst; ln -s /etc /dst/l; sleep 600' >/dev/null
  for _ in $(seq 50); do docker exec sym1 test -L /dst/l && break; sleep 0.1; done
  marker="kleene-cp-$$-$RANDOM"
  echo secret >"$T/host-secret"
  echo evil >"$T/$marker"
  # writing through the links: lands in the container's /etc, never the host's
  docker cp "$T/$marker" sym1:/toetc/
  [ ! -e "/etc/$marker" ]
  run docker exec sym1 cat "/etc/$marker"
  [ "$output" = evil ]
  docker cp "$T/$marker" sym1:/toroot/etc/
  [ ! -e "/etc/$marker" ]
  # a directory where the container has a link to /etc: the CLI asks not to replace it
  # (noOverwriteDirNonDir), and nothing goes through the link either
  mkdir -p "$T/l"
  echo x >"$T/l/$marker.2"
  run docker cp "$T/l" sym1:/dst/
  [ "$status" -ne 0 ]
  [[ "$output" == *"cannot overwrite non-directory"* ]]
  [ ! -e "/etc/$marker.2" ]
  # without that flag (docker-py's put_archive), the link is replaced by the directory
  tar -C "$T" -cf "$T/l.tar" l
  dput sym1 /dst "$T/l.tar"
  [ "$status_code" = 200 ]
  [ ! -e "/etc/$marker.2" ]
  run docker exec sym1 cat "/dst/l/$marker.2"
  [ "$output" = x ]
  run docker exec sym1 test -L /dst/l
  [ "$status" -ne 0 ]
  # a host directory through the link: the container has no such path
  run docker cp "$T/$marker" "sym1:/toroot$T/"
  [ "$status" -ne 0 ]
  [ ! -e "$T/$marker.copied" ]
  # reading through the links gives the container's files, never the host's
  run docker cp "sym1:/toroot$T/host-secret" "$T/leak"
  [ "$status" -ne 0 ]
  [ ! -e "$T/leak" ]
  docker cp sym1:/toetc/passwd "$T/passwd"
  cmp "$T/passwd" "$E2E_DIR/rootfs/etc/passwd"
  # the stat header names the link's target inside the container
  run path_stat sym1 /toetc
  [ "$(echo "$output" | jq -r .linkTarget)" = /etc ]
  [ "$(echo "$output" | jq -r .name)" = toetc ]
  alive
}

@test "docker cp: the container's /proc, /sys and /dev/pts are neither walked nor written; the whole root copies out" {
  docker run -d --name kfs1 bb:latest sleep 600 >/dev/null
  # the whole root of a running container: its files, /proc and /sys as empty directories
  timeout 120 env DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_BIN" cp kfs1:/ - >"$T/root.tar"
  tar -tf "$T/root.tar" >"$T/root.list"
  grep -qx './bin/busybox' "$T/root.list"
  grep -qx './proc/' "$T/root.list"
  grep -qx './sys/' "$T/root.list"
  [ -z "$(grep -E '^\./(proc|sys|dev/pts)/.' "$T/root.list")" ]
  run docker cp kfs1:/proc/self/status "$T/status"
  [ "$status" -ne 0 ]
  [ ! -e "$T/status" ]
  echo 1 >"$T/one"
  run docker cp "$T/one" kfs1:/proc/sys/
  [ "$status" -ne 0 ]
  run docker cp "$T/one" kfs1:/sys/
  [ "$status" -ne 0 ]
  dput kfs1 /proc "$T/one"
  [ "$status_code" = 403 ]
  alive
}

@test "docker cp: a missing path fails with Docker's message and exit code, kleened answers" {
  docker run -d --name miss1 bb:latest sleep 600 >/dev/null
  run docker cp miss1:/no/such/file "$T/x"
  [ "$status" -eq 1 ]
  [[ "$output" == *"No such container:path"* ]]
  echo x >"$T/f"
  run docker cp "$T/f" miss1:/no/such/dir/
  [ "$status" -ne 0 ]
  run docker cp "$T/f" miss1:/no/such/file
  [ "$status" -ne 0 ]
  [[ "$output" == *"No such container:path: miss1:/no/such"* ]]
  run docker cp nosuchcontainer:/etc/passwd "$T/p"
  [ "$status" -ne 0 ]
  [[ "$output" == *"No such container"* ]]
  run docker cp "$T/f" nosuchcontainer:/tmp/f
  [ "$status" -ne 0 ]
  [[ "$output" == *"No such container"* ]]
  # the endpoints themselves: 404 for a missing path, 400 for a relative one or none
  run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DOCKER_SOCK" "http://localhost/v1.41/containers/miss1/archive?path=/nope"
  [ "$output" = 404 ]
  run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DOCKER_SOCK" "http://localhost/v1.41/containers/miss1/archive?path=etc"
  [ "$output" = 400 ]
  run curl -s -o /dev/null -w '%{http_code}' -I --unix-socket "$DOCKER_SOCK" "http://localhost/v1.41/containers/miss1/archive?path=/nope"
  [ "$output" = 404 ]
  run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DOCKER_SOCK" "http://localhost/v1.41/containers/miss1/archive"
  [ "$output" = 400 ]
  # a large upload the handler refuses before reading it: the answer comes, kleened lives
  head -c $((8 * 1024 * 1024)) /dev/zero >"$T/zeros"
  dput nosuchcontainer /tmp "$T/zeros"
  [ "$status_code" = 404 ]
  dput miss1 /nope "$T/zeros"
  [ "$status_code" = 404 ]
  alive
}

@test "docker cp: an archive with ../ or an absolute name is refused, nothing is written" {
  docker run -d --name bad1 bb:latest sh -c 'mkdir -p /in/deep; sleep 600' >/dev/null
  for _ in $(seq 50); do docker exec bad1 test -d /in/deep && break; sleep 0.1; done
  python3 - "$T" <<'PY'
import io, sys, tarfile
t = sys.argv[1]
def mk(path, names):
    with tarfile.open(path, "w") as tf:
        for n in names:
            data = b"evil\n"
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
mk(t + "/dotdot.tar", ["ok.txt", "../escaped.txt"])
mk(t + "/deep.tar", ["a/../../../escaped2.txt"])
mk(t + "/abs.tar", ["/escaped3.txt"])
PY
  for tarf in dotdot deep abs; do
    dput bad1 /in/deep "$T/$tarf.tar"
    [ "$status_code" = 400 ]
    [[ "$(echo "$body" | jq -r .message)" == *"archive"* ]]
  done
  run docker exec bad1 find / -xdev -name 'escaped*' -o -xdev -name ok.txt
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  # not a tar at all
  head -c 3000 /dev/urandom >"$T/junk"
  dput bad1 /in "$T/junk"
  [ "$status_code" = 400 ]
  # into a file, not a directory
  dput bad1 /etc/passwd "$T/dotdot.tar"
  [ "$status_code" = 400 ]
  # nothing left in the staging directory
  run find "$E2E_DIR/root/copies" -mindepth 1
  [ -z "$output" ]
  alive
}

@test "docker-py: container.get_archive and put_archive" {
  docker run -d --name py1 bb:latest sleep 600 >/dev/null
  run env DOCKER_HOST="unix://$DOCKER_SOCK" python3 - <<'PY'
import io, tarfile, docker
c = docker.from_env().containers.get("py1")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    data = b"from docker-py\n"
    ti = tarfile.TarInfo("hello.txt")
    ti.size = len(data)
    ti.mode = 0o640
    tf.addfile(ti, io.BytesIO(data))
assert c.put_archive("/tmp", buf.getvalue()) is True
bits, stat = c.get_archive("/tmp/hello.txt")
raw = b"".join(bits)
with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
    m = tf.getmember("hello.txt")
    assert tf.extractfile(m).read() == b"from docker-py\n"
    assert m.mode == 0o640, oct(m.mode)
assert stat["name"] == "hello.txt", stat
assert stat["size"] == 15, stat
bits, stat = c.get_archive("/tmp")
assert stat["mode"] & (1 << 31), stat
names = tarfile.open(fileobj=io.BytesIO(b"".join(bits))).getnames()
assert "tmp/hello.txt" in names, names
try:
    c.get_archive("/nope")
    raise SystemExit("no error for a missing path")
except docker.errors.NotFound:
    pass
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = ok ]
  alive
}

@test "docker cp killed mid-way (crash point copy-staged): nothing stays mounted, the start removes the staging" {
  docker create --name crash1 -v crashvol:/data bb:latest cat /tmp/f.txt >/dev/null
  id=$(docker inspect -f '{{.Id}}' crash1 | cut -c1-12)
  restart_kleened copy-staged
  echo staged >"$T/f.txt"
  run docker cp "$T/f.txt" crash1:/tmp/f.txt
  [ "$status" -ne 0 ]
  for _ in $(seq 1 100); do kleened_pid >/dev/null || break; sleep 0.05; done
  grep -q "crash point copy-staged reached" "$E2E_DIR/kleened.log"
  # the upload was staged; the container's layers and volume were mounted in no namespace
  # that survived
  [ -n "$(ls -A "$E2E_DIR/root/copies")" ]
  [ -z "$(grep -l "$E2E_DIR/root/container/$id" /proc/[0-9]*/mountinfo 2>/dev/null)" ]
  [ -z "$(grep -l "$E2E_DIR/root/volumes/crashvol" /proc/[0-9]*/mountinfo 2>/dev/null)" ]
  restart_kleened
  [ ! -e "$E2E_DIR/root/copies" ]
  # and the copy works now, and the container sees it
  docker cp "$T/f.txt" crash1:/tmp/f.txt
  run docker start -a crash1
  [ "$output" = staged ]
}
