#!/usr/bin/python3
"""Through a kleened's Docker socket: start containers that exit at once and ask for their log
(follow) right after the start, as docker-py's containers.run does. Every answer must be 200
with the container's output. Prints one line per miss, then "bad N of M"; exits 1 on a miss.

usage: docker_logs_race.py /path/to/docker.sock IMAGE COUNT
"""
import http.client
import json
import socket
import sys


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.unix_path)


sock, image, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
bad = 0
for i in range(n):
    c = UnixConn(sock)
    # Every other container lives 50 ms: its monitor is still there when kleened connects to
    # it and gone after the daemon's delay point (the broken pipe); the others end at once
    # (their monitor may be gone before kleened looks: container.log from the start).
    cmd = ["echo", "hi%d" % i] if i % 2 == 0 else ["sh", "-c", "echo hi%d; sleep 0.05" % i]
    c.request("POST", "/v1.41/containers/create",
              json.dumps({"Image": image, "Cmd": cmd}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    cid = json.loads(r.read())["Id"]
    c.request("POST", "/v1.41/containers/%s/start" % cid)
    c.getresponse().read()
    c.request("GET", "/v1.41/containers/%s/logs?stdout=1&stderr=1&follow=1" % cid)
    r = c.getresponse()
    data = r.read()
    if r.status != 200 or (b"hi%d\n" % i) not in data:
        bad += 1
        print("iteration %d: %d %r" % (i, r.status, data[:200]), flush=True)
    c.request("DELETE", "/v1.41/containers/%s?force=1" % cid)
    c.getresponse().read()
    c.close()
print("bad %d of %d" % (bad, n))
sys.exit(1 if bad else 0)
