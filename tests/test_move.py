"""Admins move projects between nodes, of the same kind or not; every file arrives intact."""

import asyncio
import os

import pytest

from smchub import orm

from .hubprocess import HubProcess
from .test_docker_nodes import HOSTS, IMAGE
from .test_swarm import HUB_IP, MANAGER
from .test_swarm import IMAGE as SWARM_IMAGE

pytestmark = pytest.mark.timeout(600)

MAKE_FILES = """
import os
os.makedirs("thesis/figures", exist_ok=True)
open("thesis/main.tex", "w").write("\\\\documentclass{article}\\n" * 100)
open("thesis/figures/plot.bin", "wb").write(os.urandom(20 * 2**20))
open(".hidden", "w").write("dotfile")
os.symlink("thesis/main.tex", "latest.tex")
os.chmod("thesis/main.tex", 0o640)
print("ok")
"""

CHECKSUMS = """
import hashlib, os
for folder, dirs, files in os.walk("."):
    dirs[:] = sorted(d for d in dirs if d not in (".local", ".cache", ".ipython", ".jupyter"))
    for name in sorted(files):
        path = os.path.join(folder, name)
        if path.startswith("./.local") or path.startswith("./.ipython"):
            continue
        kind = "link->" + os.readlink(path) if os.path.islink(path) else \\
            hashlib.sha256(open(path, "rb").read()).hexdigest()
        print(path, kind)
"""


# after a move: one file deleted, one changed, one new
CHANGE_FILES = """
import os
os.remove(".hidden")
open("thesis/main.tex", "a").write("% revised\\n")
open("after-the-move.txt", "w").write("new")
"""


async def checksums(person, pid):
    return sorted((await person.execute(pid, CHECKSUMS)).splitlines())


# what the project image puts in a new home (useradd's skeleton), beside the moved files
SKELETON = {"./.bashrc", "./.profile", "./.bash_logout"}


def same_files(before, after):
    """Every file arrived with the same content; anything else is the image's skeleton."""
    extra = {line.split()[0] for line in set(after) - set(before)}
    return set(before) <= set(after) and extra <= SKELETON


async def add_node(hub, spec):
    r = await hub.admin.api("POST", "nodes", spec)
    assert r.status_code == 201, r.text
    return spec["name"]


async def remove_node(hub, name):
    for project in hub.db.query(orm.Project).filter_by(node=name):
        project.deleted = True
    hub.db.commit()
    r = await hub.admin.api("DELETE", f"nodes/{name}")
    assert r.status_code == 204, r.text


@pytest.fixture
async def other_local_node(hub):
    root = os.path.join(hub.root, "node-move")
    os.makedirs(root, mode=0o711, exist_ok=True)
    options = {"projects_root": os.path.join(root, "projects")}
    spec = {"name": "local-move", "backend": "local", "cpu": 4, "memory_mb": 8000}
    name = await add_node(hub, {**spec, "options": options})
    yield name
    await remove_node(hub, name)


async def move(hub, pid, node):
    r = await hub.admin.api("POST", f"projects/{pid}/move", {"node": node})
    assert r.status_code == 200, r.text
    return r.json()


def pin(hub, pid, node):
    """Where the project's files are now (as if it had been placed there earlier)."""
    hub.db.get(orm.Project, pid).node = node
    hub.db.commit()


async def test_move_between_local_nodes_keeps_every_file(hub, other_local_node):
    alice = await hub.person()
    pid = (await alice.create_project("Moving house"))["id"]
    pin(hub, pid, "local")
    await alice.start_project(pid)
    assert (await alice.execute(pid, MAKE_FILES)).strip() == "ok"
    before = await checksums(alice, pid)
    assert any("plot.bin" in line for line in before) and any("link->" in line for line in before)

    moved = await move(hub, pid, other_local_node)
    assert moved["node"] == other_local_node
    assert moved["moved"]["from"] == "local" and moved["moved"]["files"] >= 3
    # it was running, so it runs again, on the new node, with the same files
    assert (await alice.wait_for_state(pid, "running"))["node"] == other_local_node
    assert await checksums(alice, pid) == before
    home = os.path.join(hub.root, "node-move", "projects", pid)
    assert os.path.isfile(os.path.join(home, "thesis", "main.tex"))
    await alice.stop_project(pid)
    # stickiness follows the move
    assert (await alice.start_project(pid))["node"] == other_local_node
    # moving back finds the home it left on "local" and replaces it, so what was deleted
    # in the meantime stays deleted and nothing is merged
    await alice.execute(pid, CHANGE_FILES)
    changed = await checksums(alice, pid)
    await alice.stop_project(pid)
    await move(hub, pid, "local")
    assert (await alice.start_project(pid))["node"] == "local"
    assert await checksums(alice, pid) == changed
    assert not any(".hidden" in line for line in changed)
    assert [p for p in os.listdir(os.path.join(hub.root, "data", "projects")) if pid in p] == [pid]
    await alice.stop_project(pid)


async def test_move_is_for_admins_and_refused_without_room(hub, other_local_node):
    alice = await hub.person()
    pid = (await alice.create_project())["id"]
    r = await alice.api("POST", f"projects/{pid}/move", {"node": other_local_node})
    assert r.status_code == 403
    tiny = await add_node(hub, {"name": "tiny", "backend": "local", "cpu": 4, "memory_mb": 100})
    try:
        r = await hub.admin.api("POST", f"projects/{pid}/move", {"node": tiny})
        assert r.status_code == 409
        assert "100 MB of memory free" in r.json()["message"]
        r = await hub.admin.api("POST", f"projects/{pid}/move", {"node": "nowhere"})
        assert r.status_code == 404
        r = await hub.admin.api("POST", f"projects/{pid}/move", {"node": 7})
        assert r.status_code == 400
        assert hub.db.get(orm.Project, pid).node is None
    finally:
        await remove_node(hub, tiny)


@pytest.mark.skipif(len(HOSTS) < 2 and not os.environ.get("CI"), reason="needs test engines")
async def test_move_from_local_to_docker_and_back(hub):
    spec = {"name": "dock-move", "backend": "docker", "url": HOSTS[0], "cpu": 4}
    name = await add_node(hub, {**spec, "memory_mb": 8000, "options": {"image": IMAGE}})
    try:
        alice = await hub.person()
        pid = (await alice.create_project("Into a container"))["id"]
        pin(hub, pid, "local")
        await alice.start_project(pid)
        await alice.execute(pid, MAKE_FILES)
        before = await checksums(alice, pid)
        await alice.stop_project(pid)

        moved = await move(hub, pid, name)
        assert moved["node"] == name and moved["state"] == "stopped"
        assert (await alice.start_project(pid))["node"] == name
        assert same_files(before, await checksums(alice, pid))
        out = await alice.execute(pid, "import os; print(os.stat('thesis/main.tex').st_uid)")
        assert out.strip() == "1000"
        await alice.stop_project(pid)

        moved = await move(hub, pid, "local")
        assert (await alice.start_project(pid))["node"] == "local"
        assert same_files(before, await checksums(alice, pid))
        await alice.stop_project(pid)
    finally:
        await remove_node(hub, name)


@pytest.mark.skipif(
    not (os.environ.get("SMCHUB_TEST_SWARM_MANAGER") and len(HOSTS) >= 2)
    and not os.environ.get("CI"),
    reason="needs the test engines and the test swarm",
)
async def test_move_from_docker_to_a_swarm_machine_and_back(hub_root):
    docker_node = {
        "name": "dock",
        "backend": "docker",
        "url": HOSTS[0],
        "cpu": 4,
        "memory_mb": 8000,
        "labels": {"where": "docker"},
        "options": {"image": IMAGE},
    }
    swarm = {"name": "swarm", "backend": "swarm", "url": MANAGER,
             "options": {"cluster": True, "image": SWARM_IMAGE}}  # fmt: skip
    hub = HubProcess(
        os.path.join(hub_root, "move-swarm"),
        f"c.SMCHub.compute_nodes = [{docker_node!r}, {swarm!r}]\n"
        f"c.JupyterHub.hub_ip = {HUB_IP!r}\n"
        "c.SMCHub.node_check_interval = 1\n"
        "c.SMCHub.default_quotas = {'memory_mb': 500, 'cpu': 1.0}\n"
        "c.ProjectSpawner.start_timeout = 120\nc.ProjectSpawner.http_timeout = 120\n",
    )
    await hub.start()
    try:
        admin = await hub.person("admin")
        alice = await hub.person("alice")
        machines = []
        for _ in range(100):
            machines = [n["name"] for n in (await admin.api("GET", "nodes")).json()
                        if n["name"].startswith("swarm-") and n["state"] == "active"]  # fmt: skip
            if machines:
                break
            await asyncio.sleep(0.2)
        assert machines, "the swarm's machines did not show up"
        pid = (await alice.create_project("Across engines"))["id"]
        await admin.api("PATCH", f"projects/{pid}", {"node_labels": {"where": "docker"}})
        assert (await alice.start_project(pid))["node"] == "dock"
        await alice.execute(pid, MAKE_FILES)
        before = await checksums(alice, pid)
        await admin.api("PATCH", f"projects/{pid}", {"node_labels": {}})

        r = await admin.api("POST", f"projects/{pid}/move", {"node": machines[0]})
        assert r.status_code == 200, r.text
        # it was running: it runs again, on the swarm machine, with the same files
        assert (await alice.wait_for_state(pid, "running"))["node"] == machines[0]
        assert same_files(before, await checksums(alice, pid))
        await alice.execute(pid, CHANGE_FILES)
        changed = await checksums(alice, pid)

        # back onto the Docker node, whose volume still holds the files as they were
        r = await admin.api("POST", f"projects/{pid}/move", {"node": "dock"})
        assert r.status_code == 200, r.text
        assert (await alice.wait_for_state(pid, "running"))["node"] == "dock"
        assert same_files(changed, await checksums(alice, pid))
        await alice.execute(pid, "import os; os.remove('after-the-move.txt')")
        changed = await checksums(alice, pid)

        # and onto the swarm machine again, which also kept an old copy
        r = await admin.api("POST", f"projects/{pid}/move", {"node": machines[0]})
        assert r.status_code == 200, r.text
        assert (await alice.wait_for_state(pid, "running"))["node"] == machines[0]
        assert same_files(changed, await checksums(alice, pid))
        await alice.stop_project(pid)
    finally:
        await hub.stop()
