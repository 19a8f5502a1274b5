#!/usr/bin/env bats
# kleene-fetch's exit is checked against its result (docs/image-fetch.md "The helper's
# exit"): kleened runs a wrapper (KLEENE_LIBEXEC_DIR) around the real helper that, while a
# flag file exists, ends with another status after the helper sent its result. A success
# followed by status 23 (LeakSanitizer's) fails the operation and leaves nothing; an error
# followed by status 7 keeps the error; both are logged at warn level.
load helpers
load registry_helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  require_tools docker-registry umoci skopeo
  WRAP_DIR=$(mktemp -d /tmp/kleene-fetchwrap.XXXXXX)
  export WRAP_DIR
  real="$BUILD_DIR/src/host/linux/kleene-fetch"
  [ -x "$real" ] || skip "no kleene-fetch in $BUILD_DIR"
  # the helper's environment is kleened's minimal one: the paths are written into the script
  cat >"$WRAP_DIR/kleene-fetch" <<EOF
#!/bin/sh
"$real" "\$@"
rc=\$?
if [ -e "$WRAP_DIR/flag" ]; then
  [ \$rc -eq 0 ] && exit 23
  exit 7
fi
exit \$rc
EOF
  chmod 755 "$WRAP_DIR/kleene-fetch"
  export KLEENE_LIBEXEC_DIR="$WRAP_DIR"
  start_kleened
  unset KLEENE_LIBEXEC_DIR
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  busybox_layout v1
  "$SCRIPTS/mk-busybox-tar" busybox.tar
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:v1 docker://127.0.0.1:5000/team/bb:v1
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
  [ -n "${WRAP_DIR:-}" ] && rm -rf "$WRAP_DIR"
  return 0
}

teardown() {
  rm -f "$WRAP_DIR/flag"
  api POST '/images/prune?all=true'
}

# layers, blobs, image rows
store_state() {
  echo "$(ls "$E2E_DIR/root/image/layers" | wc -l) $(ls "$E2E_DIR/root/image/blobs/sha256" 2>/dev/null | wc -l) $(curl -s --unix-socket "$SOCK" http://localhost/images/list | jq length)"
}

@test "a registry pull whose helper reports success, then exits 23: the pull fails, nothing is left, a warning names the status; without the flag it works" {
  before=$(store_state)
  touch "$WRAP_DIR/flag"
  run klee pull 127.0.0.1:5000/team/bb:v1
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "reported success, then exited with status 23: its work is not trusted"
  [ "$(store_state)" = "$before" ]
  grep -q "kleene-fetch (pid [0-9]*) reported success, then exited with status 23: not trusting its work" "$E2E_DIR/kleened.log"
  assert_alive
  rm "$WRAP_DIR/flag"
  run klee pull 127.0.0.1:5000/team/bb:v1
  [ "$status" -eq 0 ]
}

@test "image create fetch: success then status 23 fails and leaves nothing; an error then status 7: the helper's own error, and a warning" {
  before=$(store_state)
  touch "$WRAP_DIR/flag"
  run klee image create -t bb:1 fetch "file://$E2E_DIR/busybox.tar"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "its work is not trusted"
  [ "$(store_state)" = "$before" ]
  run klee image create -t bb:1 fetch "file://$E2E_DIR/nonexistent.tar"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "could not fetch file from url"
  ! echo "$output" | grep -q "status 7" || false
  grep -q "kleene-fetch (pid [0-9]*) reported an error, then exited with status 7" "$E2E_DIR/kleened.log"
  [ "$(store_state)" = "$before" ]
}
