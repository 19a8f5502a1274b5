#!/usr/bin/env bats
# Image archives (issue 10 item 3, docs/image-store.md "Archives"): `klee image load` reads
# what skopeo (docker-archive:, oci-archive:), docker save and podman save write, verifies
# every blob in the helper and refuses hostile archives leaving nothing; `klee image save`
# writes the docker save format and OCI image layouts from the kept blobs, so that skopeo
# and podman read them with the registry's digests. docker-registry runs on 127.0.0.1:5000
# inside the test kleened's network namespace; images are made offline with umoci.
load helpers
load registry_helpers

push() { in_ns skopeo copy -q --dest-tls-verify=false "oci:L:$1" "docker://127.0.0.1:5000/$2"; }

setup_file() {
  require_tools docker-registry umoci skopeo sqlite3 python3
  start_kleened
  start_registry "$E2E_NS" "$E2E_DIR"
  cd "$E2E_DIR"
  busybox_layout base
  add_layer base a a
  add_layer base b b
  push a team/a:v1
}

teardown_file() {
  [ -n "${E2E_DIR:-}" ] && stop_registry "$E2E_DIR"
  stop_kleened
}

ROOT() { echo "$E2E_DIR/root"; }
db() { sqlite3 "$(ROOT)/metadata.sqlite" "$1"; }
layers_on_disk() { ls "$(ROOT)/image/layers" | sort; }
blobs_on_disk() { ls "$(ROOT)/image/blobs/sha256" | sort; }
manifest_of() {
  in_ns curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://127.0.0.1:5000/v2/$1/manifests/v1"
}
assert_disk_is_rows() {
  [ "$(layers_on_disk)" = "$(db 'SELECT id FROM layers ORDER BY id')" ]
  [ "$(blobs_on_disk)" = "$(db "SELECT substr(digest, 8) FROM blobs ORDER BY digest")" ]
}
assert_empty_store() {
  api GET /images/list
  [ "$(echo "$body" | jq length)" -eq 0 ]
  [ -z "$(layers_on_disk)" ]
  [ -z "$(blobs_on_disk)" ]
  [ "$(db 'SELECT count(*) FROM layers') $(db 'SELECT count(*) FROM blobs')" = "0 0" ]
}
# the id of the only image
only_image() { api GET /images/list >/dev/null; echo "$body" | jq -r '.[0].id'; }

teardown() {
  remove_all_images
}

# the config digest of image $1 of the layout L
layout_config() {
  local m
  m=$(jq -r --arg t "$1" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
    "$E2E_DIR/L/index.json")
  jq -r .config.digest "$E2E_DIR/L/blobs/sha256/${m#sha256:}"
}

# Image names: Kleene's (the repository's last component, "a:v1") or Docker-style
# ("team/a:v1", "127.0.0.1:5000/team/a:v1"); the tests go by id and accept both names.
id_of() { local c; c=$(layout_config "$1"); echo "${c:7:12}"; }

@test "skopeo docker-archive: -> klee image load -> klee run; the id is the config digest's" {
  cd "$E2E_DIR"
  rm -f da.tar
  skopeo copy -q oci:L:a docker-archive:da.tar:team/a:v1
  run klee image load -i da.tar
  [ "$status" -eq 0 ]
  cfg=$(layout_config a)
  echo "$output" | grep -Eq "Loaded image (docker.io/)?(team/)?a:v1 \(${cfg:7:12}\)"
  run klee run "${cfg:7:12}"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^a '
  # the layers by diff_id, the blobs kept: the manifest made for it, its config, its layers
  [ "$(db 'SELECT count(*) FROM layers WHERE diff_id IS NOT NULL')" -eq 2 ]
  [ "$(blobs_on_disk | wc -l)" -eq 4 ]
  assert_disk_is_rows
  # loaded again from the standard input: the same image, nothing extracted again
  before=$(layers_on_disk)
  run klee image load <da.tar
  [ "$status" -eq 0 ]
  echo "$output" | grep -Eq "Loaded image (docker.io/)?(team/)?a:v1 \(${cfg:7:12}\), it was present"
  [ "$(layers_on_disk)" = "$before" ]
  grep -q 'layer 2/2 sha256:[0-9a-f]*: already present' "$E2E_DIR/kleened.log"
}

@test "skopeo oci-archive: -> klee image load; an image sharing a base layer extracts only its own" {
  cd "$E2E_DIR"
  rm -f oa.tar ob.tar
  skopeo copy -q oci:L:a oci-archive:oa.tar:v1
  skopeo copy -q oci:L:b oci-archive:ob.tar:v1
  run klee image load -i oa.tar
  [ "$status" -eq 0 ]
  cfg=$(layout_config a)
  # ref.name is only a tag: no name
  echo "$output" | grep -q "Loaded image <none> (${cfg:7:12})"
  [ "$(layers_on_disk | wc -l)" -eq 2 ]
  run klee image load -i ob.tar
  [ "$status" -eq 0 ]
  [ "$(layers_on_disk | wc -l)" -eq 3 ]
  run klee run "$(layout_config b | cut -c8-19)"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^b '
  assert_disk_is_rows
}

@test "pull -> save: skopeo reads both formats with the registry's digests; save -> rm -> load: same id" {
  cd "$E2E_DIR"
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  m=$(manifest_of team/a)
  cfg=$(echo "$m" | jq -r .config.digest)
  rm -f s.tar so.tar
  id=${cfg:7:12}
  run klee image save -o s.tar "$id"
  [ "$status" -eq 0 ]
  run skopeo inspect --raw docker-archive:s.tar
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r .config.digest)" = "$cfg" ]
  run skopeo inspect docker-archive:s.tar
  [ "$status" -eq 0 ]
  echo "$output" | jq -e '.RepoTags' >/dev/null
  run klee image save --format oci -o so.tar "$id"
  [ "$status" -eq 0 ]
  run skopeo inspect --raw oci-archive:so.tar
  [ "$status" -eq 0 ]
  # the manifest is the registry's, byte for byte
  [ "$(printf '%s' "$output" | sha256sum | cut -d' ' -f1)" = \
    "$(printf '%s' "$m" | sha256sum | cut -d' ' -f1)" ]
  run skopeo inspect oci-archive:so.tar
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq -r '.Layers | join(" ")')" = "$(echo "$m" | jq -r '[.layers[].digest] | join(" ")')" ]
  # skopeo copies our archive back into a registry with the same digests
  in_ns skopeo copy -q --dest-tls-verify=false oci-archive:so.tar docker://127.0.0.1:5000/copy/a:v1
  [ "$(manifest_of copy/a | jq -r '[.layers[].digest] | join(" ")')" = "$(echo "$m" | jq -r '[.layers[].digest] | join(" ")')" ]
  # the same archive twice: byte for byte the same
  klee image save -o s2.tar "$id"
  cmp s.tar s2.tar
  # save -> rm -> load: the same id and name, the same blobs
  blobs=$(blobs_on_disk)
  klee image rm "$id" >/dev/null
  assert_empty_store
  run klee image load -i s.tar
  [ "$status" -eq 0 ]
  echo "$output" | grep -Eq "Loaded image (127.0.0.1:5000/team/)?a:v1 \(${cfg:7:12}\)"
  api GET /images/list
  [ "$(echo "$body" | jq -r '.[0].id')" = "${cfg:7:12}" ]
  run klee run "${cfg:7:12}"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^a '
  klee container prune -f >/dev/null
  klee image rm "${cfg:7:12}" >/dev/null
  run klee image load -i so.tar
  [ "$status" -eq 0 ]
  [ "$(blobs_on_disk)" = "$blobs" ]
  assert_disk_is_rows
}

@test "save of an unknown image: a clear error, no file" {
  cd "$E2E_DIR"
  rm -f none.tar
  run klee image save -o none.tar nosuchimage
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "no such image 'nosuchimage'"
  [ ! -e none.tar ]
  [ -z "$(ls | grep 'none.tar.klee-')" ]
}

# an image built by Kleene on the pulled team/a: a layer with a file, a whiteout, a hard link
build_on_a() {
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  mkdir -p "$E2E_DIR/ctx"
  printf 'FROM %s\nRUN echo built >/built && ln /built /built2 && rm /a\nCMD ["/bin/cat", "/built2"]\n' "$(id_of a)" >"$E2E_DIR/ctx/Dockerfile"
  run klee build -t built:v1 "$E2E_DIR/ctx"
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "a built image: saved (layers packed, the same bytes twice), read by skopeo and podman, loaded back; pushed and pulled back" {
  cd "$E2E_DIR"
  build_on_a
  rm -f bt.tar bt2.tar bo.tar
  run klee image save -o bt.tar built:v1
  [ "$status" -eq 0 ]
  klee image save -o bt2.tar built:v1
  cmp bt.tar bt2.tar
  # the pulled layers are the registry's blobs; the built one a packed tar whose digest is
  # its diff_id
  m=$(manifest_of team/a)
  run skopeo inspect docker-archive:bt.tar
  [ "$status" -eq 0 ]
  klee image save --format oci -o bo.tar built:v1
  run skopeo inspect oci-archive:bo.tar
  [ "$status" -eq 0 ]
  layers=$(echo "$output" | jq -r '.Layers | join(" ")')
  [ "${layers% *}" = "$(echo "$m" | jq -r '[.layers[].digest] | join(" ")')" ]
  # load it back (after removing it): it runs, the whiteout and the hard link hold
  klee container prune -f >/dev/null
  klee image rm built:v1 >/dev/null
  run klee image load -i bt.tar
  echo "$output"
  [ "$status" -eq 0 ]
  run klee run built:v1
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx built
  run klee run built:v1 /bin/sh -c 'test -e /a && echo present || echo gone'
  echo "$output" | grep -qx gone
  # the loaded image pushes (its blobs kept at load), pulled back under its digest
  run klee image push built:v1 127.0.0.1:5000/team/built:v1
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'layer 3/4 sha256:[0-9a-f]*: uploaded'
  klee container prune -f >/dev/null
  remove_all_images
  run klee pull 127.0.0.1:5000/team/built:v1
  [ "$status" -eq 0 ]
  run klee run "$(only_image)"
  echo "$output" | grep -qx built
  if command -v podman >/dev/null; then
    P="podman --root $E2E_DIR/proot2 --runroot $E2E_DIR/prun2 --storage-driver vfs --events-backend none"
    run $P load -i bt.tar
    echo "$output"
    [ "$status" -eq 0 ]
    $P rmi -a -f >/dev/null 2>&1 || true
  fi
}

@test "a built image pushed directly: packed, uploaded, pulled back, it runs" {
  build_on_a
  run klee image push built:v1 127.0.0.1:5000/team/built2:v1
  echo "$output"
  [ "$status" -eq 0 ]
  # the two pulled layers (the registry's blobs) mounted from team/a, the packed one and the
  # config uploaded
  [ "$(echo "$output" | grep -c ': mounted$')" -eq 2 ]
  [ "$(echo "$output" | grep -c ': uploaded$')" -eq 2 ]
  klee container prune -f >/dev/null
  remove_all_images
  run klee pull 127.0.0.1:5000/team/built2:v1
  [ "$status" -eq 0 ]
  run klee run "$(only_image)"
  [ "$status" -eq 0 ]
  echo "$output" | grep -qx built
}

# An archive made by python's tarfile from a description: entries "name=file" (content from
# a file), "name->target" (a symlink).
mk_tar() {
  local out=$1
  shift
  python3 - "$out" "$@" <<'PY'
import sys, tarfile, io
out = sys.argv[1]
with tarfile.open(out, "w") as t:
    for spec in sys.argv[2:]:
        if "->" in spec:
            name, target = spec.split("->", 1)
            ti = tarfile.TarInfo(name); ti.type = tarfile.SYMTYPE; ti.linkname = target
            t.addfile(ti)
        else:
            name, path = spec.split("=", 1)
            data = open(path, "rb").read()
            ti = tarfile.TarInfo(name); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
PY
}

# nothing of a failed load is left: no image, no layer, no blob, no work directory
assert_nothing_left() {
  assert_empty_store
  [ -z "$(ls -A "$(ROOT)/image/layers")" ]
  assert_alive
}

@test "hostile or corrupt archives: a clear error, nothing left" {
  cd "$E2E_DIR"
  rm -rf x && mkdir x && tar -C x -xf "$E2E_DIR/da.tar" 2>/dev/null || skopeo copy -q oci:L:a docker-archive:da.tar:team/a:v1
  rm -rf x && mkdir x && tar -C x -xf da.tar
  cfgf=$(jq -r '.[0].Config' x/manifest.json)
  l1=$(jq -r '.[0].Layers[0]' x/manifest.json)
  l2=$(jq -r '.[0].Layers[1]' x/manifest.json)
  # 1. an entry with ../
  mk_tar bad1.tar "x/../../evil=x/manifest.json" "manifest.json=x/manifest.json"
  run klee image load -i bad1.tar
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "'..' refused"
  assert_nothing_left
  # 2. a layer entry that is an absolute symlink
  mk_tar bad2.tar "$cfgf=x/$cfgf" "$l1=x/$l1" "$l2->/etc/passwd" "manifest.json=x/manifest.json"
  run klee image load -i bad2.tar
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "absolute symlink target '/etc/passwd' refused"
  assert_nothing_left
  # 3. a relative symlink that leads out of the archive
  mk_tar bad3.tar "$cfgf=x/$cfgf" "$l1=x/$l1" "$l2->../../../etc/passwd" "manifest.json=x/manifest.json"
  run klee image load -i bad3.tar
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "leads out of the archive"
  assert_nothing_left
  # 4. a layer whose tar has a ../ entry (its diff_id made to match)
  mkdir -p evil && echo pwned >evil/f
  python3 - <<'PY'
import tarfile
with tarfile.open("evil.tar", "w") as t:
    t.add("evil/f", arcname="../escaped")
PY
  d=$(sha256sum evil.tar | cut -d' ' -f1)
  jq -c --arg d "sha256:$d" '.rootfs.diff_ids[1] = $d' "x/$cfgf" >evilcfg.json
  jq -c --arg l "evil.tar" --arg c "evilcfg.json" '.[0].Layers[1] = $l | .[0].Config = $c' x/manifest.json >evilm.json
  mk_tar bad4.tar "evilcfg.json=evilcfg.json" "$l1=x/$l1" "evil.tar=evil.tar" "manifest.json=evilm.json"
  run klee image load -i bad4.tar
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "'..' refused"
  [ ! -e "$(ROOT)/image/escaped" ]
  [ ! -e "$(ROOT)/escaped" ]
  assert_nothing_left
  # 5. a layer that is not its config's diff_id (the docker format names layers by path)
  printf 'junk' >>"x/$l2"
  mk_tar bad5.tar "$cfgf=x/$cfgf" "$l1=x/$l1" "$l2=x/$l2" "manifest.json=x/manifest.json"
  run klee image load -i bad5.tar
  [ "$status" -ne 0 ]
  echo "$output" | grep -q 'diff_id mismatch'
  assert_nothing_left
  # 6. an OCI layout whose blob is not its name (a corrupted blob)
  rm -rf o && mkdir o && skopeo copy -q oci:L:a oci:o:v1
  ld=$(jq -r '.layers[1].digest' "o/blobs/sha256/$(jq -r '.manifests[0].digest' o/index.json | cut -c8-)")
  chmod u+w "o/blobs/sha256/${ld#sha256:}"
  printf 'X' | dd of="o/blobs/sha256/${ld#sha256:}" bs=1 seek=20 conv=notrunc 2>/dev/null
  tar -C o -cf bad6.tar .
  run klee image load -i bad6.tar
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "blob $ld: digest mismatch"
  assert_nothing_left
  # 7. not an image archive at all
  run klee image load -i x/manifest.json
  [ "$status" -ne 0 ]
  assert_nothing_left
}

@test "API /images/load: a text frame instead of the archive is refused cleanly" {
  run /usr/bin/python3 - "$SOCK" <<'PY'
import asyncio, json, sys, websockets
async def main():
    async with websockets.unix_connect(sys.argv[1], "ws://localhost/images/load") as ws:
        await ws.send("{}")
        await ws.send("not binary")
        try:
            while True:
                print(json.dumps({"frame": str(await ws.recv())}))
        except websockets.exceptions.ConnectionClosed:
            pass
        print(json.dumps({"close_code": ws.close_code, "close_reason": ws.close_reason}))
asyncio.run(main())
PY
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'the archive must come as binary frames'
  echo "$output" | grep -q '"close_code": 1011'
  assert_nothing_left
}

@test "podman load reads our save (docker and oci formats)" {
  command -v podman >/dev/null || skip "podman is not installed"
  cd "$E2E_DIR"
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  klee image save -o p.tar "$(id_of a)"
  klee image save --format oci -o po.tar "$(id_of a)"
  P="podman --root $E2E_DIR/proot --runroot $E2E_DIR/prun --storage-driver vfs --cgroup-manager cgroupfs --events-backend none"
  run $P load -i p.tar
  echo "$output"
  [ "$status" -eq 0 ]
  cfg=$(manifest_of team/a | jq -r .config.digest)
  $P images --no-trunc --format '{{.ID}}' | grep -q "${cfg#sha256:}"
  run $P load -i po.tar
  [ "$status" -eq 0 ]
  $P rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$E2E_DIR/proot" "$E2E_DIR/prun" 2>/dev/null || true
}

# the manifest of $1 (repository) at tag $2
manifest_at() {
  in_ns curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://127.0.0.1:5000/v2/$1/manifests/$2"
}

@test "pull -> push to another repository (blobs mounted, then present) -> pull again: the same digests" {
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  m=$(manifest_of team/a)
  run klee image push "$(id_of a)" 127.0.0.1:5000/other/pushed:v2
  echo "$output"
  [ "$status" -eq 0 ]
  # two layers and the config, mounted from team/a on the same registry
  [ "$(echo "$output" | grep -c ': mounted$')" -eq 3 ]
  mdig=$(in_ns curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    http://127.0.0.1:5000/v2/team/a/manifests/v1 | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')
  [ -n "$mdig" ]
  echo "$output" | grep -q "Pushed 127.0.0.1:5000/other/pushed:v2: $mdig"
  [ "$(manifest_at other/pushed v2)" = "$m" ]
  # again: everything is there
  run klee push "$(id_of a)" 127.0.0.1:5000/other/pushed:v3
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep -c ': exists$')" -eq 3 ]
  # pulled back from there: the same image
  id=$(api GET /images/list >/dev/null; echo "$body" | jq -r '.[0].id')
  klee image rm "$id" >/dev/null
  run klee pull 127.0.0.1:5000/other/pushed:v2
  [ "$status" -eq 0 ]
  [ "$(api GET /images/list >/dev/null; echo "$body" | jq -r '.[0].id')" = "$id" ]
  assert_disk_is_rows
}

@test "a loaded image pushed: its blobs uploaded, pulled back with the same id, it runs" {
  cd "$E2E_DIR"
  rm -f da.tar
  skopeo copy -q oci:L:b docker-archive:da.tar:team/b:v1
  run klee image load -i da.tar
  [ "$status" -eq 0 ]
  cfg=$(layout_config b)
  run klee image push "$(id_of b)" 127.0.0.1:5000/up/b:v1
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep -c ': uploaded$')" -eq 3 ]
  [ "$(manifest_at up/b v1 | jq -r .config.digest)" = "$cfg" ]
  klee image rm "$(id_of b)" >/dev/null
  assert_empty_store
  run klee pull 127.0.0.1:5000/up/b:v1
  [ "$status" -eq 0 ]
  api GET /images/list
  [ "$(echo "$body" | jq -r '.[0].id')" = "${cfg:7:12}" ]
  run klee run "$(id_of b)"
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^b '
}

@test "push: an unknown image, an unreachable registry: clear errors" {
  run klee image push nosuchimage 127.0.0.1:5000/x/y:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "no such image 'nosuchimage'"
  run klee pull 127.0.0.1:5000/team/a:v1
  [ "$status" -eq 0 ]
  run klee image push "$(id_of a)" 127.0.0.1:5999/x/y:v1
  [ "$status" -ne 0 ]
  echo "$output" | grep -q "could not push image: pushing 127.0.0.1:5999/x/y:v1"
  assert_alive
}
