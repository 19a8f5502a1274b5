#!/usr/bin/env bats
# The Docker door's image commands where dockerd's answers are particular (issue 14,
# docs/docker-api.md): rmi -f of an image a container uses, save by id, the order of a pull's
# "Already exists" lines, the push's last line. Debian's docker CLI against this test's
# kleened; docker-registry on 127.0.0.1:5000 inside the test's network namespace, its images
# made offline with umoci and pushed there with skopeo.
load helpers
load registry_helpers

DOCKER_BIN=/usr/bin/docker

docker() { DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_CONFIG="$E2E_DIR/dockercfg" "$DOCKER_BIN" "$@"; }

setup_file() {
  require_tools docker-registry umoci skopeo
  [ -x "$DOCKER_BIN" ] || skip "the docker CLI is not installed (scripts/install-deps)"
  start_kleened
  mkdir -p "$E2E_DIR/dockercfg"
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  busybox_layout base
  # two images on the same busybox layer, each with a layer of its own
  add_layer base a a
  add_layer base b b
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:a docker://127.0.0.1:5000/team/a:v1
  in_ns skopeo copy -q --dest-tls-verify=false oci:L:b docker://127.0.0.1:5000/team/b:v1
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
}

teardown() {
  stop_containers
  remove_all_images
}

# what the registry says of the manifest of $1 (repository) $2 (tag): header $3
registry_header() {
  in_ns curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:5000/v2/$1/manifests/$2" | tr -d '\r' |
    awk -F': ' -v h="$3" 'tolower($1)==h {print $2}'
}

@test "docker pull: the layers the store has are 'Already exists' lines before any download (as dockerd prints them)" {
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  run docker pull 127.0.0.1:5000/team/b:v1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "v1: Pulling from team/b" ]
  # the busybox layer is shared: it is not downloaded, and says so first
  [[ "${lines[1]}" =~ ^[0-9a-f]{12}": Already exists"$ ]]
  [[ "${lines[2]}" =~ ^[0-9a-f]{12}": Pulling fs layer"$ ]]
  [ "$(echo "$output" | grep -c 'Already exists')" -eq 1 ]
  [ "$(echo "$output" | grep -c 'Pull complete')" -eq 1 ]
  # the raw stream: the same order, as JSON lines
  docker rmi 127.0.0.1:5000/team/b:v1 >/dev/null
  out=$(curl -sN --unix-socket "$DOCKER_SOCK" -X POST \
    'http://localhost/v1.41/images/create?fromImage=127.0.0.1:5000/team/b&tag=v1')
  first_exists=$(echo "$out" | grep -n '"Already exists"' | head -1 | cut -d: -f1)
  first_pull=$(echo "$out" | grep -n '"Pulling fs layer"' | head -1 | cut -d: -f1)
  [ -n "$first_exists" ]
  [ -n "$first_pull" ]
  [ "$first_exists" -lt "$first_pull" ]
}

@test "docker rmi of an image a container uses: refused without -f (dockerd's message); -f untags it, the image stays for the container; by id: running 'cannot be forced'" {
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  id=$(docker inspect -f '{{.Id}}' 127.0.0.1:5000/team/a:v1)
  cid=$(docker create 127.0.0.1:5000/team/a:v1)
  run docker rmi 127.0.0.1:5000/team/a:v1
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "conflict: unable to remove repository reference \"127.0.0.1:5000/team/a:v1\" (must force) - container ${cid:0:12} is using its referenced image ${id:7:12}"
  # by id, a stopped container: must be forced
  run docker rmi "${id:7:12}"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "conflict: unable to delete ${id:7:12} (must be forced) - image is being used by stopped container ${cid:0:12}"
  run docker rmi -f 127.0.0.1:5000/team/a:v1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "Untagged: 127.0.0.1:5000/team/a:v1" ]
  # the image is there, untagged, and the container still runs it
  [ "$(docker inspect -f '{{.Id}}' "${id:7:12}")" = "$id" ]
  [ "$(docker inspect -f '{{len .RepoTags}}' "${id:7:12}")" = 0 ]
  docker images -a --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep -qx "<none>:<none> ${id:7:12}"
  run docker start -a "$cid"
  echo "$output" | grep -q '^a '
  # by id while a container runs: cannot be forced; by name with -f: untagged
  docker tag "${id:7:12}" 127.0.0.1:5000/team/a:v1
  docker rm "$cid" >/dev/null
  rid=$(docker run -d 127.0.0.1:5000/team/a:v1 sleep 60)
  run docker rmi -f "${id:7:12}"
  echo "$output"
  [ "$status" -eq 1 ]
  echo "$output" | grep -q "conflict: unable to delete ${id:7:12} (cannot be forced) - image is being used by running container ${rid:0:12}"
  run docker rmi -f 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  [ "$output" = "Untagged: 127.0.0.1:5000/team/a:v1" ]
  [ "$(docker inspect -f '{{.State.Running}}' "$rid")" = true ]
  docker rm -f "$rid" >/dev/null
  # nobody uses it now: removed
  run docker rmi "${id:7:12}"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q "^Deleted: $id"
}

@test "docker save by image id writes no RepoTags (null, as dockerd); by name: that name; docker load of the first: an untagged image" {
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  id=$(docker inspect -f '{{.Id}}' 127.0.0.1:5000/team/a:v1)
  cd "$BATS_TEST_TMPDIR"
  docker save -o byid.tar "${id:7:12}"
  docker save -o byname.tar 127.0.0.1:5000/team/a:v1
  docker save -o byfullid.tar "$id"
  [ "$(tar -xOf byid.tar manifest.json | jq -c '.[0].RepoTags')" = null ]
  [ "$(tar -xOf byfullid.tar manifest.json | jq -c '.[0].RepoTags')" = null ]
  [ "$(tar -xOf byname.tar manifest.json | jq -c '.[0].RepoTags')" = '["127.0.0.1:5000/team/a:v1"]' ]
  docker rmi 127.0.0.1:5000/team/a:v1 >/dev/null
  run docker load -i byid.tar
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "Loaded image ID: $id" ]
  [ "$(docker inspect -f '{{len .RepoTags}}' "${id:7:12}")" = 0 ]
  # docker-py: Image.save() asks by the full id (no RepoTags), save(named=True) by its tag
  docker tag "${id:7:12}" 127.0.0.1:5000/team/a:v1
  DOCKER_HOST="unix://$DOCKER_SOCK" python3 -c '
import docker, io, json, sys, tarfile
img = docker.from_env().images.get("127.0.0.1:5000/team/a:v1")
for named, want in ((False, None), (True, ["127.0.0.1:5000/team/a:v1"])):
    data = b"".join(img.save(named=named))
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        tags = json.load(t.extractfile("manifest.json"))[0]["RepoTags"]
    if tags != want:
        sys.exit("named=%s: RepoTags %r" % (named, tags))
'
  # the Kleene API's save by id still writes the image's name (klee image save)
  klee image save -o kbyid.tar "${id:7:12}" >/dev/null
  [ "$(tar -xOf kbyid.tar manifest.json | jq -c '.[0].RepoTags')" = '["127.0.0.1:5000/team/a:v1"]' ]
}

@test "docker push: the last line is '<tag>: digest: sha256:... size: N' with the registry's digest and manifest size; aux has Size" {
  docker pull -q 127.0.0.1:5000/team/a:v1 >/dev/null
  docker tag 127.0.0.1:5000/team/a:v1 127.0.0.1:5000/team/pushed:v3
  run docker push 127.0.0.1:5000/team/pushed:v3
  echo "$output"
  [ "$status" -eq 0 ]
  digest=$(registry_header team/pushed v3 docker-content-digest)
  size=$(registry_header team/pushed v3 content-length)
  [ -n "$digest" ]
  [ "${lines[-1]}" = "v3: digest: $digest size: $size" ]
  # the raw stream's aux, as dockerd's: Tag, Digest, Size
  out=$(curl -sN --unix-socket "$DOCKER_SOCK" -X POST -H 'X-Registry-Auth: e30=' \
    'http://localhost/v1.41/images/127.0.0.1:5000/team/pushed/push?tag=v3')
  echo "$out" | jq -e --arg d "$digest" --argjson s "$size" \
    'select(.aux) | .aux == {"Tag":"v3","Digest":$d,"Size":$s}' >/dev/null
}
