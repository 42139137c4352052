"""Kernel websockets send each frame as it is written (Nagle's algorithm off)."""

import asyncio
import json
import socket
import uuid

import pytest
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from smchub.extensions.localhub.kernelws import NoDelayKernelConnection, use_nodelay_connections


def _execute_request(code):
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request",
                   "username": "test", "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False},
    }  # fmt: skip


async def _run(ws, code):
    """Execute code; return the text of its result once the execute_reply arrived."""
    request = _execute_request(code)
    await ws.write_message(json.dumps(request))
    result = None
    while True:
        message = json.loads(await asyncio.wait_for(ws.read_message(), 30))
        if message["parent_header"].get("msg_id") != request["header"]["msg_id"]:
            continue
        if message["msg_type"] == "execute_result":
            result = message["content"]["data"]["text/plain"]
        if message["msg_type"] == "execute_reply":
            assert message["content"]["status"] == "ok"
            return result


@pytest.mark.asyncio(loop_scope="function")
async def test_kernel_websocket_runs_code_with_nodelay(jp_serverapp, jp_fetch, jp_ws_fetch):
    settings = jp_serverapp.web_app.settings
    assert settings["kernel_websocket_connection_class"] is NoDelayKernelConnection
    r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(r.body)["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    try:
        assert await _run(ws, "1+1") == "2"
        (connection,) = list(ZMQChannelsWebsocketConnection._open_sockets)
        assert isinstance(connection, NoDelayKernelConnection)
        sock = connection.websocket_handler.ws_connection.stream.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        ws.close()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


def test_a_configured_connection_class_is_kept():
    class GatewayLike(ZMQChannelsWebsocketConnection):
        pass

    settings = {"kernel_websocket_connection_class": GatewayLike}
    assert not use_nodelay_connections(settings)
    assert settings["kernel_websocket_connection_class"] is GatewayLike
