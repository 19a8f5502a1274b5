#!/usr/bin/env bats
# Remote builds (issue 13 item 16): `klee --host http://HOST:PORT build PATH` sends the context
# as a tar stream (context_upload, docs/api.md), without what .dockerignore excludes. klee runs
# in a mount namespace of its own whose context directory (a tmpfs) kleened cannot see, as if
# it were on another machine. The original client's daemon-side path keeps working.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  export TCP_PORT=18$((RANDOM % 900 + 100))
  export EXTRA_LISTENERS="  - address: \"http://127.0.0.1:$TCP_PORT\""
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() { stop_kleened; }

# remote_build SCRIPT: runs SCRIPT with sh in the test's network namespace and a private mount
# namespace in which $CTX is a fresh tmpfs (kleened cannot see what is written there); $K is
# klee talking TCP to kleened.
remote() {
  in_ns unshare -m --propagation private sh -ec "
    CTX=/mnt; mount -t tmpfs none \$CTX
    K='$KLEE --host http://127.0.0.1:$TCP_PORT'
    $1"
}

@test "build over TCP uploads the context: files, subdirectories, links, long names, a big file; .dockerignore honoured" {
  long=$(printf 'd%.0s' $(seq 1 60))/$(printf 'f%.0s' $(seq 1 70)).txt
  run remote "
    mkdir -p \$CTX/sub \$CTX/node_modules/pkg \$CTX/$(dirname "$long")
    printf 'FROM bb\nCOPY . /ctx\nRUN cd /ctx && find . | sort && cat sub/a.txt && wc -c < big.bin && cat $long\n' >\$CTX/Dockerfile
    echo hello >\$CTX/sub/a.txt
    echo long >\$CTX/$long
    head -c 3000000 /dev/urandom >\$CTX/big.bin
    echo junk >\$CTX/node_modules/pkg/index.js
    echo log >\$CTX/debug.log
    printf 'node_modules\n*.log\n' >\$CTX/.dockerignore
    ln -s sub/a.txt \$CTX/link
    \$K build -t remote:1 \$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx './sub/a.txt'
  echo "$output" | grep -qx './link'
  echo "$output" | grep -qx "./$long"
  echo "$output" | grep -qx hello
  echo "$output" | grep -qx long
  echo "$output" | grep -qx 3000000
  ! echo "$output" | grep -q node_modules || false
  ! echo "$output" | grep -q debug.log || false
  [ "${lines[-2]}" = "image created" ]
  # nothing of the upload is left on the daemon's side
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  # the same context again: the build cache is used
  run remote "
    mkdir -p \$CTX/sub; printf 'FROM bb\nCOPY . /ctx\n' >\$CTX/Dockerfile; echo hello >\$CTX/sub/a.txt
    \$K build -t remote:2 \$CTX; \$K build -t remote:2 \$CTX"
  echo "$output"
  [ "$(echo "$output" | grep -c '^--> Using cache')" -eq 1 ]
}

@test "without the upload kleened cannot see the context (what the original does over TCP)" {
  run remote "
    printf 'FROM bb\n' >\$CTX/Dockerfile
    \$K build --no-upload \$CTX"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot open the Dockerfile /mnt/Dockerfile: No such file or directory"* ]]
}

@test "Dockerfile -f inside the context, errors of the uploaded build, and a broken upload" {
  run remote "
    mkdir -p \$CTX/docker
    printf 'FROM bb\nRUN false\n' >\$CTX/docker/Build.file
    \$K build -f docker/Build.file --rm \$CTX"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -qx "line 2: The command '/bin/sh -c false' returned a non-zero code: 1"
  # a client that sends something that is not an archive
  run /usr/bin/python3 "$BATS_TEST_DIRNAME/ws_probe.py" "$SOCK" /images/build \
    --send '{"context":"x","container_config":{},"context_upload":true}' \
    --send-hex 6e6f742061207461722061726368697665 --send-hex ''
  echo "$output"
  [[ "$output" == *"could not unpack the build context"* ]]
  [[ "$output" == *'"close_code": 1011'* ]]
  [[ "$output" == *"failed to receive the build context"* ]]
  [ -z "$(ls -A "$E2E_DIR/root/uploads")" ]
  assert_alive
}

@test "over a UNIX socket klee sends no context unless asked: kleened reads PATH (the original's way)" {
  ctx=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
  printf 'FROM bb\nCOPY a /a\n' >"$ctx/Dockerfile"
  echo x >"$ctx/a"
  received() { grep -c 'build context received' "$E2E_DIR/kleened.log" || true; }
  before=$(received)
  run klee build "$ctx"
  [ "$status" -eq 0 ]
  [ "$(received)" -eq "$before" ]
  run klee build --upload "$ctx"
  [ "$status" -eq 0 ]
  [ "$(received)" -eq $((before + 1)) ]
}
