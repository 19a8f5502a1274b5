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
  # kleened's registry settings: a CA directory of the test, two insecure entries
  export CERTS_D=$(mktemp -d /tmp/kleene-certsd.XXXXXX)
  EXTRA_TOP="registry_certs_dir: $CERTS_D
insecure_registries: [\"192.0.2.20:5000\", \"198.51.100.0/24\"]"
  start_kleened
  # addresses of the namespace that are not loopback (plain HTTP is not implied for them)
  for a in 192.0.2.10 192.0.2.20 198.51.100.7; do in_ns ip addr add "$a/32" dev lo; done
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
  # Bearer: a token server of this file (JWTs signed with a key made here, its certificate
  # the registry's rootcertbundle), alice may pull and push, reader only pull
  mkdir -p token
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kleene-token-signer \
    -keyout token/key.pem -out token/cert.pem 2>/dev/null
  ip netns exec "$E2E_NS" "$PY" "$BATS_TEST_DIRNAME/token_server.py" 127.0.0.1 5002 \
    token/key.pem token/cert.pem kleene-registry kleene-issuer \
    'alice|pa:ss w0rd|pull+push;reader|rpw|pull;carol|cpw|pull+push|carol/' 2>token/server.log 3>&- &
  echo $! >token/server.pid
  for _ in $(seq 1 100); do
    in_ns curl -s -o /dev/null http://127.0.0.1:5002/token && break
    sleep 0.05
  done
  start_registry "$E2E_NS" "$E2E_DIR/token" 127.0.0.1:5003 "" "auth:
  token:
    realm: http://127.0.0.1:5002/token
    service: kleene-registry
    issuer: kleene-issuer
    rootcertbundle: $E2E_DIR/token/cert.pem"
  in_ns skopeo copy -q --dest-tls-verify=false --dest-creds 'alice:pa:ss w0rd' oci:L:v1 \
    docker://127.0.0.1:5003/team/bb:v1
  # HTTPS: a CA made here, a certificate for 192.0.2.10, Basic authentication too; listening
  # on every address of the namespace (198.51.100.7 does not match the certificate)
  mkdir -p tls
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kleene-test-registry-ca \
    -keyout tls/ca.key -out tls/ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=192.0.2.10 -keyout tls/server.key \
    -out tls/server.csr 2>/dev/null
  printf 'subjectAltName=IP:192.0.2.10\n' >tls/san.ext
  openssl x509 -req -in tls/server.csr -CA tls/ca.pem -CAkey tls/ca.key -CAcreateserial -days 1 \
    -extfile tls/san.ext -out tls/server.pem 2>/dev/null
  start_registry "$E2E_NS" "$E2E_DIR/tls" 0.0.0.0:5443 "  tls:
    certificate: $E2E_DIR/tls/server.pem
    key: $E2E_DIR/tls/server.key" "auth:
  htpasswd:
    realm: kleene-test
    path: $E2E_DIR/basic/htpasswd"
  in_ns skopeo copy -q --dest-tls-verify=false --dest-creds 'alice:pa:ss w0rd' oci:L:v1 \
    docker://192.0.2.10:5443/team/bb:v1
  # mutual TLS: a registry on 192.0.2.10:5444 that wants a client certificate from the CA
  mkdir -p tls/client
  openssl req -newkey rsa:2048 -nodes -subj /CN=kleene-client -keyout tls/client/client.key \
    -out tls/client.csr 2>/dev/null
  openssl x509 -req -in tls/client.csr -CA tls/ca.pem -CAkey tls/ca.key -CAcreateserial -days 1 \
    -out tls/client/client.cert 2>/dev/null
  mkdir -p mtls
  start_registry "$E2E_NS" "$E2E_DIR/mtls" 192.0.2.10:5444 "  tls:
    certificate: $E2E_DIR/tls/server.pem
    key: $E2E_DIR/tls/server.key
    clientcas:
      - $E2E_DIR/tls/ca.pem" "" "--cert $E2E_DIR/tls/client/client.cert --key $E2E_DIR/tls/client/client.key"
  in_ns skopeo copy -q --dest-tls-verify=false --dest-cert-dir "$E2E_DIR/tls/client" oci:L:v1 \
    docker://192.0.2.10:5444/team/bb:v1
  # plain HTTP without authentication, on every address of the namespace
  mkdir -p plain
  start_registry "$E2E_NS" "$E2E_DIR/plain" 0.0.0.0:5000
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:v1 docker://127.0.0.1:5000/team/bb:v1
}

teardown_file() {
  if [ -n "${E2E_DIR:-}" ]; then
    for r in basic token tls mtls plain; do stop_registry "$E2E_DIR/$r"; done
    if [ -f "$E2E_DIR/token/server.pid" ]; then
      kill "$(cat "$E2E_DIR/token/server.pid")" 2>/dev/null || true
    fi
  fi
  stop_kleened
  [ -n "${CERTS_D:-}" ] && rm -rf "$CERTS_D"
  return 0
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || true
  # each test starts from an empty image store (equal images of different registries are
  # one image: a leftover would change what the next test counts)
  api POST '/images/prune?all=true'
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

@test "Bearer tokens from a token server: anonymous refused, login checked at the token server, pull and push with the stored credentials, a pull-only user cannot push" {
  export DOCKER_CONFIG="$BATS_TEST_TMPDIR/dc"
  before=$(store_state)
  run klee pull 127.0.0.1:5003/team/bb:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'registry 127.0.0.1:5003: anonymous is not allowed to do this'
  [ "$(store_state)" = "$before" ]
  run bash -c "echo wrong | '$KLEE' --host 'http://$SOCK' login -u alice --password-stdin 127.0.0.1:5003"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "registry 127.0.0.1:5003: the credentials of user 'alice' were refused: token server: UNAUTHORIZED: incorrect username or password (HTTP 401)"
  [ ! -e "$DOCKER_CONFIG/config.json" ]
  run bash -c "echo 'pa:ss w0rd' | '$KLEE' --host 'http://$SOCK' login -u alice --password-stdin 127.0.0.1:5003"
  [ "$status" -eq 0 ]
  # the login asked for a token without a repository scope
  grep -q 'token: user=alice scope=- ' "$E2E_DIR/token/server.log"
  run klee pull 127.0.0.1:5003/team/bb:v1
  [ "$status" -eq 0 ]
  grep -q 'token: user=alice scope=repository:team/bb:pull granted=.*"actions": \["pull"\]' "$E2E_DIR/token/server.log"
  run klee run --rm 127.0.0.1:5003/team/bb:v1
  echo "$output" | grep -qx secret-image
  run klee push 127.0.0.1:5003/team/bb:v1 127.0.0.1:5003/team/copy:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Pushed 127.0.0.1:5003/team/copy:v1: sha256:'
  # mounted from team/bb: the token asked for pull there too
  echo "$output" | grep -q 'layer 1/2 sha256:.*: mounted'
  grep -q 'token: user=alice scope=repository:team/copy:pull,push' "$E2E_DIR/token/server.log"
  # reader: pull yes, push no
  run bash -c "echo rpw | '$KLEE' --host 'http://$SOCK' login -u reader --password-stdin 127.0.0.1:5003"
  [ "$status" -eq 0 ]
  run klee pull 127.0.0.1:5003/team/copy:v1
  [ "$status" -eq 0 ]
  # (the pull of the same image gave it the name team/copy:v1: one name per image)
  run klee push 127.0.0.1:5003/team/copy:v1 127.0.0.1:5003/team/copy:v2
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "registry 127.0.0.1:5003: user 'reader' is not allowed to do this"
  # no password in kleened's log or the token server's
  ! grep -q 'w0rd\|rpw' "$E2E_DIR/kleened.log" || false
  ! grep -q 'w0rd\|rpw' "$E2E_DIR/token/server.log" || false
  # carol may only touch carol/*: pushing team/copy's image there cannot mount its blobs from
  # team/copy (no pull there), so they are uploaded
  run bash -c "echo cpw | '$KLEE' --host 'http://$SOCK' login -u carol --password-stdin 127.0.0.1:5003"
  [ "$status" -eq 0 ]
  run klee push 127.0.0.1:5003/team/copy:v1 127.0.0.1:5003/carol/app:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'layer 1/2 sha256:.*: uploaded'
  grep -q 'no mount from team/copy' "$E2E_DIR/kleened.log"
  run klee pull 127.0.0.1:5003/team/copy:v1
  [ "$status" -eq 1 ]
}

@test "HTTPS with a CA made here: refused until <registry_certs_dir>/<host:port>/ca.crt exists (the error says so), then pull, login and push; nothing left by the failure" {
  export DOCKER_CONFIG="$BATS_TEST_TMPDIR/dc"
  auth='"auth":{"username":"alice","password":"pa:ss w0rd"}'
  before=$(store_state)
  ws /images/create "{\"method\":\"pull\",\"image\":\"192.0.2.10:5443/team/bb:v1\",$auth}"
  [ "$(echo "$ws_close" | jq .close_code)" = 1011 ]
  echo "$ws_out" | grep -q "could not pull image: .*registry 192.0.2.10:5443: .*certificate"
  echo "$ws_out" | grep -qF "kleened trusts the system's CAs and $CERTS_D/192.0.2.10:5443/*.crt"
  [ "$(store_state)" = "$before" ]
  api POST /auth '{"server_address":"192.0.2.10:5443","username":"alice","password":"pa:ss w0rd"}'
  [ "$status_code" = 502 ]
  # the CA in place: no restart needed
  mkdir -p "$CERTS_D/192.0.2.10:5443"
  cp "$E2E_DIR/tls/ca.pem" "$CERTS_D/192.0.2.10:5443/ca.crt"
  run bash -c "echo 'pa:ss w0rd' | '$KLEE' --host 'http://$SOCK' login -u alice --password-stdin 192.0.2.10:5443"
  [ "$status" -eq 0 ]
  run klee pull 192.0.2.10:5443/team/bb:v1
  [ "$status" -eq 0 ]
  run klee push 192.0.2.10:5443/team/bb:v1 192.0.2.10:5443/team/tls-copy:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Pushed 192.0.2.10:5443/team/tls-copy:v1: sha256:'
  # it really went over HTTPS: the registry refuses plain HTTP
  ! grep -q "going on without verifying" "$E2E_DIR/kleened.log" || false
  in_ns curl -s --cacert "$E2E_DIR/tls/ca.pem" -u 'alice:pa:ss w0rd' -o /dev/null -w '%{http_code}' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    https://192.0.2.10:5443/v2/team/tls-copy/manifests/v1 | grep -qx 200
  klee rmi 192.0.2.10:5443/team/bb:v1 >/dev/null
  rm -rf "$CERTS_D/192.0.2.10:5443"
}

@test "insecure registries: plain HTTP only for those the config lists (exactly or by IP prefix), HTTPS without verification for a listed one whose certificate does not verify" {
  before=$(store_state)
  # listed exactly: plain HTTP
  run klee pull 192.0.2.20:5000/team/bb:v1
  [ "$status" -eq 0 ]
  klee rmi 192.0.2.20:5000/team/bb:v1 >/dev/null
  # the same registry under an address that is not listed: refused, and the error says why
  run klee pull 192.0.2.10:5000/team/bb:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'registry 192.0.2.10:5000: .*(plain HTTP is only used for loopback registries and insecure ones)'
  [ "$(store_state)" = "$before" ]
  # listed by prefix (198.51.100.0/24): the TLS registry, whose certificate is not for this
  # address, is used without verifying it (a warning in kleened's log)
  ws /images/create '{"method":"pull","image":"198.51.100.7:5443/team/bb:v1","auth":{"username":"alice","password":"pa:ss w0rd"}}'
  [ "$(echo "$ws_close" | jq .close_code)" = 1000 ]
  grep -q 'registry 198.51.100.7:5443: .*an insecure registry: going on without verifying it' "$E2E_DIR/kleened.log"
  klee rmi 198.51.100.7:5443/team/bb:v1 >/dev/null
  # push to a listed plain registry
  klee pull 127.0.0.1:5000/team/bb:v1 >/dev/null
  run klee push 127.0.0.1:5000/team/bb:v1 192.0.2.20:5000/team/pushed:v1
  [ "$status" -eq 0 ]
  run klee push 127.0.0.1:5000/team/bb:v1 192.0.2.10:5000/team/pushed:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'plain HTTP is only used for loopback registries and insecure ones'
  klee rmi 127.0.0.1:5000/team/bb:v1 >/dev/null
}

@test "a registry that wants a client certificate: refused without one, works with NAME.cert/NAME.key beside ca.crt (Docker's layout); a .cert without its key, or a .key without its .cert, is an error naming the file (as Docker's)" {
  d="$CERTS_D/192.0.2.10:5444"
  mkdir -p "$d"
  cp "$E2E_DIR/tls/ca.pem" "$d/ca.crt"
  before=$(store_state)
  run klee pull 192.0.2.10:5444/team/bb:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'could not pull image: .*registry 192.0.2.10:5444'
  [ "$(store_state)" = "$before" ]
  cp "$E2E_DIR/tls/client/client.cert" "$d/a.cert" # no a.key
  cp "$E2E_DIR/tls/client/client.cert" "$d/client.cert"
  cp "$E2E_DIR/tls/client/client.key" "$d/client.key"
  run klee pull 192.0.2.10:5444/team/bb:v1
  [ "$status" -eq 1 ]
  echo "$output" | grep -qF "registry 192.0.2.10:5444: the client certificate $d/a.cert has no key a.key beside it"
  [ "$(store_state)" = "$before" ]
  mv "$d/a.cert" "$d/a.crt.off"
  cp "$E2E_DIR/tls/client/client.key" "$d/z.key" # no z.cert
  api POST /auth '{"server_address":"192.0.2.10:5444","username":"u","password":"p"}'
  echo "$body" | grep -qF "the key $d/z.key has no client certificate z.cert beside it"
  rm "$d/z.key" "$d/a.crt.off"
  run klee pull 192.0.2.10:5444/team/bb:v1
  [ "$status" -eq 0 ]
  run klee run --rm 192.0.2.10:5444/team/bb:v1
  echo "$output" | grep -qx secret-image
  run klee push 192.0.2.10:5444/team/bb:v1 192.0.2.10:5444/team/mtls-copy:v1
  [ "$status" -eq 0 ]
  rm -rf "$d"
}

@test "every *.crt of <registry_certs_dir>/<host:port>/ is a CA (Docker's rule, not only ca.crt): pull, login and push with the CA under another name beside an unrelated one" {
  d="$CERTS_D/192.0.2.10:5443"
  mkdir -p "$d"
  # an unrelated CA first by name, the registry's under a name of its own, no ca.crt
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kleene-other-ca \
    -keyout "$BATS_TEST_TMPDIR/other.key" -out "$d/a-other.crt" 2>/dev/null
  cp "$E2E_DIR/tls/ca.pem" "$d/test-registry.crt"
  auth='"auth":{"username":"alice","password":"pa:ss w0rd"}'
  ws /images/create "{\"method\":\"pull\",\"image\":\"192.0.2.10:5443/team/bb:v1\",$auth}"
  echo "$ws_out"
  [ "$(echo "$ws_close" | jq .close_code)" = 1000 ]
  api POST /auth '{"server_address":"192.0.2.10:5443","username":"alice","password":"pa:ss w0rd"}'
  [ "$status_code" = 200 ]
  ws /images/push "{\"image\":\"192.0.2.10:5443/team/bb:v1\",\"reference\":\"192.0.2.10:5443/team/crt-copy:v1\",$auth}"
  [ "$(echo "$ws_close" | jq .close_code)" = 1000 ]
  # the CA alone is what made it work: with only the unrelated one, refused
  rm "$d/test-registry.crt"
  api POST /auth '{"server_address":"192.0.2.10:5443","username":"alice","password":"pa:ss w0rd"}'
  [ "$status_code" = 502 ]
  ! grep -q "registry 192.0.2.10:5443: .*going on without verifying" "$E2E_DIR/kleened.log" || false
  rm -rf "$d"
}

@test "klee login on a terminal: asks for the username and the password, the password not echoed" {
  export DOCKER_CONFIG="$BATS_TEST_TMPDIR/dc"
  run timeout 40 /usr/bin/python3 "$BATS_TEST_DIRNAME/pty_session.py" 24 100 \
    'expect:Username: ' 'send:alice\r' 'expect:Password: ' 'send:pa:ss w0rd\r' \
    'expect:Login Succeeded' -- "$KLEE" --host "http://$SOCK" login 127.0.0.1:5001
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Login Succeeded'
  # the username was echoed, the password was not
  echo "$output" | grep -q alice
  ! echo "$output" | grep -q 'w0rd' || false
  [ "$(jq -r '.auths["127.0.0.1:5001"].auth' "$DOCKER_CONFIG/config.json" | base64 -d)" = 'alice:pa:ss w0rd' ]
}

@test "klee build FROM a registry that wants credentials: klee sends the stored ones of the Dockerfile's registries (ImageBuildConfig registry_auth); none stored: the pull is refused" {
  export DOCKER_CONFIG="$BATS_TEST_TMPDIR/dc"
  ctx="$BATS_TEST_TMPDIR/ctx"
  mkdir -p "$ctx"
  printf 'FROM 127.0.0.1:5001/team/bb:v1 AS base\nRUN cp /hello /copied\nFROM base\nCOPY --from=base /copied /again\n' >"$ctx/Dockerfile"
  run klee build -t built:v1 "$ctx"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'authentication required (Basic), no credentials'
  run bash -c "echo 'pa:ss w0rd' | '$KLEE' --host 'http://$SOCK' login -u alice --password-stdin 127.0.0.1:5001"
  [ "$status" -eq 0 ]
  run klee build -t built:v1 "$ctx"
  [ "$status" -eq 0 ]
  run klee run --rm built:v1 cat /again
  echo "$output" | grep -qx secret-image
  ! grep -q 'w0rd' "$E2E_DIR/kleened.log" || false

}
