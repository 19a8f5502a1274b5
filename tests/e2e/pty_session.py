#!/usr/bin/python3
"""Run a command on a pseudo-terminal of a given size, as a user at a terminal would, and
type into it. Prints what the terminal showed.

usage: pty_session.py ROWS COLS STEP... -- COMMAND...
  STEP: `send:TEXT` types TEXT (\\r and \\n escapes understood), `expect:TEXT` waits (10 s)
  until TEXT has been shown since the last expect, `resize:ROWS:COLS` resizes the terminal
  (the kernel sends SIGWINCH to the command), `retry:EXPECT:TEXT` types TEXT every second
  until EXPECT has been shown (10 s): for what takes effect a moment later, such as a resize
  that travels through the client and the daemon while the shell already reads the next line.
  After a resize, each retry but the first gives the terminal that size again (through one
  column more, so that the command gets a SIGWINCH): a client may not watch for SIGWINCH yet
  when the first one comes (the docker CLI starts to only after the container's start, and
  sends the ones before as a `kill`), as a user who resizes that early would see.
Exit status: the command's, or 124 when an expect timed out.
"""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    rows, cols = int(sys.argv[1]), int(sys.argv[2])
    sep = sys.argv.index("--")
    steps, cmd = sys.argv[3:sep], sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    set_size(fd, rows, cols)
    seen = b""
    mark = 0
    last_size = None

    def read_some(timeout):
        nonlocal seen
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            seen += data
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return True

    time.sleep(0.05)
    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "send":
            os.write(fd, arg.encode().decode("unicode_escape").encode())
        elif kind == "resize":
            r, c = arg.split(":")
            last_size = (int(r), int(c))
            set_size(fd, *last_size)
        elif kind == "retry":
            want, _, text = arg.partition(":")
            want = want.encode()
            deadline = time.time() + 10
            alive = True
            while want not in seen[mark:]:
                if time.time() > deadline or not alive:
                    sys.stdout.write("\n[retry timed out: %r]\n" % want)
                    if alive:
                        os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    sys.exit(124)
                if last_size and time.time() > deadline - 9.5:
                    set_size(fd, last_size[0], last_size[1] + 1)
                    set_size(fd, *last_size)
                os.write(fd, text.encode().decode("unicode_escape").encode())
                until = time.time() + 1
                while alive and want not in seen[mark:] and time.time() < until:
                    alive = read_some(0.2)
            mark = seen.index(want, mark) + len(want)
        elif kind == "expect":
            want = arg.encode().decode("unicode_escape").encode()
            deadline = time.time() + 10
            alive = True
            while want not in seen[mark:]:
                if time.time() > deadline or not alive:
                    sys.stdout.write("\n[expect timed out: %r]\n" % want)
                    if alive:
                        os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    sys.exit(124)
                alive = read_some(0.2)
            mark = seen.index(want, mark) + len(want)
    deadline = time.time() + 15
    while time.time() < deadline and read_some(0.2):
        pass
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


main()
