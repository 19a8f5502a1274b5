#!/bin/bash
# Idle memory of kleened: start it on a temporary root and socket inside a private network
# namespace, wait, and print VmRSS, Pss and the resident kB of each mapped file.
#   bench/idle_rss.sh [path/to/kleened] [seconds to wait]
# Optional: TLS=1 adds an https listener on 127.0.0.1 (certificate made here with certtool or
# openssl) to show what TLS costs when it is configured.
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
