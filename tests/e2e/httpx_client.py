"""Talk to kleened the way the original klee does: httpx (one Client per request, like its
generated OpenAPI client), over a UNIX socket or TLS with client certificates. Prints one
line per call: the status code and the body.

    httpx_client.py unix SOCK METHOD PATH [JSON]
    httpx_client.py tls URL CA CERT KEY METHOD PATH [JSON]
"""
import json
import sys

import httpx


def main():
    args = sys.argv[1:]
    if args[0] == "unix":
        transport = httpx.HTTPTransport(uds=args[1])
        base, verify, cert = "http://localhost", True, None
        rest = args[2:]
    else:
        transport = httpx.HTTPTransport(verify=args[2], cert=(args[3], args[4]))
        base, verify, cert = args[1], args[2], (args[3], args[4])
        rest = args[5:]
    method, path = rest[0], rest[1]
    body = json.loads(rest[2]) if len(rest) > 2 else None
    with httpx.Client(base_url=base, transport=transport, verify=verify, cert=cert) as c:
        r = c.request(method, path, json=body)
        print(r.status_code, r.text.strip())


main()
