#!/usr/bin/python3
"""Crash-consistency torture test of kleened (issue 12; tests/torture/README.md).

Operations run in a loop against a real kleened (container create+start, stop, rm, build,
network create/connect/disconnect/rm, volume create/rm, image rm, every prune); kleened is
killed with SIGKILL at a random moment (or, in some rounds, at a random crash point of
docs/crash-consistency.md), started again, and the invariants are checked:

- the database: PRAGMA integrity_check is ok, PRAGMA foreign_key_check is empty;
- every directory under <root>/container, <run_root>/containers, <root>/volumes and
  <root>/image/layers is owned by a row (no marker, staging or orphan left);
- every mount under the root is the rootfs of a running container (or below one);
- every veth (kv<endpoint id>) belongs to an endpoint of a running container, every bridge
  to a network;
- every address in an element of kleened's nft table is a running container's endpoint
  address;
- every container whose monitor runs is listed as running, and every one listed running has
  a live monitor.

usage: torture.py [--duration SECONDS] [--seed N] [--build DIR] [--keep]
Runs as root. It puts itself into a network namespace of its own (and, through `ip netns
exec`, a mount namespace of its own), so nothing of the host is touched; everything it made
is removed at the end. Prints one line per round and a summary; exit status 0 when every
invariant held after every restart.
"""
import argparse
import asyncio
import http.client
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

CRASH_POINTS = [
    "container-create-dirs", "container-remove-marked", "container-remove-emptied",
    "container-remove-unlinked", "volume-create-dir", "volume-remove-renamed",
    "volume-remove-committed", "image-remove-committed", "network-create-row",
    "network-remove-unlinked",
]


# ---- talking to kleened ------------------------------------------------------------------

class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


LAST = {}  # the last answer of api() and ws(), for the report of a failed operation


def api(sock, method, path, body=None, timeout=20):
    """(status, json-or-text); status 0 when kleened did not answer."""
    r = api_(sock, method, path, body, timeout)
    LAST["answer"] = f"{method} {path} -> {r[0]} {str(r[1])[:300]}"
    return r


def api_(sock, method, path, body, timeout):
    try:
        c = UnixHTTP(sock, timeout)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw.decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return 0, None


def ws(sock, path, config, timeout=60):
    """Send config on a WebSocket endpoint; (close_code, close_reason) or (0, None)."""
    import websockets

    async def run():
        async with websockets.unix_connect(sock, "ws://localhost" + path, max_size=None) as w:
            await w.send(json.dumps(config))
            try:
                while True:
                    await w.recv()
            except websockets.exceptions.ConnectionClosed:
                pass
            return w.close_code, w.close_reason

    try:
        r = asyncio.run(asyncio.wait_for(run(), timeout))
    except Exception:  # connection refused, reset, timeout: kleened went away
        r = (0, None)
    LAST["answer"] = f"WS {path} -> {r[0]} {r[1]}"
    return r


# ---- the daemon ------------------------------------------------------------------------

class Daemon:
    def __init__(self, build, d):
        self.kleened = os.path.join(build, "src/daemon/kleened")
        self.dir = d
        self.sock = os.path.join(d, "kleened.sock")
        self.root = os.path.join(d, "root")
        self.run = os.path.join(d, "run")
        self.log = os.path.join(d, "kleened.log")
        self.config = os.path.join(d, "config.yaml")
        with open(self.config, "w") as f:
            f.write(f"kleene_root: {self.root}\nrun_root: {self.run}\n"
                    f"pidfile: {d}/kleened.pid\nlog_level: info\n"
                    f"api_listening_sockets:\n  - address: \"http://{self.sock}\"\n"
                    "docker_listening_sockets: []\n")
        self.proc = None

    def start(self, crash_point=None):
        env = dict(os.environ)
        env.pop("KLEENED_CRASH_POINT", None)
        if crash_point:
            env["KLEENED_CRASH_POINT"] = crash_point
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        with open(self.log, "a") as lf:
            lf.write(f"---- start{' (crash point ' + crash_point + ')' if crash_point else ''}\n")
            lf.flush()
            self.proc = subprocess.Popen([self.kleened, "-c", self.config], stdin=subprocess.DEVNULL,
                                         stdout=lf, stderr=lf, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kleened exited at start ({self.proc.returncode}), see {self.log}")
            if api(self.sock, "GET", "/version", timeout=2)[0] == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"kleened did not answer within 30 s, see {self.log}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


# ---- operations ------------------------------------------------------------------------

class Ops:
    def __init__(self, d, rng, ctx):
        self.d = d
        self.rng = rng
        self.ctx = ctx  # a build context directory
        self.n = 0
        self.done = {}

    def count(self, name, ok):
        k = self.done.setdefault(name, [0, 0])
        k[0 if ok else 1] += 1
        if not ok and sum(b for a, b in self.done.values()) <= 20:
            print(f"  {name} failed: {LAST.get('answer')}", flush=True)

    def names(self, path, key):
        st, body = api(self.d.sock, "GET", path)
        if st != 200 or not isinstance(body, list):
            return []
        return [x.get(key) for x in body if isinstance(x, dict) and x.get(key)]

    def containers(self, running=None):
        st, body = api(self.d.sock, "GET", "/containers/list?all=true")
        if st != 200 or not isinstance(body, list):
            return []
        return [c["id"] for c in body
                if running is None or bool(c.get("running")) == running]

    def pick(self, v):
        return self.rng.choice(v) if v else None

    # each returns True when kleened answered as it should
    def container_run(self):
        self.n += 1
        # some files in the container's upper layer, so that removing it takes a while
        cfg = {"name": f"c{self.n}", "image": "bb",
               "cmd": ["/bin/sh", "-c", "mkdir -p /d && i=0 && while [ $i -lt 300 ]; do "
                       "echo $i > /d/$i; i=$((i+1)); done; exec sleep 600"],
               "network_driver": "ipnet"}
        vols = self.names("/volumes/list", "name")
        if vols and self.rng.random() < 0.4:
            cfg["mounts"] = [{"type": "volume", "source": self.pick(vols), "destination": "/data"}]
        if self.rng.random() < 0.3:
            cfg["public_ports"] = [{"interfaces": [], "host_port": str(20000 + self.n % 20000),
                                    "container_port": "80", "protocol": "tcp"}]
        st, body = api(self.d.sock, "POST", "/containers/create", cfg)
        if st != 201:
            return False
        cid = body["id"]
        nets = self.names("/networks/list", "name")
        if nets and self.rng.random() < 0.6:
            api(self.d.sock, "POST", "/networks/connect",
                {"container": cid, "network": self.pick(nets)})
        return self.container_start(cid)

    def container_start(self, cid=None):
        cid = cid or self.pick(self.containers(running=False))
        if not cid:
            return True
        st, body = api(self.d.sock, "POST", "/exec/create", {"container_id": cid, "cmd": []})
        if st != 201:
            return False
        code, _ = ws(self.d.sock, "/exec/start",
                     {"exec_id": body["id"], "attach": False, "start_container": True}, 20)
        return code == 1001

    def container_stop(self):
        cid = self.pick(self.containers(running=True))
        return not cid or api(self.d.sock, "POST", f"/containers/{cid}/stop")[0] == 200

    def container_rm(self):
        cid = self.pick(self.containers())
        if not cid:
            return True
        api(self.d.sock, "POST", f"/containers/{cid}/stop")
        return api(self.d.sock, "DELETE", f"/containers/{cid}")[0] == 200

    def build(self):
        self.n += 1
        with open(os.path.join(self.ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM bb\nRUN echo {self.n} > /n && sleep 0.{self.rng.randint(0, 5)}\n"
                    f"COPY file /file\n")
        code, _ = ws(self.d.sock, "/images/build",
                     {"context": self.ctx, "tag": f"b{self.n}:t", "quiet": True,
                      "container_config": {"image": "bb"}}, 60)
        return code == 1000

    def network_create(self):
        self.n += 1
        k = self.n % 250
        return api(self.d.sock, "POST", "/networks/create",
                   {"name": f"n{self.n}", "type": self.pick(["bridge", "loopback"]),
                    "subnet": f"10.{100 + k // 100}.{k % 100}.0/24", "interface": f"kt{self.n}",
                    "gateway": "<auto>"})[0] == 201

    def network_connect(self):
        cid, net = self.pick(self.containers()), self.pick(self.names("/networks/list", "name"))
        if not cid or not net:
            return True
        return api(self.d.sock, "POST", "/networks/connect",
                   {"container": cid, "network": net})[0] in (204, 409)

    def network_disconnect(self):
        cid, net = self.pick(self.containers()), self.pick(self.names("/networks/list", "name"))
        if not cid or not net:
            return True
        return api(self.d.sock, "POST", f"/networks/{net}/disconnect/{cid}")[0] in (204, 409)

    def network_rm(self):
        net = self.pick(self.names("/networks/list", "name"))
        return not net or api(self.d.sock, "DELETE", f"/networks/{net}")[0] == 200

    def volume_create(self):
        self.n += 1
        return api(self.d.sock, "POST", "/volumes/create", {"name": f"v{self.n}"})[0] == 201

    def volume_rm(self):
        v = self.pick(self.names("/volumes/list", "name"))
        return not v or api(self.d.sock, "DELETE", f"/volumes/{v}")[0] in (200, 404)

    def image_rm(self):
        st, body = api(self.d.sock, "GET", "/images/list")
        if st != 200:
            return False
        ids = [i["id"] for i in body if i.get("name") != "bb"]
        i = self.pick(ids)
        return not i or api(self.d.sock, "DELETE", f"/images/{i}")[0] in (200, 404)

    def prune(self):
        which = self.pick(["/containers/prune", "/volumes/prune", "/networks/prune",
                           "/images/prune?all=false"])
        return api(self.d.sock, "POST", which)[0] == 200

    WEIGHTS = [("container_run", 6), ("container_start", 2), ("container_stop", 2),
               ("container_rm", 4), ("build", 2), ("network_create", 2), ("network_connect", 2),
               ("network_disconnect", 1), ("network_rm", 1), ("volume_create", 2),
               ("volume_rm", 2), ("image_rm", 1), ("prune", 1)]

    def random_op(self):
        names = [w[0] for w in self.WEIGHTS]
        name = self.rng.choices(names, [w[1] for w in self.WEIGHTS])[0]
        ok = getattr(self, name)()
        if not ok and self.d.alive() and re.search(r"-> (0|1006) ", LAST.get("answer", "") + " "):
            time.sleep(0.3)  # no answer: kleened may be dying (a crash point)
        if self.d.alive():  # a failure because kleened was killed is not counted
            self.count(name, ok)


# ---- invariants ------------------------------------------------------------------------

def db_rows(d):
    con = sqlite3.connect(f"file:{d.root}/metadata.sqlite?mode=ro", uri=True, timeout=10)
    try:
        q = lambda sql: [r for r in con.execute(sql)]
        out = {
            "integrity": q("PRAGMA integrity_check"),
            "fk": q("PRAGMA foreign_key_check"),
            "containers": {r[0] for r in q("SELECT id FROM containers")},
            "drivers": {r[0]: r[1] for r in q("SELECT id, network_driver FROM containers")},
            "volumes": {r[0] for r in q("SELECT name FROM volumes")},
            "layers": {r[0] for r in q("SELECT id FROM layers")},
            "networks": {r[0] for r in q("SELECT interface FROM networks")},
            "endpoints": {r[0]: (r[1], r[2]) for r in
                          q("SELECT id, container_id, ip_address FROM endpoints")},
        }
    finally:
        con.close()
    return out


def running_monitors(d):
    """Container ids whose monitor process is alive, from their run directories."""
    out = set()
    base = os.path.join(d.run, "containers")
    for cid in os.listdir(base) if os.path.isdir(base) else []:
        try:
            with open(os.path.join(base, cid, "state.json")) as f:
                s = json.load(f)
        except (OSError, ValueError):
            continue
        pid = s.get("monitor_pid")
        if s.get("running") and isinstance(pid, int) and pid > 0:
            try:
                os.kill(pid, 0)
                out.add(cid)
            except ProcessLookupError:
                pass
    return out


def nft_addresses():
    r = subprocess.run(["nft", "-j", "list", "table", "inet", "kleene"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return set()
    found = set()

    def walk(x):
        if isinstance(x, str):
            try:
                if isinstance(ipaddress.ip_address(x), ipaddress.IPv4Address):
                    found.add(x)
            except ValueError:
                pass
        elif isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)

    for o in json.loads(r.stdout).get("nftables", []):
        for kind in ("set", "map"):
            if kind in o:
                walk(o[kind].get("elem", []))
    return found


def check(d, violations):
    """Append a description of every broken invariant to violations."""
    rows = db_rows(d)
    if rows["integrity"] != [("ok",)]:
        violations.append(f"integrity_check: {rows['integrity']}")
    if rows["fk"]:
        violations.append(f"foreign_key_check: {rows['fk']}")

    def dir_owned(path, owned, what):
        for n in sorted(os.listdir(path)) if os.path.isdir(path) else []:
            if n not in owned:
                violations.append(f"{what} {path}/{n} has no row")

    # and the other way round: every row has what it stands for
    for cid in sorted(rows["containers"]):
        for sub in ("upper", "work", "rootfs"):
            if not os.path.isdir(os.path.join(d.root, "container", cid, sub)):
                violations.append(f"container {cid}: no directory {sub}")
    for v in sorted(rows["volumes"]):
        if not os.path.isdir(os.path.join(d.root, "volumes", v)):
            violations.append(f"volume {v}: no directory")
    for l in sorted(rows["layers"]):
        if not os.path.lexists(os.path.join(d.root, "image", "layers", l)):
            violations.append(f"layer {l}: no directory")

    dir_owned(os.path.join(d.root, "container"), rows["containers"], "container directory")
    dir_owned(os.path.join(d.run, "containers"), rows["containers"], "run directory")
    dir_owned(os.path.join(d.root, "volumes"), rows["volumes"], "volume directory")
    dir_owned(os.path.join(d.root, "image", "layers"), rows["layers"], "layer directory")

    st, body = api(d.sock, "GET", "/containers/list?all=true")
    if st != 200:
        violations.append(f"containers/list answered {st}")
        return
    listed_running = {c["id"] for c in body if c.get("running")}
    monitors = running_monitors(d)
    for cid in sorted(monitors - listed_running):
        violations.append(f"container {cid}: its monitor runs, not listed as running")
    for cid in sorted(listed_running - monitors):
        violations.append(f"container {cid}: listed as running without a live monitor")

    # mounts under the root: rootfs of running containers (and what is mounted inside them)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if not mp.startswith(d.root + "/"):
                continue
            m = re.match(re.escape(d.root) + r"/container/([0-9a-f]{12})/rootfs(/|$)", mp)
            if not m or m.group(1) not in listed_running:
                violations.append(f"mount {mp} is not a running container's")

    running_eps = {ep for ep, (cid, _) in rows["endpoints"].items() if cid in listed_running}
    running_ips = {ip for ep, (cid, ip) in rows["endpoints"].items()
                   if cid in listed_running and ip}
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                      text=True).stdout or "[]")
    for l in links:
        name = l.get("ifname", "")
        kind = l.get("linkinfo", {}).get("info_kind") if "linkinfo" in l else None
        if re.fullmatch(r"kv[0-9a-f]{12}", name):
            if name[2:] not in running_eps:
                violations.append(f"veth {name}: no endpoint of a running container")
        elif name.startswith("kt") and name not in rows["networks"]:
            violations.append(f"link {name}: no network")
    link_names = {l.get("ifname", "") for l in links}
    for ep, (cid, _) in sorted(rows["endpoints"].items()):
        if (cid in listed_running and rows["drivers"].get(cid) not in ("host", "disabled")
                and f"kv{ep}" not in link_names):
            violations.append(f"endpoint {ep} of running container {cid}: no veth kv{ep}")
    for ifname in sorted(rows["networks"]):
        if ifname not in link_names:
            violations.append(f"network interface {ifname}: no link")
    for ip in sorted(nft_addresses() - running_ips):
        violations.append(f"nft element address {ip}: no running container's endpoint")


def check_settled(d, attempts=20):
    """Invariants, given a moment: the kernel destroys a dead container's network namespace
    (and its veth) asynchronously."""
    v = []
    for _ in range(attempts):
        v = []
        check(d, v)
        if not v:
            return v
        time.sleep(0.1)
    return v


# ---- cleanup ---------------------------------------------------------------------------

def kill_everything_else(outer_mnt):
    """Every process in our mount namespace but us: kleened, monitors, containers' reapers."""
    me = os.getpid()
    ours = os.readlink("/proc/self/ns/mnt")
    if ours == outer_mnt:
        return  # not in a mount namespace of our own: nothing here is only ours
    for _ in range(50):
        left = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == me:
                continue
            try:
                if os.readlink(f"/proc/{p}/ns/mnt") == ours:
                    left.append(int(p))
            except OSError:
                continue
        if not left:
            return
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def stop_containers(d):
    base = os.path.join(d.run, "containers")
    for cid in os.listdir(base) if os.path.isdir(base) else []:
        try:
            with open(os.path.join(base, cid, "state.json")) as f:
                s = json.load(f)
            if s.get("running") and s.get("container_pid"):
                os.kill(int(s["container_pid"]), signal.SIGKILL)
        except (OSError, ValueError):
            pass


# ---- main ------------------------------------------------------------------------------

def inner(args):
    build = args.build
    rng = random.Random(args.seed)
    d = Daemon(build, tempfile.mkdtemp(prefix="kleene-torture."))
    print(f"torture: seed {args.seed}, {args.duration} s, directory {d.dir}", flush=True)
    ctx = os.path.join(d.dir, "ctx")
    os.makedirs(ctx)
    with open(os.path.join(ctx, "file"), "w") as f:
        f.write("context file\n")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    failures = []
    rounds = restarts = 0
    ops = Ops(d, rng, ctx)
    try:
        d.start()
        rootfs = os.path.join(d.dir, "rootfs")
        subprocess.run([os.path.join(REPO, "scripts/mk-busybox-rootfs"), rootfs], check=True)
        code, reason = ws(d.sock, "/images/create",
                          {"method": "zfs-copy", "zfs_dataset": rootfs, "tag": "bb:latest",
                           "dns": False})
        if code != 1000:
            raise RuntimeError(f"base image: {code} {reason}")
        end = time.time() + args.duration
        while time.time() < end:
            rounds += 1
            point = rng.choice(CRASH_POINTS) if rng.random() < 0.3 else None
            if point:
                d.stop()
                d.start(point)
            budget = rng.uniform(0.05, 2.5)  # seconds of operations before the kill
            deadline = time.time() + budget
            nops = 0
            while d.alive() and (time.time() < deadline or (point and nops < 30)):
                ops.random_op()
                nops += 1
            how = f"crash point {point}" if point and not d.alive() else f"kill -9 after {budget:.2f} s"
            if d.alive() and rng.random() < 0.7:
                # Most of a round is spent between requests; aim the kill into one: an
                # operation is sent and kleened killed a few milliseconds later.
                delay = rng.uniform(0, 0.15)
                t = threading.Thread(target=ops.random_op, daemon=True)
                t.start()
                time.sleep(delay)
                how = f"kill -9 {delay * 1000:.0f} ms into an operation after {budget:.2f} s"
                d.kill()
                t.join(30)
            d.kill()
            restarts += 1
            d.start()
            v = check_settled(d)
            ncont = len(ops.containers())
            print(f"round {rounds}: {nops} ops, {how}; {ncont} containers; "
                  f"{'ok' if not v else str(len(v)) + ' violations'}", flush=True)
            for x in v:
                print(f"  violation: {x}", flush=True)
            if v:
                failures.append((rounds, v))
                if not args.keep_going:
                    break
            # keep the machine from filling up: an occasional clean-up through the API
            if ncont > 12:
                for cid in ops.containers():
                    api(d.sock, "POST", f"/containers/{cid}/stop")
                    api(d.sock, "DELETE", f"/containers/{cid}")
    except Exception as e:  # the harness itself failed: report, clean up
        failures.append((rounds, [f"harness: {e!r}"]))
        print(f"torture: {e!r}", flush=True)
    finally:
        total = sum(a + b for a, b in ops.done.values())
        failed_ops = sum(b for a, b in ops.done.values())
        print(f"torture: {rounds} rounds, {restarts} kills and restarts, {total} operations "
              f"({failed_ops} refused or failed while kleened ran: "
              + ", ".join(f"{k} {a}/{a + b}" for k, (a, b) in sorted(ops.done.items()))
              + f"), {len(failures)} rounds with violations", flush=True)
        if failures:
            print(f"torture: kleened's log: {d.log}", flush=True)
        d.stop()
        stop_containers(d)
        kill_everything_else(args.outer_mnt)
        if not (failures and args.keep):
            subprocess.run(["umount", "-R", "-l", d.dir], capture_output=True)
            with open("/proc/self/mountinfo") as f:
                for mp in sorted((l.split()[4] for l in f if l.split()[4].startswith(d.dir)),
                                 reverse=True):
                    subprocess.run(["umount", "-l", mp], capture_output=True)
            shutil.rmtree(d.dir, ignore_errors=True)
    print("torture: " + ("PASS" if not failures else "FAIL"), flush=True)
    return 0 if not failures else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--build", default=os.environ.get("KLEE_BUILD_DIR",
                                                      os.path.join(REPO, "build-test")))
    p.add_argument("--keep", action="store_true", help="keep the directory after a failure")
    p.add_argument("--keep-going", action="store_true", help="go on after a violation")
    p.add_argument("--inner", default=None, help=argparse.SUPPRESS)
    p.add_argument("--outer-mnt", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    args.build = os.path.abspath(args.build)
    if args.inner:
        return inner(args)
    if os.geteuid() != 0:
        print("torture: must run as root", file=sys.stderr)
        return 2
    ns = f"kleene-torture-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        cmd = ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
               "--inner", ns, "--duration", str(args.duration), "--seed", str(args.seed),
               "--build", args.build, "--outer-mnt", os.readlink("/proc/self/ns/mnt")]
        cmd += ["--keep"] if args.keep else []
        cmd += ["--keep-going"] if args.keep_going else []
        return subprocess.run(cmd).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    sys.exit(main())
