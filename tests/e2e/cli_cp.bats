#!/usr/bin/env bats
# Copies into and out of containers over the Kleene API (docs/api.md "Copying files"):
# GET/HEAD/PUT /containers/{id}/archive (the PUT's body streamed, beyond max_body_bytes) and
# `klee container cp` / `klee cp` on them, with docker cp's rules: both directions, a file and
# a directory, to a new name and into a directory, `-` for a tar on stdin/stdout, -a, -L,
# running and stopped containers, errors; nothing lands outside the destination.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  # a small max_body_bytes: the archive upload must not be bounded by it
  EXTRA_TOP='max_body_bytes: 4096' start_kleened
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
  klee container prune -f >/dev/null 2>&1 || api POST /containers/prune
  rm -rf "$T"
}

# the decoded X-Kleene-Path-Stat of a HEAD of CONTAINER PATH
path_stat() {
  curl -s -I --unix-socket "$SOCK" "http://localhost/containers/$1/archive?path=$2" |
    tr -d '\r' | sed -n 's/^X-Kleene-Path-Stat: //ip' | base64 -d
}

# the md5 of a file in a running container (klee exec also prints its own lines)
csum() { klee exec "$1" md5sum "$2" | awk 'NF == 2 && $2 == "'"$2"'" {print $1}'; }

# aput CONTAINER PATH FILE [QUERY] -> $status_code and $body (a streamed, chunked upload)
aput() {
  local out
  out=$(curl -s -X PUT --unix-socket "$SOCK" -H 'Content-Type: application/x-tar' \
    -H 'Transfer-Encoding: chunked' --data-binary "@$3" -w '\n%{http_code}' \
    "http://localhost/containers/$1/archive?path=$2${4:-}")
  status_code=${out##*$'\n'}
  body=${out%$'\n'*}
}

@test "API: HEAD gives the stat, GET a tar of the path, PUT a tar into a directory" {
  klee run -d --name a1 bb sh -c 'mkdir -p /srv/d; echo hi >/srv/d/f; ln -s d /srv/l; sleep 600' >/dev/null
  for _ in $(seq 1 100); do [ "$(path_stat a1 /srv/l | jq -r .type 2>/dev/null)" = symlink ] && break; sleep 0.05; done
  st=$(path_stat a1 /srv/d/f)
  [ "$(echo "$st" | jq -r .name)" = f ]
  [ "$(echo "$st" | jq -r .type)" = file ]
  [ "$(echo "$st" | jq -r .size)" = 3 ]
  [ "$(echo "$st" | jq -r '.mode % 4096')" = 420 ]
  [ "$(echo "$st" | jq -r .link_target)" = null ]
  st=$(path_stat a1 /srv/l)
  [ "$(echo "$st" | jq -r .type)" = symlink ]
  [ "$(echo "$st" | jq -r .link_target)" = /srv/d ]
  [ "$(path_stat a1 /srv/l/ | jq -r .type)" = directory ]
  # GET: a tar named from the base name
  curl -s -o "$T/out.tar" -D "$T/head" --unix-socket "$SOCK" "http://localhost/containers/a1/archive?path=/srv/d"
  grep -qi '^Content-Type: application/x-tar' "$T/head"
  grep -qi '^X-Kleene-Path-Stat: ' "$T/head"
  run tar -tf "$T/out.tar"
  [ "$output" = $'d/\nd/f' ]
  # PUT: a tar larger than max_body_bytes (4096 here), chunked
  mkdir -p "$T/up"
  head -c 300000 /dev/urandom >"$T/up/big"
  tar -C "$T/up" -cf "$T/up.tar" big
  aput a1 /srv/d "$T/up.tar"
  [ "$status_code" = 200 ]
  [ "$(csum a1 /srv/d/big)" = "$(md5sum <"$T/up/big" | cut -d' ' -f1)" ]
  # and with Content-Length (curl's default without the chunked header), gzip-compressed
  gzip -c "$T/up.tar" >"$T/up.tgz"
  out=$(curl -s -X PUT --unix-socket "$SOCK" --data-binary "@$T/up.tgz" -w '\n%{http_code}' \
    "http://localhost/containers/a1/archive?path=/tmp")
  [ "${out##*$'\n'}" = 200 ]
  [ "$(csum a1 /tmp/big)" = "$(md5sum <"$T/up/big" | cut -d' ' -f1)" ]
  # the other routes still refuse a large body
  api POST /volumes/create "{\"name\":\"v$(head -c 5000 /dev/zero | tr '\0' x)\"}"
  [ "$status_code" = 413 ]
  assert_alive
}

@test "API: errors in the Kleene shape" {
  klee container create --name a2 bb true >/dev/null
  api GET '/containers/nope/archive?path=/etc'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "container not found" ]
  api GET '/containers/a2/archive?path=/nowhere'
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "no such file or directory in container a2: /nowhere" ]
  run curl -s -o /dev/null -w '%{http_code}' -I --unix-socket "$SOCK" "http://localhost/containers/a2/archive?path=/nowhere"
  [ "$output" = 404 ]
  api GET '/containers/a2/archive'
  [ "$status_code" = 422 ]
  echo "$body" | jq -e '.errors[0].source.pointer == "/path"' >/dev/null || { echo "$body"; false; }
  api GET '/containers/a2/archive?path=etc'
  [ "$status_code" = 422 ]
  [ "$(echo "$body" | jq -r .message)" = "invalid path 'etc': it must be absolute" ]
  api PUT '/containers/a2/archive?path=/etc&copy_uid_gid=maybe'
  [ "$status_code" = 422 ]
  # a hostile archive: refused, nothing written
  python3 - "$T/evil.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    i = tarfile.TarInfo("../../escaped"); data = b"x"; i.size = 1
    t.addfile(i, io.BytesIO(data))
EOF
  aput a2 /tmp "$T/evil.tar"
  [ "$status_code" = 422 ]
  echo "$body" | jq -e .message >/dev/null
  # not an archive
  echo "plain text" >"$T/plain"
  aput a2 /tmp "$T/plain"
  [ "$status_code" = 422 ]
  # into a file: 409; into a missing directory: 404
  tar -C "$T" -cf "$T/ok.tar" plain
  aput a2 /etc/passwd "$T/ok.tar"
  [ "$status_code" = 409 ]
  aput a2 /nowhere "$T/ok.tar"
  [ "$status_code" = 404 ]
  [ "$(echo "$body" | jq -r .message)" = "no such directory in container a2: /nowhere" ]
  aput nope /tmp "$T/ok.tar"
  [ "$status_code" = 404 ]
  assert_alive
}
