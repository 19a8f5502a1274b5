#!/usr/bin/env bats
# `klee container ...` (src/cli/container.c) against a fake kleened (fake_container_kleened.py:
# REST and the /exec/start WebSocket on one UNIX socket, every request recorded): the JSON
# bodies klee sends, the exec start frame, outputs, and exit codes.

BUILD_DIR=${KLEE_BUILD_DIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
KLEE="$BUILD_DIR/src/cli/klee"
PY=/usr/bin/python3

setup() {
    "$PY" -c 'import websockets' 2>/dev/null || skip "python3-websockets is not installed"
    TMP=$(mktemp -d /tmp/klee-ct.XXXXXX)
    SOCK="$TMP/k.sock"
    RECORD="$TMP/record.jsonl"
    : >"$RECORD"
    export HOME="$TMP" KLEE_CONFIG="$TMP/empty.yaml"
    : >"$KLEE_CONFIG"
    unset KLEE_HOST KLEE_THEME KLEE_TLS_VERIFY KLEE_TLS_CACERT KLEE_TLS_CERT KLEE_TLS_KEY KLEE_TLS_KERY
    "$PY" "$BATS_TEST_DIRNAME/fake_container_kleened.py" "$SOCK" "$RECORD" 2>"$TMP/server.log" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        [ -S "$SOCK" ] && return 0
        sleep 0.05
    done
    cat "$TMP/server.log" >&2
    return 1
}

teardown() {
    if [ -n "${SERVER_PID:-}" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}

k() { "$KLEE" --host "http://$SOCK" "$@"; }

# Recorded request number N (1-based), one expression of it, as sorted compact JSON.
req() {
    "$PY" -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]) - 1]
v = eval("r" + sys.argv[3])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":")))' "$RECORD" "$1" "$2"
}
nreq() { wc -l <"$RECORD"; }

@test "create sends every option in the ContainerConfig, then connects to the network" {
    run k create --name web -u www -e A=1 -e B=2 -m vol:/data -m /host:/mnt:ro -J allow.raw_sockets \
        -J mount.nodevfs -P --restart on-startup -l vnet -n net1 --ip 10.0.0.5 --ip6 fd00::5 \
        -p 8080:80 -p em0:53:53/udp -p 9000 img:1 /bin/sh -c 'echo -x'
    [ "$status" -eq 0 ]
    [ "$output" = "c0ffee000001" ]
    [ "$(req 1 '["path"]')" = "/containers/create" ]
    [ "$(req 1 '["body"]')" = '{"cmd":["/bin/sh","-c","echo -x"],"env":["A=1","B=2"],"image":"img:1","jail_param":["allow.raw_sockets","mount.nodevfs"],"mounts":[{"destination":"/data","read_only":false,"source":"vol","type":"volume"},{"destination":"/mnt","read_only":true,"source":"/host","type":"nullfs"}],"name":"web","network_driver":"vnet","persist":true,"public_ports":[{"container_port":"80","host_port":"8080","interfaces":[],"protocol":"tcp"},{"container_port":"53","host_port":"53","interfaces":["em0"],"protocol":"udp"},{"container_port":"9000","host_port":"9000","interfaces":[],"protocol":"tcp"}],"restart_policy":"on-startup","user":"www"}' ]
    [ "$(req 2 '["path"]')" = "/networks/connect" ]
    [ "$(req 2 '["body"]')" = '{"container":"c0ffee000001","ip_address":"10.0.0.5","ip_address6":"fd00::5","network":"net1"}' ]
    [ "$(nreq)" -eq 2 ]
}

@test "create defaults: no name (the daemon picks one), host driver, no network connect; ipnet and <auto> with -n" {
    run k create img
    [ "$status" -eq 0 ]
    [ "$(req 1 '["body"]["network_driver"]')" = "host" ]
    [ "$(req 1 '["body"]["restart_policy"]')" = "no" ]
    [ "$(req 1 '["body"]["cmd"]')" = "[]" ]
    [ "$(req 1 '["body"]["user"]')" = "" ]
    [ "$(req 1 '["body"]["name"]')" = "null" ]
    [ "$(nreq)" -eq 1 ]
    run k create -n net1 img
    [ "$status" -eq 0 ]
    [ "$(req 2 '["body"]["network_driver"]')" = "ipnet" ]
    [ "$(req 3 '["body"]')" = '{"container":"c0ffee000001","ip_address":"<auto>","ip_address6":"<auto>","network":"net1"}' ]
}

@test "options after IMAGE belong to the command" {
    run k run -d img ls -l --name x
    [ "$status" -eq 0 ]
    [ "$(req 1 '["body"]["cmd"]')" = '["ls","-l","--name","x"]' ]
}

@test "a malformed --mount exits 125 before any request" {
    run k run -m a:b:c:d img
    [ "$status" -eq 125 ]
    [ "$output" = "invalid mount format 'a:b:c:d'. Max 3 elements separated by ':'." ]
    run k create -m novalue img
    [ "$status" -eq 125 ]
    [ "$output" = "invalid mount format 'novalue'. Must have at least 2 elements separated by ':'." ]
    run k create -m a:b:x img
    [ "$status" -eq 125 ]
    [ "$output" = "invalid mount format 'a:b:x'. Last element should be either 'ro' or 'rw'." ]
    [ "$(nreq)" -eq 0 ]
}

@test "a bad --publish, --driver or --restart exits 1 with the original's message" {
    run k run -p 1:2:3:4 img
    [ "$status" -eq 1 ]
    [ "$output" = "could not decode port to publish: 1:2:3:4" ]
    run k create -l lolnet img
    [ "$status" -eq 1 ]
    [ "$output" = "Error! Could not validate container configuration: 'lolnet' is not a valid ContainerConfigNetworkDriver" ]
    run k create --restart always img
    [ "$status" -eq 1 ]
    [[ "$output" == *"'always' is not a valid ContainerConfigRestartPolicy" ]]
    [ "$(nreq)" -eq 0 ]
}

@test "create failure and network connect failure: one line each, exit 1, no container left" {
    run k create noimage
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 1 ]
    [ "${lines[0]}" = "could not create container: no such image 'noimage'" ]
    run k run -n badnet img
    [ "$status" -eq 1 ]
    [ "${lines[0]}" = "c0ffee000001" ]
    [ "${lines[1]}" = "could not connect container: network not found" ]
    [ "${#lines[@]}" -eq 2 ]
    # run stops there: no exec instance; the container it made is removed
    ! grep -q exec/create "$RECORD" || false
    [ "$(req "$(nreq)" '["method"]')" = DELETE ]
    [ "$(req "$(nreq)" '["path"]')" = /containers/c0ffee000001 ]
    : >"$RECORD"
    run k create -n badnet img
    [ "$status" -eq 1 ]
    [ "$(req 3 '["method"]')" = DELETE ]
}

@test "attached run: ids, output, closing message; exec create and start frame" {
    k run -e X=1 img /bin/echo hi >"$TMP/out" 2>"$TMP/err"
    printf 'c0ffee000001\ncreated execution instance e00000000001\nhello from e00000000001\n\nexecutable e00000000001 and its container exited with exit-code 0\n' >"$TMP/want"
    cmp "$TMP/out" "$TMP/want"
    [ ! -s "$TMP/err" ]
    [ "$(req 2 '["path"]')" = "/exec/create" ]
    [ "$(req 2 '["body"]')" = '{"cmd":[],"container_id":"c0ffee000001","env":[],"tty":false,"user":""}' ]
    [ "$(req 3 '["method"]')" = "WS" ]
    [ "$(req 3 '["path"]')" = "/exec/start" ]
    # multiplex: ours (docs/api.md); this fake daemon, like the original, does not confirm it
    [ "$(req 3 '["config"]')" = '{"attach":true,"exec_id":"e00000000001","multiplex":true,"start_container":true}' ]
}

@test "detached run prints the container id and the exec instance, attach false" {
    run k run -d img
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "c0ffee000001" ]
    [ "${lines[1]}" = "created execution instance e00000000001" ]
    [ "${#lines[@]}" -eq 2 ]
    [ "$(req 3 '["config"]')" = '{"attach":false,"exec_id":"e00000000001","start_container":true}' ]
}

@test "exec: body with cmd, env, user; exit code is the process's, both closing forms" {
    run k exec -e A=1 -u www abc exit 3
    [ "$status" -eq 3 ]
    [ "${lines[-1]}" = "executable e00000000001 and its container exited with exit-code 3" ]
    [ "$(req 1 '["body"]')" = '{"cmd":["exit","3"],"container_id":"abc","env":["A=1"],"tty":false,"user":"www"}' ]
    run k exec abc survive
    [ "$status" -eq 0 ]
    [ "${lines[-1]}" = "e00000000002 has exited with exit-code 0" ]
    run k exec abc exit 137
    [ "$status" -eq 137 ]
}

@test "exec failures: unknown container, start error (attached and detached)" {
    run k exec missing ls
    [ "$status" -eq 1 ]
    [ "${lines[0]}" = "container not found" ]
    [ "${lines[1]}" = "missing: error creating execution instance" ]
    run k exec abc fail
    [ "$status" -eq 1 ]
    [[ "$output" == *"error: executable already started"* ]]
    [[ "$output" == *"error starting exec instance"* ]]
    run k exec -d abc fail
    [ "$status" -eq 1 ]
    [ "${lines[-1]}" = "error starting container" ]
}

@test "exec -i forwards stdin as frames and relays the echo" {
    run bash -c "printf 'abcq' | '$KLEE' --host 'http://$SOCK' exec -i abc echo"
    [ "$status" -eq 0 ]
    [[ "$output" == *"abc"* ]]
    # a daemon that did not confirm multiplex gets no control messages in its stdin
    [[ "$output" != *"close_stdin"* ]]
    [[ "${lines[-1]}" == *"exited with exit-code 0" ]]
}

@test "exec -t sends tty true and, on a terminal, the window size" {
    run k exec -t abc ls
    [ "$status" -eq 0 ]
    [ "$(req 1 '["body"]["tty"]')" = "true" ]
    ! grep -q tty_rows "$RECORD" || false
    : >"$RECORD"
    script -qec "stty rows 33 cols 101; '$KLEE' --host 'http://$SOCK' exec -t abc ls" /dev/null >/dev/null
    [ "$(req 1 '["body"]["tty_rows"]')" = "33" ]
    [ "$(req 1 '["body"]["tty_cols"]')" = "101" ]
}

@test "run --rm asks kleened for auto_remove and removes the container after the attached run; -d leaves it to kleened" {
    run k run --rm img exit 2
    [ "$status" -eq 2 ]
    [ "$(req 1 '["body"]["auto_remove"]')" = "true" ]
    [ "$(req 4 '["path"]')" = "/containers/c0ffee000001/stop" ]
    [ "$(req 5 '["method"]')" = "DELETE" ]
    [ "$(req 5 '["path"]')" = "/containers/c0ffee000001" ]
    run k run --rm -d img
    [ "$status" -eq 0 ]
    [ "$(req 6 '["body"]["auto_remove"]')" = "true" ]
    # without --rm, nothing of ours is sent (the original's body)
    run k run -d img
    [ "$(req 9 '["body"]' | jq -r 'has("auto_remove") or has("workdir") or has("memory")')" = false ]
}

@test "start: attached one, detached several, attached several refused" {
    run k start abc
    [ "$status" -eq 0 ]
    [ "$(req 1 '["body"]')" = '{"cmd":[],"container_id":"abc","env":[],"tty":false,"user":""}' ]
    [ "$(req 2 '["config"]["attach"]')" = "true" ]
    run k start -d a b
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "created execution instance e00000000002" ]
    [ "${lines[1]}" = "created execution instance e00000000003" ]
    run k start a b
    [ "$status" -eq 1 ]
    [ "$output" = "only one container can be started when attaching to container I/O." ]
}

@test "stop, restart, rm and rm -f" {
    run k stop aaa missing bbb
    [ "$status" -eq 1 ]
    [ "${lines[0]}" = "fffffffffaaa" ]
    [ "${lines[1]}" = "container not found" ]
    [ "${#lines[@]}" -eq 2 ]
    run k restart aaa
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "fffffffffaaa" ]
    [ "${lines[1]}" = "created execution instance e00000000001" ]
    [ "$(req 4 '["body"]["container_id"]')" = "fffffffffaaa" ]
    [ "$(req 5 '["config"]["attach"]')" = "false" ]
    : >"$RECORD"
    run k rmc a running b
    [ "$status" -eq 1 ]
    [ "$output" = "$(printf 'fffffffffffa\nyou cannot remove a running container')" ]
    : >"$RECORD"
    run k rmc -f stopped
    [ "$status" -eq 0 ]
    [ "$output" = "fffffstopped" ]
    [ "$(req 1 '["path"]')" = "/containers/stopped/stop" ]
    [ "$(req 2 '["method"]')" = "DELETE" ]
}

@test "ls renders the canned list exactly (a daemon without state: running/stopped, JID kept); -a asks for all" {
    run k lsc
    [ "$status" -eq 0 ]
    [ "$(req 1 '["path"]')" = "/containers/list?all=false&state=true" ]
    [ "${lines[0]}" = " CONTAINER ID    NAME      IMAGE            COMMAND                                    CREATED       AUTORUN   STATUS    IP ADDRESS   PORTS   JID " ]
    [[ "${lines[1]}" =~ ^─+$ ]]
    [ "${lines[2]}" = " abc123def456    web       FreeBSD:latest   /bin/sh /etc/rc                            2 hours ago     yes     running                        7   " ]
    [ "${lines[3]}" = " 0123456789ab    builder   img000000002     Dockerfile                                 2 hours ago     no      stopped                            " ]
    [ "${lines[4]}" = " fedcba987654    long      app:1.0          /usr/local/bin/python3 -m http.server -…   2 hours ago     no      running                        12  " ]
    run k container ls -a
    [ "$(req 2 '["path"]')" = "/containers/list?all=true&state=true" ]
    run k --theme simple lsc
    [ "${lines[0]}" = " CONTAINER ID  | NAME    | IMAGE          | COMMAND                                  | CREATED     | AUTORUN | STATUS  | IP ADDRESS | PORTS | JID " ]
}

@test "inspect, update, rename, prune" {
    run k isc abc
    [ "$status" -eq 0 ]
    [[ "$output" == *'"container_endpoints": []'* ]]
    run k isc missing
    [ "$status" -eq 1 ]
    [ "$output" = "container not found" ]
    : >"$RECORD"
    run k container update --name new -u u -e A=1 -J p=1 -P --restart on-startup abc /bin/sh -c x
    [ "$status" -eq 0 ]
    [ "$output" = "fffffffffabc" ]
    [ "$(req 1 '["body"]')" = '{"cmd":["/bin/sh","-c","x"],"container":"abc","env":["A=1"],"jail_param":["p=1"],"mounts":[],"name":"new","persist":true,"public_ports":[],"restart_policy":"on-startup","user":"u"}' ]
    run k container update -e B=2 abc
    [ "$(req 2 '["body"]')" = '{"cmd":null,"container":"abc","env":["B=2"],"jail_param":null,"mounts":[],"name":null,"persist":null,"public_ports":[],"restart_policy":null,"user":null}' ]
    run k container rename abc newname
    [ "$status" -eq 0 ]
    [ "$(req 3 '["body"]')" = '{"cmd":null,"env":null,"jail_param":null,"mounts":[],"name":"newname","persist":null,"public_ports":[],"restart_policy":null,"user":null}' ]
    run k container rename missing x
    [ "$status" -eq 1 ]
    [ "$output" = "no such container 'missing'" ]
    run k container prune -f
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '0123456789ab\ndeadbeef0000')" ]
    run bash -c "echo n | '$KLEE' --host 'http://$SOCK' container prune"
    [ "$status" -eq 1 ]
    [[ "$output" == "WARNING! This will remove all stopped containers."* ]]
}

@test "logs: plain, followed (chunked, byte-exact), unknown container" {
    run k container logs abc
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'one\ntwo')" ]
    # a daemon that answers application/octet-stream (no multiplexing): the bytes on stdout
    [ "$(req 1 '["path"]')" = "/containers/abc/logs?follow=false&multiplex=true" ]
    k container logs -f abc >"$TMP/out"
    printf 'first\nsecond\n\xff raw\n' >"$TMP/want"
    cmp "$TMP/out" "$TMP/want"
    [ "$(req 2 '["path"]')" = "/containers/abc/logs?follow=true&multiplex=true" ]
    run k container logs missing
    [ "$status" -eq 1 ]
    [ "$output" = "container not found" ]
}

@test "shortcuts exist and bare commands print help" {
    for s in create exec run start stop restart lsc isc rmc; do
        run k "$s" --help
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "Usage: "* ]]
    done
    run k container run
    [ "$status" -eq 0 ]
    [[ "$output" == *"--publish"* ]]
}
