#!/usr/bin/env bats
# klee without a daemon: help, --version, usage errors, configuration errors and
# "unable to connect". KLEE may point at the binary; default: $KLEE_BUILD_DIR (scripts/test) or build/.

setup() {
    KLEE="${KLEE:-${KLEE_BUILD_DIR:-$BATS_TEST_DIRNAME/../../build}/src/cli/klee}"
    TMP="$(mktemp -d)"
    : > "$TMP/empty.yaml"
    # Keep the user's and the system's config files and environment out of the way.
    export HOME="$TMP"
    export KLEE_CONFIG="$TMP/empty.yaml"
    unset KLEE_HOST KLEE_THEME KLEE_TLS_VERIFY KLEE_TLS_CACERT KLEE_TLS_CERT KLEE_TLS_KEY KLEE_TLS_KERY KLEE_TIMEOUT
    cd "$TMP"
}

teardown() {
    rm -rf "$TMP"
}

@test "klee with no arguments prints the root help and exits 0" {
    run "$KLEE"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "Usage: klee [OPTIONS] COMMAND [ARGS]..." ]
    [[ "$output" == *"Commands:"* ]]
    [[ "$output" == *"volume"*"Manage volumes"* ]]
    [[ "$output" == *"Shortcuts:"* ]]
    [[ "$output" == *"lsv"* ]]
}

@test "klee --help and -h print the same root help" {
    run "$KLEE" --help
    [ "$status" -eq 0 ]
    local long="$output"
    run "$KLEE" -h
    [ "$status" -eq 0 ]
    [ "$output" = "$long" ]
    [[ "$output" == *"--tlsverify / --no-tlsverify"* ]]
}

@test "klee --version" {
    run "$KLEE" --version
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^klee,\ version\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "group without a command prints the group help" {
    run "$KLEE" volume
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "Usage: klee volume [OPTIONS] COMMAND [ARGS]..." ]
    for c in create ls inspect rm prune; do
        [[ "$output" == *"  $c "* ]]
    done
}

@test "commands with required arguments called bare print help and exit 0" {
    for cmd in "volume create" "volume inspect" "volume rm" "isv" "rmv"; do
        run "$KLEE" $cmd
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "Usage: klee $cmd [OPTIONS] "* ]]
    done
}

@test "command help with -h and --help" {
    run "$KLEE" volume prune --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"-f, --force"*"Do not prompt for confirmation"* ]]
    run "$KLEE" lsv -h
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "Usage: klee lsv [OPTIONS]" ]
}

@test "unknown command is a usage error (exit 2)" {
    run "$KLEE" ps
    [ "$status" -eq 2 ]
    [[ "$output" == *"Error: No such command 'ps'."* ]]
    run "$KLEE" volume frobnicate
    [ "$status" -eq 2 ]
    [[ "$output" == *"Error: No such command 'frobnicate'."* ]]
}

@test "unknown option, extra argument, missing option value: exit 2" {
    run "$KLEE" volume ls --bogus
    [ "$status" -eq 2 ]
    [[ "$output" == *"Error: No such option: --bogus"* ]]
    run "$KLEE" volume create a b
    [ "$status" -eq 2 ]
    [[ "$output" == *"Error: Got unexpected extra argument (b)"* ]]
    run "$KLEE" --host
    [ "$status" -eq 2 ]
    [[ "$output" == *"requires an argument"* ]]
    run "$KLEE" --theme fuzzy volume ls
    [ "$status" -eq 2 ]
    [[ "$output" == *"Invalid value for '--theme'"* ]]
}

@test "no daemon: unable to connect, exit 1" {
    run "$KLEE" -H "http://$TMP/none.sock" volume ls
    [ "$status" -eq 1 ]
    [[ "$output" == "unable to connect to kleened: "*"No such file or directory" ]]
    KLEE_HOST="http://$TMP/none.sock" run "$KLEE" volume rm x
    [ "$status" -eq 1 ]
    [[ "$output" == "unable to connect to kleened: "* ]]
}

@test "no daemon on a TCP port: connection refused, exit 1" {
    run "$KLEE" --host http://127.0.0.1:1 lsv
    [ "$status" -eq 1 ]
    [[ "$output" == "unable to connect to kleened: "*"Connection refused" ]]
}

@test "bad --host values" {
    run "$KLEE" --host "http:///x.sock?a=1" lsv
    [ "$status" -eq 1 ]
    [ "$output" = "Could not parse the '--host' parameter" ]
    run "$KLEE" --host "htyp://x" lsv
    [ "$status" -eq 1 ]
    [ "$output" = "unable to connect to kleened: Request URL has an unsupported protocol 'htyp://'." ]
}

@test "--tlscert without --tlskey" {
    run "$KLEE" --host https://127.0.0.1:1 --tlscert "$TMP/c.pem" lsv
    [ "$status" -eq 1 ]
    [ "$output" = "When '--tlscert' is set you must also provide the '--tlskey'" ]
}

@test "config file with an unknown key exits 255 with the original's message" {
    printf 'host: http:///x.sock\nhots: y\n' > "$TMP/bad.yaml"
    run "$KLEE" --config "$TMP/bad.yaml" volume ls
    [ "$status" -eq 255 ]
    [ "$output" = "Error! Config file $TMP/bad.yaml is not valid: parameter name 'hots' unknown" ]
}

@test "config file host is used; a flag overrides it; --config works after the command" {
    printf 'host: http://%s/from-file.sock\n' "$TMP" > "$TMP/k.yaml"
    run "$KLEE" volume ls --config "$TMP/k.yaml"
    [ "$status" -eq 1 ]
    [[ "$output" == *"from-file.sock"* ]]
    run "$KLEE" --host "http://$TMP/from-flag.sock" --config "$TMP/k.yaml" volume ls
    [[ "$output" == *"from-flag.sock"* ]]
    KLEE_HOST="http://$TMP/from-env.sock" run "$KLEE" --config "$TMP/k.yaml" volume ls
    [[ "$output" == *"from-env.sock"* ]]
}

@test "./klee_config.yaml is found when no config is named" {
    unset KLEE_CONFIG
    printf 'host: http://%s/cwd.sock\n' "$TMP" > "$TMP/klee_config.yaml"
    run "$KLEE" volume ls
    [ "$status" -eq 1 ]
    [[ "$output" == *"cwd.sock"* ]]
}

@test "prune declined prints Aborted! and exits 1 without contacting the daemon" {
    run bash -c "echo n | '$KLEE' --host 'http://$TMP/none.sock' volume prune"
    [ "$status" -eq 1 ]
    [[ "$output" == *"WARNING! This will remove all unused volumes."* ]]
    [[ "$output" == *"Are you sure you want to continue? [y/N]: "* ]]
    [[ "$output" == *"Aborted!" ]]
    [[ "$output" != *"unable to connect"* ]]
}
