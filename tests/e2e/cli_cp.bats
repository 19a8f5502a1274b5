#!/usr/bin/env bats
# Copies into and out of containers over the Kleene API (docs/api.md "Copying files"):
# GET/HEAD/PUT /containers/{id}/archive (the PUT's body streamed, beyond max_body_bytes) and
# `klee container cp` / `klee cp` on them, with docker cp's rules: both directions, a file and
# a directory, to a new name and into a directory, `-` for a tar on stdin/stdout, -a, -L,
# running and stopped containers, errors; nothing lands outside the destination.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  # a small max_body_bytes: the archive upload must not be bounded by it; a TCP listener:
  # klee speaks to it through libcurl
  export TCP_PORT=19$((RANDOM % 900 + 100))
  export EXTRA_LISTENERS="  - address: \"http://127.0.0.1:$TCP_PORT\""
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

@test "klee cp: a file and a directory into a running container, to a new name and into a directory" {
  klee run -d --name c1 bb sleep 600 >/dev/null
  echo "hello file" >"$T/f.txt"
  mkdir -p "$T/d/sub"
  echo one >"$T/d/a"
  echo two >"$T/d/sub/b"
  chmod 0750 "$T/d/sub"
  ln -s a "$T/d/link"
  klee container cp "$T/f.txt" c1:/tmp/
  klee cp "$T/f.txt" c1:/tmp/renamed.txt
  klee cp "$T/d" c1:/tmp
  klee cp "$T/d" c1:/tmp/newdir
  klee cp "$T/d/." c1:/srv
  klee cp "$T/d" c1:/tmp/slashdir/.
  run klee exec c1 cat /tmp/f.txt /tmp/renamed.txt /tmp/d/a /tmp/d/sub/b /tmp/newdir/sub/b /srv/a /tmp/slashdir/a
  [[ "$output" == *$'hello file\nhello file\none\ntwo\ntwo\none\none'* ]]
  run klee exec c1 readlink /tmp/d/link
  [[ "$output" == *$'\na\n'* ]]
  run klee exec c1 stat -c '%u:%g %a' /tmp/d/sub
  [[ "$output" == *"0:0 750"* ]]
  # a file over a file; relative container paths start at /
  echo "second" >"$T/f.txt"
  klee cp "$T/f.txt" c1:tmp/renamed.txt
  run klee exec c1 cat /tmp/renamed.txt
  [[ "$output" == *second* ]]
  # -a keeps the owners
  echo owned >"$T/owned.txt"
  chown 1234:4321 "$T/owned.txt"
  klee cp -a "$T/owned.txt" c1:/tmp/
  klee cp "$T/owned.txt" c1:/tmp/notowned.txt
  run klee exec c1 stat -c '%u:%g' /tmp/owned.txt /tmp/notowned.txt
  [[ "$output" == *$'1234:4321\n0:0'* ]]
  # 3 MiB: far over max_body_bytes (4096 in this file), streamed
  head -c 3145728 /dev/urandom >"$T/big"
  klee cp "$T/big" c1:/tmp/big
  [ "$(csum c1 /tmp/big)" = "$(md5sum <"$T/big" | cut -d' ' -f1)" ]
  # errors: a directory onto a file, a missing directory, a missing parent, no such container
  run klee cp "$T/d" c1:/tmp/f.txt
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot copy a directory to a file: c1:/tmp/f.txt"* ]]
  run klee cp "$T/f.txt" c1:/nonexistent/
  [ "$status" -eq 1 ]
  [[ "$output" == *"the destination directory must exist: c1:/nonexistent/"* ]]
  run klee cp "$T/f.txt" c1:/nonexistent/x
  [ "$status" -eq 1 ]
  [[ "$output" == *"no such directory in container c1: /nonexistent"* ]]
  run klee cp "$T/f.txt" nope:/tmp
  [ "$status" -eq 1 ]
  [[ "$output" == *"container not found"* ]]
  run klee cp "$T/missing" c1:/tmp
  [ "$status" -eq 1 ]
  [[ "$output" == *"$T/missing: No such file or directory"* ]]
  assert_alive
}

@test "klee cp: out of a running container: a file, a directory, new names, contents, links, -L" {
  klee run -d --name c2 bb sh -c 'mkdir -p /srv/d/sub; echo one >/srv/d/a; echo two >/srv/d/sub/b; ln -s a /srv/d/link; ln -s /etc /srv/d/etc; ln -s /srv/d /srv/dl; chmod 750 /srv/d/sub; touch /srv/ready; sleep 600' >/dev/null
  for _ in $(seq 1 100); do [ "$(path_stat c2 /srv/ready | jq -r .type 2>/dev/null)" = file ] && break; sleep 0.05; done
  mkdir -p "$T/out" "$T/out2" "$T/existing" "$T/outside"
  echo canary >"$T/outside/canary"
  touch "$T/marker"
  sleep 0.01
  klee cp c2:/srv/d/a "$T/out/"
  klee cp c2:/srv/d/a "$T/out/new.txt"
  klee container cp c2:/srv/d "$T/out"
  klee cp c2:/srv/d "$T/out/dnew"
  klee cp c2:/srv/d "$T/out/dslash/"
  klee cp c2:/srv/d/. "$T/existing"
  klee cp c2:/srv/dl "$T/out/"
  klee cp -L c2:/srv/dl "$T/out/followed"
  klee cp -L c2:/srv/dl "$T/out2"
  [ "$(cat "$T/out/a")" = one ]
  [ "$(cat "$T/out/new.txt")" = one ]
  [ "$(cat "$T/out/d/sub/b")" = two ]
  [ "$(cat "$T/out/dnew/a")" = one ]
  [ "$(cat "$T/out/dslash/a")" = one ]
  [ "$(cat "$T/existing/sub/b")" = two ]
  [ "$(cat "$T/out/followed/a")" = one ]
  [ "$(cat "$T/out2/dl/a")" = one ]
  [ "$(stat -c %a "$T/out/d/sub")" = 750 ]
  [ "$(readlink "$T/out/d/link")" = a ]
  [ "$(readlink "$T/out/d/etc")" = /etc ]
  [ "$(readlink "$T/out/dl")" = /srv/d ]
  # copying again over what is there: the symlink to /etc is replaced, never written through
  klee cp c2:/srv/d "$T/out"
  [ "$(readlink "$T/out/d/etc")" = /etc ]
  # nothing outside the destinations changed
  run find "$T" -newer "$T/marker" -not -path "$T/out*" -not -path "$T/existing*"
  [ "$output" = "" ]
  [ "$(cat "$T/outside/canary")" = canary ]
  # errors
  run klee cp c2:/srv/d "$T/out/new.txt"
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot copy a directory to a file: $T/out/new.txt"* ]]
  run klee cp c2:/nowhere "$T/x"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no such file or directory in container c2: /nowhere"* ]]
  run klee cp nope:/etc "$T/x"
  [ "$status" -eq 1 ]
  [[ "$output" == *"container not found"* ]]
  run klee cp c2:/srv/d/a "$T/missingdir/"
  [ "$status" -eq 1 ]
  [[ "$output" == *"the destination directory must exist: $T/missingdir/"* ]]
  run klee cp c2:/srv/d/a "$T/missing/sub/x"
  [ "$status" -eq 1 ]
  [[ "$output" == *"$T/missing/sub"* ]]
  [ ! -e "$T/missing" ]
  assert_alive
}

@test "klee cp -: a tar on stdout and on stdin" {
  klee run -d --name c3 bb sh -c 'mkdir -p /srv/d; echo one >/srv/d/a; touch /srv/ready; sleep 600' >/dev/null
  for _ in $(seq 1 100); do [ "$(path_stat c3 /srv/ready | jq -r .type 2>/dev/null)" = file ] && break; sleep 0.05; done
  klee cp c3:/srv/d - >"$T/out.tar"
  run tar -tf "$T/out.tar"
  [ "$output" = $'d/\nd/a' ]
  echo "from stdin" >"$T/f.txt"
  tar -C "$T" -cf - f.txt | klee cp - c3:/tmp
  run klee exec c3 cat /tmp/f.txt
  [[ "$output" == *"from stdin"* ]]
  # gzip on stdin is taken too
  mkdir -p "$T/z"
  echo zipped >"$T/z/zf"
  tar -C "$T/z" -czf - zf | klee cp - c3:/tmp
  run klee exec c3 cat /tmp/zf
  [[ "$output" == *zipped* ]]
  # into a file: refused
  run klee cp - c3:/srv/d/a <"$T/out.tar"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not a directory"* ]]
  assert_alive
}

@test "klee cp: into and out of stopped containers (created, exited)" {
  klee container create --name s1 bb cat /tmp/in.txt >/dev/null
  echo "into a created one" >"$T/in.txt"
  klee cp "$T/in.txt" s1:/tmp/
  klee cp s1:/tmp/in.txt "$T/back.txt"
  [ "$(cat "$T/back.txt")" = "into a created one" ]
  # it starts and sees the file
  klee container start s1 >/dev/null
  for _ in $(seq 1 100); do klee logs s1 2>/dev/null | grep -q "into a created one" && break; sleep 0.05; done
  klee logs s1 | grep -q "into a created one"
  # an exited container
  klee run --name s2 bb sh -c 'mkdir /made; echo made >/made/file' >/dev/null
  klee container wait s2 >/dev/null
  klee cp s2:/made "$T/m"
  [ "$(cat "$T/m/file")" = made ]
  klee cp "$T/in.txt" s2:/made/
  klee cp s2:/made/in.txt "$T/in2.txt"
  [ "$(cat "$T/in2.txt")" = "into a created one" ]
}

@test "klee cp: usage errors (exit 2)" {
  run klee cp a b
  [ "$status" -eq 2 ]
  [[ "$output" == *"one of SRC and DEST must be CONTAINER:PATH"* ]]
  run klee cp a:/x b:/y
  [ "$status" -eq 2 ]
  [[ "$output" == *"copying between containers is not supported"* ]]
  run klee cp a
  [ "$status" -eq 2 ]
  run klee cp
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: klee cp"* ]]
}

@test "klee cp: bash and zsh completion offer local paths and CONTAINER:" {
  klee run -d --name compcp bb sleep 60 >/dev/null
  SRC="$BATS_TEST_DIRNAME/../.."
  run env PATH="$BUILD_DIR/src/cli:$PATH" bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _klee; printf "%s\n" "${COMPREPLY[@]}"' _ "$SRC/etc/completion/klee.bash" klee --host "http://$SOCK" cp comp
  [ "$output" = "compcp:" ]
  command -v zsh >/dev/null || skip "zsh is not installed (scripts/install-deps)"
  run env PATH="$BUILD_DIR/src/cli:$PATH" zsh -f -c 'compadd() { while [[ $1 == -* && $1 != -- ]]; do [[ $1 == -S ]] && shift; shift; done; [[ $1 == -- ]] && shift; print -l -- "$@" }; _files() { print FILES }; f=$1; shift; words=("$@"); CURRENT=$#; source $f' _ "$SRC/etc/completion/_klee" klee --host "http://$SOCK" cp ''
  [ "$output" = $'FILES\ncompcp:' ]
}

@test "klee cp over TCP (libcurl): both ways, a refusal, a missing path" {
  klee run -d --name t1 bb sleep 600 >/dev/null
  K() { in_ns "$KLEE" --host "http://127.0.0.1:$TCP_PORT" "$@"; }
  mkdir -p "$T/d/sub" "$T/back"
  echo one >"$T/d/a"
  head -c 2000000 /dev/urandom >"$T/d/sub/big"
  K cp "$T/d" t1:/tmp/
  [ "$(csum t1 /tmp/d/sub/big)" = "$(md5sum <"$T/d/sub/big" | cut -d' ' -f1)" ]
  K cp t1:/tmp/d "$T/back"
  cmp "$T/d/sub/big" "$T/back/d/sub/big"
  [ "$(cat "$T/back/d/a")" = one ]
  run K cp "$T/d" t1:/etc/passwd
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot copy a directory to a file"* ]]
  run K cp t1:/nowhere "$T/x"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no such file or directory in container t1: /nowhere"* ]]
  run K cp "$T/d/a" t1:/nowhere/x
  [ "$status" -eq 1 ]
  [[ "$output" == *"no such directory in container t1: /nowhere"* ]]
  assert_alive
}

@test "klee cp: a local file that fails mid-copy cuts the upload, nothing lands in the container" {
  klee run -d --name w1 bb sleep 600 >/dev/null
  mkdir -p "$T/src"
  head -c 300000 /dev/urandom >"$T/src/a"
  # a sysfs file says it has 4096 bytes and gives a few: the walk fails after "a" was sent
  touch "$T/src/z"
  mount --bind /sys/kernel/uevent_seqnum "$T/src/z"
  run klee cp "$T/src" w1:/tmp/
  umount "$T/src/z"
  [ "$status" -eq 1 ]
  [[ "$output" == *"changed while it was being sent"* ]]
  api GET '/containers/w1/archive?path=/tmp/src'
  [ "$status_code" = 404 ]
  # kleened took the cut upload as one (its staging is gone) and answers
  [ -z "$(ls -A "$E2E_DIR/root/copies" 2>/dev/null)" ]
  assert_alive
}
