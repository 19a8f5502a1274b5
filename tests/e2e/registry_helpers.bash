# Helpers of the tests that pull from a registry they start (start_registry, helpers.bash):
# the tools they need and the images they make offline with umoci in an OCI layout "L" of
# the current directory. Load after helpers: `load helpers` then `load registry_helpers`.

# Skip the file (from setup_file) unless every command named is installed.
require_tools() {
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null || skip "$p is not installed (scripts/install-deps)"
  done
}

# A new image $1 of the layout (L:tag) with one layer: the tree $2 (e.g. mk-busybox-rootfs's).
layout_image_of_tree() {
  umoci new --image "$1"
  umoci unpack --image "$1" B >/dev/null
  cp -a "$2"/. B/rootfs/
  umoci repack --image "$1" B
  rm -rf B
}

# a layer of its own on top of image $1 of the layout, as image $2: a file /$3
add_layer() {
  mkdir -p "$E2E_DIR/l-$3"
  echo "$3 $RANDOM-$$" >"$E2E_DIR/l-$3/$3"
  tar -C "$E2E_DIR/l-$3" -cf "$E2E_DIR/l-$3.tar" "$3"
  umoci tag --image "L:$1" "$2"
  umoci raw add-layer --image "L:$2" "$E2E_DIR/l-$3.tar"
  umoci config --image "L:$2" --config.cmd /bin/cat --config.cmd "/$3"
}

# In the current directory: the busybox tree ./rootfs (scripts/mk-busybox-rootfs) and the OCI
# layout L holding image L:$1 of it.
busybox_layout() {
  "$BATS_TEST_DIRNAME/../../scripts/mk-busybox-rootfs" rootfs >/dev/null
  umoci init --layout L
  layout_image_of_tree "L:$1" rootfs
}

# Every image of the test's kleened removed (its stopped containers pruned first).
remove_all_images() {
  local i
  klee container prune -f >/dev/null 2>&1 || true
  for i in $(api GET /images/list >/dev/null; echo "$body" | jq -r '.[].id'); do
    klee image rm "$i" >/dev/null
  done
}
