#!/usr/bin/python3
"""Load on a live kleened: N clients for S seconds mixing lists, creates, removals and
WebSocket execs, every answer checked; fd, thread and RSS counts of kleened before, during
and after. Exits 1 on any error (a wrong status or body, a broken connection, a WebSocket
session that does not end as the API says).

usage: load.py --socket SOCK --pid PID --image IMAGE [--clients 64] [--seconds 60]
               [--settle 5] [--json OUT]

Each client keeps one keep-alive HTTP connection (reopened when kleened closes it) and opens
a connection per WebSocket session, as klee does. Objects are named load-<client>-<n> so
that clients never touch each other's. The caller starts and stops kleened (load.sh)."""
import argparse
import base64
import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Failure(Exception):
    pass


def ws_session(path, target, config, timeout=60):
    """One WebSocket session: handshake, send `config` as a text frame, read frames until the
    server's close. Returns (texts, close_code, close_reason)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (target, key)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                raise Failure("websocket %s: closed during the handshake" % target)
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise Failure("websocket %s: %r" % (target, head[:80]))
        payload = config.encode()
        mask = os.urandom(4)
        hdr = bytes([0x81])
        n = len(payload)
        hdr += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
        s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

        def need(k):
            nonlocal buf
            while len(buf) < k:
                d = s.recv(65536)
                if not d:
                    raise Failure("websocket %s: connection ended without a close frame" % target)
                buf += d
            out, buf = buf[:k], buf[k:]
            return out

        texts = []
        while True:
            b0, b1 = need(2)
            op, ln = b0 & 0x0F, b1 & 0x7F
            if ln == 126:
                ln = struct.unpack("!H", need(2))[0]
            elif ln == 127:
                ln = struct.unpack("!Q", need(8))[0]
            data = need(ln)
            if op == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                reason = data[2:].decode("utf-8", "replace")
                m = os.urandom(4)
                s.sendall(bytes([0x88, 0x82]) + m + bytes(b ^ m[i % 4] for i, b in
                                                          enumerate(data[:2])))
                return texts, code, reason
            if op in (0x1, 0x2, 0x0):
                texts.append(data.decode("utf-8", "replace"))
    finally:
        s.close()


class Client(threading.Thread):
    def __init__(self, n, args, stop_at, stats):
        super().__init__(daemon=True)
        self.n, self.args, self.stop_at, self.stats = n, args, stop_at, stats
        self.conn = None
        self.seq = 0
        self.rng = random.Random(n)

    def request(self, method, path, body=None, expect=(200,)):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = UnixHTTPConnection(self.args.socket)
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                self.conn.request(method, path, body=None if body is None else json.dumps(body),
                                  headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # kleened may close a keep-alive connection between two requests (idle, or
                # its slot given to a newer one): retry once on a fresh one, as clients do
                self.conn = None
                if attempt:
                    raise Failure("%s %s: %s" % (method, path, e))
        self.stats.count("requests")
        if r.status not in expect:
            raise Failure("%s %s -> %d %s" % (method, path, r.status, data[:200]))
        return json.loads(data) if data else None

    def name(self):
        self.seq += 1
        return "load-%d-%d" % (self.n, self.seq)

    def op_list(self):
        what = self.rng.choice(["/containers/list?all=true", "/images/list", "/networks/list",
                                "/volumes/list"])
        v = self.request("GET", what)
        if not isinstance(v, list):
            raise Failure("GET %s: not a list" % what)

    def op_container(self):
        name = self.name()
        cid = self.request("POST", "/containers/create",
                           {"name": name, "image": self.args.image, "cmd": ["/bin/true"],
                            "network_driver": "host"}, expect=(201,))["id"]
        v = self.request("GET", "/containers/%s/inspect" % name)
        if v["container"]["id"] != cid:
            raise Failure("inspect %s: id %s, created %s" % (name, v["container"]["id"], cid))
        self.request("DELETE", "/containers/" + cid)
        self.stats.count("containers")

    def op_volume(self):
        name = self.name()
        self.request("POST", "/volumes/create", {"name": name}, expect=(201,))
        self.request("GET", "/volumes/%s/inspect" % name)
        self.request("DELETE", "/volumes/" + name)
        self.stats.count("volumes")

    def op_network(self):
        name = self.name()
        nid = self.request("POST", "/networks/create", {"name": name, "type": "loopback"},
                           expect=(201,))["id"]
        self.request("DELETE", "/networks/" + nid)
        self.stats.count("networks")

    def op_exec(self):
        name = self.name()
        cid = self.request("POST", "/containers/create",
                           {"name": name, "image": self.args.image,
                            "cmd": ["/bin/echo", "hello " + name], "network_driver": "host"},
                           expect=(201,))["id"]
        eid = self.request("POST", "/exec/create", {"container_id": cid},
                           expect=(201,))["id"]
        texts, code, reason = ws_session(self.args.socket, "/exec/start", json.dumps(
            {"exec_id": eid, "attach": True, "start_container": True}))
        self.stats.count("requests")
        want = "executable %s and its container exited with exit-code 0" % eid
        if code != 1000 or json.loads(reason).get("message") != want:
            raise Failure("exec %s: close %s %r" % (eid, code, reason[:200]))
        if "hello %s\n" % name not in "".join(texts[1:]):
            raise Failure("exec %s: output %r" % (eid, texts[:5]))
        # the container has stopped when the attached session closed: remove it
        self.request("DELETE", "/containers/" + cid)
        self.stats.count("execs")

    def run(self):
        ops = [(self.op_list, 50), (self.op_container, 15), (self.op_volume, 10),
               (self.op_network, 5), (self.op_exec, 20)]
        fns = [f for f, w in ops for _ in range(w)]
        while time.monotonic() < self.stop_at:
            try:
                self.rng.choice(fns)()
            except (Failure, OSError, ValueError, KeyError, TypeError) as e:
                self.stats.error("client %d: %s: %s" % (self.n, type(e).__name__, e))
                self.conn = None
                time.sleep(0.1)
        if self.conn:
            self.conn.close()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = []

    def count(self, k):
        with self.lock:
            self.counts[k] = self.counts.get(k, 0) + 1

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)


def fd_targets(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return out


def sample(pid, with_fds=False):
    with open("/proc/%d/status" % pid) as f:
        st = dict(l.split(":", 1) for l in f if ":" in l)
    maps = stacks = 0
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            maps += 1
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            # anonymous 1 MiB read-write: the size of a connection thread's stack
            if hi - lo == 1 << 20 and fields[1] == "rw-p" and len(fields) == 5:
                stacks += 1
    out = {"rss_kb": int(st["VmRSS"].split()[0]), "threads": int(st["Threads"]),
           "fds": len(os.listdir("/proc/%d/fd" % pid)), "maps": maps,
           "stack_maps": stacks}
    if with_fds:
        out["fd_targets"] = sorted(fd_targets(pid))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()

    before = sample(args.pid, True)
    stats = Stats()
    start = time.monotonic()
    stop_at = start + args.seconds
    clients = [Client(i, args, stop_at, stats) for i in range(args.clients)]
    for c in clients:
        c.start()
    during = []
    while any(c.is_alive() for c in clients):
        during.append(sample(args.pid))
        time.sleep(0.5)
    elapsed = time.monotonic() - start
    time.sleep(args.settle)  # kleened's idle state after the load
    after = sample(args.pid, True)

    peak = {k: max(d[k] for d in during) for k in ("rss_kb", "threads", "fds", "maps", "stack_maps")} if during else before
    result = {"clients": args.clients, "seconds": round(elapsed, 1), "counts": stats.counts,
              "errors": len(stats.errors), "before": before, "peak": peak, "after": after}
    print("load: %d clients, %.1f s: %s" % (args.clients, elapsed, json.dumps(stats.counts)))
    print("load: errors: %d" % len(stats.errors))
    for e in stats.errors[:20]:
        print("load:   " + e)
    for k in ("rss_kb", "threads", "fds", "maps", "stack_maps"):
        print("load: %-8s before %7d  peak %7d  after %7d" % (k, before[k], peak[k], after[k]))
    gone = sorted(set(before["fd_targets"]) - set(after["fd_targets"]))
    new = sorted(set(after["fd_targets"]) - set(before["fd_targets"]))
    if gone or new:
        print("load: fds closed since before: %s; opened and kept: %s" % (gone, new))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
    sys.exit(1 if stats.errors or not stats.counts.get("requests") else 0)


if __name__ == "__main__":
    main()
