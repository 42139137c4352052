"""Faults: a project server killed outright, a Docker node whose engine stops."""

import asyncio
import os
import re
import signal
import subprocess
import time

import docker
import psutil
import pytest

from .hubprocess import HubProcess
from .test_docker_nodes import HOSTS, containers, node_config

pytestmark = pytest.mark.timeout(600)
STATE = os.path.dirname(os.path.dirname(HOSTS[1].removeprefix("unix://"))) if HOSTS else ""
TEST_DAEMONS = os.path.join(os.path.dirname(__file__), "..", "docker", "test-daemons.sh")


def server_process(hub, project_id):
    user = hub.app.users[project_id]
    return psutil.Process(user.spawner.handle["pid"])


async def test_a_killed_server_is_noticed_and_starts_again(hub):
    alice = await hub.person()
    pid = (await alice.create_project("Fragile"))["id"]
    await alice.start_project(pid)
    r = await alice.client.put(
        hub.project_url(pid, "api/contents/saved.txt"),
        json={"type": "file", "format": "text", "content": "saved before the crash"},
    )
    assert r.status_code in (200, 201)
    server_process(hub, pid).send_signal(signal.SIGKILL)
    killed = time.monotonic()
    poll_interval = hub.app.users[pid].spawner.poll_interval
    stopped = await alice.wait_for_state(pid, "stopped", timeout=poll_interval * 2 + 5)
    assert stopped["state"] == "stopped"
    # JupyterHub polls with some jitter around the interval
    assert time.monotonic() - killed <= poll_interval * 2 + 5
    await alice.start_project(pid)
    r = await alice.client.get(hub.project_url(pid, "api/contents/saved.txt"))
    assert r.json()["content"] == "saved before the crash"
    await alice.stop_project(pid)


def dockerd_pid(index):
    with open(os.path.join(STATE, f"d{index}", "dockerd.pid")) as f:
        return int(f.read())


@pytest.mark.skipif(len(HOSTS) < 2 and not os.environ.get("CI"), reason="needs test engines")
async def test_a_docker_node_that_stops_answering_is_marked_down(hub_root):
    hub = HubProcess(
        os.path.join(hub_root, "docker-faults"),
        node_config()
        + "c.SMCHub.node_check_interval = 1\nc.Spawner.poll_interval = 2\n"
        # one project per node, so placement is forced
        + "c.SMCHub.default_quotas = {'memory_mb': 1500, 'cpu': 1.0}\n",
    )
    await hub.start()
    try:
        alice = await hub.person("alice")
        admin = await hub.person("admin")
        first = (await alice.create_project("On one node"))["id"]
        running = await alice.start_project(first)
        node = running["node"]
        index = int(node.removeprefix("dock"))
        r = await alice.client.put(
            hub.project_url(first, "api/contents/kept.txt"),
            json={"type": "file", "format": "text", "content": "kept in the volume"},
        )
        assert r.status_code in (200, 201)

        # the engine stops (as if its machine went away)
        os.kill(dockerd_pid(index), signal.SIGTERM)
        for _ in range(300):
            nodes = {n["name"]: n for n in (await admin.api("GET", "nodes")).json()}
            if nodes[node]["state"] == "down":
                break
            await asyncio.sleep(0.1)
        assert nodes[node]["state"] == "down"
        # the admin's log says why (here: its socket refuses), not only that it is down
        assert re.search(rf"Node {node} does not answer \(.+\): marking it down", hub.log())
        assert (await alice.wait_for_state(first, "stopped", timeout=30))["state"] == "stopped"
        # new projects go to the other node
        second = (await alice.create_project("Elsewhere"))["id"]
        elsewhere = await alice.start_project(second)
        assert elsewhere["node"] != node
        # the first project's files are on the down node: a clear refusal, not an empty home
        r = await alice.api("POST", f"projects/{first}/start")
        assert r.status_code == 409 and "down" in r.json()["message"]

        # the engine comes back: the node becomes active by itself, the project starts there
        out = subprocess.run(
            [TEST_DAEMONS, "start", "2", STATE], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        for _ in range(300):
            nodes = {n["name"]: n for n in (await admin.api("GET", "nodes")).json()}
            if nodes[node]["state"] == "active":
                break
            await asyncio.sleep(0.1)
        assert nodes[node]["state"] == "active"
        assert nodes[node]["last_seen"]
        await alice.stop_project(second)
        again = await alice.start_project(first)
        assert again["node"] == node
        r = await alice.client.get(hub.project_url(first, "api/contents/kept.txt"))
        assert r.json()["content"] == "kept in the volume"
        await alice.stop_project(first)
        client = docker.DockerClient(base_url=HOSTS[index])
        assert containers(client, first) == []
        client.close()
    finally:
        await hub.stop()
        # whatever happened, both engines run again for the tests after this one
        subprocess.run([TEST_DAEMONS, "start", "2", STATE], capture_output=True, timeout=120)
