#!/usr/bin/env bats
# The short run of the crash-consistency torture test (tests/torture/README.md): about a
# minute of operations with kleened SIGKILLed at random points and restarted, the invariants
# checked after every restart. The long run is by hand: tests/torture/torture.py --duration N.
load helpers

@test "torture: a minute of random kills of kleened; every invariant holds after each restart" {
  run timeout 600 /usr/bin/python3 "$BATS_TEST_DIRNAME/../torture/torture.py" \
    --duration "${TORTURE_SECONDS:-60}" --build "$BUILD_DIR"
  echo "$output" | tail -60
  [ "$status" -eq 0 ]
  echo "$output" | grep -q '^torture: PASS$'
}
