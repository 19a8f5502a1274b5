#!/usr/bin/env bats
# The image API (API.md §6 Images, §7.2, §8.4, §8.5): base image creation over the
# /images/create WebSocket from a loopback HTTP server, file:// URLs and host directories,
# the REST endpoints, and failures that must leave no layer, staging directory, mount or row.
load helpers

PY=/usr/bin/python3
WSCLIENT="$BATS_TEST_DIRNAME/wsclient.py"
SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  mkdir -p "$E2E_DIR/srv"
  "$SCRIPTS/mk-busybox-tar" "$E2E_DIR/srv/busybox.tar.gz"
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs"
  head -c 100000 /dev/urandom | gzip >"$E2E_DIR/srv/corrupt.tar.gz"
  $PY - "$E2E_DIR/srv" <<'PY'
import io, sys, tarfile
d = sys.argv[1]
def add(t, name, data=b"x", kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link
    if kind == tarfile.REGTYPE:
        i.size = len(data); t.addfile(i, io.BytesIO(data))
    else:
        t.addfile(i)
with tarfile.open(d + "/dotdot.tar", "w") as t:
    add(t, "ok.txt")
    add(t, "../escaped.txt")
with tarfile.open(d + "/symlink.tar", "w") as t:
    add(t, "etc", kind=tarfile.SYMTYPE, link="/tmp")
    add(t, "etc/kleene-escaped.txt")
PY
  export HTTP_PORT=$((20000 + RANDOM % 20000))
  # not through the in_ns function: $! must be the server itself (ip netns exec execs it);
  # fd 3 closed so that bats does not wait for it
  ip netns exec "$E2E_NS" $PY -m http.server "$HTTP_PORT" --bind 127.0.0.1 \
    --directory "$E2E_DIR/srv" >"$E2E_DIR/http.log" 2>&1 3>&- &
  echo $! >"$E2E_DIR/http.pid"
  for _ in $(seq 1 100); do
    in_ns curl -sf "http://127.0.0.1:$HTTP_PORT/busybox.tar.gz" -o /dev/null && break
    sleep 0.05
  done
  # A server that sends 30% of busybox.tar.gz and then holds the connection until the client
  # goes: a download that is in progress for as long as a test needs.
  cat >"$E2E_DIR/stall.py" <<'PY'
import socket, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
data = open(path, "rb").read()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
def serve(c):
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data[: len(data) * 3 // 10])
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
  export STALL_PORT=$((HTTP_PORT + 1))
  ip netns exec "$E2E_NS" $PY "$E2E_DIR/stall.py" "$STALL_PORT" "$E2E_DIR/srv/busybox.tar.gz" \
    >"$E2E_DIR/stall.log" 2>&1 3>&- &
  echo $! >"$E2E_DIR/stall.pid"
  for _ in $(seq 1 100); do
    in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$STALL_PORT" 2>/dev/null && break
    sleep 0.05
  done
}

teardown_file() {
  for f in http.pid stall.pid; do
    if [ -f "${E2E_DIR:-/nonexistent}/$f" ]; then
      kill "$(cat "$E2E_DIR/$f")" 2>/dev/null || true
      wait "$(cat "$E2E_DIR/$f")" 2>/dev/null || true
    fi
  done
  stop_kleened
}

# The child processes of our kleened (the helper kleene-fetch while it runs), one per line.
kleened_children() { cat /proc/"$(kleened_pid)"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true; }

# ws_create CONFIG: run /images/create; $ws_out has one JSON line per frame, the close last.
ws_create() {
  ws_out=$($PY "$WSCLIENT" "$SOCK" /images/create "$1")
}
close_code() { echo "$ws_out" | tail -1 | jq -r .close_code; }
close_reason() { echo "$ws_out" | tail -1 | jq -r .close_reason; }
close_field() { close_reason | jq -r ".$1"; }
frames() { echo "$ws_out" | jq -r 'select(.frame != null) | .frame'; }

layers_dir() { echo "$E2E_DIR/root/image/layers"; }
state() {
  # layer dirs (staging included), image rows, mounts under the test dir
  ls -A "$(layers_dir)" | sort | tr '\n' ' '
  curl -s --unix-socket "$SOCK" http://localhost/images/list | jq -r '[.[].id] | join(",")'
  grep -c " $E2E_DIR" /proc/self/mountinfo || true
}

@test "create by fetch from a loopback http server" {
  ws_create "{\"method\":\"fetch\",\"url\":\"http://127.0.0.1:$HTTP_PORT/busybox.tar.gz\",\"tag\":\"bb:http\"}"
  echo "$ws_out"
  [ "$(close_code)" = 1000 ]
  [ "$(close_field msg_type)" = closing ]
  [ "$(close_field message)" = "image created" ]
  id=$(close_field data)
  [[ "$id" =~ ^[0-9a-f]{12}$ ]]
  [ "$(echo "$ws_out" | head -1 | jq -r .frame)" = '{"data":"","message":"","msg_type":"starting"}' ]
  frames | grep -qx 'Successfully fetched base system.'
  frames | grep -qx 'Successfully extracted binaries, creating image...'
  frames | grep -Eq '^Extracted [0-9]+ files\.\.\.$'
  frames | grep -Eq '^Fetched [0-9.]+ MB \(100%\)$'
  [ -x "$(layers_dir)/$id/bin/busybox" ]
  cmp /etc/resolv.conf "$(layers_dir)/$id/etc/resolv.conf"
  api GET "/images/$id/inspect"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r '[.name,.tag,.user] | join(" ")')" = "bb http root" ]
  [ "$(echo "$body" | jq -c .cmd)" = '["/bin/sh","/etc/rc"]' ]
  [ "$(echo "$body" | jq -c '[.env,.instructions]')" = '[[],[]]' ]
  [ "$(echo "$body" | jq -r .dataset)" = "$(layers_dir)/$id" ]
  # API.md §5.9 plus our optional entrypoint, exposed_ports and labels (docs/api.md), empty here
  [ "$(echo "$body" | jq -r 'keys | join(",")')" = "cmd,created,dataset,digest,entrypoint,env,exposed_ports,id,instructions,labels,name,names,tag,user,workdir" ]
  [ "$(echo "$body" | jq -c '[.entrypoint,.labels,.exposed_ports]')" = '[[],{},[]]' ]
}

@test "create by fetch of a file:// URL without dns" {
  ws_create "{\"method\":\"fetch\",\"url\":\"file://$E2E_DIR/srv/busybox.tar.gz\",\"tag\":\"bb:file\",\"dns\":false}"
  [ "$(close_code)" = 1000 ]
  id=$(close_field data)
  # the archive's own empty resolv.conf, not the host's
  [ ! -s "$(layers_dir)/$id/etc/resolv.conf" ]
}

@test "create by zfs-copy and zfs-clone of a host directory" {
  ws_create "{\"method\":\"zfs-copy\",\"zfs_dataset\":\"$E2E_DIR/rootfs\",\"tag\":\"bb:copy\",\"update\":true}"
  [ "$(close_code)" = 1000 ]
  frames | grep -qx 'copying dataset into the new image, this can take a while...'
  frames | grep -qx 'update is not supported on this host, skipping...'
  copy=$(close_field data)
  [ -d "$(layers_dir)/$copy" ]
  [ ! -L "$(layers_dir)/$copy" ]
  cmp /etc/resolv.conf "$(layers_dir)/$copy/etc/resolv.conf"
  [ ! -s "$E2E_DIR/rootfs/etc/resolv.conf" ]

  ws_create "{\"method\":\"zfs-clone\",\"zfs_dataset\":\"$E2E_DIR/rootfs\",\"tag\":\"bb:clone\"}"
  [ "$(close_code)" = 1000 ]
  frames | grep -qx 'cloning dataset...'
  clone=$(close_field data)
  [ -L "$(layers_dir)/$clone" ]
  # the host directory is not written to: dns goes to a thin layer on top
  [ ! -s "$E2E_DIR/rootfs/etc/resolv.conf" ]
  top=$(curl -s --unix-socket "$SOCK" "http://localhost/images/$clone/inspect" | jq -r .dataset)
  [ "$top" != "$(layers_dir)/$clone" ]
  cmp /etc/resolv.conf "$top/etc/resolv.conf"

  api DELETE "/images/bb:clone"
  [ "$status_code" = 200 ]
  [ ! -e "$(layers_dir)/$clone" ]
  [ ! -e "$top" ]
  [ -x "$E2E_DIR/rootfs/bin/busybox" ]
}

@test "list is newest first; inspect, tag and their errors" {
  api GET /images/list
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r '[.[].tag] | join(",")')" = "copy,file,http" ]
  api GET /images/testlol:inspect/inspect
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"image not found"}' ]
  api POST "/images/notexist/tag?nametag=x"
  [ "$status_code" = 404 ]
  [ "$body" = '{"message":"image not found"}' ]
  api POST "/images/bb:file/tag"
  [ "$status_code" = 422 ]
  api POST "/images/bb:file/tag?nametag=a:b:c"
  [ "$status_code" = 422 ]
  assert_alive
  # bb:http takes the nametag of bb:copy, which becomes untagged
  copy=$(curl -s --unix-socket "$SOCK" http://localhost/images/bb:copy/inspect | jq -r .id)
  http=$(curl -s --unix-socket "$SOCK" http://localhost/images/bb:http/inspect | jq -r .id)
  api POST "/images/bb:http/tag?nametag=bb:copy"
  [ "$status_code" = 200 ]
  [ "$body" = "{\"id\":\"$http\"}" ]
  api GET "/images/$copy/inspect"
  [ "$(echo "$body" | jq -r '.name + "/" + .tag')" = "/" ]
  api POST "/images/$copy/tag?nametag=newtag"
  [ "$(curl -s --unix-socket "$SOCK" http://localhost/images/newtag:latest/inspect | jq -r .id)" = "$copy" ]
}

@test "remove: in use by a container, by prefix, then no such image" {
  id=$(curl -s --unix-socket "$SOCK" http://localhost/images/newtag/inspect | jq -r .id)
  sqlite3 "$E2E_DIR/root/metadata.sqlite" \
    "INSERT INTO containers (id, image_id, created) VALUES ('c0ffee00beef', '$id', '2024-01-01T00:00:00.000000Z')"
  api DELETE /images/newtag
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "$(printf 'could not remove image %s since it is used for containers:\nc0ffee00beef' "$id")" ]
  api POST "/images/prune?all=true"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r 'index("'"$id"'")')" = null ]
  sqlite3 "$E2E_DIR/root/metadata.sqlite" "DELETE FROM containers"
  # the shortest unique prefix
  ids=$(curl -s --unix-socket "$SOCK" http://localhost/images/list | jq -r '.[].id')
  for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
    p=${id:0:$n}
    [ "$(echo "$ids" | grep -c "^$p")" = 1 ] && break
  done
  api DELETE "/images/$p"
  [ "$status_code" = 200 ]
  [ "$body" = "{\"id\":\"$p\"}" ]
  [ ! -e "$(layers_dir)/$id" ]
  api DELETE "/images/$p"
  [ "$status_code" = 404 ]
  [ "$body" = "$(jq -cn --arg m "Error: No such image: $p"$'\n' '{message:$m}')" ]
}

@test "prune: untagged only, then all" {
  api POST /images/prune
  [ "$status_code" = 422 ]
  # (the prune of the previous test removed every image but the one in use)
  ws_create "{\"method\":\"fetch\",\"url\":\"file://$E2E_DIR/srv/busybox.tar.gz\",\"tag\":\"p:tagged\"}"
  [ "$(close_code)" = 1000 ]
  ws_create "{\"method\":\"zfs-copy\",\"zfs_dataset\":\"$E2E_DIR/rootfs\",\"tag\":\"p:untagged\"}"
  [ "$(close_code)" = 1000 ]
  untagged=$(close_field data)
  api POST "/images/p:untagged/tag?nametag="
  [ "$status_code" = 200 ]
  before=$(curl -s --unix-socket "$SOCK" http://localhost/images/list | jq length)
  api POST "/images/prune?all=false"
  [ "$status_code" = 200 ]
  [ "$body" = "[\"$untagged\"]" ]
  after=$(curl -s --unix-socket "$SOCK" http://localhost/images/list | jq length)
  [ "$after" = $((before - 1)) ]
  api POST "/images/prune?all=true"
  [ "$(echo "$body" | jq length)" = "$after" ]
  api GET /images/list
  [ "$body" = "[]" ]
  [ -z "$(ls -A "$(layers_dir)")" ]
}

fail_case() {
  local config=$1 want=$2
  local before
  before=$(state)
  ws_create "$config"
  echo "$ws_out"
  [ "$(close_code)" = 1011 ]
  [ "$(close_field msg_type)" = error ]
  [[ "$(close_field message)" == "image creation failed: $want"* ]]
  frames | grep -q "^$want"
  [ "$(state)" = "$before" ]
}

@test "failed creates end with 1011 and leave nothing behind" {
  fail_case '{"method":"fetch","url":"http://127.0.0.1:1/busybox.tar.gz"}' "could not fetch file from url"
  fail_case "{\"method\":\"fetch\",\"url\":\"http://127.0.0.1:$HTTP_PORT/missing.tar.gz\"}" "could not fetch file from url"
  fail_case "{\"method\":\"fetch\",\"url\":\"http://127.0.0.1:$HTTP_PORT/corrupt.tar.gz\"}" "could not extract tar archive"
  fail_case "{\"method\":\"fetch\",\"url\":\"http://127.0.0.1:$HTTP_PORT/dotdot.tar\"}" "could not extract tar archive"
  fail_case "{\"method\":\"fetch\",\"url\":\"file://$E2E_DIR/srv/symlink.tar\"}" "could not extract tar archive"
  [ ! -e /tmp/kleene-escaped.txt ]
  [ ! -e "$E2E_DIR/escaped.txt" ]
  [ ! -e "$E2E_DIR/root/image/escaped.txt" ]
  fail_case '{"method":"fetch","url":"ftp://example.com/x.tar"}' "could not fetch file from url"
  fail_case '{"method":"zfs-copy","zfs_dataset":"/zroot/x"}' "invalid dataset"
  fail_case '{"method":"zfs-clone","zfs_dataset":"zroot/kleene_basejail"}' "invalid dataset: /zroot/kleene_basejail is no directory"
  fail_case '{"method":"zfs-clone","zfs_dataset":"zroot/../etc"}' "invalid dataset"
  # the exact frames of the original for an invalid dataset
  [ "$(echo "$ws_out" | jq -c .)" = "$(printf '%s\n' '{"frame":"{\"data\":\"\",\"message\":\"\",\"msg_type\":\"starting\"}"}' '{"frame":"invalid dataset"}' '{"close_code":1011,"close_reason":"{\"data\":\"\",\"message\":\"image creation failed: invalid dataset\",\"msg_type\":\"error\"}"}')" ]
  assert_alive
}

@test "kleened maps neither libcurl nor libarchive, not even after fetches" {
  # the fetches above ran in the helper kleene-fetch, which is gone
  [ -z "$(kleened_children)" ]
  pid=$(kleened_pid)
  ! grep -E '/lib(curl|archive)[.-]' "/proc/$pid/maps" || false
  ! ldd "$KLEENED" | grep -E 'lib(curl|archive)[.-]' || false
  ldd "$BUILD_DIR/src/host/linux/kleene-fetch" >/dev/null
}

@test "a client that goes away mid-download cancels: the helper is killed, nothing is left" {
  before=$(state)
  # frames: starting, "Unpacking ...", "Fetched ... (10%)": then the client closes
  $PY "$WSCLIENT" "$SOCK" /images/create \
    "{\"method\":\"fetch\",\"url\":\"http://127.0.0.1:$STALL_PORT/busybox.tar.gz\",\"tag\":\"bb:gone\"}" \
    --close-after 3 >"$E2E_DIR/gone.out"
  cat "$E2E_DIR/gone.out"
  grep -q '"client_closed": true' "$E2E_DIR/gone.out"
  grep -q 'Fetched' "$E2E_DIR/gone.out"
  for _ in $(seq 1 100); do
    [ "$(state)" = "$before" ] && [ -z "$(kleened_children)" ] && break
    sleep 0.05
  done
  [ "$(state)" = "$before" ]
  [ -z "$(kleened_children)" ]
  grep -q "image create: the client went away, cancelling" "$E2E_DIR/kleened.log"
  assert_alive
}

@test "a helper killed mid-download is a clean error and leaves nothing" {
  before=$(state)
  $PY "$WSCLIENT" "$SOCK" /images/create \
    "{\"method\":\"fetch\",\"url\":\"http://127.0.0.1:$STALL_PORT/busybox.tar.gz\",\"tag\":\"bb:killed\"}" \
    >"$E2E_DIR/killed.out" 3>&- &
  client=$!
  helper=
  for _ in $(seq 1 100); do
    helper=$(kleened_children | head -1)
    [ -n "$helper" ] && grep -q 'Fetched' "$E2E_DIR/killed.out" && break
    sleep 0.05
  done
  [ -n "$helper" ]
  [ "$(basename "$(readlink "/proc/$helper/exe")")" = kleene-fetch ]
  kill -KILL "$helper"
  wait "$client"
  ws_out=$(cat "$E2E_DIR/killed.out")
  echo "$ws_out"
  [ "$(close_code)" = 1011 ]
  [[ "$(close_field message)" == "image creation failed: could not fetch and extract the archive"* ]]
  # the close reason is cut at 123 bytes; the frame before it has the whole message
  frames | grep -qx "could not fetch and extract the archive: kleene-fetch (pid $helper) was killed by signal 9 (Killed)"
  [ "$(state)" = "$before" ]
  [ -z "$(kleened_children)" ]
  assert_alive
}

@test "fetch-auto without debootstrap is a clear error" {
  if command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ]; then
    skip "debootstrap is installed here (the real run needs the network)"
  fi
  fail_case '{"method":"fetch-auto","autotag":true}' "fetch-auto needs debootstrap on this host"
}

@test "invalid config is 1002 invalid parameters; invalid json is 1002 invalid json" {
  ws_create '{"url":"x"}'
  [ "$(close_code)" = 1002 ]
  [ "$(close_reason)" = '{"data":"","message":"invalid parameters","msg_type":"error"}' ]
  [ "$(frames)" = "Missing field: method" ]
  ws_create '{"method":"fetch","dns":"yes"}'
  [ "$(close_code)" = 1002 ]
  [ "$(frames)" = "Invalid boolean. Got: string" ]
  ws_create '{"method":"nope"}'
  [ "$(close_code)" = 1002 ]
  [ "$(frames)" = "Invalid value for enum" ]
  ws_create '{not json'
  [ "$(close_code)" = 1002 ]
  [ "$(close_reason)" = '{"data":"","message":"invalid json","msg_type":"error"}' ]
  assert_alive
}
