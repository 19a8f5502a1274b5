#!/usr/bin/python3
"""A minimal Kubernetes CRI client (runtime.v1 over gRPC on a UNIX socket), enough to run a
pod the way the kubelet does, for the tests of a containerd runtime handler. The protobuf
messages are encoded and decoded here by hand (only the fields used), so that nothing but
python3-grpcio is needed.

usage: cri_client.py SOCKET COMMAND ARGS...
  run-pod NAME HANDLER LOGDIR     RunPodSandbox (host network) with runtime_handler HANDLER;
                                  prints the pod sandbox id
  create POD NAME LOGDIR IMAGE CMD...  CreateContainer in pod POD (the sandbox NAME, LOGDIR
                                  as given to run-pod); prints the container id
  start ID | stop ID TIMEOUT | rm ID | stop-pod POD | rm-pod POD
  exec ID CMD...                  ExecSync: prints stdout, exits with the command's status
  status ID                       ContainerStatus: prints "STATE EXIT_CODE"
Exit status 2 and the gRPC error on stderr when a call fails. $CRI_CGROUP_PARENT, if set,
is the pod's cgroup parent (LinuxPodSandboxConfig.cgroup_parent).
"""
import os
import sys

import grpc

SERVICE = "/runtime.v1.RuntimeService/"
STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_int(num, value):
    return varint(num << 3) + varint(value)


def decode(buf):
    """A message's fields: {number: [value, ...]}, values as int or bytes."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = read_varint(buf, i)
        elif wire == 2:
            ln, i = read_varint(buf, i)
            val, i = buf[i:i + ln], i + ln
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        fields.setdefault(num, []).append(val)
    return fields


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def sandbox_config(name, logdir):
    metadata = field_bytes(1, name) + field_bytes(2, name + "-uid") + field_bytes(3, "default")
    # linux.security_context.namespace_options.network = NODE (2): no CNI needed
    nsopts = field_int(1, 2)
    linux = field_bytes(2, field_bytes(1, nsopts))
    # linux.cgroup_parent: the pod's cgroups under a parent of the caller's choosing
    if os.environ.get("CRI_CGROUP_PARENT"):
        linux = field_bytes(1, os.environ["CRI_CGROUP_PARENT"]) + linux
    return field_bytes(1, metadata) + field_bytes(3, logdir) + field_bytes(8, linux)


def call(channel, method, request):
    fn = channel.unary_unary(SERVICE + method)
    return decode(fn(request, timeout=60))


def main():
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    channel = grpc.insecure_channel("unix://" + sock)
    try:
        if cmd == "run-pod":
            name, handler, logdir = args
            r = call(channel, "RunPodSandbox",
                     field_bytes(1, sandbox_config(name, logdir)) + field_bytes(2, handler))
            print(r[1][0].decode())
        elif cmd == "create":
            pod, name, logdir, image, command = args[0], args[1], args[2], args[3], args[4:]
            cfg = field_bytes(1, field_bytes(1, "c-" + name))
            cfg += field_bytes(2, field_bytes(1, image))
            for a in command:
                cfg += field_bytes(3, a)
            cfg += field_bytes(11, "c-" + name + ".log")
            r = call(channel, "CreateContainer",
                     field_bytes(1, pod) + field_bytes(2, cfg) +
                     field_bytes(3, sandbox_config(name, logdir)))
            print(r[1][0].decode())
        elif cmd == "start":
            call(channel, "StartContainer", field_bytes(1, args[0]))
        elif cmd == "stop":
            call(channel, "StopContainer", field_bytes(1, args[0]) + field_int(2, int(args[1])))
        elif cmd == "rm":
            call(channel, "RemoveContainer", field_bytes(1, args[0]))
        elif cmd == "stop-pod":
            call(channel, "StopPodSandbox", field_bytes(1, args[0]))
        elif cmd == "rm-pod":
            call(channel, "RemovePodSandbox", field_bytes(1, args[0]))
        elif cmd == "exec":
            req = field_bytes(1, args[0])
            for a in args[1:]:
                req += field_bytes(2, a)
            r = call(channel, "ExecSync", req + field_int(3, 30))
            sys.stdout.buffer.write(b"".join(r.get(1, [])))
            sys.stderr.buffer.write(b"".join(r.get(2, [])))
            sys.exit(r.get(3, [0])[0])
        elif cmd == "status":
            r = call(channel, "ContainerStatus", field_bytes(1, args[0]))
            st = decode(r[1][0])
            code = st.get(7, [0])[0]
            if code >= 1 << 31:
                code -= 1 << 64
            print(STATES.get(st.get(3, [0])[0], "?"), code)
        else:
            sys.exit("unknown command " + cmd)
    except grpc.RpcError as e:
        sys.stderr.write("%s: %s: %s\n" % (cmd, e.code(), e.details()))
        sys.exit(2)


main()
