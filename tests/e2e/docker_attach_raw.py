#!/usr/bin/python3
"""A raw Docker attach client (no docker CLI): POST /containers/ID/attach hijacked on the
Docker door's UNIX socket, types input and reports what it got, to check what the server
does itself (the docker CLI scans the detach keys on its side).

usage: docker_attach_raw.py SOCKET CONTAINER QUERY STEP...
  STEP: `send:TEXT` (\\r \\n \\xNN escapes), `expect:TEXT` (10 s), `eof`: the connection must
  end within 10 s (the server closed its side), `open:SECS`: it must stay open that long.
Prints the response's status line, then what came. Exit 0 when every step held, 1 if not.
"""
import socket
import sys
import time


def main():
    path, ctr, query = sys.argv[1], sys.argv[2], sys.argv[3]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(("POST /v1.41/containers/%s/attach?%s HTTP/1.1\r\nHost: docker\r\n"
               "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
               % (ctr, query)).encode())
    got = b""
    while b"\r\n\r\n" not in got:
        d = s.recv(4096)
        if not d:
            break
        got += d
    head, _, got = got.partition(b"\r\n\r\n")
    print(head.split(b"\r\n")[0].decode())
    if b" 101 " not in head.split(b"\r\n")[0] and b" 200 " not in head.split(b"\r\n")[0]:
        print(got.decode(errors="replace"))
        return 1
    mark = 0
    ended = False

    def read_some(timeout):
        nonlocal got, ended
        s.settimeout(timeout)
        try:
            d = s.recv(65536)
        except socket.timeout:
            return
        if not d:
            ended = True
        got += d

    for step in sys.argv[4:]:
        kind, _, arg = step.partition(":")
        if kind == "send":
            s.sendall(arg.encode().decode("unicode_escape").encode("latin-1"))
        elif kind == "expect":
            want = arg.encode().decode("unicode_escape").encode("latin-1")
            deadline = time.time() + 10
            while want not in got[mark:] and not ended and time.time() < deadline:
                read_some(0.2)
            if want not in got[mark:]:
                print("expect timed out: %r; got %r" % (want, got))
                return 1
            mark = got.index(want, mark) + len(want)
        elif kind == "eof":
            deadline = time.time() + 10
            while not ended and time.time() < deadline:
                read_some(0.2)
            if not ended:
                print("still open; got %r" % got)
                return 1
        elif kind == "open":
            deadline = time.time() + float(arg)
            while not ended and time.time() < deadline:
                read_some(0.2)
            if ended:
                print("ended; got %r" % got)
                return 1
    print(repr(got))
    return 0


sys.exit(main())
