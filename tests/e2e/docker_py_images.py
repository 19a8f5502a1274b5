#!/usr/bin/python3
"""docker-py (Debian's python3-docker) image transfers against a kleened's Docker socket:
images.pull (with credentials in X-Registry-Auth), list, get, save (Image.save) and load,
push through the low-level API (a JSON-lines stream), and the errors of an unknown image.
Prints what it checked; exits non-zero (an AssertionError) at the first difference.

usage: docker_py_images.py unix:///path/to/docker.sock REPOSITORY TAG DIGEST
  REPOSITORY:TAG is in a registry the daemon reaches; DIGEST is its manifest digest there.
"""
import io
import sys

import docker

url, repo, tag, digest = sys.argv[1:5]
c = docker.DockerClient(base_url=url)

img = c.images.pull(repo, tag=tag, auth_config={"username": "u", "password": "p"})
assert f"{repo}:{tag}" in img.tags, img.tags
assert img.attrs["RepoDigests"] == [f"{repo}@{digest}"], img.attrs["RepoDigests"]
print("pulled", img.id)

assert [i.id for i in c.images.list(name=repo)] == [img.id]
assert c.images.get(f"{repo}:{tag}").id == img.id
assert c.images.get(img.id[7:19]).id == img.id

# push (low level: the JSON lines), to another tag of the same repository: the pulled
# manifest, unchanged
c.images.get(img.id).tag(repo, "pushed")
lines = list(c.api.push(repo, tag="pushed", stream=True, decode=True))
aux = [x["aux"] for x in lines if "aux" in x]
assert len(aux) == 1 and aux[0]["Tag"] == "pushed" and aux[0]["Digest"] == digest, lines
assert isinstance(aux[0]["Size"], int) and aux[0]["Size"] > 0, lines  # dockerd's aux has Size
assert not any("error" in x for x in lines), lines
print("pushed", digest)
img.reload()
assert img.tags == [f"{repo}:{tag}", f"{repo}:pushed"], img.tags  # tag adds a name

# save: a tar stream, read by the chunk
buf = io.BytesIO()
for chunk in img.save(named=True):
    buf.write(chunk)
data = buf.getvalue()
assert len(data) > 10240 and len(data) % 512 == 0, len(data)
print("saved", len(data), "bytes")

c.images.remove(img.id, force=True)  # several names: by id needs force, as dockerd
assert c.images.list(name=repo) == []
loaded = c.images.load(data)
assert [i.id for i in loaded] == [img.id], loaded
assert loaded[0].tags == [f"{repo}:{tag}"], loaded[0].tags  # the first name is saved
print("loaded", loaded[0].tags)

try:
    c.images.get("nosuch/image:v1")
    raise AssertionError("no ImageNotFound")
except docker.errors.ImageNotFound:
    pass
try:
    c.images.pull("127.0.0.1:5000/nosuch/image", tag="v1")
    raise AssertionError("no NotFound")
except docker.errors.NotFound:
    pass
print("ok")
