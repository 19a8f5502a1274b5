#!/usr/bin/env bats
# Slow clients cannot lock others out (issue 12 item 5): a request head has a deadline
# (request_head_timeout), idle keep-alive connections are the first to give up their slot,
# then the connections that waited longest for their head, and a TCP listener limits the
# connections of one address (max_connections_per_peer). Each test starts its own kleened.
load helpers

PY=/usr/bin/python3
SLOW="$BATS_TEST_DIRNAME/slow_clients.py"

teardown() { stop_kleened; }

@test "1,100 hanging connections: a legitimate client is still served, at once" {
  EXTRA_TOP="request_head_timeout: 60" start_kleened
  out=$($PY "$SLOW" hang "$SOCK" 1100 50)
  echo "$out"
  [ "$(echo "$out" | jq .ok)" = 50 ]
  [ "$(echo "$out" | jq -c .failed)" = "[]" ]
  # every probe took a slot from a hanging connection, the longest waiting first
  [ "$(echo "$out" | jq .hung_closed)" -ge 76 ]
  # served at once, not after the hanging connections' deadline (60 s here)
  [ "$(echo "$out" | jq '.latency_ms.max < 5000')" = true ]
  assert_alive
}

@test "1,100 WebSocket sessions that never send their config: a legitimate client is served" {
  EXTRA_TOP="request_head_timeout: 60" start_kleened
  out=$($PY "$SLOW" ws-hang "$SOCK" 1100 50)
  echo "$out"
  [ "$(echo "$out" | jq .ok)" = 50 ]
  [ "$(echo "$out" | jq -c .failed)" = "[]" ]
  [ "$(echo "$out" | jq .hung_closed)" -ge 76 ]
  [ "$(echo "$out" | jq '.latency_ms.max < 5000')" = true ]
  assert_alive
}

@test "a request head must arrive within request_head_timeout: 408 for a partial one" {
  EXTRA_TOP="request_head_timeout: 1" start_kleened
  out=$($PY "$SLOW" deadline "$SOCK")
  echo "$out"
  [ "$(echo "$out" | jq .partial.status)" = 408 ]
  [ "$(echo "$out" | jq -r .partial.message)" = "timed out waiting for the request head (1000 ms)" ]
  [ "$(echo "$out" | jq '.partial.after_ms >= 900 and .partial.after_ms < 10000')" = true ]
  # a connection that sent nothing is closed quietly, as an idle one
  [ "$(echo "$out" | jq -r .silent.message)" = closed ]
  [ "$(echo "$out" | jq '.silent.after_ms < 10000')" = true ]
  assert_alive
}

@test "when the slots run out, an idle keep-alive connection goes first" {
  EXTRA_TOP="request_head_timeout: 60" start_kleened
  out=$($PY "$SLOW" idle-first "$SOCK")
  echo "$out"
  [ "$(echo "$out" | jq .new_served)" = true ]
  [ "$(echo "$out" | jq .idle_closed)" = true ]
  [ "$(echo "$out" | jq .oldest_waiting_closed)" = false ]
  [ "$(echo "$out" | jq .waiting_closed)" = 0 ]
  assert_alive
}

@test "a TCP listener takes at most max_connections_per_peer connections from one address" {
  EXTRA_TOP=$'request_head_timeout: 60\nmax_connections_per_peer: 4' \
    EXTRA_LISTENERS='  - address: "http://127.0.0.1:18089"' start_kleened
  out=$(in_ns $PY "$SLOW" per-peer 127.0.0.1:18089 4)
  echo "$out"
  [ "$(echo "$out" | jq .same_peer.status)" = 503 ]
  [ "$(echo "$out" | jq -r .same_peer.message)" = "too many connections from this address" ]
  [ "$(echo "$out" | jq .other_peer.status)" = 200 ]
  assert_alive
}
