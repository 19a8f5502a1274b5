#!/bin/bash
# Runs the OCI runtime-tools validation suite (github.com/opencontainers/runtime-tools, its
# validation/*/*.t executables) against one OCI runtime and compares the verdicts with
# oci-validation.expected beside this script.
#
#   tests/conformance/oci-validation.sh [options]
#     -r RUNTIME   the runtime (default: $KLEE_BUILD_DIR/src/ociruntime/kleene-runtime,
#                  KLEE_BUILD_DIR defaulting to build-test)
#     -s DIR       a built runtime-tools tree: runtimetest, rootfs-amd64.tar.gz and
#                  validation/*/*.t (default: $OCI_VALIDATION_DIR, else /var/tmp/oci-validation)
#     -o DIR       keep each executable's TAP output (NAME.tap, NAME.err) and summary.tsv there
#                  (default: a temporary directory, removed at the end)
#     -t SECONDS   time limit per executable (default 60)
#     -u           hide /sys/fs/cgroup/unified from the runtime (crun 1.8.1 refuses this host's
#                  hybrid cgroup layout otherwise; kleene-runtime must not need it)
#     -k           exit 0 even when a required executable fails (to measure a peer)
#     NAME...      run only these executables
#
# The project does not build the suite. Build it once, outside the project, into the -s
# directory (the shared tools of the team have a build script for it); where it is absent
# this script says so and exits 77 (skipped).
#
# Verdict of one executable: PASS (exit 0, no "not ok"), FAIL (a "not ok" or a non-zero exit:
# the *_fail executables and setup errors report only through the exit code; or, for the
# others, no TAP plan at all: the output of runtimetest in the container was lost), NOASSERT (exit 0
# and plan 1..0: the hook tests, which report a problem only as an "error" YAML diagnostic;
# NOASSERT+diag when they printed one). PASS and NOASSERT count as passed. A required
# executable (below) that fails is run a second time: some race with their own containers.
#
# oci-validation.expected has one line per executable: NAME CLASS CRUN RUNC KLEENE.
#   CLASS  goal: in the goal (crun passes it here, or crun and runc fail it for reasons of
#                their own, not of this machine);
#          host: fails here for any runtime (what the kernel or the host lacks);
#          suite: the executable itself is broken (a race, a missing file, no assertion).
#   CRUN, RUNC: their verdicts measured on this kind of machine (for reference).
#   KLEENE: "pass" once kleene-runtime passed it: from then on it is required, and any
#           failure of it makes this script fail; "-" not yet.
# Prints one line per executable, then the totals, the goal reached and the regressions.
# Exit status: 0 when every required executable passed, 1 otherwise, 77 when skipped, 2 on
# bad usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
expected=$here/oci-validation.expected
build=${KLEE_BUILD_DIR:-$here/../../build-test}
runtime=$build/src/ociruntime/kleene-runtime
suite=${OCI_VALIDATION_DIR:-/var/tmp/oci-validation}
out=""
limit=60
hide_unified=0
keep_going=0
while getopts r:s:o:t:uk opt; do
    case $opt in
    r) runtime=$OPTARG ;;
    s) suite=$OPTARG ;;
    o) out=$OPTARG ;;
    t) limit=$OPTARG ;;
    u) hide_unified=1 ;;
    k) keep_going=1 ;;
    *) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
only=" $* "

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "the validation suite needs root"
case $runtime in */*) ;; *) runtime=$(command -v "$runtime") || skip "no runtime $runtime" ;; esac
[ -x "$runtime" ] || skip "no runtime at $runtime (not built?)"
runtime=$(readlink -f "$runtime")
[ -d "$suite/validation" ] && [ -x "$suite/runtimetest" ] && [ -f "$suite/rootfs-amd64.tar.gz" ] ||
    skip "the runtime-tools validation suite is not built at $suite (set OCI_VALIDATION_DIR)"
suite=$(readlink -f "$suite")
[ -f "$expected" ] || { echo "missing $expected" >&2; exit 2; }

tmp=$(mktemp -d /tmp/kleene-ocival.XXXXXX)
chmod 0755 "$tmp" # the bundles must be reachable from user namespaces (linux_uid_mappings)
trap 'rm -rf --one-file-system "$tmp"' EXIT
[ -n "$out" ] || out=$tmp/out
mkdir -p "$out" "$tmp/t"
out=$(readlink -f "$out")

# Every executable runs inside one private mount namespace with a tmpfs on /run (the
# runtimes' default state directories): mounts that failing tests leave behind and the
# runtimes' state die with it. $tmp/t is each test's TMPDIR (bundles).
run_all() {
    mount --make-rprivate / || return 1
    mount -t tmpfs -o mode=755 tmpfs /run || return 1
    if [ "$hide_unified" = 1 ]; then umount /sys/fs/cgroup/unified || return 1; fi
    cd "$suite" || return 1
    printf 'test\trc\tsecs\tok\tskip\tnot_ok\tverdict\n' >"$out/summary.tsv"
    local t name t0 rc secs ok sk no plan v try
    for t in $(find validation -name '*.t' | sort); do
        name=$(basename "$t" .t)
        [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || continue
        for try in 1 2; do
            t0=$(date +%s%N)
            RUNTIME=$runtime TMPDIR=$tmp/t timeout -k 5 "$limit" "./$t" >"$out/$name.tap" 2>"$out/$name.err" </dev/null
            rc=$?
            secs=$(( ($(date +%s%N) - t0) / 1000000 ))
            ok=$(grep -cE '^ok( |$)' "$out/$name.tap")
            sk=$(grep -ciE '^ok [0-9]+.*# *skip' "$out/$name.tap")
            no=$(grep -cE '^not ok( |$)' "$out/$name.tap")
            plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$out/$name.tap")
            if [ "$rc" != 0 ] || [ "$no" != 0 ]; then
                v=FAIL
            elif [ -z "$plan" ] && [[ "$name" != *_fail ]]; then
                v=FAIL # no TAP at all: runtimetest's output never came back
            elif [ "$plan" = 1..0 ]; then
                v=NOASSERT
                grep -q '"error": "[^"]' "$out/$name.tap" && v=NOASSERT+diag
            else
                v=PASS
            fi
            # Some executables race with their own containers (killsig signals before its
            # trap is set, pidfile): a required one that failed gets a second run.
            [ "$v" = FAIL ] && [[ " $required " == *" $name "* ]] || break
            [ "$try" = 1 ] && echo "FAIL (1st run)  $name: running it once more"
        done
        printf '%s\t%s\t%d.%03d\t%s\t%s\t%s\t%s\n' "$name" "$rc" $((secs / 1000)) $((secs % 1000)) \
            $((ok - sk)) "$sk" "$no" "$v" >>"$out/summary.tsv"
        printf '%-14s %-32s %6d ms  ok %d, skip %d, not ok %d\n' "$v" "$name" "$secs" $((ok - sk)) "$sk" "$no"
    done
    # Containers the executables left behind (a failing one does not delete its container;
    # a created one waits for its start, in namespaces of its own, and outlives this mount
    # namespace): the runtime's list from its default root, here on our tmpfs /run.
    local id
    for id in $("$runtime" list -q 2>/dev/null); do
        "$runtime" delete --force "$id" >/dev/null 2>&1 || echo "could not delete leftover container $id" >&2
    done
}
export -f run_all
required=$(awk '$1 !~ /^#/ && $5 == "pass" {print $1}' "$expected" | tr '\n' ' ')
export runtime suite out tmp limit hide_unified only required
t0=$(date +%s)
unshare -m --propagation private bash -c run_all || { echo "could not run the suite" >&2; exit 1; }
wall=$(($(date +%s) - t0))

# The cgroup tests use fixed cgroup paths (/cgrouptest, testdir/cgrouptest/container) and
# leave them behind: remove them once no process is left in them.
for h in /sys/fs/cgroup/*/; do
    for d in cgrouptest testdir; do
        [ -d "$h$d" ] || continue
        [ -z "$(find "$h$d" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] &&
            find "$h$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
done

awk -F'\t' -v rt="$runtime" -v wall="$wall" -v keep="$keep_going" '
    FNR == NR { if ($0 !~ /^#/ && split($0, f, " ") >= 5) { cls[f[1]] = f[2]; req[f[1]] = (f[5] == "pass") }; next }
    FNR == 1 { next }
    {
        n++; V[$7]++; ok += $4; sk += $5; no += $6
        passed = ($7 == "PASS" || $7 == "NOASSERT")
        if (!($1 in cls)) unknown = unknown " " $1
        if (cls[$1] == "goal") { goal++; if (passed) reached++; else missing = missing " " $1 }
        if (req[$1]) { nreq++; if (!passed) regress = regress " " $1 }
        if (passed && cls[$1] == "goal" && !req[$1]) newpass = newpass " " $1
    }
    END {
        for (k in cls) if (cls[k] == "goal") gtotal++
        printf "runtime %s: %d executables (PASS %d, FAIL %d, NOASSERT %d, NOASSERT+diag %d), asserts ok %d, skip %d, not ok %d, %d s\n",
            rt, n, V["PASS"], V["FAIL"], V["NOASSERT"], V["NOASSERT+diag"], ok, sk, no, wall
        printf "goal: %d of %d reached (of %d run)%s\n", reached, gtotal, goal, missing == "" ? "" : "; not yet:" missing
        if (newpass != "") printf "passed, not yet marked required in oci-validation.expected:%s\n", newpass
        if (unknown != "") printf "not in oci-validation.expected:%s\n", unknown
        if (regress != "") { printf "REQUIRED BUT FAILED (%d of %d):%s\n", split(regress, a, " "), nreq, regress; exit(keep ? 0 : 1) }
        printf "required: all %d passed\n", nreq
    }' "$expected" "$out/summary.tsv"
