#!/usr/bin/env bats
# The Debian package (issue 13 item 14): `dpkg-buildpackage -b -us -uc` on a copy of the tree
# makes a .deb with the programs, helpers, unit, default config (a conffile), man pages and
# completions, whose programs run from the unpacked tree. (Installing, starting and removing it
# on a Debian 12 machine is done by hand: it changes the machine; see docs/packaging.md.)

SRC="$BATS_TEST_DIRNAME/../.."

setup_file() {
  command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null ||
    skip "dpkg-dev or debhelper is not installed (scripts/install-deps)"
  export PKG_DIR=$(mktemp -d /tmp/kleene-deb.XXXXXX)
  mkdir "$PKG_DIR/kleene"
  (cd "$SRC" && git ls-files -z --cached --others --exclude-standard | tar --null -cf - -T -) |
    tar -xf - -C "$PKG_DIR/kleene"
  (cd "$PKG_DIR/kleene" && dpkg-buildpackage -b -us -uc >"$PKG_DIR/build.log" 2>&1) || {
    tail -30 "$PKG_DIR/build.log" >&2
    return 1
  }
  export DEB=$(ls "$PKG_DIR"/kleene_*_*.deb)
}

teardown_file() {
  [ -n "${PKG_DIR:-}" ] && rm -rf "$PKG_DIR"
  return 0
}

@test "the .deb holds the programs, helpers, unit, config, man pages and completions" {
  run dpkg-deb -c "$DEB"
  echo "$output"
  for f in ./usr/bin/kleened ./usr/bin/klee ./usr/libexec/kleene/kleene-monitor \
    ./usr/libexec/kleene/kleene-fetch ./lib/systemd/system/kleened.service \
    ./etc/kleened/config.yaml ./usr/share/man/man1/klee.1.gz ./usr/share/man/man8/kleened.8.gz \
    ./usr/share/bash-completion/completions/klee ./usr/share/zsh/vendor-completions/_klee; do
    echo "$output" | awk '{print $6}' | grep -qx "$f" || { echo "missing $f"; false; }
  done
  dpkg-deb -e "$DEB" "$PKG_DIR/control"
  grep -qx /etc/kleened/config.yaml "$PKG_DIR/control/conffiles"
  # the unit is enabled and started by the maintainer scripts (dh_installsystemd)
  grep -q 'deb-systemd-helper' "$PKG_DIR/control/postinst"
  grep -q 'kleened.service' "$PKG_DIR/control/postinst"
  # the dlopened libraries are dependencies
  run dpkg-deb -f "$DEB" Depends
  for d in libcurl4 libarchive13 libgnutls30 nftables; do [[ "$output" == *"$d"* ]]; done
}

@test "the packaged programs run: versions, the unit's ExecStart, kleened finds its helpers" {
  dpkg-deb -x "$DEB" "$PKG_DIR/root"
  run "$PKG_DIR/root/usr/bin/klee" --version
  [[ "$output" == "klee, version "* ]]
  run "$PKG_DIR/root/usr/bin/kleened" --version
  [ "$status" -eq 0 ]
  grep -qx 'ExecStart=/usr/bin/kleened -c /etc/kleened/config.yaml' \
    "$PKG_DIR/root/lib/systemd/system/kleened.service"
  # the helpers' compiled-in directory is the package's
  grep -aq /usr/libexec/kleene "$PKG_DIR/root/usr/bin/kleened"
  cmp "$PKG_DIR/root/etc/kleened/config.yaml" "$SRC/etc/kleened/config.yaml"
}
