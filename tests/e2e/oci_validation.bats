#!/usr/bin/env bats
# The OCI runtime-tools validation suite against kleene-runtime, through
# tests/conformance/oci-validation.sh: every executable marked "pass" in
# tests/conformance/oci-validation.expected (kleene-runtime passed it before) must still pass.
# Skipped, saying why, where the suite is not built (OCI_VALIDATION_DIR, default
# /var/tmp/oci-validation) or kleene-runtime is not.
load helpers

CONF="$BATS_TEST_DIRNAME/../conformance"

@test "runtime-tools validation: every executable kleene-runtime passed before still passes" {
  grep -qE '^[a-z_]+ +[a-z]+ +[A-Z+]+ +[A-Z+]+ +pass' "$CONF/oci-validation.expected" ||
    skip "no validation executable is marked as passed by kleene-runtime yet (tests/conformance/oci-validation.expected)"
  run "$CONF/oci-validation.sh" -r "$BUILD_DIR/src/ociruntime/kleene-runtime"
  [ "$status" -eq 77 ] && skip "${output#SKIP: }"
  echo "$output"
  [ "$status" -eq 0 ]
}
