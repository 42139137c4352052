"""A Docker node whose engine accepts connections and never answers must not freeze the hub.

The listener below is what a wedged dockerd, or a machine behind a black-holing firewall,
looks like from the hub: the TCP handshake succeeds, then nothing. Every call the hub
sends there waits for its timeout; the hub's other requests must not wait with it.
"""

import asyncio
import os
import socket
import time

import httpx
import pytest

from .hubprocess import HubProcess

pytestmark = pytest.mark.timeout(180)

# a request to the hub's own port does nothing but reach the event loop and come back
MAX_ANSWER_S = 0.1
CHECK_INTERVAL_S = 1


@pytest.fixture
def silent_engine():
    """A loopback port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = []
    stop = asyncio.Event()

    async def accept_forever():
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        while not stop.is_set():
            conn, _ = await loop.sock_accept(listener)
            accepted.append(conn)  # held open, never read, never answered

    yield listener.getsockname()[1], accept_forever, accepted, stop
    for conn in accepted:
        conn.close()
    listener.close()


async def test_the_hub_answers_while_a_node_never_does(hub_root, silent_engine):
    port, accept_forever, accepted, stop = silent_engine
    acceptor = asyncio.ensure_future(accept_forever())
    node = {"name": "silent", "backend": "docker", "url": f"tcp://127.0.0.1:{port}",
            "cpu": 2, "memory_mb": 2048}  # fmt: skip
    hub = HubProcess(
        os.path.join(hub_root, "unresponsive-node"),
        f"c.SMCHub.compute_nodes = [{{'name': 'local', 'backend': 'local'}}, {node!r}]\n"
        f"c.SMCHub.node_check_interval = {CHECK_INTERVAL_S}\n",
    )
    await hub.start()
    try:
        slowest = 0.0
        answers = 0
        started = time.monotonic()
        # straight to the hub's own port: the proxy in between would only add noise; a
        # long timeout, so a stall is measured rather than cut short
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.hub_port}", timeout=120) as c:
            # several checks of the node, each of which waits on it in vain
            while time.monotonic() - started < 5 * CHECK_INTERVAL_S:
                sent = time.monotonic()
                r = await c.get("/hub/health")
                took = time.monotonic() - sent
                assert r.status_code == 200
                slowest = max(slowest, took)
                answers += 1
                await asyncio.sleep(0.02)
        # the hub did talk to the node (it is the node that stays silent)
        assert accepted, "the hub never connected to the node"
        assert slowest < MAX_ANSWER_S, (
            f"the slowest of {answers} answers took {slowest * 1000:.0f} ms while the hub "
            "checked a node that never answers"
        )
        admin = await hub.person("admin")
        for _ in range(300):
            nodes = {n["name"]: n for n in (await admin.api("GET", "nodes")).json()}
            if nodes["silent"]["state"] == "down":
                break
            await asyncio.sleep(0.1)
        assert nodes["silent"]["state"] == "down"
        assert nodes["local"]["state"] == "active"
    finally:
        await hub.stop()
        stop.set()
        acceptor.cancel()
