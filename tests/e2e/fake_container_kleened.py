#!/usr/bin/python3
"""A fake kleened for cli_container.bats: the container, exec and network-connect endpoints,
REST and the /exec/start WebSocket on one UNIX socket (python3-websockets 10.4, asyncio API).

  fake_container_kleened.py SOCKET RECORD

Every request is appended to RECORD as one JSON line: {"method","path","body"} for REST
(body parsed as JSON, or null), {"method":"WS","path","config"} for a WebSocket's first
frame. Behaviour is chosen by the names the client sends:
  image "noimage"            create → 404 "no such image 'noimage'"
  network "badnet"           connect → 404 "network not found"
  container "missing"        exec/create, stop, DELETE, inspect, update, logs → 404
  container "running"        DELETE → 409 "you cannot remove a running container"
  (an exec with cmd [] runs the cmd of the last container create)
  exec cmd ["exit", "N"]     attached start ends with "executable <id> and its container
                             exited with exit-code N"
  exec cmd ["survive"]       ends with "<id> has exited with exit-code 0"
  exec cmd ["echo"]          echoes client frames until one ends in "q", then exit-code 0
  exec cmd ["fail"]          start fails: text "error: executable already started", 1011
A detached start (attach false) closes with 1001. A REST handler is not a WebSocket: the
websockets server is made to accept any method and answer plain HTTP from process_request.
"""
import asyncio
import datetime
import http
import json
import sys

import websockets
from websockets.legacy.http import read_headers, read_line
from websockets.legacy.server import WebSocketServerProtocol

SOCK, RECORD = sys.argv[1], sys.argv[2]
STARTING = '{"data":"","message":"","msg_type":"starting"}'
EXECS = {}  # exec id -> ExecConfig
CREATED_CMD = [[]]  # cmd of the last container create: an exec with cmd [] runs it
COUNTER = [0]

TWO_HOURS_AGO = (datetime.datetime.now(datetime.timezone.utc)
                 - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
LIST = [
    {"id": "abc123def456", "name": "web", "image_id": "img000000001", "image_name": "FreeBSD",
     "image_tag": "latest", "cmd": ["/bin/sh", "/etc/rc"], "created": TWO_HOURS_AGO,
     "restart_policy": "on-startup", "running": True, "jid": 7, "user": "", "env": [],
     "network_driver": "ipnet", "public_ports": [], "jail_param": [], "persist": False,
     "dataset": "/x"},
    {"id": "0123456789ab", "name": "builder", "image_id": "img000000002", "image_name": "",
     "image_tag": "", "cmd": None, "created": TWO_HOURS_AGO,
     "restart_policy": "no", "running": False, "jid": None, "user": "", "env": [],
     "network_driver": "host", "public_ports": [], "jail_param": [], "persist": False,
     "dataset": "/y"},
    {"id": "fedcba987654", "name": "long", "image_id": "img000000003", "image_name": "app",
     "image_tag": "1.0", "cmd": ["/usr/local/bin/python3", "-m", "http.server", "--bind", "0.0.0.0", "8080"],
     "created": TWO_HOURS_AGO, "restart_policy": None, "running": True,
     "jid": 12, "user": "", "env": [], "network_driver": "vnet", "public_ports": [],
     "jail_param": [], "persist": True, "dataset": "/z"},
]


def record(entry):
    with open(RECORD, "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def reason(msg_type, message, data=""):
    return json.dumps({"data": data, "message": message, "msg_type": msg_type},
                      separators=(",", ":"), sort_keys=True)


def rest(method, path, body):
    """(status, json body) for a REST request."""
    parts = path.split("?")[0].strip("/").split("/")
    if method == "POST" and path == "/containers/create":
        if body.get("image") == "noimage":
            return 404, {"message": "no such image 'noimage'"}
        CREATED_CMD[0] = body.get("cmd") or []
        return 201, {"id": "c0ffee000001"}
    if method == "POST" and path == "/networks/connect":
        if body.get("network") == "badnet":
            return 404, {"message": "network not found"}
        return 204, None
    if method == "POST" and path == "/exec/create":
        if body.get("container_id") == "missing":
            return 404, {"message": "container not found"}
        COUNTER[0] += 1
        exec_id = "e%011d" % COUNTER[0]
        EXECS[exec_id] = body
        return 201, {"id": exec_id}
    if method == "GET" and parts[:2] == ["containers", "list"]:
        return 200, LIST
    if method == "POST" and path == "/containers/prune":
        return 200, ["0123456789ab", "deadbeef0000"]
    if parts[0] == "containers" and len(parts) >= 2:
        ident = parts[1]
        if ident == "missing":
            if method == "DELETE":
                return 404, {"message": "no such container"}
            if parts[-1] == "update":
                return 404, {"message": "no such container 'missing'"}
            return 404, {"message": "container not found"}
        full = "f" * (12 - len(ident)) + ident if len(ident) < 12 else ident
        if method == "DELETE":
            if ident == "running":
                return 409, {"message": "you cannot remove a running container"}
            return 200, {"id": full}
        if parts[-1] == "stop":
            if ident == "stopped":
                return 404, {"message": "container not running"}
            return 200, {"id": full}
        if parts[-1] == "update":
            return 201, {"id": full}
        if parts[-1] == "inspect":
            return 200, {"container": LIST[0], "container_endpoints": [], "container_mountpoints": []}
    return 404, {"message": "not found"}


class Protocol(WebSocketServerProtocol):
    async def read_http_request(self):
        line = await read_line(self.reader)
        method, raw_path, _ = line.split(b" ", 2)
        self.method = method.decode()
        self.path = raw_path.decode()
        self.request_headers = await read_headers(self.reader)
        return self.path, self.request_headers

    async def process_request(self, path, headers):
        if headers.get("Upgrade", "").lower() == "websocket":
            return None
        n = int(headers.get("Content-Length") or 0)
        raw = await self.reader.readexactly(n) if n else b""
        body = json.loads(raw) if raw else None
        record({"method": self.method, "path": path, "body": body})
        if "/logs" in path and path.startswith("/containers/"):
            return await self.logs(path)
        status, data = rest(self.method, path, body or {})
        payload = b"" if data is None else json.dumps(data).encode()
        return http.HTTPStatus(status), [("Content-Type", "application/json")], payload

    async def logs(self, path):
        if path.startswith("/containers/missing/"):
            return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "application/json")],
                    b'{"message":"container not found"}')
        if "follow=true" not in path:
            return http.HTTPStatus.OK, [("Content-Type", "application/octet-stream")], b"one\ntwo\n"
        # Chunked, with pauses: the client must print each piece as it comes.
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for piece in (b"first\n", b"second\n", b"\xff raw\n"):
            self.transport.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await asyncio.sleep(0.3)
        self.transport.write(b"0\r\n\r\n")
        self.transport.close()
        await asyncio.sleep(0.1)
        return None


async def handler(ws, path=None):
    first = await ws.recv()
    config = json.loads(first)
    record({"method": "WS", "path": ws.path, "config": config})
    exec_id = config.get("exec_id")
    ex = EXECS.get(exec_id, {})
    cmd = ex.get("cmd") or CREATED_CMD[0]
    if not config.get("attach"):
        if cmd[:1] == ["fail"]:
            await ws.send("error: executable already started")
            await ws.close(1011, reason("error", "error starting exec instance"))
            return
        await ws.close(1001, reason("closing",
                                    "succesfully started execution instance in detached mode"))
        return
    if cmd[:1] == ["fail"]:
        await ws.send("error: executable already started")
        await ws.close(1011, reason("error", "error starting exec instance"))
        return
    await ws.send(STARTING)
    code = 0
    if cmd[:1] == ["echo"]:
        async for frame in ws:
            data = frame.encode() if isinstance(frame, str) else frame
            if data.endswith(b"q"):
                if data[:-1]:
                    await ws.send(data[:-1])
                break
            await ws.send(data)
    else:
        await ws.send("hello from %s\n" % exec_id)
        if cmd[:1] == ["exit"]:
            code = int(cmd[1])
    if cmd[:1] == ["survive"]:
        msg = "%s has exited with exit-code %d" % (exec_id, code)
    else:
        msg = "executable %s and its container exited with exit-code %d" % (exec_id, code)
    await ws.close(1000, reason("closing", msg))


async def main():
    async with websockets.unix_serve(handler, SOCK, create_protocol=Protocol):
        await asyncio.Future()


asyncio.run(main())
