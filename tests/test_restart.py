"""Restarting the hub keeps running projects running and reachable; a start the hub's end
cut short leaves no server behind."""

import asyncio
import json
import os
import signal
import sys
import time

import psutil
import pytest
from sqlalchemy import create_engine, text

from .hubfixture import remove_accounts_under, remove_project_accounts
from .hubprocess import HubProcess

pytestmark = pytest.mark.timeout(300)


def server_pid(hub, project_id):
    """The project's server pid, as the hub recorded it in its database."""
    engine = create_engine(hub.db_url)
    with engine.connect() as db:
        (state,) = db.execute(
            text(
                "select spawners.state from spawners join users on users.id = spawners.user_id "
                "where users.name = :name"
            ),
            {"name": project_id},
        ).one()
    engine.dispose()
    state = json.loads(state) if isinstance(state, str) else state
    return state["handle"]["pid"]


@pytest.fixture
async def restartable_hub(hub_root):
    hub = HubProcess(os.path.join(hub_root, "restart"), "c.JupyterHub.cleanup_servers = False\n")
    await hub.start()
    yield hub
    # this hub leaves servers running on purpose: stop them before it goes
    await hub.stop()
    with open(hub.config_file, "a") as f:
        f.write("c.JupyterHub.cleanup_servers = True\n")
    await hub.start()
    await hub.stop()
    projects = os.path.join(hub.root, "data", "projects")
    remove_project_accounts(os.listdir(projects) if os.path.isdir(projects) else [])


async def test_projects_survive_a_hub_restart(restartable_hub):
    hub = restartable_hub
    alice = await hub.person("alice")
    kept = (await alice.create_project("Kept running"))["id"]
    killed = (await alice.create_project("Dies while the hub is down"))["id"]
    for pid in (kept, killed):
        await alice.start_project(pid)
        r = await alice.client.put(
            hub.project_url(pid, "api/contents/work.txt"),
            json={"type": "file", "format": "text", "content": f"work of {pid}"},
        )
        assert r.status_code in (200, 201)
    kept_pid = server_pid(hub, kept)

    await hub.stop()
    os.kill(server_pid(hub, killed), signal.SIGKILL)
    os.kill(kept_pid, 0)  # still running without the hub
    await hub.start()

    alice = await hub.person("alice")
    project = await alice.wait_for_state(kept, "running", timeout=10)
    assert project["node"] == "local"
    r = await alice.client.get(hub.project_url(kept, "api/contents/work.txt"))
    assert r.status_code == 200
    assert r.json()["content"] == f"work of {kept}"
    assert server_pid(hub, kept) == kept_pid  # the same server, found again

    assert (await alice.api("GET", f"projects/{killed}")).json()["state"] == "stopped"
    await alice.start_project(killed)
    r = await alice.client.get(hub.project_url(killed, "api/contents/work.txt"))
    assert r.json()["content"] == f"work of {killed}"
    for pid in (kept, killed):
        await alice.stop_project(pid)


def recorded_handle(hub, project_id):
    """The pid of the project's server as the hub recorded it, or None."""
    try:
        return server_pid(hub, project_id)
    except (KeyError, TypeError):
        return None


async def kill_hub_while_starting(hub, person, project):
    """Ask for the project's start, SIGKILL the hub once it has recorded the server's
    process (while the server is still starting); returns that process."""
    assert (await person.api("POST", f"projects/{project}/start")).status_code == 202
    for _ in range(50):
        pid = recorded_handle(hub, project)
        if pid:
            break
        await asyncio.sleep(0.1)
    assert pid and psutil.pid_exists(pid), "the hub recorded no server while it started"
    server = psutil.Process(pid)
    hub.proc.send_signal(signal.SIGKILL)
    hub.proc.wait()
    return server


async def test_a_server_starting_when_the_hub_dies_is_not_lost(hub_root):
    """JupyterHub records a server's state once its start is done: a hub killed before
    then left a server running that the next hub, finding no process to look at, called
    stopped (and never stopped). The handle is recorded as soon as the process exists."""
    # project servers that take a few seconds to answer, so the hub dies while one starts
    slow = ["/bin/sh", "-c", 'sleep 3; exec "$0" -m jupyterhub.singleuser "$@"', sys.executable]
    config = f"c.LocalBackend.use_fork_server = False\nc.ProjectSpawner.cmd = {slow!r}\n"
    hub = HubProcess(os.path.join(hub_root, "cut-short"), config)
    await hub.start()
    try:
        alice = await hub.person("alice")
        project = (await alice.create_project("Starting when the hub dies"))["id"]
        server = await kill_hub_while_starting(hub, alice, project)
        pid = server.pid
        assert server.is_running()  # it outlives the hub
        await hub.start()
        # the hub that comes back finds the server, waits for it to answer and keeps it
        alice = await hub.person("alice")
        assert (await alice.wait_for_state(project, "running", timeout=60))["node"] == "local"
        assert recorded_handle(hub, project) == pid
        # at the address the server listens on: the next hub checked that one, and the
        # project answers without waiting out JupyterHub's 60 s check of a wrong one
        tic = time.monotonic()
        while True:
            r = await alice.client.get(hub.project_url(project, "api/status"))
            if r.status_code == 200:
                break
            assert time.monotonic() - tic < 30, (r.status_code, r.text[:300])
            await asyncio.sleep(0.5)
        assert psutil.Process(pid).is_running()
        # once more, and this time stopped as soon as the hub is back (while it may still
        # be waiting for the server)
        await alice.stop_project(project)
        gone, _ = await asyncio.to_thread(psutil.wait_procs, [server], timeout=15)
        assert gone, f"the server {pid} still runs after its project stopped"
        server = await kill_hub_while_starting(hub, alice, project)
        pid = server.pid
        await hub.start()
        alice = await hub.person("alice")
        await alice.stop_project(project)
        gone, _ = await asyncio.to_thread(psutil.wait_procs, [server], timeout=15)
        assert gone, f"the server {pid} still runs after its project stopped"
    finally:
        await hub.stop()
        remove_accounts_under(hub.root)
