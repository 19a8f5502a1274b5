#!/usr/bin/python3
"""One /exec/start session with our multiplexed protocol (docs/api.md), as a third-party
client would speak it. Prints one JSON object: the "starting" message, the output per stream
(binary frames tagged 1 stdout / 2 stderr; untagged text frames under "text"), the close code
and reason.

usage: exec_mux.py SOCKET EXEC_ID [--no-multiplex] [--bin TEXT] [--text TEXT] [--sleep S]...
  --bin sends stdin bytes (a binary frame), --text a text frame (a control message when
  multiplexed), in the order given, after the "starting" message.
"""
import asyncio
import json
import sys

import websockets


async def main():
    sock, exec_id = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    multiplex, actions = True, []
    while args:
        a = args.pop(0)
        if a == "--no-multiplex":
            multiplex = False
        elif a == "--bin":
            actions.append(("bin", args.pop(0).encode()))
        elif a == "--text":
            actions.append(("text", args.pop(0)))
        elif a == "--sleep":
            actions.append(("sleep", float(args.pop(0))))
    config = {"exec_id": exec_id, "attach": True, "start_container": True}
    if multiplex:
        config["multiplex"] = True
    out = {"stdout": "", "stderr": "", "text": "", "bad_frames": 0}
    async with websockets.unix_connect(sock, "ws://localhost/exec/start", ping_interval=None,
                                       max_size=None) as ws:
        await ws.send(json.dumps(config))
        out["starting"] = json.loads(await asyncio.wait_for(ws.recv(), 10))

        async def send_all():
            for kind, val in actions:
                if kind == "sleep":
                    await asyncio.sleep(val)
                elif kind == "bin":
                    await ws.send(val)
                else:
                    await ws.send(val)

        sender = asyncio.ensure_future(send_all())
        try:
            while True:
                msg = await asyncio.wait_for(ws.recv(), 20)
                if isinstance(msg, bytes):
                    if msg[:1] == b"\x01":
                        out["stdout"] += msg[1:].decode("utf-8", "replace")
                    elif msg[:1] == b"\x02":
                        out["stderr"] += msg[1:].decode("utf-8", "replace")
                    else:
                        out["bad_frames"] += 1
                else:
                    out["text"] += msg
        except websockets.ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            out["timeout"] = True
        sender.cancel()
    out["close_code"] = ws.close_code
    out["close_reason"] = ws.close_reason
    print(json.dumps(out), flush=True)


asyncio.run(main())
