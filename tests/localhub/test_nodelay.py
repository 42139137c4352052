"""Kernel and terminal websockets send each frame as it is written (Nagle's algorithm off)."""

import asyncio
import json
import socket
import uuid

import pytest
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

pytestmark = pytest.mark.asyncio(loop_scope="function")


def nodelay(stream):
    return stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def _execute_request(code):
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request",
                   "username": "test", "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False},
    }  # fmt: skip


async def _run(ws, code):
    """Execute code; return the text of its result.

    The reply (shell channel) and the result (iopub) may arrive in either order; the
    kernel's "idle" status on iopub comes after the result.
    """
    request = _execute_request(code)
    await ws.write_message(json.dumps(request))
    result = replied = idle = None
    while not (replied and idle):
        message = json.loads(await asyncio.wait_for(ws.read_message(), 30))
        if message["parent_header"].get("msg_id") != request["header"]["msg_id"]:
            continue
        if message["msg_type"] == "execute_result":
            result = message["content"]["data"]["text/plain"]
        if message["msg_type"] == "execute_reply":
            assert message["content"]["status"] == "ok"
            replied = True
        if message["msg_type"] == "status":
            idle = message["content"]["execution_state"] == "idle"
    return result


async def test_kernel_websocket_runs_code_with_nodelay(jp_fetch, jp_ws_fetch):
    r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(r.body)["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    try:
        assert await _run(ws, "1+1") == "2"
        (connection,) = list(ZMQChannelsWebsocketConnection._open_sockets)
        assert nodelay(connection.websocket_handler.ws_connection.stream)
    finally:
        ws.close()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


async def test_terminal_websocket_runs_commands_with_nodelay(jp_serverapp, jp_fetch, jp_ws_fetch):
    r = await jp_fetch("api", "terminals", method="POST", body="{}")
    name = json.loads(r.body)["name"]
    ws = await jp_ws_fetch("terminals", "websocket", name)
    try:
        # computed by the shell, so the echo of the command line never matches it
        await ws.write_message(json.dumps(["stdin", "echo DONE-$((40 + 2))\r"]))
        output = ""
        while "DONE-42" not in output:
            kind, *rest = json.loads(await asyncio.wait_for(ws.read_message(), 30))
            output += rest[0] if kind == "stdout" else ""
        terminal = jp_serverapp.web_app.settings["terminal_manager"].get_terminal(name)
        (client,) = terminal.clients
        assert nodelay(client.ws_connection.stream)
    finally:
        ws.close()
        await jp_fetch("api", "terminals", name, method="DELETE")
