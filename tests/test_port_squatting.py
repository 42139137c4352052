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
import signal
import socket
import threading
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
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


MINE = "the victim's own"


async def write_mine(hub, person, project_id):
    """A file of the project's own, whose content its server answers with."""
    body = {"type": "file", "format": "text", "content": MINE}
    r = await person.client.put(hub.project_url(project_id, "api/contents/mine.txt"), json=body)
    assert r.status_code in (200, 201), r.text


async def read_mine(hub, person, project_id):
    return await person.client.get(hub.project_url(project_id, "api/contents/mine.txt"))


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
        await write_mine(hub, victim, target)
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
                got = await read_mine(hub, victim, target)
                if "squatted" in got.text:
                    outcomes["hijacked"] += 1
                    break
                assert got.status_code == 200, got.text
                assert got.json()["content"] == MINE
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
        if outcomes["refused"]:
            # and who holds the range, when a start finds no free port at all
            full = [m for m in warnings.messages if "no free port" in m]
            assert full and unix_name(attacker) in full[0], full

        # the squatter gone with its project, the victim's project starts as always
        await mallory.stop_project(attacker)
        await victim.start_project(target)
        got = await read_mine(hub, victim, target)
        assert got.status_code == 200 and got.json()["content"] == MINE, got.text
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


class Impostor:
    """Another program that listens on a port as soon as it is free, answering
    everyone like a project server (in a thread of the test: the hub's event loop is
    this one)."""

    def __init__(self, port):
        self.port = port
        self.answered = 0
        self.sock = None
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        body = b'{"content": "squatted", "type": "file"}'
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        while not self.halt.is_set() and self.sock is None:
            sock = socket.socket()
            # as any server does: the dead server's connections wait out TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", self.port))
                sock.listen(16)
                self.sock = sock
            except OSError:
                sock.close()
                time.sleep(0.001)
        if self.sock is None:
            return
        self.sock.settimeout(0.05)
        while not self.halt.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(answer)
                self.answered += 1
        self.sock.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.thread.join(5)


async def test_the_route_of_a_server_that_dies_goes_before_another_program_can_answer(hub_root):
    """The server dies (as by the OOM killer) and another program takes its port at
    once: the hub has removed the route by then, though its next poll is minutes away."""
    root = os.path.join(hub_root, "dying-" + secrets.token_hex(3))
    async with running_hub(root, Spawner__poll_interval=300) as hub:
        victim = await hub.person("victim")
        target = (await victim.create_project("Target"))["id"]
        await victim.start_project(target)
        await write_mine(hub, victim, target)
        spawner = hub.app.users[target].spawner
        with Impostor(spawner.port) as impostor:
            os.killpg(spawner.handle["pid"], signal.SIGKILL)
            await asyncio.sleep(0.5)
            assert impostor.sock is not None, "the impostor never had the port"
            got = await read_mine(hub, victim, target)
            assert "squatted" not in got.text, "the dead server's traffic went to its port"
            assert impostor.answered == 0
            stopped = await victim.wait_for_state(target, "stopped", timeout=10)
            assert stopped["state"] == "stopped"
        # started again, it is the victim's own
        await victim.start_project(target)
        got = await read_mine(hub, victim, target)
        assert got.status_code == 200 and got.json()["content"] == MINE, got.text
        await victim.stop_project(target)
