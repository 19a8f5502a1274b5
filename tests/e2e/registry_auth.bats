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
  echo "$ws_out" | grep -q "could not pull image: .*registry 127.0.0.1:5001: the credentials of user 'alice' were refused: .*UNAUTHORIZED.*(HTTP 401)"
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

@test "POST /auth checks credentials against the registry: 200, 401 naming the registry and user, 422" {
  api POST /auth '{"server_address":"127.0.0.1:5001","username":"alice","password":"pa:ss w0rd"}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | jq -r .server)" = 127.0.0.1:5001 ]
  api POST /auth '{"server_address":"http://127.0.0.1:5001/v2/","username":"alice","password":"nope"}'
  [ "$status_code" = 401 ]
  echo "$body" | jq -r .message | grep -q "logging in to 127.0.0.1:5001: registry 127.0.0.1:5001: the credentials of user 'alice' were refused"
  api POST /auth '{"server_address":"127.0.0.1:5001","username":"bob","password":"pa:ss w0rd"}'
  [ "$status_code" = 401 ]
  api POST /auth '{"server_address":"not a registry","username":"alice","password":"x"}'
  [ "$status_code" = 422 ]
  api POST /auth '{"server_address":"127.0.0.1:5001"}'
  [ "$status_code" = 422 ]
  # a registry that is not there
  api POST /auth '{"server_address":"127.0.0.1:5999","username":"alice","password":"x"}'
  [ "$status_code" = 502 ]
  ! grep -q nope "$E2E_DIR/kleened.log" || false
}

@test "klee login: checked by kleened, stored as Docker's CLI stores it (other keys kept, 0600); pull and push use it; logout removes it" {
  export DOCKER_CONFIG="$BATS_TEST_TMPDIR/dc"
  mkdir -p "$DOCKER_CONFIG"
  other=$(printf 'bob:x' | base64)
  printf '{"auths":{"other.example:5000":{"auth":"%s"}},"psFormat":"table {{.ID}}","credHelpers":{}}\n' "$other" >"$DOCKER_CONFIG/config.json"
  before=$(sha256sum <"$DOCKER_CONFIG/config.json")
  # a wrong password: refused by the registry, nothing stored
  run bash -c "echo wrong | '$KLEE' --host 'http://$SOCK' login -u alice --password-stdin 127.0.0.1:5001"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "registry 127.0.0.1:5001: the credentials of user 'alice' were refused"
  [ "$(sha256sum <"$DOCKER_CONFIG/config.json")" = "$before" ]
  # no credentials: a pull is refused and says so
  run klee pull 127.0.0.1:5001/team/bb:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'authentication required (Basic), no credentials'
  run bash -c "printf 'pa:ss w0rd\n' | '$KLEE' --host 'http://$SOCK' login -u alice --password-stdin 127.0.0.1:5001"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Login Succeeded'
  f="$DOCKER_CONFIG/config.json"
  [ "$(stat -c %a "$f")" = 600 ]
  [ "$(jq -r '.auths["127.0.0.1:5001"].auth' "$f" | base64 -d)" = 'alice:pa:ss w0rd' ]
  [ "$(jq -r '.auths["other.example:5000"].auth' "$f")" = "$other" ]
  [ "$(jq -r .psFormat "$f")" = 'table {{.ID}}' ]
  [ "$(jq -c .credHelpers "$f")" = '{}' ]
  ! ls "$DOCKER_CONFIG" | grep -q tmp || false
  run klee pull 127.0.0.1:5001/team/bb:v1
  [ "$status" -eq 0 ]
  run klee push 127.0.0.1:5001/team/bb:v1 127.0.0.1:5001/team/pushed:v3
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Pushed 127.0.0.1:5001/team/pushed:v3: sha256:'
  run klee logout 127.0.0.1:5001
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Removing login credentials for 127.0.0.1:5001'
  [ "$(jq -r '.auths["127.0.0.1:5001"]' "$f")" = null ]
  [ "$(jq -r '.auths["other.example:5000"].auth' "$f")" = "$other" ]
  run klee logout 127.0.0.1:5001
  echo "$output" | grep -qx 'Not logged in to 127.0.0.1:5001'
  run klee push 127.0.0.1:5001/team/bb:v1 127.0.0.1:5001/team/pushed:v4
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'no credentials'
  klee rmi 127.0.0.1:5001/team/bb:v1 >/dev/null
}

@test "stored credentials as other tools write them: a key with a scheme and path; a credential helper; a helper that is not installed" {
  export DOCKER_CONFIG="$BATS_TEST_TMPDIR/dc"
  mkdir -p "$DOCKER_CONFIG"
  a=$(printf 'alice:pa:ss w0rd' | base64)
  printf '{"auths":{"https://127.0.0.1:5001/v2/":{"auth":"%s"}}}\n' "$a" >"$DOCKER_CONFIG/config.json"
  run klee pull 127.0.0.1:5001/team/bb:v1
  [ "$status" -eq 0 ]
  klee rmi 127.0.0.1:5001/team/bb:v1 >/dev/null
  # a credential helper (docker-credential-helpers protocol) that keeps them in a file
  bin="$BATS_TEST_TMPDIR/bin"
  mkdir -p "$bin"
  cat >"$bin/docker-credential-kltest" <<'SH'
#!/bin/sh
store="$KLTEST_STORE"
case "$1" in
  store) cat >"$store.new" && mv "$store.new" "$store" ;;
  get) read -r url
       if [ -f "$store" ] && [ "$(jq -r .ServerURL "$store")" = "$url" ]; then jq -c '{Username, Secret}' "$store"
       else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) read -r url; [ -f "$store" ] || { echo "credentials not found in native keychain"; exit 1; }; rm -f "$store" ;;
  *) exit 2 ;;
esac
SH
  chmod +x "$bin/docker-credential-kltest"
  export KLTEST_STORE="$BATS_TEST_TMPDIR/store.json"
  printf '{"credsStore":"kltest","auths":{}}\n' >"$DOCKER_CONFIG/config.json"
  run bash -c "echo 'pa:ss w0rd' | PATH='$bin:$PATH' '$KLEE' --host 'http://$SOCK' login -u alice --password-stdin 127.0.0.1:5001"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Credentials stored in the credential helper docker-credential-kltest'
  [ "$(jq -r .Secret "$KLTEST_STORE")" = 'pa:ss w0rd' ]
  [ "$(jq -r .ServerURL "$KLTEST_STORE")" = 127.0.0.1:5001 ]
  ! grep -q w0rd "$DOCKER_CONFIG/config.json" || false
  PATH="$bin:$PATH" run klee pull 127.0.0.1:5001/team/bb:v1
  [ "$status" -eq 0 ]
  PATH="$bin:$PATH" run klee logout 127.0.0.1:5001
  [ "$status" -eq 0 ]
  [ ! -e "$KLTEST_STORE" ]
  # a helper named for this registry that is not installed: a clear error
  printf '{"credHelpers":{"127.0.0.1:5001":"nothere"}}\n' >"$DOCKER_CONFIG/config.json"
  run klee pull 127.0.0.1:5001/team/bb:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "credential helper 'nothere', but docker-credential-nothere is not installed"
  # a config.json that is not JSON
  echo '{"auths":' >"$DOCKER_CONFIG/config.json"
  run klee pull 127.0.0.1:5001/team/bb:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "config.json: not JSON"
  klee rmi 127.0.0.1:5001/team/bb:v1 >/dev/null
}
