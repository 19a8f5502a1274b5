#!/usr/bin/python3
"""A small token server for the registry's Bearer flow (Docker Registry v2 token
authentication), for tests/e2e/registry_auth.bats. Python's standard library only; the JWT is
signed (RS256) by `openssl dgst` with the test's key, and carries the test's certificate in its
x5c header, which the registry checks against `auth.token.rootcertbundle`.

usage: token_server.py ADDR PORT KEY.pem CERT.pem SERVICE ISSUER USERS
USERS: "name|password|actions[|prefix];..." where actions is "pull" or "pull+push": what the
user may do on every repository, or only on those whose name starts with prefix. An anonymous
request gets a token with no access; a wrong password is 401.
Each request is logged to stderr as `token: user=... scope=... granted=...` (no password)."""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


ADDR, PORT, KEY, CERT, SERVICE, ISSUER, USERS = sys.argv[1:8]
PORT = int(PORT)
users = {}
for entry in USERS.split(";"):
    fields = entry.split("|")
    users[fields[0]] = (fields[1], fields[2].split("+"), fields[3] if len(fields) > 3 else "")

with open(CERT) as f:
    pem = f.read()
der_b64 = "".join(l for l in pem.splitlines() if "-----" not in l)


def sign(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [der_b64]}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY], input=signing_input,
                         capture_output=True, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
        q = urllib.parse.parse_qs(u.query)
        user, allowed, prefix = "", [], ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                name, password = base64.b64decode(auth[6:]).decode().split(":", 1)
            except Exception:
                name, password = "", None
            if name not in users or users[name][0] != password:
                sys.stderr.write("token: user=%s refused\n" % name)
                sys.stderr.flush()
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                    "message": "incorrect username or password"}]},
                                  {"WWW-Authenticate": 'Basic realm="token"'})
            user, allowed, prefix = name, users[name][1], users[name][2]
        access = []
        for scope in q.get("scope", []):
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) != 3 or parts[0] != "repository":
                    continue
                ok = parts[1].startswith(prefix)
                granted = [a for a in parts[2].split(",") if a in allowed and ok]
                access.append({"type": "repository", "name": parts[1], "actions": granted})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user, "aud": q.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 30, "iat": now,
                  "jti": b64url(os.urandom(12)), "access": access}
        sys.stderr.write("token: user=%s scope=%s granted=%s\n" % (
            user or "-", ",".join(q.get("scope", [])) or "-", json.dumps(access)))
        sys.stderr.flush()
        token = sign(claims)
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300})


http.server.ThreadingHTTPServer((ADDR, PORT), Handler).serve_forever()
