#!/usr/bin/env bats
# kleened as a service (issue 13 item 13): the nft table goes when kleened stops with no
# container running and stays while one runs; defaults without a config file, a clear error
# for a missing -c file; meson install puts the unit, the default config (never over a
# changed one) and the completions in place.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
  klee network create -t bridge --subnet 10.66.0.0/24 svcnet >/dev/null
}

teardown_file() { stop_kleened; }

term_kleened() {
  local pid
  pid=$(kleened_pid)
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  ! kill -0 "$pid" 2>/dev/null || false
}

@test "kleened stopping with no container running removes its nft table; with one running it stays" {
  in_ns nft list table inet kleene >/dev/null
  term_kleened
  ! in_ns nft list table inet kleene 2>/dev/null || false
  grep -q 'no container runs: the table is removed' "$E2E_DIR/kleened.log"
  respawn_kleened
  in_ns nft list table inet kleene | grep -q 10.66.0.0/24
  klee run -d --name svc -n svcnet -p 8099:80 bb sleep 60 >/dev/null
  term_kleened
  in_ns nft list table inet kleene | grep -q 'tcp . 8099'
  grep -q '1 container still running: the table stays' "$E2E_DIR/kleened.log"
  respawn_kleened
  klee stop svc >/dev/null
  klee rmc svc >/dev/null
  term_kleened
  ! in_ns nft list table inet kleene 2>/dev/null || false
  respawn_kleened
}

@test "a missing -c file is a clear error; no config file at all means the defaults" {
  run "$KLEENED" -c "$E2E_DIR/nope.yaml"
  [ "$status" -eq 1 ]
  [ "$output" = "kleened: config file $E2E_DIR/nope.yaml (given with -c) does not exist; without -c kleened reads /etc/kleened/config.yaml and uses its defaults when that is missing" ]
  # without -c, in a mount namespace where /etc/kleened, /var/lib/kleene and /run are empty
  # (and the test's network namespace): kleened starts with the built-in defaults
  run in_ns unshare -m --propagation private sh -c '
    for d in /etc/kleened /var/lib/kleene /run; do mkdir -p $d; mount -t tmpfs none $d; done
    "$1" >/run/kleened.out 2>&1 &
    for i in $(seq 1 100); do
      curl -sf --unix-socket /var/run/kleened.sock http://localhost/version && break; sleep 0.05
    done
    echo; kill -TERM $(cat /var/run/kleened.pid); wait
    cat /run/kleened.out; ls /var/lib/kleene' _ "$KLEENED"
  echo "$output"
  [[ "$output" == *'"api_version"'* ]]
  [[ "$output" == *"no /etc/kleened/config.yaml: using the built-in defaults"* ]]
  [[ "$output" == *metadata.sqlite* ]]
}

@test "meson install: unit with the install's bindir, default config kept once changed, completions" {
  command -v meson >/dev/null || skip "meson is not installed"
  dest="$E2E_DIR/destdir"
  run env DESTDIR="$dest" meson install -C "$BUILD_DIR" --no-rebuild
  echo "$output"
  [ "$status" -eq 0 ]
  prefix=$(meson introspect "$BUILD_DIR" --buildoptions | jq -r '.[] | select(.name == "prefix") | .value')
  unit="$dest$prefix/lib/systemd/system/kleened.service"
  grep -qx "ExecStart=$prefix/bin/kleened -c /etc/kleened/config.yaml" "$unit"
  grep -qx "KillMode=process" "$unit"
  cmp "$dest/etc/kleened/config.yaml" "$BATS_TEST_DIRNAME/../../etc/kleened/config.yaml"
  [ -f "$dest$prefix/share/bash-completion/completions/klee" ]
  [ -f "$dest$prefix/share/zsh/vendor-completions/_klee" ]
  [ -f "$dest$prefix/share/man/man1/klee.1" ]
  # a changed config is kept; the default goes next to it
  echo "log_level: debug" >>"$dest/etc/kleened/config.yaml"
  run env DESTDIR="$dest" meson install -C "$BUILD_DIR" --no-rebuild
  [ "$status" -eq 0 ]
  tail -1 "$dest/etc/kleened/config.yaml" | grep -qx "log_level: debug"
  cmp "$dest/etc/kleened/config.yaml.dist" "$BATS_TEST_DIRNAME/../../etc/kleened/config.yaml"
  rm -rf "$dest"
}
