"""(e) What the proxy adds: the same requests through it and straight to the server.

On one running server: a contents API GET of a 1 KiB file, and a kernel execute round
trip (execute_request sent, execute_reply received) over the kernel's websocket. Both
ways are timed alternately on kept-open connections, as the admin; the figure is
median(through the proxy) / median(straight to the server's port).
"""

import asyncio
import json
import secrets
import statistics
import time
from urllib.parse import urlsplit

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .loadgen import Connection


async def proxy_overhead(hub, client, rounds=300):
    name = await hub.create_server(client)
    ok, _, error = await hub.start_until_ready(client, name)
    if not ok:
        return {"error": error}
    try:
        target = urlsplit((await hub.routes())[f"/user/{name}"])
        ports = {"through": hub.port, "straight": target.port}
        r = await client.put(
            f"/user/{name}/api/contents/bench.txt",
            json={"type": "file", "format": "text", "content": "x" * 1024},
        )
        r.raise_for_status()
        contents = await _contents_get(hub, name, ports, rounds)
        r = await client.post(f"/user/{name}/api/kernels", json={"name": "python3"})
        r.raise_for_status()
        kernel_id = r.json()["id"]
        try:
            execute = await _kernel_execute(hub, name, kernel_id, ports, rounds)
        finally:
            await client.delete(f"/user/{name}/api/kernels/{kernel_id}")
    finally:
        await hub.stop_servers(client, [name])
    return {"contents_get": contents, "kernel_execute": execute}


def _summary(times):
    through = statistics.median(times["through"])
    straight = statistics.median(times["straight"])
    return {
        "through_ms": round(1000 * through, 3),
        "straight_ms": round(1000 * straight, 3),
        "ratio": round(through / straight, 3),
        "rounds": len(times["through"]),
    }


async def _contents_get(hub, name, ports, rounds):
    path = f"/user/{name}/api/contents/bench.txt"
    headers = f"Authorization: token {hub.admin_token}\r\n".encode()
    connections = {way: await Connection("127.0.0.1", port).open() for way, port in ports.items()}
    times = {way: [] for way in ports}
    try:
        for index in range(rounds + 20):
            for way, connection in connections.items():
                tic = time.perf_counter()
                status = await connection.get(path, headers)
                elapsed = time.perf_counter() - tic
                if status != 200:
                    raise RuntimeError(f"contents GET {way}: {status}")
                if index >= 20:  # the first ones warm both paths up
                    times[way].append(elapsed)
    finally:
        for connection in connections.values():
            connection.close()
    return _summary(times)


async def _kernel_execute(hub, name, kernel_id, ports, rounds):
    sockets = {}
    for way, port in ports.items():
        url = f"ws://127.0.0.1:{port}/user/{name}/api/kernels/{kernel_id}/channels"
        request = HTTPRequest(url, headers={"Authorization": f"token {hub.admin_token}"})
        sockets[way] = await websocket_connect(request)
    session = secrets.token_hex(8)
    times = {way: [] for way in ports}
    try:
        for index in range(rounds + 20):
            for way, ws in sockets.items():
                tic = time.perf_counter()
                await _execute(ws, session, "1")
                elapsed = time.perf_counter() - tic
                if index >= 20:
                    times[way].append(elapsed)
    finally:
        for ws in sockets.values():
            ws.close()
    return _summary(times)


async def _execute(ws, session, code, timeout=30):
    msg_id = secrets.token_hex(8)
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench",
              "session": session, "version": "5.3", "date": ""}  # fmt: skip
    ws.write_message(json.dumps({
        "header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False}, "buffers": [],
    }))  # fmt: skip
    while True:
        raw = await asyncio.wait_for(ws.read_message(), timeout)
        if raw is None:
            raise RuntimeError("the kernel's websocket closed")
        if isinstance(raw, bytes):
            continue
        message = json.loads(raw)
        if (
            message.get("msg_type") == "execute_reply"
            and message.get("parent_header", {}).get("msg_id") == msg_id
        ):
            return message
