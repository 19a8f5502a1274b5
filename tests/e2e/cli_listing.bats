#!/usr/bin/env bats
# Listings and scripting (issue 13 item 10), against a real kleened: lsc's status, addresses
# and ports; -q and --format on every ls; container filters; klee version; system df and
# prune; bash and zsh completion; man klee lists every command.
load helpers

SCRIPTS="$BATS_TEST_DIRNAME/../../scripts"
SRC="$BATS_TEST_DIRNAME/../.."

setup_file() {
  start_kleened
  "$SCRIPTS/mk-busybox-rootfs" "$E2E_DIR/rootfs" >/dev/null
  klee image create -t bb:latest zfs-copy "$E2E_DIR/rootfs" >/dev/null
}

teardown_file() { stop_kleened; }

teardown() {
  stop_containers
  api POST /containers/prune
  for n in $(curl -s --unix-socket "$SOCK" http://localhost/networks/list | jq -r '.[].id'); do
    api DELETE "/networks/$n"
  done
}

@test "lsc: Up, Exited (N) ... ago, Created; IP address and published ports; no JID column" {
  klee network create -t bridge --subnet 10.62.0.0/24 lsnet >/dev/null
  klee run -d --name up -n lsnet -p 8080:80 -p 5353:53/udp bb sleep 60 >/dev/null
  run klee run --name ex bb sh -c 'exit 3'
  [ "$status" -eq 3 ]
  klee create --name cr bb true >/dev/null
  run klee lsc -a
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == " CONTAINER ID "*" STATUS "*" IP ADDRESS "*" PORTS "* ]]
  [[ "${lines[0]}" != *JID* ]]
  echo "$output" | grep -E '^ [0-9a-f]{12} +up .* Up (Less than a second|[0-9]+ seconds) +10\.62\.0\.[0-9]+ +8080->80/tcp, 5353->53/udp *$'
  echo "$output" | grep -E '^ [0-9a-f]{12} +ex .* Exited \(3\) (Less than a second|[0-9]+ seconds?) ago'
  echo "$output" | grep -E '^ [0-9a-f]{12} +cr .* Created'
  # without -a only the running one
  run klee lsc
  [ "${#lines[@]}" -eq 3 ]
  # the original client's request (no state=true) is answered as before
  api GET '/containers/list?all=true'
  [ "$(echo "$body" | jq '[.[] | has("exit_code")] | any')" = false ]
  api GET '/containers/list?all=true&state=true'
  [ "$(echo "$body" | jq -r '.[] | select(.name == "ex") | .exit_code')" = 3 ]
}

@test "-q and --format (json, templates, table) on every ls; bad templates are errors" {
  klee volume create lv >/dev/null
  klee network create -t bridge --subnet 10.63.0.0/24 fmtnet >/dev/null
  cid=$(klee create --name fmt bb true | head -1)
  run klee lsc -a -q
  [ "$output" = "$cid" ]
  [ "$(klee lsi -q)" = "$(klee isi bb | jq -r .id)" ]
  [ "$(klee lsn -q)" = "$(klee isn fmtnet | jq -r .network.id)" ]
  [ "$(klee lsv -q)" = lv ]
  run klee lsc -a --format '{{.Name}}|{{.Status}}|{{.id}}|{{json .cmd}}'
  [ "$output" = "fmt|Created|$cid|[\"true\"]" ]
  run klee lsi --format '{{.Name}}:{{.Tag}}'
  [ "$output" = "bb:latest" ]
  run klee lsn --format '{{.name}} {{.Subnet}}'
  [ "$output" = "fmtnet 10.63.0.0/24" ]
  run klee lsv --format json
  [ "$(echo "$output" | jq -r .name)" = lv ]
  run klee lsc -a --format 'table {{.ID}}\t{{.Name}}'
  [ "${lines[0]}" = "$(printf 'ID\tNAME')" ]
  [ "${lines[1]}" = "$(printf '%s\tfmt' "$cid")" ]
  run klee lsc -a --format '{{.NoSuchField}}'
  [ "$status" -eq 1 ]
  [ "$output" = "template: no field 'NoSuchField'" ]
  run klee lsc --format '{{NoDot}}'
  [ "$status" -eq 2 ]
  klee rmv lv >/dev/null
}

@test "lsc -f: name, status (implies -a), id, image; repeated keys are alternatives; bad filters" {
  klee run -d --name alpha bb sleep 60 >/dev/null
  klee run --name beta bb true >/dev/null
  klee create --name gamma bb true >/dev/null
  [ "$(klee lsc -f status=exited --format '{{.Name}}')" = beta ]
  [ "$(klee lsc -f status=created --format '{{.Name}}')" = gamma ]
  [ "$(klee lsc -a -f name=alp --format '{{.Name}}')" = alpha ]
  [ "$(klee lsc -a -f name=alpha -f name=gamma --format '{{.Name}}' | sort | tr '\n' ' ')" = "alpha gamma " ]
  [ "$(klee lsc -a -f name=alpha -f status=exited --format '{{.Name}}')" = "" ]
  id=$(klee isc beta | jq -r .container.id)
  [ "$(klee lsc -a -f id=${id:0:5} --format '{{.Name}}')" = beta ]
  [ "$(klee lsc -a -f image=bb:latest -q | wc -l)" -eq 3 ]
  run klee lsc -f color=red
  [ "$status" -eq 2 ]
  [[ "$output" == *"invalid filter 'color=red'"* ]]
  run klee lsc -f status=sleeping
  [ "$status" -eq 2 ]
}

@test "klee version: client and daemon; system df; system prune" {
  run klee version
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "Client:" ]
  [[ "${lines[1]}" =~ ^" Version: "+[0-9] ]]
  [ "${lines[2]}" = "Server:" ]
  [[ "$output" == *"API version: 0.1.1"* ]]
  [[ "$output" == *"OS/Arch:     Linux/"* ]]
  run "$KLEE" --host "http:///nonexistent.sock" version
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = "Client:" ]
  [[ "$output" == *"unable to connect to kleened"* ]]

  klee volume create dfv >/dev/null
  klee run -d --name dfrun -m dfv:/data bb sleep 60 >/dev/null
  klee run --name dfstopped bb true >/dev/null
  klee network create -t bridge --subnet 10.64.0.0/24 unusednet >/dev/null
  run klee system df
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | grep -E '^ Images +1 +1 +[0-9.]+[kMG]?B *$'
  echo "$output" | grep -E '^ Containers +2 +1 +[0-9.]+[kMG]?B *$'
  echo "$output" | grep -E '^ Local Volumes +1 +1 +[0-9.]+[kMG]?B *$'
  api GET /system/df
  [ "$(echo "$body" | jq .images.size)" -gt 100000 ]

  run klee system prune </dev/null
  [ "$status" -eq 1 ]
  [[ "$output" == *"Aborted!"* ]]
  [ "$(klee lsc -a -q | wc -l)" -eq 2 ]
  run klee system prune -f
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Deleted Containers:"* ]]
  [[ "$output" == *"Deleted Networks:"* ]]
  [ "$(klee lsc -a --format '{{.Name}}')" = dfrun ]
  [ "$(klee lsn -q | wc -l)" -eq 0 ]
  [ "$(klee lsv -q)" = dfv ]
  stop_containers
  klee container prune -f >/dev/null
  run klee system prune -f --volumes
  [[ "$output" == *"Deleted Volumes:"* ]]
  [ "$(klee lsv -q | wc -l)" -eq 0 ]
  # the base image is tagged: kept
  [ "$(klee lsi -q | wc -l)" -eq 1 ]
}

# complete WORDS... (the last one is being completed) with bash's completion function
bash_complete() {
  PATH="$BUILD_DIR/src/cli:$PATH" bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _klee; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$SRC/etc/completion/klee.bash" "$@"
}

# the same with zsh's (compadd stubbed to print its candidates)
zsh_complete() {
  PATH="$BUILD_DIR/src/cli:$PATH" zsh -f -c 'compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" | sort | tr "\n" " " }; _files() { print FILES }; f=$1; shift; words=("$@"); CURRENT=$#; source $f' _ "$SRC/etc/completion/_klee" "$@"
}

@test "bash and zsh completion: commands, subcommands, options, container and image names" {
  command -v zsh >/dev/null || skip "zsh is not installed (scripts/install-deps)"
  klee run -d --name compl bb sleep 60 >/dev/null
  for complete in bash_complete zsh_complete; do
    run $complete klee ''
    [[ "$output" == *" container "* && "$output" == *" lsc "* && "$output" == *" system "* ]]
    run $complete klee container ''
    [[ "$output" == *"exec inspect kill logs ls prune"* ]]
    run $complete klee lsc -
    [[ "$output" == *"--all --filter --format --help --quiet"* ]]
    run $complete klee --host "http://$SOCK" stop co
    [ "$output" = "compl " ]
    run $complete klee -H "http://$SOCK" run ''
    [ "$output" = "bb:latest " ]
    run $complete klee --theme ''
    [ "$output" = "fancy simple " ]
  done
}

@test "man klee lists every command and shortcut klee has" {
  command -v man >/dev/null || skip "man is not installed"
  page=$(MANWIDTH=200 man -l "$SRC/man/klee.1" 2>/dev/null)
  groups=$(klee --help | awk '/^Commands:/ { f = 1; next } /^[^ ]/ { f = 0 } f && /^  [a-z]/ { print $1 }')
  [ -n "$groups" ]
  for g in $groups; do
    for c in $(klee "$g" --help | awk '/^Commands:/ { f = 1; next } /^[^ ]/ { f = 0 } f && /^  [a-z]/ { print $1 }'); do
      echo "$page" | grep -q "$g $c" || { echo "man klee lacks '$g $c'"; false; }
    done
  done
  for s in $(klee --help | awk '/^Shortcuts:/ { f = 1; next } /^[^ ]/ { f = 0 } f && /^  [a-z]/ { print $1 }'); do
    echo "$page" | grep -qw "$s" || { echo "man klee lacks shortcut '$s'"; false; }
  done
}

@test "logs --tail N, --since TIME|DURATION, -t; bad values are usage errors; the original's request unchanged" {
  klee run -d --name lg bb sh -c 'for i in 1 2 3 4 5; do echo out$i; done; echo err1 >&2; sleep 2; echo late; sleep 60' >/dev/null
  for _ in $(seq 1 50); do [ "$(klee logs --stdout lg | wc -l)" -ge 5 ] && break; sleep 0.1; done
  run klee logs --stdout --tail 2 lg
  [ "$output" = "$(printf 'out4\nout5')" ]
  run klee logs --stdout -n 0 lg
  [ "$output" = "" ]
  run klee logs --stdout --tail all lg
  [ "${#lines[@]}" -eq 5 ]
  [ "$(klee logs --stderr --tail 1 lg 2>&1 >/dev/null)" = err1 ]
  run klee logs --stdout -t --tail 1 lg
  [[ "$output" =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\ out5$ ]]
  for _ in $(seq 1 50); do klee logs --stdout lg | grep -q late && break; sleep 0.1; done
  run klee logs --stdout -t --tail 1 lg
  stamp=${output%% *}
  # since the time of late (inclusive): late; one second before it: still only late (the
  # other lines came two seconds earlier); three seconds before it: all six
  run klee logs --stdout --since "$stamp" lg
  [ "$output" = late ]
  run klee logs --stdout --since "$(date -u -d "${stamp%Z} UTC - 1 second" +%Y-%m-%dT%H:%M:%S.%6NZ)" lg
  [ "$output" = late ]
  run klee logs --stdout --since "$(date -u -d "${stamp%Z} UTC - 3 seconds" +%Y-%m-%dT%H:%M:%SZ)" lg
  [ "${#lines[@]}" -eq 6 ]
  run klee logs --stdout --since 10m lg
  [ "${#lines[@]}" -eq 6 ]
  run klee logs --stdout --since "$(($(date -u +%s) + 1))" lg
  [ "$output" = "" ]
  run klee logs --tail x lg
  [ "$status" -eq 2 ]
  run klee logs --since yesterday lg
  [ "$status" -eq 2 ]
  api GET '/containers/lg/logs?since=noon'
  [ "$status_code" = 422 ]
  # without the new parameters: everything, as before
  api GET '/containers/lg/logs'
  [ "$(echo "$body" | grep -c .)" -eq 7 ]
}
