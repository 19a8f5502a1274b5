#!/bin/bash
# Idle memory of kleened: start it on a temporary root and socket inside a private network
# namespace, wait, and print VmRSS, Pss and the resident kB of each mapped file.
#   bench/idle_rss.sh [path/to/kleened] [seconds to wait]
# Optional: TLS=1 adds an https listener on 127.0.0.1 (certificate made here with certtool or
# openssl) to show what TLS costs when it is configured.
# FETCH=1 then creates an image by `fetch` of a busybox tar (scripts/mk-busybox-tar) with the
# klee next to kleened in the build tree, and prints the RSS again and whether libcurl or
# libarchive are mapped into kleened afterwards (the fetch runs in kleene-fetch, a child
# process: they should not be).
set -euo pipefail
KLEENED=${1:-build/src/daemon/kleened}
WAIT=${2:-1}
tmp=$(mktemp -d /tmp/kleene-rss.XXXXXX)
ns=kleene-rss-$$
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
{
  echo "kleene_root: $tmp/root"
  echo "pidfile: $tmp/kleened.pid"
  echo "run_root: $tmp/run"
  echo "docker_listening_sockets: []"
  echo "api_listening_sockets:"
  echo "  - address: http://$tmp/kleened.sock"
  if [ "${TLS:-0}" = 1 ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
      -days 1 -subj /CN=localhost >/dev/null 2>&1
    echo "  - address: https://127.0.0.1:18443"
    echo "    tlscert: $tmp/cert.pem"
    echo "    tlskey: $tmp/key.pem"
  fi
} >"$tmp/config.yaml"
ip netns exec "$ns" "$KLEENED" -c "$tmp/config.yaml" </dev/null >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/kleened.sock" ] && break; sleep 0.02; done
curl -s --unix-socket "$tmp/kleened.sock" http://localhost/volumes/list >/dev/null
sleep "$WAIT"
echo "kleened idle: VmRSS $(awk '/VmRSS/{print $2}' /proc/$pid/status) kB," \
  "Pss $(awk '/^Pss:/{print $2}' /proc/$pid/smaps_rollup) kB," \
  "threads $(awk '/Threads/{print $2}' /proc/$pid/status)"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=($6==""?"[anon]":$6)} /^Rss:/{rss[name]+=$2}
     END{for(n in rss) if(rss[n]>0) printf "%7d kB  %s\n", rss[n], n}' /proc/$pid/smaps | sort -rn
if [ "${FETCH:-0}" = 1 ]; then
  KLEE=${KLEE:-$(dirname "$KLEENED")/../cli/klee}
  "$(dirname "$0")/../scripts/mk-busybox-tar" "$tmp/busybox.tar"
  "$KLEE" --host "http://$tmp/kleened.sock" image create fetch "file://$tmp/busybox.tar" \
    --no-dns --no-localtime >"$tmp/create.log" 2>&1 || { cat "$tmp/create.log"; exit 1; }
  sleep "$WAIT"
  mapped() { grep -qE "/$1(-[^/]*)?\.so" "/proc/$pid/maps" && echo yes || echo no; }
  echo "kleened after an image fetch: VmRSS $(awk '/VmRSS/{print $2}' /proc/$pid/status) kB," \
    "Pss $(awk '/^Pss:/{print $2}' /proc/$pid/smaps_rollup) kB," \
    "libcurl mapped: $(mapped libcurl), libarchive mapped: $(mapped libarchive)"
fi
