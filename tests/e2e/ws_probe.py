#!/usr/bin/python3
"""Drive one WebSocket session against kleened over its UNIX socket and print what happens,
one JSON object per line: {"frame": ...} for each text/binary frame, {"pong": true} when a ping
was answered, and finally {"close_code": N, "close_reason": "..."}.

usage: ws_probe.py SOCKET PATH [--send TEXT | --send-hex HEX]... [--ping] [--wait SECONDS]
"""
import asyncio
import json
import sys

import websockets


async def main():
    sock, path = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    sends, ping, wait = [], False, 10.0
    while args:
        a = args.pop(0)
        if a == "--send":
            sends.append(args.pop(0))
        elif a == "--send-hex":
            sends.append(bytes.fromhex(args.pop(0)))
        elif a == "--ping":
            ping = True
        elif a == "--wait":
            wait = float(args.pop(0))
    async with websockets.unix_connect(sock, "ws://localhost" + path, ping_interval=None,
                                       max_size=None) as ws:
        if ping:
            waiter = await ws.ping(b"probe")
            await asyncio.wait_for(waiter, 5)
            print(json.dumps({"pong": True}), flush=True)
        for s in sends:
            await ws.send(s)
        try:
            while True:
                msg = await asyncio.wait_for(ws.recv(), wait)
                if isinstance(msg, bytes):
                    msg = msg.decode("utf-8", "replace")
                print(json.dumps({"frame": msg}), flush=True)
        except websockets.ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            print(json.dumps({"timeout": True}), flush=True)
            return
    print(json.dumps({"close_code": ws.close_code, "close_reason": ws.close_reason}), flush=True)


asyncio.run(main())
