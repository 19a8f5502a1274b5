#!/usr/bin/env bats
# The Docker door's image transfers (issue 14, docs/docker-api.md "Pull, push, save and
# load"), driven by Debian's docker CLI and docker-py against this test's kleened:
# `docker pull/images/save/load/tag/rmi/push` onto the engine's pull, save, load and push.
# docker-registry runs on 127.0.0.1:5000 inside the test kleened's network namespace; the
# images are made offline with umoci and pushed there with skopeo.
load helpers
load registry_helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
DOCKER_BIN=/usr/bin/docker

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_CONFIG="$E2E_DIR/dockercfg" "$DOCKER_BIN" "$@"; }

setup_file() {
  require_tools docker-registry umoci skopeo python3 htpasswd
  [ -x "$DOCKER_BIN" ] || skip "the docker CLI is not installed (scripts/install-deps)"
  start_kleened
  mkdir -p "$E2E_DIR/dockercfg"
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  busybox_layout base
  add_layer base a a
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:a docker://127.0.0.1:5000/team/a:v1
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:a docker://127.0.0.1:5000/team/a:v2
  # a registry with Basic authentication (htpasswd) on 127.0.0.1:5001
  mkdir -p basic
  htpasswd -Bbn alice 'pa ss' >basic/htpasswd
  start_registry "$E2E_NS" "$E2E_DIR/basic" 127.0.0.1:5001 "" "auth:
  htpasswd:
    realm: kleene-test
    path: $E2E_DIR/basic/htpasswd"
  in_ns skopeo copy -q --dest-tls-verify=false --dest-creds 'alice:pa ss' oci:L:a \
    docker://127.0.0.1:5001/team/a:v1
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR/basic"
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
}

teardown() {
  stop_containers
  remove_all_images
}

# the manifest digest the registry has for $1 (repository) and $2 (tag)
registry_digest() {
  in_ns curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:5000/v2/$1/manifests/$2" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}'
}

@test "docker pull: Docker's progress lines, the registry's digest; again: up to date; docker images shows it" {
  want=$(registry_digest team/a v1)
  [ -n "$want" ]
  run docker pull 127.0.0.1:5000/team/a:v1
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'v1: Pulling from team/a'
  # per layer: announced, downloaded, done (the CLI leaves progress bars out without a tty)
  [ "$(echo "$output" | grep -c ': Pulling fs layer$')" -eq 2 ]
  [ "$(echo "$output" | grep -c ': Download complete$')" -eq 2 ]
  [ "$(echo "$output" | grep -c ': Pull complete$')" -eq 2 ]
  echo "$output" | grep -qx "Digest: $want"
  echo "$output" | grep -qx 'Status: Downloaded newer image for 127.0.0.1:5000/team/a:v1'
  run docker pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Status: Image is up to date for 127.0.0.1:5000/team/a:v1'
  [ "$(echo "$output" | grep -c ': Already exists$')" -eq 2 ]
  run docker images --digests --format '{{.Repository}} {{.Tag}} {{.Digest}}'
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx "127.0.0.1:5000/team/a v1 $want"
  # the Kleene API sees the same image
  api GET /images/list
  [ "$(echo "$body" | jq -r '.[0].digest')" = "$want" ]
  # the image runs through the door
  run docker run --rm 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  [[ "$output" == "a "* ]]
}

@test "docker pull by digest, and the raw stream: JSON lines with status, id and progressDetail" {
  want=$(registry_digest team/a v1)
  # cold: every layer's Downloading lines carry its bytes of its size, under its id
  run curl -s -X POST --unix-socket "$DOCKER_SOCK" \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5000/team/a&tag=$want"
  [ "$status" -eq 0 ]
  echo "$output" | jq -s -e '[.[] | select(.status == "Downloading")] | length > 0 and
    all(.progressDetail.total > 0 and .progressDetail.current <= .progressDetail.total and
        (.id | test("^[0-9a-f]{12}$")) and (.progress | startswith("[")))'
  [ "$(echo "$output" | jq -r 'select(.status == "Downloading") | .id' | sort -u)" = \
    "$(echo "$output" | jq -r 'select(.status == "Pull complete") | .id' | sort -u)" ]
  echo "$output" | jq -s -e 'map(select(.error)) | length == 0'
  run docker pull "127.0.0.1:5000/team/a@$want"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx "Digest: $want"
  run curl -s -X POST --unix-socket "$DOCKER_SOCK" \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5000/team/a&tag=v1"
  [ "$status" -eq 0 ]
  # every line is a JSON object; the per-layer ones carry an id and a progressDetail
  echo "$output" | jq -e . >/dev/null
  [ "$(echo "$output" | jq -r 'select(.status == "Already exists") | .id' | wc -l)" -eq 2 ]
  echo "$output" | jq -s -e 'map(select(.status == "Already exists")) | all(.progressDetail == {})'
  [ "$(echo "$output" | jq -r 'select(.id == "v1") | .status')" = "Pulling from team/a" ]
}

@test "docker pull failures: unknown image 404, bad reference 400, registry down: Docker's shape, daemon alive" {
  run docker pull 127.0.0.1:5000/team/nothing:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'Error response from daemon'
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5000/team/nothing&tag=v1"
  [ "${output##*$'\n'}" = 404 ]
  echo "${output%$'\n'*}" | jq -e .message >/dev/null
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" \
    "http://localhost/v1.41/images/create?fromImage=Bad..Name&tag=v1"
  [ "${output##*$'\n'}" = 400 ]
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5000/team/a"
  [ "${output##*$'\n'}" = 400 ]
  echo "$output" | grep -q 'every tag'
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" \
    "http://localhost/v1.41/images/create?fromSrc=-&repo=x"
  [ "${output##*$'\n'}" = 400 ]
  echo "$output" | grep -q 'docker import'
  # nothing listens on port 5001
  run docker pull 127.0.0.1:5001/team/a:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'Error response from daemon'
  run docker version --format '{{.Server.APIVersion}}'
  [ "$status" -eq 0 ]
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 0 ]
  assert_alive
}

@test "docker save -> skopeo inspect docker-archive: -> docker rmi -> docker load: the same image" {
  cd "$E2E_DIR"
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  id=$(docker images -q --no-trunc 127.0.0.1:5000/team/a:v1)
  [ -n "$id" ]
  rm -f saved.tar
  run docker save -o saved.tar 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  # more than max_body_bytes (1 MiB): the load below streams the body
  [ "$(stat -c %s saved.tar)" -gt 1048576 ]
  # skopeo reads it: the config digest is the registry's, two layers
  run skopeo inspect --raw docker-archive:saved.tar
  [ "$status" -eq 0 ]
  cfg=$(in_ns curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    http://127.0.0.1:5000/v2/team/a/manifests/v1 | jq -r .config.digest)
  [ "$(echo "$output" | jq -r .config.digest)" = "$cfg" ]
  [ "$(echo "$output" | jq '.layers | length')" -eq 2 ]
  tar -xOf saved.tar manifest.json | jq -e '.[0].RepoTags == ["127.0.0.1:5000/team/a:v1"]'
  # to stdout: the same bytes
  docker save 127.0.0.1:5000/team/a:v1 >saved2.tar
  cmp saved.tar saved2.tar
  run docker rmi 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  [ -z "$(docker images -q)" ]
  run docker load -i saved.tar
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "Loaded image: 127.0.0.1:5000/team/a:v1" ]
  [ "$(docker images -q --no-trunc 127.0.0.1:5000/team/a:v1)" = "$id" ]
  run docker run --rm 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  [[ "$output" == "a "* ]]
  # quiet, from stdin
  run sh -c "DOCKER_HOST=unix://$DOCKER_SOCK $DOCKER_BIN load -q <saved.tar"
  [ "$status" -eq 0 ]
  [ "$output" = "Loaded image: 127.0.0.1:5000/team/a:v1" ]
}

@test "docker save of several images (/images/get?names=), unknown image: 404; docker load of garbage: 400, nothing loaded" {
  cd "$E2E_DIR"
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  "$SCRIPTS/mk-busybox-rootfs" rootfs2 >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs2" >/dev/null
  rm -f two.tar
  run docker save -o two.tar 127.0.0.1:5000/team/a:v1 bb:latest
  [ "$status" -eq 0 ]
  [ "$(tar -xOf two.tar manifest.json | jq -c '[.[].RepoTags[0]] | sort')" = '["127.0.0.1:5000/team/a:v1","bb:latest"]' ]
  run docker save -o none.tar nosuchimage:v9
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'No such image: nosuchimage:v9'
  run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DOCKER_SOCK" \
    "http://localhost/v1.41/images/get?names=bb:latest&names=nosuchimage:v9"
  [ "$output" = 404 ]
  run docker rmi bb:latest 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  # both back from one archive
  run docker load -i two.tar
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Loaded image: bb:latest'
  echo "$output" | grep -qx 'Loaded image: 127.0.0.1:5000/team/a:v1'
  run docker rmi bb:latest 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  head -c 100000 /dev/urandom >garbage.tar
  run docker load -i garbage.tar
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'Error response from daemon'
  [ -z "$(docker images -q)" ]
  assert_alive
}

@test "docker push to another repository, rmi, pull back: the same digest and image" {
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  id=$(docker images -q --no-trunc 127.0.0.1:5000/team/a:v1)
  want=$(registry_digest team/a v1)
  run docker tag 127.0.0.1:5000/team/a:v1 127.0.0.1:5000/other/a:v2
  [ "$status" -eq 0 ]
  run docker push 127.0.0.1:5000/other/a:v2
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'The push refers to repository \[127.0.0.1:5000/other/a\]'
  echo "$output" | grep -Eqx "v2: digest: $want size: [0-9]+"
  [ "$(registry_digest other/a v2)" = "$want" ]
  # again: every layer is there
  run docker push 127.0.0.1:5000/other/a:v2
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep -c ': Layer already exists$')" -eq 2 ]
  remove_all_images
  run docker pull 127.0.0.1:5000/other/a:v2
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx "Digest: $want"
  [ "$(docker images -q --no-trunc 127.0.0.1:5000/other/a:v2)" = "$id" ]
  # docker push -a: every tag of the repository
  docker tag 127.0.0.1:5000/other/a:v2 127.0.0.1:5000/multi/a:one
  docker tag 127.0.0.1:5000/other/a:v2 127.0.0.1:5000/multi/a:two
  run docker push -a 127.0.0.1:5000/multi/a
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -Eqx "one: digest: $want size: [0-9]+"
  echo "$output" | grep -Eqx "two: digest: $want size: [0-9]+"
  [ "$(registry_digest multi/a two)" = "$want" ]
  # failures: an unknown image, a registry that is not there
  run docker push -a 127.0.0.1:5000/team/nothing
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'does not exist locally'
  run docker push 127.0.0.1:5000/team/nothing:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'does not exist locally'
  docker tag 127.0.0.1:5000/other/a:v2 127.0.0.1:5001/x/a:v1
  run docker push 127.0.0.1:5001/x/a:v1
  [ "$status" -ne 0 ]
  assert_alive
}

@test "docker-py: images.pull (X-Registry-Auth), list, get, save, load, push" {
  want=$(registry_digest team/a v1)
  run timeout 120 /usr/bin/python3 "$BATS_TEST_DIRNAME/docker_py_images.py" "unix://$DOCKER_SOCK" \
    127.0.0.1:5000/team/a v1 "$want"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = ok ]
  assert_alive
}

@test "docker tag adds a name (RepoTags lists all); docker rmi NAME untags while others remain; an id needs -f" {
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs3" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs3" >/dev/null
  docker tag bb:latest bb:two
  docker tag bb 127.0.0.1:5000/team/bb:v1
  run docker images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | wc -l)" -eq 3 ]
  [ "$(echo "$output" | awk '{print $2}' | sort -u | wc -l)" -eq 1 ]
  [ "$(docker inspect --format '{{json .RepoTags}}' bb:two)" = '["bb:latest","bb:two","127.0.0.1:5000/team/bb:v1"]' ]
  # the Kleene API sees them too, the first as name/tag
  api GET /images/list
  [ "$(echo "$body" | jq -c '.[0].names')" = '["bb:latest","bb:two","127.0.0.1:5000/team/bb:v1"]' ]
  [ "$(echo "$body" | jq -r '.[0].name + ":" + .[0].tag')" = bb:latest ]
  # saved by one of its names: the archive names it so
  docker save -o "$E2E_DIR/named.tar" bb:two
  [ "$(tar -xOf "$E2E_DIR/named.tar" manifest.json | jq -c '.[0].RepoTags')" = '["bb:two"]' ]
  id=$(docker images -q bb:two)
  # by id: refused while it has several names
  run docker rmi "$id"
  echo "$output"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'must be forced'
  # by name: only that name goes
  run docker rmi bb:latest
  [ "$status" -eq 0 ]
  [ "$output" = "Untagged: bb:latest" ]
  [ "$(docker inspect --format '{{json .RepoTags}}' "$id")" = '["bb:two","127.0.0.1:5000/team/bb:v1"]' ]
  run docker inspect bb:latest
  [ "$status" -ne 0 ]
  # a name another image has moves to the tagged image; the other keeps its other names
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs4" >/dev/null
  klee image create -t other:latest zfs-copy "$E2E_DIR/rootfs4" >/dev/null
  docker tag other:latest other:b
  docker tag "$id" other:b
  [ "$(docker inspect --format '{{json .RepoTags}}' other:latest)" = '["other:latest"]' ]
  [ "$(docker images -q other:b)" = "$id" ]
  docker rmi other:latest
  # forced by id: every name and the image go
  run docker rmi -f "$id"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Untagged: bb:two'
  echo "$output" | grep -qx 'Untagged: 127.0.0.1:5000/team/bb:v1'
  echo "$output" | grep -qx 'Untagged: other:b'
  echo "$output" | grep -q '^Deleted: sha256:'
  [ -z "$(docker images -q)" ]
}

@test "docker pull of an image the store has under another tag adds the tag (the Kleene API's pull renames)" {
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  run docker pull 127.0.0.1:5000/team/a:v2
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Status: Downloaded newer image for 127.0.0.1:5000/team/a:v2'
  [ "$(docker inspect --format '{{json .RepoTags}}' 127.0.0.1:5000/team/a:v1)" = '["127.0.0.1:5000/team/a:v1","127.0.0.1:5000/team/a:v2"]' ]
  run docker pull 127.0.0.1:5000/team/a:v1
  echo "$output" | grep -qx 'Status: Image is up to date for 127.0.0.1:5000/team/a:v1'
  [ "$(docker images -q | sort -u | wc -l)" -eq 1 ]
}

# the Docker CLI's stored credentials for $1: user $2, password $3 (what `docker login` writes)
docker_creds() {
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$1" "$(printf '%s:%s' "$2" "$3" | base64 -w0)" \
    >"$E2E_DIR/dockercfg/config.json"
}

@test "X-Registry-Auth: docker pull/push with the CLI's stored credentials; none or wrong ones: the registry's refusal; a malformed header: 400" {
  rm -f "$E2E_DIR/dockercfg/config.json"
  run docker pull 127.0.0.1:5001/team/a:v1
  echo "$output"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'Error response from daemon'
  docker_creds 127.0.0.1:5001 alice 'wrong'
  run docker pull 127.0.0.1:5001/team/a:v1
  echo "$output"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'Error response from daemon'
  ! echo "$output" | grep -q 'no credentials' || false
  docker_creds 127.0.0.1:5001 alice 'pa ss'
  run docker pull 127.0.0.1:5001/team/a:v1
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx 'Status: Downloaded newer image for 127.0.0.1:5001/team/a:v1'
  docker tag 127.0.0.1:5001/team/a:v1 127.0.0.1:5001/team/pushed:v1
  run docker push 127.0.0.1:5001/team/pushed:v1
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^v1: digest: sha256:'
  # the credentials went nowhere else: not in kleened's log
  ! grep -q 'pa ss' "$E2E_DIR/kleened.log" || false
  rm -f "$E2E_DIR/dockercfg/config.json"
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" -H 'X-Registry-Auth: !!not base64' \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5001/team/a&tag=v1"
  [ "${output##*$'\n'}" = 400 ]
  echo "$output" | grep -q 'X-Registry-Auth'
  # an identity token is refused, a username with ':' too (Basic cannot carry it)
  h=$(printf '{"identitytoken":"t"}' | base64 -w0 | tr '+/' '-_')
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" -H "X-Registry-Auth: $h" \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5001/team/a&tag=v1"
  [ "${output##*$'\n'}" = 400 ]
  h=$(printf '{"username":"a:b","password":"x"}' | base64 -w0 | tr '+/' '-_')
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" -H "X-Registry-Auth: $h" \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5001/team/a&tag=v1"
  [ "${output##*$'\n'}" = 400 ]
  assert_alive
}

@test "docker load of an archive entry with several RepoTags: the image gets every one" {
  cd "$E2E_DIR"
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  rm -f one.tar names.tar
  docker save -o one.tar 127.0.0.1:5000/team/a:v1
  # the same archive with a second RepoTag (and a third that is not a name: left out)
  python3 - one.tar names.tar <<'PY'
import io, json, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as t, tarfile.open(dst, "w") as o:
    for m in t.getmembers():
        data = t.extractfile(m).read() if m.isfile() else None
        if m.name == "manifest.json":
            j = json.loads(data)
            j[0]["RepoTags"] += ["x/extra:v9", "Not A Name!"]
            data = json.dumps(j).encode()
            m.size = len(data)
        o.addfile(m, io.BytesIO(data) if data is not None else None)
PY
  docker rmi 127.0.0.1:5000/team/a:v1 >/dev/null
  run docker load -i names.tar
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "Loaded image: 127.0.0.1:5000/team/a:v1" ]
  [ "${lines[1]}" = "Loaded image: x/extra:v9" ]
  [ "${#lines[@]}" -eq 2 ]
  [ "$(docker inspect --format '{{json .RepoTags}}' x/extra:v9)" = '["127.0.0.1:5000/team/a:v1","x/extra:v9"]' ]
  grep -q "not adding the name 'Not A Name!'" "$E2E_DIR/kleened.log"
}

@test "clients that go away: a save read partly, a load cut short, a pull dropped: nothing half-made, daemon alive" {
  cd "$E2E_DIR"
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  rm -f full.tar
  docker save -o full.tar 127.0.0.1:5000/team/a:v1
  # a save whose reader stops after 1000 bytes
  curl -s --unix-socket "$DOCKER_SOCK" "http://localhost/v1.41/images/127.0.0.1:5000/team/a:v1/get" |
    head -c 1000 >/dev/null || true
  run docker save 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  docker rmi 127.0.0.1:5000/team/a:v1 >/dev/null
  # a load whose client announces the whole archive, sends half of it and goes away
  python3 - "$DOCKER_SOCK" full.tar <<'PY'
import os, socket, sys
data = open(sys.argv[2], "rb").read()
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"POST /v1.41/images/load HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
          b"Content-Length: %d\r\n\r\n" % len(data))
s.sendall(data[: len(data) // 2])
s.close()
PY
  # and one that sends it truncated but complete as far as HTTP goes: a 400
  head -c $(($(stat -c %s full.tar) / 2)) full.tar >half.tar
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" \
    -H 'Content-Type: application/x-tar' --data-binary @half.tar http://localhost/v1.41/images/load
  [ "${output##*$'\n'}" = 400 ]
  # a pull whose client goes away at once
  timeout 5 curl -s -X POST --unix-socket "$DOCKER_SOCK" --max-time 0.3 \
    "http://localhost/v1.41/images/create?fromImage=127.0.0.1:5000/team/a&tag=v1" >/dev/null || true
  for _ in $(seq 1 100); do
    pgrep -P "$(kleened_pid)" kleene-fetch >/dev/null || break
    sleep 0.1
  done
  assert_alive
  # the half archive left no image (the dropped pull may have finished or not: either way
  # a complete image or none)
  api GET /images/list
  [ "$(echo "$body" | jq length)" -le 1 ]
  run docker load -i full.tar
  [ "$status" -eq 0 ]
  [ "$output" = "Loaded image: 127.0.0.1:5000/team/a:v1" ]
  run docker run --rm 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
}

@test "docker login (POST /auth): checked against the registry, then pull with the stored credentials; a wrong password: 401, nothing stored" {
  rm -f "$E2E_DIR/dockercfg/config.json"
  run sh -c "printf 'wrong' | DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$E2E_DIR/dockercfg $DOCKER_BIN login -u alice --password-stdin 127.0.0.1:5001"
  echo "$output"
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'Error response from daemon'
  [ ! -e "$E2E_DIR/dockercfg/config.json" ] || ! grep -q 5001 "$E2E_DIR/dockercfg/config.json" || false
  run curl -s -w '\n%{http_code}' -X POST --unix-socket "$DOCKER_SOCK" -H 'Content-Type: application/json' \
    --data '{"username":"alice","password":"wrong","serveraddress":"127.0.0.1:5001"}' http://localhost/v1.41/auth
  [ "${output##*$'\n'}" = 401 ]
  run sh -c "printf 'pa ss' | DOCKER_HOST=unix://$DOCKER_SOCK DOCKER_CONFIG=$E2E_DIR/dockercfg $DOCKER_BIN login -u alice --password-stdin 127.0.0.1:5001"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'Login Succeeded'
  run docker pull 127.0.0.1:5001/team/a:v1
  [ "$status" -eq 0 ]
  docker logout 127.0.0.1:5001
  docker rmi 127.0.0.1:5001/team/a:v1
  run docker pull 127.0.0.1:5001/team/a:v1
  [ "$status" -ne 0 ]
  assert_alive
}
