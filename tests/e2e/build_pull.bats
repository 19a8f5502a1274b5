#!/usr/bin/env bats
# Builds FROM a registry image (issue 10 item 4, docs/dockerfile.md "FROM a registry image"):
# a FROM image kleened lacks is pulled through the engine's pull, its progress in the build's
# output; --pull (klee) / "pull" (Kleene API) / pull=1 (Docker's /build) looks at the registry
# again; local Kleene images keep priority; a failed pull fails the build and leaves nothing.
# Debian's docker-registry runs on 127.0.0.1:5000 inside the test kleened's network namespace;
# the images are made offline from busybox-static with umoci and pushed with skopeo.
load helpers
load registry_helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

# push_base TAG CONTENT: 127.0.0.1:5000/team/base:TAG, busybox with /srv/hello = CONTENT
push_base() {
  (
    cd "$E2E_DIR"
    rm -rf B
    umoci unpack --image L:v1 B >/dev/null
    echo "$2" >B/rootfs/srv/hello
    umoci repack --image L:v1 B
    rm -rf B
    in_ns skopeo copy -q --dest-tls-verify=false oci:L:v1 "docker://127.0.0.1:5000/team/base:$1"
  )
}

setup_file() {
  require_tools docker-registry umoci skopeo htpasswd
  start_kleened
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  "$SCRIPTS/mk-busybox-rootfs" rootfs >/dev/null
  mkdir -p rootfs/srv
  umoci init --layout L
  layout_image_of_tree L:v1 rootfs
  umoci config --image L:v1 --config.cmd cat --config.cmd /srv/hello
  push_base v1 one
  # a registry with Basic authentication on :5001, holding team/private:v1
  mkdir -p basic
  htpasswd -Bbn alice 's3cret' >basic/htpasswd
  start_registry "$E2E_NS" "$E2E_DIR/basic" 127.0.0.1:5001 "" "auth:
  htpasswd:
    realm: kleene-test
    path: $E2E_DIR/basic/htpasswd"
  in_ns skopeo copy -q --dest-tls-verify=false --dest-creds 'alice:s3cret' oci:L:v1 \
    docker://127.0.0.1:5001/team/private:v1
  in_ns skopeo copy -q --dest-tls-verify=false --dest-creds 'alice:s3cret' oci:L:v1 \
    docker://127.0.0.1:5001/team/private2:v1
  # a local Kleene image (not from a registry) for the priority test
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR/basic"
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
}

setup() {
  CTX=$(mktemp -d "$E2E_DIR/ctx.XXXXXX")
}

teardown() {
  stop_containers
  klee container prune -f >/dev/null 2>&1 || true
  rm -rf "$CTX"
}

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_BUILDKIT=0 "$DOCKER_BIN" "$@"; }

image_id() {
  api GET /images/list
  echo "$body" | jq -r --arg n "$1" --arg t "$2" '.[] | select(.name == $n and .tag == $t) | .id'
}
layer_count() { find "$E2E_DIR/root/image/layers" -mindepth 1 -maxdepth 1 | wc -l; }

@test "klee build FROM a registry image kleened lacks: pulled (progress in the output), built, runs" {
  [ -z "$(image_id 127.0.0.1:5000/team/base v1)" ]
  printf 'FROM 127.0.0.1:5000/team/base:v1\nRUN cp /srv/hello /copied\nCMD ["cat", "/copied"]\n' >"$CTX/Dockerfile"
  run klee build -t frompull "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Pulling 127.0.0.1:5000/team/base:v1'
  echo "$output" | grep -q '^Pulled 127.0.0.1:5000/team/base:v1 (sha256:[0-9a-f]\{64\}), 2 layers'
  # the pulled image is stored under its registry name; the built one runs on it
  [ -n "$(image_id 127.0.0.1:5000/team/base v1)" ]
  run klee run frompull
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx one
  # a second build finds it: no pull
  run klee build -t frompull "$CTX"
  [ "$status" -eq 0 ]
  ! echo "$output" | grep -q Pulling || false
}

@test "--pull looks at the registry again: a moved tag is seen only with it" {
  printf 'FROM 127.0.0.1:5000/team/base:v2\nRUN cp /srv/hello /copied\nCMD ["cat", "/copied"]\n' >"$CTX/Dockerfile"
  push_base v2 first
  run klee build -t movedtag "$CTX"
  [ "$status" -eq 0 ]
  old=$(image_id 127.0.0.1:5000/team/base v2)
  [ -n "$old" ]
  push_base v2 second
  # without --pull: the image kleened has
  run klee build -t movedtag "$CTX"
  [ "$status" -eq 0 ]
  ! echo "$output" | grep -q Pulling || false
  run klee run movedtag
  echo "$output" | grep -qx first
  # with --pull: the registry's
  run klee build --pull -t movedtag "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Pulling 127.0.0.1:5000/team/base:v2'
  [ "$(image_id 127.0.0.1:5000/team/base v2)" != "$old" ]
  run klee run movedtag
  echo "$output" | grep -qx second
  # a warm --pull (nothing changed) downloads nothing
  run klee build --pull -t movedtag "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '(0 downloaded), the image was present'
}

@test "local Kleene images keep priority: --pull uses them as they are" {
  printf 'FROM bb\nRUN echo local > /l\n' >"$CTX/Dockerfile"
  run klee build --pull -t localfirst "$CTX"
  [ "$status" -eq 0 ]
  ! echo "$output" | grep -q Pulling || false
}

@test "a failed pull fails the build with a clear message and leaves nothing" {
  layers=$(layer_count)
  api GET /images/list
  images=$(echo "$body" | jq length)
  printf 'FROM 127.0.0.1:5000/team/nothere:v1\nRUN true\n' >"$CTX/Dockerfile"
  run klee build -t nothere "$CTX"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'error: could not find image 127.0.0.1:5000/team/nothere:v1, and pulling it failed: could not pull image: .*manifest unknown'
  # busybox (docker.io): no image of that name here, and no way out of the namespace
  printf 'FROM busybox\n' >"$CTX/Dockerfile"
  run klee build -t nothere "$CTX"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q '^Pulling busybox'
  echo "$output" | grep -q 'error: could not find image busybox, and pulling it failed: could not pull image'
  [ "$(layer_count)" -eq "$layers" ]
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq "$images" ]
  [ -z "$(find "$E2E_DIR/root/image/layers" -maxdepth 1 -name '.staging*')" ]
  # an image name that is no registry reference is not pulled
  printf 'FROM NoSuchImage\n' >"$CTX/Dockerfile"
  run klee build "$CTX"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'could not find image NoSuchImage'
  ! echo "$output" | grep -q Pulling || false
}

@test "docker build FROM a registry image, and --pull, through the Docker door" {
  push_base v3 three
  printf 'FROM 127.0.0.1:5000/team/base:v3\nRUN cp /srv/hello /copied\nCMD ["cat", "/copied"]\n' >"$CTX/Dockerfile"
  run docker build -t dkpull "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Pulling 127.0.0.1:5000/team/base:v3'
  echo "$output" | grep -q 'Successfully tagged dkpull:latest'
  run docker run --rm dkpull
  [ "$output" = three ]
  push_base v3 four
  run docker build --pull -t dkpull "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Pulled 127.0.0.1:5000/team/base:v3'
  run docker run --rm dkpull
  [ "$output" = four ]
  # a failed pull: the CLI's error and exit code
  printf 'FROM 127.0.0.1:5000/team/nothere:v1\n' >"$CTX/Dockerfile"
  run docker build "$CTX"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q 'could not find image 127.0.0.1:5000/team/nothere:v1, and pulling it failed: could not pull image'
}

@test "the Kleene API: \"pull\" in the build config (opt-in)" {
  push_base v4 api
  printf 'FROM 127.0.0.1:5000/team/base:v4\n' >"$CTX/Dockerfile"
  run klee build -t apipull "$CTX"
  [ "$status" -eq 0 ]
  push_base v4 api2
  run "$BATS_TEST_DIRNAME/wsclient.py" "$SOCK" /images/build \
    "{\"context\": \"$CTX\", \"tag\": \"apipull2\", \"pull\": true, \"container_config\": {}}"
  echo "$output"
  echo "$output" | grep -q 'Pulling 127.0.0.1:5000/team/base:v4'
  run klee run apipull2 cat /srv/hello
  echo "$output" | grep -qx api2
}

@test "COPY --from a registry image kleened lacks pulls it too" {
  push_base v5 copied-from-registry
  printf 'FROM bb\nCOPY --from=127.0.0.1:5000/team/base:v5 /srv/hello /got\nCMD ["cat", "/got"]\n' >"$CTX/Dockerfile"
  [ -z "$(image_id 127.0.0.1:5000/team/base v5)" ]
  run klee build -t copyfrom "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Pulling 127.0.0.1:5000/team/base:v5'
  run klee run copyfrom
  echo "$output" | grep -qx copied-from-registry
  printf 'FROM bb\nCOPY --from=127.0.0.1:5000/team/nothere:v1 /x /x\n' >"$CTX/Dockerfile"
  run klee build "$CTX"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'could not find stage or image 127.0.0.1:5000/team/nothere:v1, and pulling it failed'
}

@test "docker build FROM a private registry: the credentials of X-Registry-Config (the CLI's logins)" {
  printf 'FROM 127.0.0.1:5001/team/private:v1\nRUN cp /srv/hello /copied\nCMD ["cat", "/copied"]\n' >"$CTX/Dockerfile"
  export DOCKER_CONFIG="$E2E_DIR/dockercfg"
  mkdir -p "$DOCKER_CONFIG"
  # no login: the registry refuses, the build fails, nothing is pulled
  echo '{}' >"$DOCKER_CONFIG/config.json"
  run docker build -t private "$CTX"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'pulling it failed: could not pull image'
  [ -z "$(image_id 127.0.0.1:5001/team/private v1)" ]
  # a wrong password
  printf '{"auths": {"127.0.0.1:5001": {"auth": "%s"}}}' "$(printf alice:wrong | base64)" >"$DOCKER_CONFIG/config.json"
  run docker build -t private "$CTX"
  [ "$status" -ne 0 ]
  [ -z "$(image_id 127.0.0.1:5001/team/private v1)" ]
  # the login docker login would store
  printf '{"auths": {"127.0.0.1:5001": {"auth": "%s"}}}' "$(printf alice:s3cret | base64)" >"$DOCKER_CONFIG/config.json"
  run docker build -t private "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Pulled 127.0.0.1:5001/team/private:v1'
  run docker run --rm private
  [ "$output" = one ]
  # the password is in no log
  ! grep -q s3cret "$E2E_DIR/kleened.log" || false
  # a malformed header: Docker's error shape, never quoting it
  printf 'FROM bb\n' >"$CTX/Dockerfile"
  tar -C "$CTX" -cf "$E2E_DIR/ok.tar" Dockerfile
  out=$(curl -s -X POST --unix-socket "$DOCKER_SOCK" -H 'X-Registry-Config: !!not-base64!!' \
    --data-binary "@$E2E_DIR/ok.tar" -w '\n%{http_code}' http://localhost/v1.41/build)
  [ "${out##*$'\n'}" = 400 ]
  echo "${out%$'\n'*}" | jq -e '.message | test("X-Registry-Config")'
  ! echo "$out" | grep -q 'not-base64' || false
}

@test "the Kleene API: registry_auth gives the build's pulls their registry's credentials" {
  printf 'FROM 127.0.0.1:5001/team/private2:v1\nCMD ["cat", "/srv/hello"]\n' >"$CTX/Dockerfile"
  ws() { "$BATS_TEST_DIRNAME/wsclient.py" "$SOCK" /images/build "{\"context\": \"$CTX\", \"tag\": \"apipriv\", \"container_config\": {}$1}"; }
  run ws ''
  echo "$output" | grep -q 'pulling it failed: could not pull image'
  run ws ', "registry_auth": {"127.0.0.1:5000": {"username": "alice", "password": "s3cret"}}'
  echo "$output" | grep -q 'pulling it failed: could not pull image'
  run ws ', "registry_auth": {"127.0.0.1:5001": {"username": "alice", "password": "s3cret"}}'
  echo "$output" | grep -q 'Pulled 127.0.0.1:5001/team/private2:v1'
  echo "$output" | grep -q '"close_code": 1000'
  run klee run apipriv
  echo "$output" | grep -qx one
  # a malformed entry: refused before the build, the password never echoed
  run ws ', "registry_auth": {"127.0.0.1:5001": "alice:s3cret"}'
  echo "$output" | grep -q 'registry_auth: each entry is'
  echo "$output" | grep -q '"close_code": 1002'
  ! echo "$output" | grep -q s3cret || false
  ! grep -q s3cret "$E2E_DIR/kleened.log" || false
}

@test "klee build FROM a private registry with the login klee login stored" {
  export DOCKER_CONFIG="$E2E_DIR/kleecfg"
  mkdir -p "$DOCKER_CONFIG"
  printf 'FROM 127.0.0.1:5001/team/private3:v1\nCMD ["cat", "/srv/hello"]\n' >"$CTX/Dockerfile"
  in_ns skopeo copy -q --src-tls-verify=false --dest-tls-verify=false --src-creds 'alice:s3cret' \
    --dest-creds 'alice:s3cret' docker://127.0.0.1:5001/team/private2:v1 docker://127.0.0.1:5001/team/private3:v1
  # no login: anonymous, refused
  run klee build -t kleepriv "$CTX"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'pulling it failed: could not pull image'
  echo s3cret | klee login -u alice --password-stdin 127.0.0.1:5001
  run klee build -t kleepriv "$CTX"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^Pulled 127.0.0.1:5001/team/private3:v1'
  run klee run kleepriv
  echo "$output" | grep -qx one
  ! grep -q s3cret "$E2E_DIR/kleened.log" || false
}
