#!/usr/bin/python3
"""Interop peer for test_ws.c: python3-websockets against our C WebSocket module.

  ws_interop.py client PORT   connect to ws://127.0.0.1:PORT/exec/start (our C server)
  ws_interop.py server        serve on a free loopback port, print it, serve one C client

Exits 0 when every check passed; any failed check raises and exits non-zero.
The exchange mirrors test_interop_python_client / test_interop_python_server in test_ws.c.
"""
import asyncio
import json
import sys

import websockets


def close_info(exc):
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    return exc.code, exc.reason


async def client(port):
    # Library defaults, like the original klee: it offers permessage-deflate, which our
    # server must ignore (no extension is negotiated).
    async with websockets.connect(f"ws://127.0.0.1:{port}/exec/start") as ws:
        await ws.send('{"attach":true,"exec_id":"abc"}')
        first = json.loads(await ws.recv())
        assert first == {"data": "", "message": "", "msg_type": "starting"}, first

        data = bytes(i % 251 for i in range(70000))
        await ws.send(data)
        echo = await ws.recv()
        assert echo == data, "binary echo differs"

        pong = await ws.ping(b"cli-ping")
        await ws.send(["frag-", "ment", "-ed"])  # one text message in three fragments
        await asyncio.wait_for(pong, 5)

        # The server pings us here; the library answers it.
        text = await ws.recv()
        assert text == "caf\u00e9\n", repr(text)
        raw = await ws.recv()
        assert raw == b"\xff\x00\xfe", repr(raw)
        try:
            extra = await ws.recv()
            raise AssertionError(f"expected a close, got {extra!r}")
        except websockets.ConnectionClosed as exc:
            code, reason = close_info(exc)
            assert code == 1000, code
            assert len(reason.encode()) == 122, (len(reason.encode()), reason)
            assert reason.startswith('{"data":"","message":"executable abc'), reason
            assert reason.endswith("need a cut "), reason


async def server():
    done = asyncio.get_running_loop().create_future()

    async def handler(ws, path=None):
        try:
            assert ws.path == "/images/build", ws.path
            async for msg in ws:
                if msg == "close-me":
                    await ws.close(
                        1011, '{"data":"","message":"image build failed","msg_type":"error"}')
                    break
                if msg == "ping-me":
                    waiter = await ws.ping(b"srv-ping")
                    await asyncio.wait_for(waiter, 5)
                    await ws.send("pong-received")
                    continue
                await ws.send("echo:" + msg if isinstance(msg, str) else msg)
            await ws.wait_closed()
            assert ws.close_code == 1011, ws.close_code
            done.set_result(True)
        except BaseException as exc:  # report any failure through the exit code
            done.set_exception(exc)
            raise

    async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.wait_for(done, 20)


def main():
    if sys.argv[1] == "client":
        asyncio.run(asyncio.wait_for(client(int(sys.argv[2])), 20))
    else:
        asyncio.run(server())


if __name__ == "__main__":
    main()
