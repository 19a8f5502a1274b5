#!/usr/bin/python3
"""An exec start read the way docker-py's exec_run reads it, by a slow client: the head of the
answer through a buffered reader, then the frames from the socket itself. The client waits
before it reads anything, as a loaded machine makes it. Output that reached the client
together with the head would sit in the reader's buffer and be lost: the daemon must start the
process only once the client has read the head.

usage: docker_exec_head.py /path/to/docker.sock CONTAINER
Prints "exec head: ok" or exits non-zero with what differed.
"""
import json
import socket
import struct
import sys
import time

sock_path, container = sys.argv[1], sys.argv[2]


def request(method, path, body=None, upgrade=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\n"
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    return s


def read_head(reader):
    status = reader.readline()
    while reader.readline() not in (b"\r\n", b""):
        pass
    return status


# create the exec (an ordinary request, read whole)
s = request("POST", f"/v1.41/containers/{container}/exec",
            {"Cmd": ["sh", "-c", "echo in-exec; exit 4"], "AttachStdout": True,
             "AttachStderr": True})
r = s.makefile("rb")
status = read_head(r)
assert b" 201 " in status, status
exec_id = json.loads(r.read1(65536).decode())["Id"]
s.close()

# start it, then be slow: nothing is read for a while
s = request("POST", f"/v1.41/exec/{exec_id}/start", {"Detach": False, "Tty": False},
            upgrade=True)
time.sleep(0.5)
reader = s.makefile("rb")  # buffered, as http.client's
status = read_head(reader)
assert b" 101 " in status or b" 200 " in status, status
# from here on, the socket itself (docker-py: response.raw._fp.fp.raw)
raw = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    raw += chunk
out = b""
while len(raw) >= 8:
    stream, size = struct.unpack(">BxxxL", raw[:8])
    out += raw[8:8 + size]
    raw = raw[8 + size:]
assert out == b"in-exec\n", (out, "buffered with the head:", reader.peek(65536))

s = request("GET", f"/v1.41/exec/{exec_id}/json")
r = s.makefile("rb")
read_head(r)
info = json.loads(r.read1(65536).decode())
assert info["ExitCode"] == 4, info
print("exec head: ok")
