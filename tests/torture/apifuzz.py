#!/usr/bin/python3
"""API fuzzer: drives a live (ASan) kleened from its own route table and request schemas
(the JSON of api_schema_dump) with malformed, wrongly typed, huge and hostile requests, for a
bounded time. Prints the number of requests and every finding; exits 1 if there is any.

usage: apifuzz.py --socket SOCK --pid PID --dump DUMP.json --workdir DIR --image IMAGE
                  [--seconds 60] [--seed N] [--json OUT]

A finding is: kleened gone, a 5xx answer, an answer that is not HTTP or whose body is not
the JSON the API promises, a REST request left without an answer (connection closed or 20 s
of silence), a WebSocket upgrade that neither answers nor closes with a close frame. The
caller checks kleened's log for sanitizer reports after stopping it (apifuzz.sh, apifuzz.bats).

Fields that reach the host (paths of contexts, datasets and bind mounts, URLs, commands) only
get values from safe lists: hostile strings, but never a host path outside --workdir that
could be copied, mounted or run."""
import argparse
import base64
import gzip
import io
import json
import os
import random
import socket
import struct
import sys
import tarfile
import time
import urllib.parse

HOSTILE = [
    "", " ", ".", "..", "../../etc", "../../../../../../etc/passwd", "/", "//", "a/b",
    "a\nb", "a\r\nX-Injected: 1", "\u202eevil", "\u0000", "nul\u0000byte", "\t", "%00", "%2e%2e",
    "%", "%zz", "caf\u00e9", "\U0001f600", "\ufeff", "\udfff", "-", "-rf", "--help",
    "$(id)", "`id`", "; id", "| id", "'", "\"", "\\", "{}", "[]", "null", "true", "0", "-1",
    "<auto>", "<host-gateway>", "*", "?", "#", "@", "@snap", "img@", "a:b:c", ":", "name:",
    ":tag", "x" * 256, "y" * 4096, "z" * 70000, "\u00e9" * 300,
]
NUMBERS = [0, 1, -1, 2, 255, 256, 65535, 65536, 1 << 31, -(1 << 31), (1 << 63) - 1, -(1 << 63),
           1 << 64, 10 ** 30, 0.5, -0.5, 1e308, -1e308, 1e-308, 3.14159]
SAFE_CMDS = [["/bin/true"], ["/bin/false"], ["/bin/echo", "fuzz"], ["/bin/sh", "-c", "exit 3"],
             ["/nonexistent"], [""], ["/bin/echo"] + ["\u202e", "a\nb", "$(id)"], [],
             ["/bin/sh", "-c", "echo $HOME; pwd"]]


class Finding(Exception):
    pass


class Fuzzer:
    def __init__(self, args, dump):
        self.a = args
        self.rng = random.Random(args.seed)
        self.routes = dump["routes"]
        self.schemas = dump["schemas"]
        self.known = {"container": [], "image": [args.image], "network": [], "volume": [],
                      "exec": []}
        self.sent = 0
        self.statuses = {}
        self.findings = []
        self.time_by_route = {}
        w = args.workdir
        self.safe_paths = ["", w, w + "/missing", w + "/ctx", "relative/path", "../../x",
                           w + "/ctx/../ctx", "/proc/self/root/nonexistent", "x" * 5000]
        self.safe_urls = ["", "file://%s/missing.tar" % w, "file:///nonexistent",
                          "http://127.0.0.1:1/x.tar", "https://[::1]:1/", "ftp://x/y",
                          "gopher://x", "file://" + "a" * 5000, "not a url", "http://%zz"]

    # ---- values ---------------------------------------------------------------------------
    def pick(self, v):
        return self.rng.choice(v)

    def name_like(self):
        r = self.rng.random()
        if r < 0.5:
            return "fz%d" % self.rng.randrange(50)
        return self.pick(HOSTILE)

    def ident(self, kind):
        """An id or name of a kind of object: a known one, a prefix of it, or hostile."""
        known = self.known.get(kind) or []
        r = self.rng.random()
        if known and r < 0.5:
            k = self.pick(known)
            return k[: self.rng.randrange(1, len(k) + 1)] if self.rng.random() < 0.2 else k
        if r < 0.6:
            return "%012x" % self.rng.getrandbits(48)
        return self.name_like()

    def field_value(self, name, spec):
        """A value for a named field: special cases for fields that reach the host."""
        n = name
        if n in ("context", "zfs_dataset"):
            return self.pick(self.safe_paths)
        if n == "url":
            return self.pick(self.safe_urls)
        if n == "dockerfile":
            return self.pick(["Dockerfile", "missing", "../x", "", "x" * 300, "\n"])
        if n == "cmd" and spec["type"] == "array":
            return list(self.pick(SAFE_CMDS))
        if n in ("container_id", "container"):
            return self.ident("container")
        if n == "network":
            return self.ident("network")
        if n == "exec_id":
            return self.ident("exec")
        if n == "image":
            return self.pick([self.ident("image"), self.a.image, self.a.image + ":latest",
                              self.a.image + "@x", "nonexisting"])
        if n == "mounts" and spec["type"] == "array":
            out = []
            for _ in range(self.rng.randrange(3)):
                t = self.pick(["volume", "nullfs", "bogus"])
                src = self.name_like() if t == "volume" else self.pick(self.safe_paths)
                out.append({"type": t, "source": src,
                            "destination": self.pick(["/mnt", "/data", "relative", "/", "/../..",
                                                      "/proc/x", "/mnt/" + "d" * 300, ""]),
                            "read_only": self.rng.random() < 0.5})
            return out
        if n == "name":
            return self.name_like()
        return None

    def gen(self, spec, name="", depth=0):
        special = self.field_value(name, spec) if name else None
        if special is not None and self.rng.random() < 0.9:
            return special
        t = spec["type"]
        if "enum" in spec and self.rng.random() < 0.7:
            return self.pick(spec["enum"])
        if t == "string":
            return self.pick(HOSTILE) if self.rng.random() < 0.6 else self.name_like()
        if t == "integer":
            return self.pick(NUMBERS[:14]) if self.rng.random() < 0.8 else self.pick(NUMBERS)
        if t == "number":
            return self.pick(NUMBERS)
        if t == "boolean":
            return self.rng.random() < 0.5
        if t == "array":
            if depth > 3:
                return []
            return [self.gen(spec["items"], "", depth + 1) for _ in range(self.rng.randrange(4))]
        if t == "object":
            if "schema" in spec and depth < 4:
                return self.gen_object(spec["schema"], depth + 1)
            return {self.pick(HOSTILE)[:50]: self.pick(HOSTILE)[:100]
                    for _ in range(self.rng.randrange(3))}
        return None

    def valid(self, spec, name, depth=0):
        """A value that the API should accept, so that requests reach deep into the engine."""
        n, t = name, spec["type"]
        special = {
            "subnet": lambda: "10.%d.%d.0/24" % (self.rng.randrange(200), self.rng.randrange(250)),
            "subnet6": lambda: "fd00:%x::/64" % self.rng.randrange(4096),
            "gateway": lambda: self.pick(["<auto>", ""]),
            "gateway6": lambda: self.pick(["<auto>", ""]),
            "interface": lambda: "", "nat": lambda: self.pick(["", "<host-gateway>"]),
            "host_port": lambda: str(self.rng.randrange(8000, 8100)),
            "container_port": lambda: self.pick(["80", "8080", "53"]),
            "ip_address": lambda: self.pick(["<auto>", ""]), "ip_address6": lambda: "",
            "memory": lambda: self.pick([None, 64 << 20, 0]),
            "cpus": lambda: self.pick([None, 0.5, 1]), "pids_limit": lambda: self.pick([None, 100]),
            "tty_rows": lambda: 24, "tty_cols": lambda: 80,
            "user": lambda: self.pick(["", "root", "nobody"]),
            "env": lambda: self.pick([[], ["A=1"], ["PATH=/bin", "X=y z"]]),
            "jail_param": lambda: self.pick([[], ["mount.nodevfs"], ["host.hostname=fz"]]),
            "tag": lambda: self.pick(["", "fz:%d" % self.rng.randrange(5)]),
            "nametag": lambda: "fz%d:latest" % self.rng.randrange(5),
            "buildargs": lambda: {}, "name": lambda: "fz%d" % self.rng.randrange(50),
            "network_driver": lambda: self.pick(["host", "disabled", "vnet", "ipnet"]),
            "public_ports": lambda: [], "interfaces": lambda: [],
        }
        if n in special:
            return special[n]()
        v = self.field_value(n, spec)
        if v is not None:
            return v
        if "enum" in spec:
            return self.pick(spec["enum"])
        if t == "string":
            return "fz%d" % self.rng.randrange(50)
        if t in ("integer", "number"):
            return self.rng.randrange(1, 100)
        if t == "boolean":
            return self.rng.random() < 0.5
        if t == "array":
            return [] if depth > 2 else [self.valid(spec["items"], "", depth + 1)
                                         for _ in range(self.rng.randrange(2))]
        if t == "object":
            if "schema" in spec and depth < 3:
                sch = self.schemas[spec["schema"]]
                return {f["name"]: self.valid(f, f["name"], depth + 1) for f in sch["fields"]}
            return {}
        return None

    def nearly_valid(self, schema_name):
        """Every field valid but (sometimes) one, hostile or of the wrong type."""
        sch = self.schemas[schema_name]
        out = {f["name"]: self.valid(f, f["name"]) for f in sch["fields"]}
        if sch["fields"] and self.rng.random() < 0.6:
            f = self.pick(sch["fields"])
            out[f["name"]] = self.wrong(f) if self.rng.random() < 0.3 else self.gen(f, f["name"])
        return out

    def wrong(self, spec):
        """A value of another type than the field's."""
        choices = [None, self.pick(NUMBERS), True, "str", [], {}, [1, "a", None], {"a": {}},
                   "true", "1e999", [[[[[]]]]]]
        return self.pick(choices)

    def gen_object(self, schema_name, depth=0, mutate=0.15):
        sch = self.schemas[schema_name]
        out = {}
        for f in sch["fields"]:
            r = self.rng.random()
            if r < 0.15 and not f["required"]:
                continue  # absent
            if r < 0.15 + mutate:
                out[f["name"]] = self.wrong(f)
            else:
                out[f["name"]] = self.gen(f, f["name"], depth)
        if self.rng.random() < 0.1:
            out[self.pick(HOSTILE)[:40] or "extra"] = self.pick(HOSTILE)[:40]
        if self.rng.random() < 0.05 and out:
            del out[self.pick(list(out))]
        return out

    def body_bytes(self, schema_name):
        r = self.rng.random()
        if r < 0.3:  # valid, or one field off: reaches the engine
            return json.dumps(self.nearly_valid(schema_name)).encode(), "application/json"
        if r < 0.45:  # the right types, hostile values: reaches the handlers
            return json.dumps(self.gen_object(schema_name, mutate=0)).encode(), "application/json"
        if r < 0.75:
            return json.dumps(self.gen_object(schema_name)).encode(), "application/json"
        if r < 0.80:
            return b"[" * self.rng.choice([10, 1000, 100000]), "application/json"
        if r < 0.85:
            return self.pick([b"{", b"{\"a\":}", b"nul", b"\xff\xfe", b"{\"name\":\"\\ud800\"}",
                              b"1e99999", b"\"x\"", b"[]", b"null", b"{\"a\":1,\"a\":2}"]), \
                "application/json"
        if r < 0.90:
            big = json.dumps({"name": "n" * self.rng.choice([60000, 1100000]), "type": "bridge"})
            return big.encode(), "application/json"
        if r < 0.95:
            return json.dumps(self.gen_object(schema_name)).encode(), \
                self.pick(["text/plain", "", "application/jsonx", "application/json; charset=x"])
        return json.dumps(self.gen_object(schema_name, mutate=0.6)).encode(), "application/json"

    def path_for(self, pattern):
        segs = []
        for seg in pattern.split("/")[1:]:
            if seg.startswith("{"):
                kind = seg[1:-1].split("_")[0]
                v = self.ident({"container": "container", "image": "image", "network": "network",
                                "volume": "volume", "exec": "exec"}.get(kind, "container"))
                if self.rng.random() < 0.1:
                    segs.append(self.pick(["%2F", "%00", "%ff", "%2e%2e", "a%20b", "%", "%%"]))
                else:
                    segs.append(urllib.parse.quote(v.encode("utf-8", "surrogatepass"), safe=""))
            else:
                segs.append(seg)
        return "/" + "/".join(segs)

    def query_for(self, schema_name):
        if not schema_name and self.rng.random() < 0.8:
            return ""
        pairs = []
        if schema_name:
            for f in self.schemas[schema_name]["fields"]:
                if self.rng.random() < 0.8 or f["required"] and self.rng.random() < 0.9:
                    v = self.gen(f, f["name"]) if self.rng.random() < 0.7 else self.wrong(f)
                    v = json.dumps(v) if not isinstance(v, str) else v
                    pairs.append((f["name"], v))
        if self.rng.random() < 0.2:
            pairs.append((self.pick(HOSTILE)[:20], self.pick(HOSTILE)[:50]))
        q = urllib.parse.urlencode([(k.encode("utf-8", "surrogatepass"),
                                     v.encode("utf-8", "surrogatepass")) for k, v in pairs])
        if self.rng.random() < 0.05:
            q = self.pick(["a=%zz", "&&&", "=", "a=1&" * 40, "%00=1", "a=%ff"])
        return "?" + q if q else ""

    def archive_bytes(self):
        """A body for an archive upload: a small tar (sometimes with hostile names or links),
        compressed or not, cut short, or random bytes."""
        r = self.rng.random()
        if r < 0.2:
            return os.urandom(self.rng.randrange(0, 3000))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for _ in range(self.rng.randrange(1, 4)):
                name = self.pick(["f", "d/f", "../x", "/abs", "a/../../b", "x" * 300, "l", "."])
                i = tarfile.TarInfo(name)
                kind = self.rng.random()
                if kind < 0.2:
                    i.type, i.linkname = tarfile.SYMTYPE, self.pick(["/etc", "../..", "f"])
                    t.addfile(i)
                elif kind < 0.3:
                    i.type, i.linkname = tarfile.LNKTYPE, self.pick(["/etc/passwd", "../y", "f"])
                    t.addfile(i)
                elif kind < 0.4:
                    i.type = tarfile.DIRTYPE
                    t.addfile(i)
                else:
                    data = os.urandom(self.rng.randrange(0, 2000))
                    i.size = len(data)
                    t.addfile(i, io.BytesIO(data))
        data = buf.getvalue()
        if r < 0.35:
            data = gzip.compress(data)
        elif r < 0.45:
            data = data[:self.rng.randrange(0, len(data))]
        return data

    # ---- transport -------------------------------------------------------------------------
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.a.socket)
        s.settimeout(20)
        return s

    def http(self, method, target, body=None, ctype="application/json", raw=None):
        """One request on its own connection: (status, headers, body) or a Finding."""
        s = self.connect()
        try:
            if raw is None:
                head = "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" % (method,
                                                                                      target)
                if body is not None:
                    if ctype:
                        head += "Content-Type: %s\r\n" % ctype
                    head += "Content-Length: %d\r\n" % len(body)
                raw = head.encode("utf-8", "surrogatepass") + b"\r\n" + (body or b"")
            is_raw = method is None
            try:
                s.sendall(raw)
                if is_raw:  # a malformed request may be incomplete: end it, do not wait
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the body was read (413, 431): the answer is there
            data = b""
            while True:
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    if ("/logs" in target or "/system/events" in target) and data:
                        return 200, "", b"[streamed]"
                    raise Finding("%s %s: no answer within 20 s" % (method, target[:100]))
                except ConnectionResetError:
                    d = b""
                if not d:
                    break
                data += d
            if not data and is_raw:
                return 0, "", b""  # an incomplete request ended by the client: a quiet close
            if not data:
                raise Finding("%s %s: connection closed without an answer" %
                              (method, target[:100]))
            head, _, rest = data.partition(b"\r\n\r\n")
            line = head.split(b"\r\n")[0].decode("latin-1")
            parts = line.split(" ")
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise Finding("%s %s: not an HTTP answer: %r" % (method, target[:100], data[:100]))
            return int(parts[1]), head.decode("latin-1"), rest
        finally:
            s.close()

    def pipelined(self):
        """2-4 requests sent at once on one keep-alive connection: every answer in order, the
        connection closed only after a refusal or the last one."""
        reqs = []
        methods = []
        for i in range(self.rng.randrange(2, 5)):
            # not the event stream: it stays open until its `until`, and holds the rest back
            route = self.pick([r for r in self.routes
                               if r["kind"] == "rest" and r["path"] != "/system/events"])
            target = self.path_for(route["path"]) + self.query_for(route["query"])
            head = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (route["method"], target)
            methods.append(route["method"])
            body = b""
            if route["body"]:
                body, ctype = self.body_bytes(route["body"])
                if len(body) > 100000:
                    body = b"{}"
                head += "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype, len(body))
            reqs.append(head.encode("utf-8", "surrogatepass") + b"\r\n" + body)
        reqs[-1] = reqs[-1].replace(b"Host: localhost\r\n", b"Host: localhost\r\nConnection: close\r\n", 1)
        s = self.connect()
        try:
            try:
                s.sendall(b"".join(reqs))
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            while True:
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    raise Finding("pipelined: no end within 20 s after %d bytes" % len(data))
                except ConnectionResetError:
                    d = b""
                if not d:
                    break
                data += d
        finally:
            s.close()
        answers = 0
        while data:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if not sep:
                raise Finding("pipelined: a cut answer: %r" % data[:100])
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500 and status not in (501, 505):
                raise Finding("pipelined: %s -> %d %r" % (lines[0], status, rest[:200]))
            length = 0
            chunked = False
            for l in lines[1:]:
                k, _, v = l.partition(":")
                if k.lower() == "content-length":
                    length = int(v)
                if k.lower() == "transfer-encoding":
                    chunked = True
            if answers < len(methods) and methods[answers] == "HEAD" and \
                    (not rest or rest.startswith(b"HTTP/1.")):
                # the head alone, whatever it says of the body (a refusal of a request whose
                # head did not parse, sent before the connection closes, has its body)
                length, chunked = 0, False
            if chunked:
                break  # a streamed answer (logs): the rest is its body
            data = rest[length:]
            answers += 1
        if answers == 0:
            raise Finding("pipelined: no answer to %d requests" % len(reqs))
        self.statuses["pipelined"] = self.statuses.get("pipelined", 0) + answers
        self.sent += len(reqs) - 1

    def ws(self, path, config_bytes, garbage=None):
        """A WebSocket session: returns (close_code, texts) or raises Finding."""
        s = self.connect()
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = s.recv(4096)
                if not d:
                    raise Finding("websocket %s: closed during the upgrade" % path)
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 101"):
                return int(head.split(b" ")[1]), []
            mask = os.urandom(4)
            if garbage is not None:
                frame = garbage
            else:
                n = len(config_bytes)
                hdr = bytes([0x81])
                if n < 126:
                    hdr += bytes([0x80 | n])
                elif n < 65536:
                    hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
                else:
                    hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
                frame = hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(config_bytes))
            if path == "/images/load" and garbage is None:
                # the archive follows the config as binary frames, ended by an empty one
                # (docs/api.md): end it at once, or the session waits for data
                frame += bytes([0x82, 0x80]) + os.urandom(4)
            try:
                s.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                pass
            texts = []
            s.settimeout(5)
            deadline = time.monotonic() + 4  # an attached session may run on: leave it
            while time.monotonic() < deadline:
                while len(buf) < 2:
                    d = s.recv(65536)
                    if not d:
                        raise Finding("websocket %s: ended without a close frame" % path)
                    buf += d
                b0, b1 = buf[0], buf[1]
                ln, off = b1 & 0x7F, 2
                if ln == 126:
                    ln, off = None, 4
                elif ln == 127:
                    ln, off = None, 10
                while len(buf) < off:
                    d = s.recv(65536)
                    if not d:
                        raise Finding("websocket %s: ended mid-frame" % path)
                    buf += d
                if ln is None:
                    ln = struct.unpack("!H", buf[2:4])[0] if off == 4 else \
                        struct.unpack("!Q", buf[2:10])[0]
                while len(buf) < off + ln:
                    d = s.recv(65536)
                    if not d:
                        raise Finding("websocket %s: ended mid-frame" % path)
                    buf += d
                payload, buf = buf[off:off + ln], buf[off + ln:]
                if b0 & 0x0F == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    return code, texts
                texts.append(payload[:200])
            return None, texts  # still running (an attached shell...): we leave
        except socket.timeout:
            return None, []
        except ConnectionResetError:
            raise Finding("websocket %s: connection reset" % path)
        finally:
            s.close()

    # ---- one step ----------------------------------------------------------------------------
    def remember(self, route, status, body):
        if status not in (200, 201):
            return
        try:
            v = json.loads(body)
        except ValueError:
            return
        kind = route["path"].split("/")[1].rstrip("s")
        if isinstance(v, dict) and "id" in v and "create" in route["path"]:
            lst = self.known.get(kind, [])
            lst.append(v["id"])
            del lst[:-30]

    def step(self):
        if self.rng.random() < 0.05:
            t = time.monotonic()
            self.sent += 1
            self.pipelined()
            self.time_by_route["pipelined"] = self.time_by_route.get("pipelined", 0) + \
                time.monotonic() - t
            return
        route = self.pick(self.routes)
        t = time.monotonic()
        try:
            self.step_route(route)
        finally:
            k = route["method"] + " " + route["path"]
            self.time_by_route[k] = self.time_by_route.get(k, 0) + time.monotonic() - t

    def step_route(self, route):
        r = self.rng.random()
        self.sent += 1
        if route["kind"] == "websocket":
            if r < 0.1:  # a malformed frame instead of the config
                garbage = self.pick([b"\x81\x05hello", b"\x88\x80\0\0\0\0", b"\x8f\x80abcd",
                                     b"\x81\xff" + b"\xff" * 8, b"\x01\x81abcdx",
                                     b"\x82\x83abcdxyz", os.urandom(64)])
                code, _ = self.ws(route["path"], b"", garbage)
            else:
                cfg, _ = self.body_bytes(route["body"])
                code, texts = self.ws(self.path_for(route["path"]) + self.query_for(None), cfg)
            self.statuses["ws:%s" % code] = self.statuses.get("ws:%s" % code, 0) + 1
            if code is not None and code >= 1011 and code not in (1011,):
                raise Finding("websocket %s: close code %s" % (route["path"], code))
            return
        target = self.path_for(route["path"]) + self.query_for(route["query"])
        if route["path"] == "/system/events" and "until=" not in target:
            # a stream that stays open: ended by an `until` (the fuzzed ones are kept)
            target += ("&" if "?" in target else "?") + "until=%d" % (time.time() + 1)
        if r < 0.03:  # the request line and head themselves
            raw = self.pick([
                b"GET / HTTP/2.0\r\n\r\n", b"BREW /containers/list HTTP/1.1\r\n\r\n",
                b"GET /containers/list HTTP/1.1\r\n" + b"X: y\r\n" * 100 + b"\r\n",
                b"GET /containers/list HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
                b"POST /volumes/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: application/json\r\n\r\nzz\r\n",
                b"POST /volumes/create HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                b"GET /containers/list\x00 HTTP/1.1\r\n\r\n", b"\r\n\r\n",
                b"GET http://evil/containers/list HTTP/1.1\r\n\r\n"])
            status, head, body = self.http(None, "<raw>", raw=raw)
        elif route["body"]:
            body, ctype = self.body_bytes(route["body"])
            status, head, body = self.http(route["method"], target, body, ctype)
        elif route.get("streamed"):  # an archive upload: a tar, a hostile one, or junk
            status, head, body = self.http(route["method"], target, self.archive_bytes(),
                                           "application/x-tar")
        else:
            status, head, body = self.http(route["method"], target)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500 and status not in (501, 505):
            raise Finding("%s %s -> %d %s" % (route["method"], target[:200], status, body[:300]))
        if "/system/events" in target and status == 200:
            body = b""  # a chunked stream of JSON lines (tests/e2e/docker_events.bats checks it)
        if "/archive" in target and status == 200:
            body = b""  # a tar (GET), or nothing (HEAD, PUT)
        if "/logs" not in target and body and status != 101:
            try:
                json.loads(body)
            except ValueError:
                raise Finding("%s %s -> %d: body is not JSON: %r" % (route["method"], target[:200],
                                                                     status, body[:200]))
        self.remember(route, status, body)

    def alive(self):
        try:
            os.kill(self.a.pid, 0)
        except OSError:
            return False
        try:
            st, _, _ = self.http("GET", "/version")
            return st == 200
        except (Finding, OSError):
            return False

    def run(self):
        start = time.monotonic()
        stop = start + self.a.seconds
        # --min-requests: go on past --seconds (at most four times as long) until that many
        # were sent, so that a loaded machine still fuzzes as much as the caller asks
        hard_stop = start + 4 * self.a.seconds
        last_check = 0
        while time.monotonic() < stop or (self.sent < self.a.min_requests and
                                          time.monotonic() < hard_stop):
            try:
                self.step()
            except Finding as e:
                self.findings.append(str(e))
            except OSError as e:
                self.findings.append("transport: %s: %s" % (type(e).__name__, e))
            if len(self.findings) > 50:
                break
            if time.monotonic() - last_check > 2:
                last_check = time.monotonic()
                if not self.alive():
                    self.findings.append("kleened is gone or does not answer /version")
                    break


def main():
    ap = argparse.ArgumentParser()
    for k in ("--socket", "--dump", "--workdir", "--image"):
        ap.add_argument(k, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--min-requests", type=int, default=0)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--json")
    a = ap.parse_args()
    with open(a.dump) as f:
        dump = json.load(f)
    fz = Fuzzer(a, dump)
    t = time.monotonic()
    fz.run()
    took = time.monotonic() - t
    print("apifuzz: seed %d, %d requests in %.1f s over %d routes" % (a.seed, fz.sent, took,
                                                                      len(fz.routes)))
    print("apifuzz: answers %s" % json.dumps({str(k): v for k, v in sorted(
        fz.statuses.items(), key=lambda kv: str(kv[0]))}))
    slow = sorted(fz.time_by_route.items(), key=lambda kv: -kv[1])[:int(os.environ.get("APIFUZZ_SLOW", 3))]
    print("apifuzz: most time in: %s" % ", ".join("%s %.1f s" % kv for kv in slow))
    print("apifuzz: findings: %d" % len(fz.findings))
    for f in fz.findings[:50]:
        print("apifuzz:   " + f)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "requests": fz.sent, "seconds": round(took, 1),
                       "statuses": {str(k): v for k, v in fz.statuses.items()},
                       "findings": fz.findings}, f)
    sys.exit(1 if fz.findings else 0)


if __name__ == "__main__":
    main()
