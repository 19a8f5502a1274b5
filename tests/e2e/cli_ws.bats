#!/usr/bin/env bats
# klee's WebSocket client (src/cli/wsclient.c) against a fake kleened written with
# python3-websockets over a UNIX socket (fake_ws_kleened.py), through `klee image create`:
# the config frame, the starting message, byte-exact relay, the closing message, exit codes.

BUILD_DIR=${KLEE_BUILD_DIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
KLEE="$BUILD_DIR/src/cli/klee"
PY=/usr/bin/python3

setup() {
    "$PY" -c 'import websockets' 2>/dev/null || skip "python3-websockets is not installed"
    TMP=$(mktemp -d /tmp/klee-ws.XXXXXX)
    SOCK="$TMP/ws.sock"
    RECORD="$TMP/record.jsonl"
    export HOME="$TMP" KLEE_CONFIG="$TMP/empty.yaml"
    : >"$KLEE_CONFIG"
    unset KLEE_HOST KLEE_THEME KLEE_TLS_VERIFY KLEE_TLS_CACERT KLEE_TLS_CERT KLEE_TLS_KEY KLEE_TLS_KERY
    SERVER_PID=
}

teardown() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}

serve() {
    "$PY" "$BATS_TEST_DIRNAME/fake_ws_kleened.py" "$SOCK" "$RECORD" "$1" 2>"$TMP/server.log" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        [ -S "$SOCK" ] && return 0
        sleep 0.05
    done
    cat "$TMP/server.log" >&2
    return 1
}

kleews() { "$KLEE" --host "http://$SOCK" "$@"; }

# One field of the first recorded connection.
recorded() { "$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(json.dumps(eval("r"+sys.argv[2]), sort_keys=True) if not isinstance(eval("r"+sys.argv[2]), str) else eval("r"+sys.argv[2]))' "$RECORD" "$1"; }

@test "config is sent as one text frame to /images/create with Host localhost" {
    serve ok
    run kleews image create -t base:1 --no-dns fetch file:///tmp/rootfs.tar
    [ "$status" -eq 0 ]
    [ "$(recorded '["path"]')" = "/images/create" ]
    [ "$(recorded '["host"]')" = "localhost" ]
    [ "$(recorded '["frame_type"]')" = "text" ]
    [ "$(recorded '["config"]')" = '{"autotag": true, "dns": false, "localtime": true, "method": "fetch", "tag": "base:1", "update": false, "url": "file:///tmp/rootfs.tar", "zfs_dataset": ""}' ]
}

@test "fetch-auto with a tag turns autotag off; zfs methods send the dataset" {
    serve ok
    run kleews image create -t x fetch-auto
    [ "$status" -eq 0 ]
    [ "$(recorded '["config"]["autotag"]')" = "false" ]
    [ "$(recorded '["config"]["url"]')" = "" ]
    rm -f "$RECORD"
    run kleews image create --update --no-localtime zfs-clone /srv/tree
    [ "$status" -eq 0 ]
    [ "$(recorded '["config"]')" = '{"autotag": true, "dns": true, "localtime": false, "method": "zfs-clone", "tag": "", "update": true, "url": "", "zfs_dataset": "/srv/tree"}' ]
}

@test "output frames are relayed byte-exact, then an empty line, the message and the id" {
    serve ok
    kleews image create fetch http://example/x.tar >"$TMP/out" 2>"$TMP/err"
    printf 'hello\n\xff\x00\xfe\x80 binary\nFetched 1.2 MB (45%%)\n\nimage created\nabc123def456\n' >"$TMP/expected"
    cmp "$TMP/out" "$TMP/expected"
    [ ! -s "$TMP/err" ]
}

@test "close 1011 prints the output and the error reason, exit 1" {
    serve fail
    run kleews image create fetch http://example/x.tar
    [ "$status" -eq 1 ]
    [ "${lines[0]}" = "boom" ]
    [ "${lines[1]}" = "image creation failed: boom" ]
}

@test "close 1001 is not a successful image creation: message printed, exit 1" {
    serve detached
    run kleews image create fetch-auto
    [ "$status" -eq 1 ]
    [[ "$output" == *"succesfully started execution instance in detached mode"* ]]
}

@test "a non-JSON first frame is printed, the session is treated as failed (no crash)" {
    serve nonjson
    kleews image create fetch-auto >"$TMP/out" 2>"$TMP/err" && status=0 || status=$?
    [ "$status" -eq 1 ]
    [ "$(head -1 "$TMP/err")" = "error: container not found" ]
    grep -qx "error starting exec instance" "$TMP/err"
    [ "$(cat "$TMP/out")" = "" ] # only the empty line
    [ "$(wc -c <"$TMP/out")" -eq 1 ]
}

@test "a close reason that is not JSON is printed as is" {
    serve badjson
    run kleews image create fetch-auto
    [ "$status" -eq 0 ]
    [[ "$output" == *"not json at all"* ]]
}

@test "a connection cut without a close frame: one clear line, exit 1" {
    serve drop
    run kleews image create fetch-auto
    [ "$status" -eq 1 ]
    [[ "$output" == *"partial"* ]]
    [[ "$output" == *"connection to kleened closed unexpectedly"* ]]
    [[ "$output" != *"Traceback"* ]]
}

@test "a quiet stretch is waited out" {
    serve slow
    run kleews image create fetch-auto
    [ "$status" -eq 0 ]
    [[ "$output" == *"done"*"image created"*"slow00000000"* ]]
}

@test "no daemon: unable to connect to kleened, exit 1" {
    run kleews image create fetch-auto
    [ "$status" -eq 1 ]
    [ "$output" = "unable to connect to kleened: $SOCK: No such file or directory" ]
}

@test "a server that refuses the upgrade: unable to connect, exit 1" {
    "$PY" - "$SOCK" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); c.recv(4096)
c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"); c.close()
EOF
    SERVER_PID=$!
    for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
    run kleews image create fetch-auto
    [ "$status" -eq 1 ]
    [[ "$output" == "unable to connect to kleened: "*"404"* ]]
}

@test "image create argument checks" {
    run "$KLEE" image create fetch
    [ "$status" -eq 2 ]
    [[ "$output" == *"The SOURCE argument is needed when creating images using the 'fetch' method."* ]]
    run "$KLEE" image create lolmethod
    [ "$status" -eq 2 ]
    [[ "$output" == *"Invalid value for 'METHOD'"* ]]
    run "$KLEE" image create fetch-auto extra
    [ "$status" -eq 2 ]
    [[ "$output" == *"too many arguments"* ]]
    run "$KLEE" image create
    [ "$status" -eq 0 ]
    [[ "$output" == "Usage: klee image create [OPTIONS] METHOD [SOURCE]"* ]]
}
