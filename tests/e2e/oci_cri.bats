#!/usr/bin/env bats
# A containerd runtime handler, the way a Kubernetes RuntimeClass selects the runtime: the
# CRI plugin of containerd 1.6 with `containerd.runtimes.kleene` (runc shim, BinaryName =
# the runtime under test), driven over the CRI gRPC API by tests/e2e/cri_client.py as the
# kubelet would: RunPodSandbox with runtime_handler "kleene" (host network: no CNI), a
# container in the pod, ExecSync, StopContainer, RemoveContainer, StopPodSandbox,
# RemovePodSandbox. OCI_RUNTIME=/usr/sbin/runc runs the same tests against runc.
load oci_clients

CRI_PY=/usr/bin/python3

setup_file() {
  oci_require containerd ctr "$CRI_PY" || return 0
  if ! "$CRI_PY" -c 'import grpc' 2>/dev/null; then
    export OCI_SKIP="python3-grpcio is not installed (scripts/install-deps)"
    return 0
  fi
  oci_ns_start
  export CRI_CGROUP_PARENT="/kle2e-cri-$$"
  mkdir -p "$OCI_DIR/ctd" "$OCI_DIR/rt" "$OCI_DIR/cni" "$OCI_DIR/logs"
  # restrict_oom_score_adj: the sandbox asks for oom_score_adj -998, which needs
  # CAP_SYS_RESOURCE, missing here (HOST-FACTS.md); sandbox_image: our own, offline
  cat >"$OCI_DIR/ctd/config.toml" <<TOML
version = 2
root = "$OCI_DIR/ctd/root"
state = "$OCI_DIR/ctd/state"
[grpc]
  address = "$OCI_DIR/ctd/ctd.sock"
[ttrpc]
  address = "$OCI_DIR/ctd/ctd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/kleene-e2e/pause:latest"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$OCI_DIR/cni"
    conf_dir = "$OCI_DIR/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kleene]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kleene.options]
      BinaryName = "$OCI_RT"
      Root = "$OCI_DIR/rt"
TOML
  oci_daemon_start containerd "ctr -a $OCI_DIR/ctd/ctd.sock version" \
    containerd --config "$OCI_DIR/ctd/config.toml"
  oci_make_image
  # the pod's sandbox ("pause") image: the same rootfs, sleeping
  umoci new --image "$OCI_DIR/image/oci:pause"
  umoci insert --image "$OCI_DIR/image/oci:pause" "$OCI_DIR/image/rootfs" / >/dev/null
  umoci config --image "$OCI_DIR/image/oci:pause" --config.cmd sleep --config.cmd 1000000 \
    --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
  skopeo copy -q "oci:$OCI_DIR/image/oci:pause" "docker-archive:$OCI_DIR/pause.tar:kleene-e2e/pause:latest"
  ons ctr -a "$OCI_DIR/ctd/ctd.sock" -n k8s.io image import "$OCI_DIR/busybox.tar" >/dev/null
  ons ctr -a "$OCI_DIR/ctd/ctd.sock" -n k8s.io image import "$OCI_DIR/pause.tar" >/dev/null
}

teardown_file() {
  [ -z "${OCI_SKIP:-}" ] || return 0
  [ -n "${OCI_DIR:-}" ] && oci_daemon_stop containerd
  oci_ns_stop "${CRI_CGROUP_PARENT#/}"
}

cri() { "$CRI_PY" "$BATS_TEST_DIRNAME/cri_client.py" "$OCI_DIR/ctd/ctd.sock" "$@"; }
# the runtime's own list, in the root the handler gave it (containerd adds the namespace)
rt_list() { ons "$OCI_RT" --root "$OCI_DIR/rt/k8s.io" list -q; }

@test "CRI runtime handler: a pod and a container in it run through the runtime; ExecSync" {
  pod=$(cri run-pod p1 kleene "$OCI_DIR/logs")
  cid=$(cri create "$pod" p1 "$OCI_DIR/logs" "$OCI_IMAGE" sleep 300)
  cri start "$cid"
  run cri status "$cid"
  [ "$output" = "running 0" ]
  # in the cgroup the pod's cgroup_parent names
  [ -d "/sys/fs/cgroup/pids$CRI_CGROUP_PARENT/$cid" ]
  # both are the runtime's: the handler selected it
  run rt_list
  [[ "$output" == *"$pod"* ]]
  [[ "$output" == *"$cid"* ]]
  run cri exec "$cid" sh -c 'echo cri-$((6*7)); cat /proc/1/cmdline'
  [ "$status" -eq 0 ]
  [[ "$output" == "cri-42"*"sleep1000000"* ]] # the pod's pid namespace: pid 1 is the sandbox
  run cri exec "$cid" sh -c 'exit 3'
  [ "$status" -eq 3 ]
}

@test "CRI StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox: nothing left" {
  pod=$(cri run-pod p2 kleene "$OCI_DIR/logs")
  cid=$(cri create "$pod" p2 "$OCI_DIR/logs" "$OCI_IMAGE" sleep 300)
  cri start "$cid"
  cri stop "$cid" 10
  run cri status "$cid"
  [ "$output" = "exited 143" ] # SIGTERM; sleep is not pid 1 in the pod
  cri rm "$cid"
  cri stop-pod "$pod"
  cri rm-pod "$pod"
  run rt_list
  [[ "$output" != *"$pod"* ]]
  [[ "$output" != *"$cid"* ]]
  [ ! -e "/sys/fs/cgroup/pids$CRI_CGROUP_PARENT/$cid" ]
}
