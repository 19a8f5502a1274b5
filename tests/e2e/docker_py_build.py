#!/usr/bin/python3
"""docker-py (Debian's python3-docker) builds through a kleened's Docker socket:
images.build(path=, tag=, buildargs=, labels=) returns the image and the log it read, the
image runs; a failing RUN raises BuildError with the command's message. Exits non-zero (an
AssertionError) at the first difference.

usage: docker_py_build.py unix:///path/to/docker.sock CONTEXT_DIR
"""
import os
import sys

import docker

url, ctx = sys.argv[1], sys.argv[2]
c = docker.DockerClient(base_url=url)

with open(os.path.join(ctx, "Dockerfile"), "w") as f:
    f.write("FROM bb\nARG WHO=nobody\nCOPY msg /msg\nRUN echo \"$WHO\" >> /msg\n"
            "CMD [\"cat\", \"/msg\"]\n")
with open(os.path.join(ctx, "msg"), "w") as f:
    f.write("from docker-py\n")

img, logs = c.images.build(path=ctx, tag="pyb:v1", buildargs={"WHO": "py"},
                           labels={"via": "docker-py"})
lines = [x.get("stream", "") for x in logs]
assert any(s.startswith("Successfully built ") for s in lines), lines
assert "pyb:v1" in img.tags, img.tags
assert img.labels.get("via") == "docker-py", img.labels
out = c.containers.run("pyb:v1", remove=True)
assert out == b"from docker-py\npy\n", out
print("built", img.id, img.tags)

# a gzip-compressed context
img2, _ = c.images.build(path=ctx, tag="pyb:gz", gzip=True)
assert "pyb:gz" in img2.tags, img2.tags

with open(os.path.join(ctx, "Dockerfile"), "w") as f:
    f.write("FROM bb\nRUN echo failing; exit 7\n")
try:
    c.images.build(path=ctx, tag="pyb:bad")
    raise AssertionError("no BuildError")
except docker.errors.BuildError as e:
    assert "returned a non-zero code: 7" in e.msg, e.msg
    assert any("failing" in x.get("stream", "") for x in e.build_log), e.build_log
print("ok")
