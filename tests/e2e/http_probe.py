#!/usr/bin/python3
"""A raw HTTP/1.1 client for the wire tests of api_http.bats: it sends exactly the bytes it is
given and reports exactly what comes back, one JSON object per line.

usage: http_probe.py TARGET STEP...
       http_probe.py TARGET --parallel N REQUEST

TARGET is a UNIX socket path (it starts with '/') or HOST:PORT.

Steps, run in order on one connection:
  --send TEXT      send TEXT; backslash escapes (\\r \\n \\t \\xNN \\\\) are decoded first
  --sleep SECONDS  pause
  --timeout SECS   the read timeout of the following steps (default 5)
  --recv N         read N responses (a 1xx interim response counts as one) and print each as
                   {"status", "version", "reason", "headers" (names lowercased), "body",
                    "framing" ("length", "chunked", "close" or "none"), "at"}
  --recv-final     read responses until a final (non-1xx) one, printing each
  --eof SECONDS    wait up to SECONDS for the server to close the connection; prints
                   {"eof": true|false, "after": seconds waited, "data": bytes that came first}

"at" is seconds since the connection was made. When a step fails (the server closed the
connection or did not answer in time) the probe prints {"error": ..., "at": ...} and stops
with exit status 1.

--parallel N opens N connections first, then sends REQUEST (escapes decoded) on each, the last
opened first, reads one response from each and prints {"statuses": [...]} in connection order.
"""
import codecs
import json
import socket
import sys
import time


class ProbeError(Exception):
    pass


def connect(target, timeout):
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = target
    else:
        host, port = target.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = (host, int(port))
    s.settimeout(timeout)
    s.connect(addr)
    return s


def unescape(text):
    return codecs.escape_decode(text.encode("utf-8"))[0]


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.closed = False
        self.t0 = time.monotonic()

    def at(self):
        return round(time.monotonic() - self.t0, 3)

    def fill(self):
        """Read more bytes into the buffer; False at the end of the stream."""
        if self.closed:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except socket.timeout:
            raise ProbeError("timeout")
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def read_until(self, sep):
        while sep not in self.buf:
            if not self.fill():
                raise ProbeError("closed")
        head, self.buf = self.buf.split(sep, 1)
        return head

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise ProbeError("closed")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProbeError("bad status line: " + lines[0][:200])
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        if 100 <= status < 200 or status in (204, 304):
            framing, body = "none", b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            framing, body = "chunked", b""
            while True:
                size_line = self.read_until(b"\r\n").decode("latin-1")
                size = int(size_line.split(";", 1)[0].strip(), 16)
                if size == 0:
                    while self.read_until(b"\r\n"):  # trailer fields, then the empty line
                        pass
                    break
                body += self.read_exact(size)
                self.read_exact(2)
        elif "content-length" in headers:
            framing = "length"
            body = self.read_exact(int(headers["content-length"]))
        else:
            framing = "close"
            while self.fill():
                pass
            body, self.buf = self.buf, b""
        return {"status": status, "version": version, "reason": reason, "headers": headers,
                "body": body.decode("utf-8", "replace"), "framing": framing, "at": self.at()}

    def wait_eof(self, seconds):
        start = time.monotonic()
        data = self.buf
        self.buf = b""
        eof = self.closed
        deadline = start + seconds
        while not eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            except socket.timeout:
                break
            if not chunk:
                eof = True
                self.closed = True
            data += chunk
        return {"eof": eof, "after": round(time.monotonic() - start, 3),
                "data": data.decode("utf-8", "replace")}


def emit(obj):
    print(json.dumps(obj), flush=True)


def run_steps(target, args):
    timeout = 5.0
    steps = []
    while args:
        a = args.pop(0)
        if a in ("--send", "--sleep", "--timeout", "--recv", "--eof"):
            steps.append((a, args.pop(0)))
        elif a == "--recv-final":
            steps.append((a, None))
        else:
            sys.exit("unknown argument " + a)
    conn = Conn(connect(target, timeout))
    try:
        for op, val in steps:
            if op == "--send":
                try:
                    conn.sock.sendall(unescape(val))
                except (BrokenPipeError, ConnectionResetError) as e:
                    raise ProbeError("send: " + str(e))
            elif op == "--sleep":
                time.sleep(float(val))
            elif op == "--timeout":
                timeout = float(val)
                conn.sock.settimeout(timeout)
            elif op == "--recv":
                conn.sock.settimeout(timeout)
                for _ in range(int(val)):
                    emit(conn.read_response())
            elif op == "--recv-final":
                conn.sock.settimeout(timeout)
                while True:
                    r = conn.read_response()
                    emit(r)
                    if r["status"] >= 200:
                        break
            elif op == "--eof":
                emit(conn.wait_eof(float(val)))
    except ProbeError as e:
        emit({"error": str(e), "at": conn.at()})
        return 1
    finally:
        conn.sock.close()
    return 0


def run_parallel(target, n, request):
    conns = [Conn(connect(target, 10.0)) for _ in range(n)]
    data = unescape(request)
    for c in reversed(conns):
        c.sock.sendall(data)
    statuses = []
    for c in conns:
        try:
            statuses.append(c.read_response()["status"])
        except ProbeError as e:
            statuses.append(str(e))
        c.sock.close()
    emit({"statuses": statuses})
    return 0


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    target, args = sys.argv[1], sys.argv[2:]
    if args[0] == "--parallel":
        return run_parallel(target, int(args[1]), args[2])
    return run_steps(target, args)


sys.exit(main())
