#!/usr/bin/env bats
# Registry authentication and transport security (issue 10): Debian's docker-registry with
# Basic authentication (an htpasswd file), with Bearer tokens from a token server of this
# file, and over HTTPS with a CA made here; credentials from the Kleene API's `auth` field
# and from `klee login`. Every registry runs inside the test kleened's network namespace.
load helpers

PY=/usr/bin/python3
WSCLIENT="$BATS_TEST_DIRNAME/wsclient.py"
SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  for p in docker-registry umoci skopeo htpasswd openssl; do
    command -v "$p" >/dev/null || skip "$p is not installed (scripts/install-deps)"
  done
  start_kleened
  cd "$E2E_DIR"
  "$SCRIPTS/mk-busybox-rootfs" rootfs >/dev/null
  umoci init --layout L
  umoci new --image L:v1
  umoci unpack --image L:v1 B >/dev/null
  cp -a rootfs/. B/rootfs/
  echo secret-image >B/rootfs/hello
  umoci repack --image L:v1 B
  rm -rf B
  umoci config --image L:v1 --config.cmd /bin/cat --config.cmd /hello
  # Basic: an htpasswd file (bcrypt, as the registry requires)
  mkdir -p basic
  htpasswd -Bbn alice 'pa:ss w0rd' >basic/htpasswd
  start_registry "$E2E_NS" "$E2E_DIR/basic" 127.0.0.1:5001 "" "auth:
  htpasswd:
    realm: kleene-test
    path: $E2E_DIR/basic/htpasswd"
  in_ns skopeo copy -q --dest-tls-verify=false --dest-creds 'alice:pa:ss w0rd' oci:L:v1 \
    docker://127.0.0.1:5001/team/bb:v1
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR/basic"
  stop_kleened
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || true
}

# What the image store holds: layers, blobs and image rows (nothing may be left by a failure).
store_state() {
  echo "$(ls "$E2E_DIR/root/image/layers" | wc -l) $(ls "$E2E_DIR/root/image/blobs/sha256" 2>/dev/null | wc -l) $(curl -s --unix-socket "$SOCK" http://localhost/images/list | jq length)"
}

# ws PATH CONFIG: a WebSocket session; $ws_out has its frames, $ws_close the close frame
ws() {
  ws_out=$($PY "$WSCLIENT" "$SOCK" "$1" "$2")
  ws_close=$(echo "$ws_out" | tail -1)
}

@test "Basic auth: a pull with the API's auth field works; without credentials or with a wrong password: a clear error, nothing left" {
  before=$(store_state)
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1"}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1011 ]
  echo "$ws_out" | grep -q 'registry 127.0.0.1:5001: authentication required (Basic), no credentials'
  [ "$(store_state)" = "$before" ]
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1","auth":{"username":"alice","password":"wrong"}}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1011 ]
  echo "$ws_out" | grep -q 'could not pull image: .*127.0.0.1:5001.*UNAUTHORIZED.*(HTTP 401)'
  [ "$(store_state)" = "$before" ]
  # the password never shows up in kleened's log (debug level) nor in the output
  ! grep -q wrong "$E2E_DIR/kleened.log" || false
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1","auth":{"username":"alice","password":"pa:ss w0rd"}}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1000 ]
  id=$(echo "$ws_close" | jq -r .close_reason | jq -r .data)
  [ -n "$id" ]
  run klee run --rm 127.0.0.1:5001/team/bb:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx secret-image
  ! grep -q 'w0rd' "$E2E_DIR/kleened.log" || false
  klee rmi "$id" >/dev/null
}

@test "credentials the registry cannot take are refused before anything happens, without echoing them" {
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1","auth":{"username":"al:ice","password":"x"}}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1011 ]
  echo "$ws_out" | grep -q "registry credentials: the username contains ':'"
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1","auth":{"username":"alice","password":"a\nb"}}'
  echo "$ws_out" | grep -q "registry credentials: the password contains control characters"
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1","auth":{"password":"x"}}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1002 ]
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1","auth":"alice"}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1002 ]
}

@test "Basic auth: a push with the API's auth field; without credentials it is refused" {
  ws /images/create '{"method":"pull","image":"127.0.0.1:5001/team/bb:v1","auth":{"username":"alice","password":"pa:ss w0rd"}}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1000 ]
  ws /images/push '{"image":"127.0.0.1:5001/team/bb:v1","reference":"127.0.0.1:5001/other/copy:v2"}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1011 ]
  echo "$ws_out" | grep -q 'registry 127.0.0.1:5001: authentication required (Basic), no credentials'
  ws /images/push '{"image":"127.0.0.1:5001/team/bb:v1","reference":"127.0.0.1:5001/other/copy:v2","auth":{"username":"alice","password":"pa:ss w0rd"}}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1000 ]
  digest=$(echo "$ws_close" | jq -r .close_reason | jq -r .data)
  # the registry has it, under the same digest
  got=$(in_ns curl -s -u 'alice:pa:ss w0rd' -o /dev/null -D - \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5001/v2/other/copy/manifests/v2 | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
  [ "$got" = "$digest" ]
  klee rmi 127.0.0.1:5001/team/bb:v1 >/dev/null
}
