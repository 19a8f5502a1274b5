#!/usr/bin/python3
"""docker-py (Debian's python3-docker) against a kleened's Docker socket: the common calls of
containers (run attached and detached, list with a filter, get, logs, exec_run, stop, wait,
remove) and a refusal in Docker's error shape. Prints what it checked; exits non-zero (an
AssertionError) at the first difference.

usage: docker_py.py unix:///path/to/docker.sock IMAGE
"""
import sys

import docker

url, image = sys.argv[1], sys.argv[2]
c = docker.DockerClient(base_url=url)

assert c.version()["ApiVersion"] == "1.41"
assert c.ping()

# attached run: its output (from the log), the container removed after
out = c.containers.run(image, ["sh", "-c", "echo hello; echo err >&2"], remove=True,
                       stdout=True, stderr=True)
assert out == b"hello\nerr\n", out
try:
    c.containers.run(image, ["sh", "-c", "exit 3"], remove=True)
    raise AssertionError("no ContainerError")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status

ct = c.containers.run(image, ["sh", "-c", "echo started; sleep 1000"], detach=True,
                      name="pyc", labels={"app": "py"}, environment={"FOO": "bar"})
assert len(ct.id) == 64 and ct.name == "pyc", (ct.id, ct.name)
ct.reload()
assert ct.status == "running" and ct.labels == {"app": "py"}, (ct.status, ct.labels)
assert [x.id for x in c.containers.list(filters={"label": "app=py"})] == [ct.id]
assert c.containers.list(filters={"label": "app=other"}) == []
assert c.containers.get(ct.id[:8]).id == ct.id
assert c.containers.get("pyc").attrs["Name"] == "/pyc"

r = ct.exec_run(["sh", "-c", "echo in-exec $FOO; exit 4"])
assert r.exit_code == 4 and r.output == b"in-exec bar\n", r
r = ct.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
assert r.output == (b"o\n", b"e\n"), r

for _ in range(50):
    if ct.logs() == b"started\n":
        break
    import time
    time.sleep(0.1)
assert ct.logs() == b"started\n", ct.logs()

ct.stop(timeout=1)
assert ct.wait()["StatusCode"] in (0, 143)
ct.reload()
assert ct.status == "exited", ct.status
ct.remove()
assert c.containers.list(all=True) == []

try:
    c.containers.run(image, "true", privileged=True)
    raise AssertionError("privileged accepted")
except docker.errors.APIError as e:
    assert e.status_code == 400 and "HostConfig.Privileged" in e.explanation, e
print("docker-py: ok")
