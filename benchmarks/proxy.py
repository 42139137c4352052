"""(e) What the proxy adds: the same requests through it and straight to the server.

On one running server: a contents API GET of a 1 KiB file, a kernel execute round
trip (execute_request sent, execute_reply received) over the kernel's websocket, and a
terminal command round trip (a command line typed, until its output is back). Both
ways are timed alternately on kept-open connections, as the admin; the figure is
median(through the proxy) / median(straight to the server's port).

On smchub's hubs (one behind configurable-http-proxy, one behind HAProxy), the same
server then takes the proxy's load figures: 200 clients at once and 5,000 idle
websockets (`benchmarks.proxy_load`).
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
from .proxy_load import proxy_under_load


async def proxy_overhead(hub, client, rounds=300):
    name = await hub.create_server(client)
    ok, _, error = await hub.start_until_ready(client, name)
    if not ok:
        return {"error": error}
    try:
        target = urlsplit(await hub.server_target(name))
        ports = {"through": hub.port, "straight": target.port}
        r = await client.put(
            hub.server_url(name, "api/contents/bench.txt"),
            json={"type": "file", "format": "text", "content": "x" * 1024},
        )
        r.raise_for_status()
        contents = await _contents_get(hub, name, ports, rounds)
        r = await client.post(hub.server_url(name, "api/kernels"), json={"name": "python3"})
        r.raise_for_status()
        kernel_id = r.json()["id"]
        try:
            execute = await _kernel_execute(hub, name, kernel_id, ports, rounds)
        finally:
            await client.delete(hub.server_url(name, f"api/kernels/{kernel_id}"))
        terminal = await _terminal_command(hub, client, name, ports, rounds // 3)
        results = {
            "contents_get": contents,
            "kernel_execute": execute,
            "terminal_command": terminal,
        }
        if hub.echo_host:
            results["load"] = await proxy_under_load(hub, name, target.port)
    finally:
        await hub.stop_servers(client, [name])
    return results


def _host_header(hub, name, way, port):
    """Through the proxy, the server's own name; straight, its address."""
    return hub.server_host(name) if way == "through" else f"127.0.0.1:{port}"


def _ws_headers(hub, name, way, port):
    return {
        "Authorization": f"token {hub.admin_token}",
        "Host": _host_header(hub, name, way, port),
    }


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
    connections = {
        way: await Connection("127.0.0.1", port, _host_header(hub, name, way, port)).open()
        for way, port in ports.items()
    }
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
        request = HTTPRequest(url, headers=_ws_headers(hub, name, way, port))
        sockets[way] = await websocket_connect(request)
    session = secrets.token_hex(8)
    try:
        times = await _alternately(sockets, rounds, lambda ws, _index: _execute(ws, session, "1"))
    finally:
        for ws in sockets.values():
            ws.close()
    return _summary(times)


async def _alternately(sockets, rounds, round_trip, warmup=20):
    """Time round_trip(socket, index) on each way in turn; the first ones warm up."""
    times = {way: [] for way in sockets}
    for index in range(rounds + warmup):
        for way, ws in sockets.items():
            tic = time.perf_counter()
            await round_trip(ws, index)
            elapsed = time.perf_counter() - tic
            if index >= warmup:
                times[way].append(elapsed)
    return times


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


async def _terminal_command(hub, client, name, ports, rounds):
    # a terminal for each way: every client of a terminal sees all of its output
    sockets, terminals = {}, []
    try:
        for way, port in ports.items():
            r = await client.post(hub.server_url(name, "api/terminals"))
            r.raise_for_status()
            terminals.append(r.json()["name"])
            url = f"ws://127.0.0.1:{port}/user/{name}/terminals/websocket/{terminals[-1]}"
            request = HTTPRequest(url, headers=_ws_headers(hub, name, way, port))
            sockets[way] = await websocket_connect(request)
            await _type(sockets[way], "PS1='$ '", -1)
        times = await _alternately(
            sockets, rounds, lambda ws, index: _type(ws, "printf 'a\\nb\\nc\\n'", index)
        )
    finally:
        for ws in sockets.values():
            ws.close()
        for terminal in terminals:
            await client.delete(hub.server_url(name, f"api/terminals/{terminal}"))
    return _summary(times)


async def _type(ws, command, index, timeout=30):
    """Type a command line; return once its output is back (a marker the shell computes)."""
    ws.write_message(json.dumps(["stdin", f"{command}; echo DONE-$(({index} + 1))\r"]))
    marker, output = f"DONE-{index + 1}", ""
    while marker not in output:
        raw = await asyncio.wait_for(ws.read_message(), timeout)
        if raw is None:
            raise RuntimeError("the terminal's websocket closed")
        kind, *rest = json.loads(raw)
        if kind == "stdout":
            output = output[-100:] + rest[0]
