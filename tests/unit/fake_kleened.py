#!/usr/bin/env python3
"""A tiny fake kleened for trying klee by hand (no daemon exists yet).

Serves the volume endpoints of API.md §6 over a UNIX socket, from memory:
    python3 tests/unit/fake_kleened.py /tmp/fake.sock &
    build/src/cli/klee --host http:///tmp/fake.sock volume ls
GET /slow sleeps 3 s (to try KLEE_TIMEOUT=1). Not a test of kleened; not run by CI.
"""
import datetime
import json
import os
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler

VOLUMES = {}


def now_iso(delta=0):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


VOLUMES["old"] = {"name": "old", "dataset": "zroot/kleene/volumes/old",
                  "mountpoint": "/zroot/kleene/volumes/old", "created": now_iso(3 * 3600)}
MOUNTED = {"old"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/volumes/list":
            vols = sorted(VOLUMES.values(), key=lambda v: v["created"], reverse=True)
            return self.reply(200, vols)
        if self.path == "/slow":
            time.sleep(3)
            return self.reply(200, [])
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "volumes" and parts[2] == "inspect":
            v = VOLUMES.get(parts[1])
            if not v:
                return self.reply(404, {"message": "No such volume"})
            return self.reply(200, {"volume": v, "mountpoints": []})
        self.send_response(404)
        self.send_header("content-length", "9")
        self.end_headers()
        self.wfile.write(b"not found")

    def do_POST(self):
        raw = self.body()
        if self.path == "/volumes/create":
            if self.headers.get("content-type") != "application/json":
                return self.reply(422, {"errors": [{"title": "Invalid value", "source": {"pointer": ""}, "detail": "Missing header: content-type"}]})
            cfg = json.loads(raw)
            if "name" not in cfg:
                return self.reply(422, {"errors": [{"title": "Invalid value", "source": {"pointer": "/name"}, "detail": "Missing field: name"}]})
            name = cfg["name"]
            VOLUMES.setdefault(name, {"name": name, "dataset": f"zroot/kleene/volumes/{name}",
                                      "mountpoint": f"/zroot/kleene/volumes/{name}",
                                      "created": now_iso()})
            return self.reply(201, {"id": name})
        if self.path == "/volumes/prune":
            if raw or self.headers.get("content-type"):
                return self.reply(415, {"message": "unexpected body"})
            gone = [n for n in VOLUMES if n not in MOUNTED]
            for n in gone:
                del VOLUMES[n]
            return self.reply(200, gone)
        self.reply(404, {"message": "not found"})

    def do_DELETE(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "volumes":
            if parts[1] not in VOLUMES:
                return self.reply(404, {"message": "No such volume"})
            del VOLUMES[parts[1]]
            return self.reply(200, {"id": parts[1]})
        self.reply(404, {"message": "not found"})

    def log_message(self, *args):
        if os.environ.get("FAKE_VERBOSE"):
            super().log_message(*args)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("local", 0)


if __name__ == "__main__":
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    with Server(path, Handler) as srv:
        try:
            srv.serve_forever()
        finally:
            os.unlink(path)
