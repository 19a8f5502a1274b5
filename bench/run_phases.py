#!/usr/bin/env python3
"""Benchmark (not a test): the daemon side of `klee run IMAGE /bin/true`, phase by phase.

Replays the three requests klee makes, each on its own connection like klee:
  create   POST /containers/create            (connect → 201 read)
  exec     POST /exec/create                  (connect → 201 read)
  ws_open  GET /exec/start upgrade            (connect → 101 read)
  starting config frame sent → "starting" message frame received
  output   "starting" → close frame received (the process's output, exit, closing message)
  total    create start → close frame
and prints median / min / max (ms) of each over RUNS runs.

  bench/run_phases.py [--runs 50] [--socket PATH] [--image busybox:bench] [--cmd /bin/true]

Without --socket it starts its own kleened (BUILD dir, default build/) on a temp root with a
busybox image, as root; with --socket it uses a running kleened that has --image.
--keep N keeps N containers (the default removes each container after its run, off the clock).
"""
import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def http(sock_path, method, path, body=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = json.dumps(body).encode() if body is not None else b""
    req = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data
    s.sendall(req)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if cl and len(rest) >= int(cl[0].split(b":")[1]):
                break
    s.close()
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, rest


def ws_frame(payload, opcode=1):
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | opcode])
    if n < 126:
        hdr += bytes([0x80 | n])
    elif n < 65536:
        hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Reader:
    def __init__(self, s, buf=b""):
        self.s, self.buf = s, buf

    def need(self, n):
        while len(self.buf) < n:
            c = self.s.recv(65536)
            if not c:
                raise EOFError("connection closed")
            self.buf += c
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self.need(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.need(8))[0]
        return b0 & 0x0F, self.need(n)


def one_run(sock, image, cmd):
    t = [time.perf_counter()]
    st, body = http(sock, "POST", "/containers/create", {
        "cmd": cmd, "env": [], "image": image, "jail_param": [], "mounts": [],
        "name": "ph" + os.urandom(6).hex(), "network_driver": "host", "persist": False, "public_ports": [],
        "restart_policy": "no", "user": ""})
    assert st == 201, (st, body)
    cid = json.loads(body)["id"]
    t.append(time.perf_counter())
    st, body = http(sock, "POST", "/exec/create",
                    {"container_id": cid, "cmd": [], "env": [], "user": "", "tty": False})
    assert st == 201, (st, body)
    xid = json.loads(body)["id"]
    t.append(time.perf_counter())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /exec/start HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        c = s.recv(65536)
        if not c:
            raise EOFError("no upgrade")
        buf += c
    head, _, rest = buf.partition(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0], head
    t.append(time.perf_counter())
    r = Reader(s, rest)
    s.sendall(ws_frame(json.dumps({"exec_id": xid, "attach": True,
                                   "start_container": True}).encode()))
    op, data = r.frame()
    assert op == 1 and json.loads(data)["msg_type"] == "starting", (op, data)
    t.append(time.perf_counter())
    while True:
        op, data = r.frame()
        if op == 8:
            break
    t.append(time.perf_counter())
    reason = json.loads(data[2:])
    assert data[:2] == b"\x03\xe8", (data, reason)
    s.sendall(ws_frame(data[:2], 8))
    s.close()
    return cid, [t[i + 1] - t[i] for i in range(len(t) - 1)] + [t[-1] - t[0]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--socket")
    ap.add_argument("--image", default="busybox:bench")
    ap.add_argument("--cmd", nargs="+", default=["/bin/true"])
    ap.add_argument("--keep", action="store_true", help="do not remove the containers")
    a = ap.parse_args()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.join(top, os.environ.get("BUILD", "build"))
    work = None
    proc = None
    sock = a.socket
    try:
        if not sock:
            work = tempfile.mkdtemp(prefix="kleene-phases.")
            subprocess.run([f"{top}/scripts/mk-busybox-rootfs", f"{work}/rootfs"], check=True,
                           stdout=subprocess.DEVNULL)
            with open(f"{work}/config.yaml", "w") as f:
                f.write(f"kleene_root: {work}/root\nrun_root: {work}/run\n"
                        f"pidfile: {work}/kleened.pid\nlog_level: warning\n"
                        f"api_listening_sockets:\n  - address: \"http://{work}/kleened.sock\"\n"
                        "docker_listening_sockets: []\n")
            sock = f"{work}/kleened.sock"
            proc = subprocess.Popen([f"{build}/src/daemon/kleened", "-c", f"{work}/config.yaml"],
                                    stderr=open(f"{work}/kleened.log", "w"))
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.02)
            subprocess.run([f"{build}/src/cli/klee", "--host", f"http://{sock}", "image",
                            "create", "zfs-copy", f"{work}/rootfs", "-t", a.image],
                           check=True, stdout=subprocess.DEVNULL)
            if os.environ.get("PHASES_PAUSE"):  # attach strace/perf to the printed pid
                print(f"kleened pid {proc.pid}, socket {sock}; press enter", flush=True)
                sys.stdin.readline()
        names = ["create", "exec", "ws_open", "starting", "output", "total"]
        res = {n: [] for n in names}
        for i in range(a.warmup + a.runs):
            cid, d = one_run(sock, a.image, a.cmd)
            if not a.keep:
                st, body = http(sock, "DELETE", f"/containers/{cid}")
                assert st == 200, (st, body)
            if i >= a.warmup:
                for n, v in zip(names, d):
                    res[n].append(v * 1000)
        print(f"{'phase':9s} {'median':>8s} {'min':>8s} {'max':>8s}   (ms, {a.runs} runs)")
        for n in names:
            v = res[n]
            print(f"{n:9s} {statistics.median(v):8.3f} {min(v):8.3f} {max(v):8.3f}")
    finally:
        if proc:
            proc.terminate()
            proc.wait()
        if work:
            with open("/proc/self/mountinfo") as f:
                mnts = sorted((l.split()[4] for l in f if f" {work}" in l), reverse=True)
            for m in mnts:
                subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
