#!/usr/bin/python3
"""A fake kleened WebSocket endpoint for cli_ws.bats (python3-websockets, asyncio API).

  fake_ws_kleened.py SOCKET RECORD SCENARIO

Serves any path on the UNIX socket SOCKET. For each connection it writes to RECORD one
JSON line {"path", "host", "frame_type", "config"} describing the client's first frame,
then plays SCENARIO:
  ok        starting, text "hello\\n", a non-UTF-8 binary frame, a progress line, close 1000
  detached  close 1001 (exec started detached) without a starting frame
  fail      starting, text "boom\\n", close 1011 with an error reason
  nonjson   text "error: container not found" (no starting), close 1011
  badjson   starting, then close 1000 with a reason that is not JSON
  slow      starting, waits 2 s (client keepalive must not break anything), close 1000
  drop      starting, then the TCP-level connection is cut without a close frame
  echo      starting, echoes every client frame back as binary until "q" arrives, close 1000
"""
import asyncio
import json
import sys

import websockets

SOCK, RECORD, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
STARTING = '{"data":"","message":"","msg_type":"starting"}'


def reason(msg_type, message, data=""):
    return json.dumps({"data": data, "message": message, "msg_type": msg_type},
                      separators=(",", ":"), sort_keys=True)


async def handler(ws, path=None):
    first = await ws.recv()
    with open(RECORD, "a") as f:
        f.write(json.dumps({
            "path": ws.path,
            "host": ws.request_headers.get("Host"),
            "frame_type": "text" if isinstance(first, str) else "binary",
            "config": json.loads(first) if isinstance(first, str) else None,
        }) + "\n")
    if SCENARIO == "ok":
        await ws.send(STARTING)
        await ws.send("hello\n")
        await ws.send(b"\xff\x00\xfe\x80 binary\n")
        await ws.send("Fetched 1.2 MB (45%)\n")
        await ws.close(1000, reason("closing", "image created", "abc123def456"))
    elif SCENARIO == "detached":
        await ws.close(1001, reason("closing",
                                    "succesfully started execution instance in detached mode"))
    elif SCENARIO == "fail":
        await ws.send(STARTING)
        await ws.send("boom\n")
        await ws.close(1011, reason("error", "image creation failed: boom"))
    elif SCENARIO == "nonjson":
        await ws.send("error: container not found")
        await ws.close(1011, reason("error", "error starting exec instance"))
    elif SCENARIO == "badjson":
        await ws.send(STARTING)
        await ws.close(1000, "not json at all")
    elif SCENARIO == "slow":
        await ws.send(STARTING)
        await asyncio.sleep(2)
        await ws.send("done\n")
        await ws.close(1000, reason("closing", "image created", "slow00000000"))
    elif SCENARIO == "drop":
        await ws.send(STARTING)
        await ws.send("partial\n")
        ws.transport.abort()
    elif SCENARIO == "echo":
        await ws.send(STARTING)
        async for frame in ws:
            data = frame.encode() if isinstance(frame, str) else frame
            if data == b"q":
                break
            await ws.send(data)
        await ws.close(1000, reason("closing", "echo done"))


async def main():
    async with websockets.unix_serve(handler, SOCK):
        await asyncio.Future()


asyncio.run(main())
