#!/usr/bin/python3
"""Slow clients against a live kleened (issue 12 item 5). Prints one JSON object.

usage:
  slow_clients.py hang ADDR N PROBES
      open N connections that send nothing (half of them a partial request head), then, while
      they hang, PROBES requests of a legitimate client (GET /version, each on a new
      connection): {"hung": N, "ok": k, "failed": [...], "latency_ms": {median, p90, max},
      "hung_closed": how many of the N kleened had closed by then}
  ws-hang ADDR N PROBES
      the same with N WebSocket sessions (/exec/start, upgraded) that never send their config
  deadline ADDR
      one connection that sends a partial head and one that sends nothing: what each gets
      and after how long: {"partial": {"status", "message", "after_ms"}, "silent": {...}}
  idle-first ADDR
      API_MAX_CONNECTIONS-1 connections waiting for their head, then a keep-alive client that
      made one request and idles, then one more connection: {"new_served": bool,
      "idle_closed": bool, "oldest_waiting_closed": bool}
  per-peer ADDR LIMIT
      LIMIT connections from 127.0.0.1 that hang, then one more from 127.0.0.1 and one from
      127.0.0.2: {"same_peer": {"status","message"}, "other_peer": {"status"}}
ADDR is a UNIX socket path or HOST:PORT."""
import json
import select
import socket
import statistics
import sys
import time

MAX_CONNECTIONS = 1024


def connect(addr, source=None, timeout=30):
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)  # blocking: waits for room in the listen backlog (as curl does)
        s.settimeout(timeout)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((host, int(port)))
    return s


def read_answer(s):
    """Status and body of one answer (Content-Length framing), or (None, reason)."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None, "closed" if not buf else "closed mid-answer"
            buf += d
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for l in lines[1:]:
            k, _, v = l.partition(":")
            if k.lower() == "content-length":
                length = int(v)
        while len(body) < length:
            d = s.recv(65536)
            if not d:
                break
            body += d
        return status, body[:length].decode("utf-8", "replace")
    except (ConnectionResetError, BrokenPipeError) as e:
        return None, type(e).__name__
    except socket.timeout:
        return None, "timeout"


def get_version(addr, keep_alive=False):
    s = connect(addr)
    s.sendall(b"GET /version HTTP/1.1\r\nHost: localhost\r\n" +
              (b"" if keep_alive else b"Connection: close\r\n") + b"\r\n")
    st, body = read_answer(s)
    if keep_alive:
        return s, st
    s.close()
    return None, st


def is_closed(s):
    """True if the peer closed (EOF or reset) the connection."""
    p = select.poll()
    p.register(s, select.POLLIN)
    if not p.poll(0):
        return False
    try:
        return s.recv(65536, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, OSError):
        return True


def ws_upgrade(addr):
    """A WebSocket upgrade to /exec/start, answered with 101, then silence (no config)."""
    s = connect(addr)
    s.sendall(b"GET /exec/start HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return s


def hang(addr, n, probes, websocket=False):
    hung = []
    for i in range(n):
        if websocket:
            s = ws_upgrade(addr)
        else:
            s = connect(addr)
            if i % 2:
                s.sendall(b"GET /containers/list HTTP/1.1\r\nHost: local")
        hung.append(s)
    time.sleep(0.5)
    lat, failed = [], []
    for _ in range(probes):
        t = time.monotonic()
        try:
            _, st = get_version(addr)
        except OSError as e:
            st = type(e).__name__
        ms = (time.monotonic() - t) * 1000
        if st == 200:
            lat.append(ms)
        else:
            failed.append(st)
    closed = sum(1 for s in hung if is_closed(s))
    for s in hung:
        s.close()
    lat.sort()
    out = {"hung": n, "ok": len(lat), "failed": failed, "hung_closed": closed}
    if lat:
        out["latency_ms"] = {"median": round(statistics.median(lat), 2),
                             "p90": round(lat[int(len(lat) * 0.9) - 1 if len(lat) > 1 else 0], 2),
                             "max": round(lat[-1], 2)}
    return out


def deadline(addr):
    t = time.monotonic()
    partial = connect(addr)
    partial.sendall(b"GET /version HTTP/1.1\r\nHost: loc")
    silent = connect(addr)
    out = {}
    for name, s in (("partial", partial), ("silent", silent)):
        st, body = read_answer(s)
        msg = None
        if st is not None:
            try:
                msg = json.loads(body).get("message")
            except ValueError:
                msg = body
        out[name] = {"status": st, "message": msg if st is not None else body,
                     "after_ms": round((time.monotonic() - t) * 1000)}
        s.close()
    return out


def idle_first(addr):
    waiting = [connect(addr) for _ in range(MAX_CONNECTIONS - 1)]
    time.sleep(0.3)
    idle, st = get_version(addr, keep_alive=True)
    assert st == 200, st
    time.sleep(0.3)
    _, st = get_version(addr)  # needs a slot: the idle keep-alive connection goes first
    time.sleep(0.3)
    out = {"new_served": st == 200, "idle_closed": is_closed(idle),
           "oldest_waiting_closed": is_closed(waiting[0]),
           "waiting_closed": sum(1 for s in waiting if is_closed(s))}
    for s in waiting + [idle]:
        s.close()
    return out


def per_peer(addr, limit):
    held = [connect(addr, "127.0.0.1") for _ in range(limit)]
    time.sleep(0.3)
    extra = connect(addr, "127.0.0.1")
    extra.sendall(b"GET /version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    st, body = read_answer(extra)
    other = connect(addr, "127.0.0.2")
    other.sendall(b"GET /version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    st2, _ = read_answer(other)
    for s in held + [extra, other]:
        s.close()
    msg = None
    try:
        msg = json.loads(body).get("message")
    except (ValueError, TypeError):
        msg = body
    return {"same_peer": {"status": st, "message": msg}, "other_peer": {"status": st2}}


def main():
    cmd, addr = sys.argv[1], sys.argv[2]
    if cmd == "hang":
        out = hang(addr, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "ws-hang":
        out = hang(addr, int(sys.argv[3]), int(sys.argv[4]), websocket=True)
    elif cmd == "deadline":
        out = deadline(addr)
    elif cmd == "idle-first":
        out = idle_first(addr)
    elif cmd == "per-peer":
        out = per_peer(addr, int(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
