"""A project that listens on the ports project servers are given, on a local node.

Local project servers listen on loopback ports, which any account on the machine can
listen on too. A project whose program holds the port another project's server is about
to take would get that project's traffic: the server cannot bind and exits, the hub
reaches the squatter instead, checks it (it answers like a server) and routes the
victim's requests, with the victim's cookies for its project's origin, to it. The hub
takes a port nothing listens on, but a squatter can take it between that choice and the
server's bind; so the hub routes a server only once the listener is the project's own.
"""

import asyncio
import logging
import os
import random
import secrets
import time

import pytest

from smchub.names import unix_name
from smchub.spawners.ports import bindable

from .hubfixture import running_hub

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="projects have accounts of their own only when the hub is root"
)

# Run detached by the attacker's kernel (so it outlives the kernel): over and over, it
# listens on every port of the range it can, answers everyone like a project server for
# HOLD seconds, then lets the ports go for a moment, when the hub finds them free.
SQUATTER = """
import socket, threading, time
LOW, HIGH, HOLD, GAP = {low}, {high}, 3.0, 0.1
BODY = b'{{"content": "squatted", "type": "file"}}'
ANSWER = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nConnection: close\\r\\n"
          b"Content-Length: %d\\r\\n\\r\\n%s" % (len(BODY), BODY))

def serve(sock, until):
    sock.settimeout(0.05)
    while time.monotonic() < until:
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        with conn:
            try:
                conn.settimeout(1)
                conn.recv(65536)
                conn.sendall(ANSWER)
            except OSError:
                pass

while True:
    held = []
    for port in range(LOW, HIGH + 1):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(16)
            held.append(sock)
        except OSError:
            sock.close()
    until = time.monotonic() + HOLD
    threads = [threading.Thread(target=serve, args=(s, until)) for s in held]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for sock in held:
        sock.close()
    time.sleep(GAP)
"""

START_SQUATTER = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", {code!r}], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("squatting")
"""


def free_block(size):
    """`size` consecutive loopback ports nothing listens on, in the local node's range."""
    for _ in range(100):
        low = random.randint(25000, 29999 - size)
        if all(bindable("127.0.0.1", port) for port in range(low, low + size)):
            return low, low + size - 1
    raise AssertionError("no free block of ports")


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


async def test_a_project_squatting_server_ports_never_gets_another_projects_traffic(hub_root):
    # four ports: the attacker's own server takes one, its squatter fights for the rest
    low, high = free_block(4)
    root = os.path.join(hub_root, "squatting-" + secrets.token_hex(3))
    async with running_hub(root, LocalBackend__port_range=(low, high)) as hub:
        warnings = Warnings()
        hub.app.log.addHandler(warnings)
        mallory, victim = await hub.person("mallory"), await hub.person("victim")
        attacker = (await mallory.create_project("Squatter"))["id"]
        target = (await victim.create_project("Target"))["id"]
        await mallory.start_project(attacker)
        await victim.start_project(target)
        mine = {"type": "file", "format": "text", "content": "the victim's own"}
        r = await victim.client.put(hub.project_url(target, "api/contents/mine.txt"), json=mine)
        assert r.status_code in (200, 201), r.text
        await victim.stop_project(target)
        code = START_SQUATTER.format(code=SQUATTER.format(low=low, high=high))
        assert "squatting" in await mallory.execute(attacker, code)

        outcomes = {"hijacked": 0, "contested": 0, "own server": 0, "refused": 0}

        def caught():
            # the hub found the squatter on the port it gave the server (it then starts
            # the server on another port, or gives up after a few)
            return [m for m in warnings.messages if "listened on port" in m]

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not caught():
            r = await victim.api("POST", f"projects/{target}/start")
            if r.status_code == 503:
                if "took the port" in r.text:
                    # taken as each of the hub's attempts started: refused, saying so
                    outcomes["contested"] += 1
                    continue
                # every port of the range held: refused at once, saying so
                assert "c.LocalBackend.port_range" in r.text, r.text
                outcomes["refused"] += 1
                await asyncio.sleep(0.05)
                continue
            assert r.status_code == 202, r.text
            state = await settled_state(victim, target)
            if state == "running":
                got = await victim.client.get(hub.project_url(target, "api/contents/mine.txt"))
                if "squatted" in got.text:
                    outcomes["hijacked"] += 1
                    break
                assert got.status_code == 200, got.text
                assert got.json()["content"] == "the victim's own"
                outcomes["own server"] += 1
                await victim.stop_project(target)
            else:
                outcomes["contested"] += 1
        print(outcomes)
        assert outcomes["hijacked"] == 0, f"the squatter got the victim's requests: {outcomes}"
        # the squatter did take a port between the hub's choice and the server's bind,
        # and the hub's log says whose it is
        assert caught(), (outcomes, warnings.messages[-5:])
        assert unix_name(attacker) in caught()[0], caught()

        # the squatter gone with its project, the victim's project starts as always
        await mallory.stop_project(attacker)
        await victim.start_project(target)
        got = await victim.client.get(hub.project_url(target, "api/contents/mine.txt"))
        assert got.status_code == 200 and got.json()["content"] == "the victim's own", got.text
        await victim.stop_project(target)
        hub.app.log.removeHandler(warnings)


async def settled_state(person, project_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        r = await person.api("GET", f"projects/{project_id}")
        state = r.json()["state"]
        if state in ("running", "stopped"):
            return state
        assert time.monotonic() < deadline, f"the project is still {state}"
        await asyncio.sleep(0.1)
