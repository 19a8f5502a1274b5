#!/usr/bin/python3
"""Minimal WebSocket client for the e2e tests (python3-websockets 10.x, asyncio API).

usage: wsclient.py SOCKET PATH CONFIG [--close-after N]
Connects to the kleened UNIX socket, sends CONFIG (sent verbatim as the first text frame),
and prints one JSON line per frame received: {"frame": "<text>"}, then at the end
{"close_code": N, "close_reason": "<reason>"}. With --close-after N it closes the connection
itself after receiving N frames (a client that goes away mid-session)."""
import asyncio
import json
import sys

import websockets


async def main():
    sock, path, config = sys.argv[1], sys.argv[2], sys.argv[3]
    close_after = None
    if len(sys.argv) > 5 and sys.argv[4] == "--close-after":
        close_after = int(sys.argv[5])
    async with websockets.unix_connect(sock, "ws://localhost" + path, max_size=None) as ws:
        await ws.send(config)
        n = 0
        try:
            while True:
                msg = await ws.recv()
                if isinstance(msg, bytes):
                    msg = msg.decode("utf-8", "replace")
                print(json.dumps({"frame": msg}), flush=True)
                n += 1
                if close_after is not None and n >= close_after:
                    await ws.close()
                    print(json.dumps({"client_closed": True}), flush=True)
                    return
        except websockets.exceptions.ConnectionClosed:
            pass
        print(json.dumps({"close_code": ws.close_code, "close_reason": ws.close_reason}),
              flush=True)


asyncio.run(main())
