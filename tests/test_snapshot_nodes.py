"""Snapshots and restores of homes on Docker nodes and Swarm machines, for real.

The backends are called directly with a real restic repository (a folder of the test's
own), on the test Docker Engines (tests/services/with-docker.sh) and the test swarm
(tests/services/with-swarm.sh): files are written into a project's volume by a container
running as the project, snapshotted by a helper next to the volume, then restored.
"""

import asyncio
import contextlib
import os
import time
import uuid

import docker
import pytest

from smchub.restic import Restic
from smchub.spawners.backend import SnapshotFailed
from smchub.spawners.docker import DockerBackend
from smchub.spawners.swarm import SwarmMachineBackend

from .hubprocess import HubProcess

HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")
MANAGER = os.environ.get("SMCHUB_TEST_SWARM_MANAGER", "")
MACHINES = dict(m.split("=", 1) for m in os.environ.get("SMCHUB_TEST_SWARM_MACHINES", "").split())
SWARM_IMAGE = os.environ.get("SMCHUB_TEST_SWARM_IMAGE", "")
SWARM_HUB_IP = os.environ.get("SMCHUB_TEST_SWARM_HUB_IP", "")

pytestmark = pytest.mark.timeout(300)
needs_docker = pytest.mark.skipif(
    not (HOSTS and IMAGE) and not os.environ.get("CI"),
    reason="needs the test Docker Engines (tests/services/with-docker.sh starts them)",
)
needs_swarm = pytest.mark.skipif(
    not (MANAGER and len(MACHINES) >= 2 and SWARM_IMAGE) and not os.environ.get("CI"),
    reason="needs a test swarm (tests/services/with-swarm.sh, inside with-docker.sh)",
)

PROJECT_UID = 1000
# a uid that is neither root nor the project's: the hub's account, when it is not root
HUB_UID = 4242


@pytest.fixture
async def restic(tmp_path):
    repository = Restic(
        str(tmp_path / "repository"), str(tmp_path / "password"), str(tmp_path / "cache")
    )
    await repository.ensure_ready()
    return repository


class Home:
    """A project's home volume on one engine, read and written as the project would."""

    def __init__(self, engine, image):
        self.engine = engine
        self.image = image
        self.project_id = str(uuid.uuid4())
        self.volume = f"smchub-home-{self.project_id}"

    def make(self):
        self.engine.volumes.create(self.volume, labels={"smchub.project": self.project_id})

    def sh(self, script, user=f"{PROJECT_UID}:{PROJECT_UID}"):
        out = self.engine.containers.run(
            self.image,
            ["sh", "-c", script],
            user=user,
            working_dir="/home/user",
            volumes={self.volume: {"bind": "/home/user", "mode": "rw"}},
            network_mode="none",
            labels={"smchub.project": self.project_id},
            remove=True,
        )
        return out.decode()

    def read(self, path):
        """The file's owner and content (root reads it, whatever its mode)."""
        # a last line without a newline does not reach Docker 20.10's logs: echo ends it
        out = self.sh(f"stat -c %u {path} && cat {path} && echo", user="0:0")
        owner, _, content = out.removesuffix("\n").partition("\n")
        return int(owner), content

    def remove(self):
        for container in self.engine.containers.list(
            all=True, filters={"label": f"smchub.project={self.project_id}"}
        ):
            container.remove(force=True)
        try:
            self.engine.volumes.get(self.volume).remove(force=True)
        except docker.errors.NotFound:
            pass


def snapshot_root_names(entries):
    return sorted(e["name"] for e in entries)


async def snapshot_and_restore(backend, home, restic, helpers_left):
    """The same story on every kind of node: snapshot, lose and change files, restore."""
    home.sh(
        "mkdir -p notes && printf first > notes/a.txt && printf keep > b.txt && "
        "head -c 1000 /dev/zero > big.txt"
    )
    summary = await backend.snapshot_home(home.project_id, restic, "manual")
    assert summary["snapshot_id"]
    assert summary["files_new"] >= 3

    (snap,) = await restic.snapshots(home.project_id)
    # restic 0.14 names the new snapshot by its short id
    assert snap["id"].startswith(summary["snapshot_id"])
    assert sorted(snap["tags"]) == [f"project:{home.project_id}", "trigger:manual"]
    # the snapshot's root is the home itself
    root = snapshot_root_names(await restic.ls(snap["id"], ""))
    assert {"notes", "b.txt", "big.txt"} <= set(root)
    assert snapshot_root_names(await restic.ls(snap["id"], "notes")) == ["a.txt"]
    assert helpers_left() == []

    # nothing changed: the next snapshot finds the last one and reads nothing new
    again = await backend.snapshot_home(home.project_id, restic, "interval")
    assert again["files_new"] + again["files_changed"] == 0
    assert len(await restic.snapshots(home.project_id)) == 2

    # a notebook deleted, a file changed since; the whole home restored
    home.sh("rm notes/a.txt && printf changed > b.txt")
    result = await backend.restore_home(home.project_id, restic, snap["id"], "", "")
    assert result["kept"] == ["b.txt~"]
    assert result["files"] == 2  # a.txt and b.txt; big.txt was left alone (identical)
    assert home.read("notes/a.txt") == (PROJECT_UID, "first")
    assert home.read("b.txt") == (PROJECT_UID, "keep")
    assert home.read("b.txt~") == (PROJECT_UID, "changed")

    # one file of the snapshot, to another place of the home
    result = await backend.restore_home(
        home.project_id, restic, snap["id"], "notes/a.txt", "copies/a.txt"
    )
    assert result == {"files": 1, "bytes": 5, "kept": []}
    assert home.read("copies/a.txt") == (PROJECT_UID, "first")

    # a path the snapshot does not have is refused with the reason
    with pytest.raises(SnapshotFailed, match="has no|no matching"):
        await backend.restore_home(home.project_id, restic, snap["id"], "nope.txt", "")
    assert helpers_left() == []


def repository_owners(restic):
    owners = set()
    for folder, dirs, files in os.walk(restic.repository):
        for name in dirs + files:
            owners.add(os.lstat(os.path.join(folder, name)).st_uid)
    return owners


@pytest.fixture
def engine():
    client = docker.DockerClient(base_url=HOSTS[0])
    yield client
    client.close()


@pytest.fixture
def docker_backend():
    backend = DockerBackend(node_name="dock0", node_url=HOSTS[0], node_options={"image": IMAGE})
    yield backend
    backend._executor and backend._executor.shutdown()


def docker_helpers(engine):
    return engine.containers.list(all=True, filters={"label": "smchub.role=snapshot"})


@needs_docker
async def test_snapshot_and_restore_on_a_docker_node(docker_backend, engine, restic):
    home = Home(engine, IMAGE)
    try:
        home.make()
        await snapshot_and_restore(docker_backend, home, restic, lambda: docker_helpers(engine))
    finally:
        home.remove()


@needs_docker
async def test_a_docker_node_without_the_home_refuses_a_snapshot(docker_backend, restic):
    with pytest.raises(SnapshotFailed, match="node dock0 has no home for this project"):
        await docker_backend.snapshot_home(str(uuid.uuid4()), restic, "stop")
    assert await restic.snapshots() == []


@needs_docker
async def test_a_hub_that_is_not_root_can_still_read_its_repository(docker_backend, engine, restic):
    # restic runs as root in the helper; what it writes must go to the hub's account
    os.chown(restic.repository, HUB_UID, HUB_UID)
    for folder, dirs, files in os.walk(restic.repository):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), HUB_UID, HUB_UID)
    home = Home(engine, IMAGE)
    try:
        home.make()
        home.sh("printf one > one.txt")
        summary = await docker_backend.snapshot_home(home.project_id, restic, "stop")
        assert repository_owners(restic) == {HUB_UID}
        await docker_backend.restore_home(
            home.project_id, restic, summary["snapshot_id"], "one.txt", "two.txt"
        )
        assert repository_owners(restic) == {HUB_UID}
        assert home.read("two.txt") == (PROJECT_UID, "one")
    finally:
        home.remove()


# --- a swarm -------------------------------------------------------------------------------


@pytest.fixture
def swarm_machine():
    """m1's engine and the backend of the smchub node it is (through the manager)."""
    manager = docker.DockerClient(base_url=MANAGER)
    engine = docker.DockerClient(base_url=MACHINES["m1"])
    (node,) = [n for n in manager.nodes.list() if n.attrs["Description"]["Hostname"] == "m1"]
    backend = SwarmMachineBackend(
        node_name="swarm-m1",
        node_url=MANAGER,
        node_options={"swarm_node_id": node.id, "image": SWARM_IMAGE},
        task_poll_interval=0.2,
    )
    yield backend, engine, manager
    backend._executor and backend._executor.shutdown()
    engine.close()
    manager.close()


@needs_swarm
async def test_snapshot_and_restore_on_a_swarm_machine(swarm_machine, restic):
    backend, engine, manager = swarm_machine
    home = Home(engine, SWARM_IMAGE)

    def helpers_left():
        return manager.services.list(filters={"label": "smchub.role=snapshot"})

    try:
        home.make()
        await snapshot_and_restore(backend, home, restic, helpers_left)
    finally:
        home.remove()


# --- through the hub: a person's project, snapshotted at stop and restored ----------------------

HUB_CONFIG = """
c.SMCHub.snapshot_interval = 0
c.SMCHub.default_quotas = {'memory_mb': 1000, 'cpu': 1.0}
c.SMCHub.overcommit = {'memory': 1.0, 'cpu': 1.0}
c.ProjectSpawner.start_timeout = 120
c.ProjectSpawner.http_timeout = 120
"""


async def wait_for_snapshots(person, pid, count, timeout=120):
    """The project's snapshots once it has `count` (the stop snapshot is in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await person.api("GET", f"projects/{pid}/snapshots")
        assert r.status_code == 200, r.text
        listed = r.json()
        if len(listed["snapshots"]) >= count and not listed["running"]:
            return listed
        assert time.monotonic() < deadline, f"project {pid} has {listed}, not {count} snapshots"
        await asyncio.sleep(0.3)


async def lose_and_restore_through_the_hub(hub, node, node_labels=None):
    alice = await hub.person("alice")
    pid = (await alice.create_project("Thesis"))["id"]
    if node_labels:
        admin = await hub.person("admin")
        r = await admin.api("PATCH", f"projects/{pid}", {"node_labels": node_labels})
        assert r.status_code == 200, r.text
    assert (await alice.start_project(pid))["node"] == node
    contents = hub.project_url(pid, "api/contents/thesis.md")
    r = await alice.client.put(
        contents, json={"type": "file", "format": "text", "content": "chapter one"}
    )
    assert r.status_code in (200, 201), r.text
    await alice.stop_project(pid)

    listed = await wait_for_snapshots(alice, pid, 1)
    assert listed["error"] is None
    (snap,) = listed["snapshots"]
    assert snap["trigger"] == "stop" and snap["files_new"] >= 1
    r = await alice.api("GET", f"projects/{pid}/snapshots/{snap['id']}/files?path=")
    assert r.status_code == 200, r.text
    assert "thesis.md" in [e["name"] for e in r.json()["entries"]]

    # the file deleted in the running project comes back from the stop's snapshot
    await alice.start_project(pid)
    r = await alice.client.delete(contents)
    assert r.status_code == 204, r.text
    r = await alice.api(
        "POST", f"projects/{pid}/snapshots/{snap['id']}/restore", {"path": "thesis.md"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["files"] == 1
    r = await alice.client.get(contents)
    assert r.status_code == 200 and r.json()["content"] == "chapter one"
    out = await alice.execute(pid, "import os; print(os.stat('thesis.md').st_uid == os.getuid())")
    assert out.strip() == "True"
    await alice.stop_project(pid)
    await wait_for_snapshots(alice, pid, 2)


@needs_docker
async def test_a_docker_project_is_snapshotted_at_stop_and_restored_through_the_hub(
    hub_root, engine
):
    node = {"name": "dock0", "backend": "docker", "url": HOSTS[0], "cpu": 2, "memory_mb": 2000,
            "options": {"image": IMAGE, "network": "smchub-test-snapshots",
                        "network_subnet": "203.0.113.160/28"}}  # fmt: skip
    hub = HubProcess(
        os.path.join(hub_root, "snapshots-docker"),
        f"c.SMCHub.compute_nodes = [{node!r}]\n" + HUB_CONFIG,
    )
    await hub.start()
    try:
        await lose_and_restore_through_the_hub(hub, "dock0")
        assert docker_helpers(engine) == []
    finally:
        await hub.stop()
        for container in engine.containers.list(all=True, filters={"label": "smchub.project"}):
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": "smchub.project"}):
            volume.remove(force=True)
        for network in engine.networks.list(names=["smchub-test-snapshots"]):
            network.remove()


@needs_swarm
async def test_a_swarm_project_is_snapshotted_at_stop_and_restored_through_the_hub(hub_root):
    entry = {"name": "swarm", "backend": "swarm", "url": MANAGER,
             "options": {"cluster": True, "image": SWARM_IMAGE}}  # fmt: skip
    config = (
        f"c.SMCHub.compute_nodes = [{entry!r}]\n"
        f"c.JupyterHub.hub_ip = {SWARM_HUB_IP!r}\n"
        "c.SMCHub.node_check_interval = 1\n"
        "c.SwarmBackend.stop_timeout = 3\n"
        "c.SwarmBackend.task_poll_interval = 0.2\n" + HUB_CONFIG
    )
    manager = docker.DockerClient(base_url=MANAGER)
    hub = HubProcess(os.path.join(hub_root, "snapshots-swarm"), config)
    await hub.start()
    try:
        admin = await hub.person("admin")
        deadline = time.monotonic() + 60
        while True:
            r = await admin.api("GET", "nodes")
            if any(n["name"] == "swarm-m1" and n["last_seen"] for n in r.json()):
                break
            assert time.monotonic() < deadline, r.json()
            await asyncio.sleep(0.3)
        # on m1, a worker: the hub reaches its volume only through the manager
        await lose_and_restore_through_the_hub(hub, "swarm-m1", {"machine": "m1"})
        assert manager.services.list(filters={"label": "smchub.role=snapshot"}) == []
    finally:
        await hub.stop()
        for service in manager.services.list(filters={"label": "smchub.project"}):
            service.remove()
        for url in MACHINES.values():
            machine = docker.DockerClient(base_url=url)
            for container in machine.containers.list(all=True, filters={"label": "smchub.project"}):
                # a service's task container may go between listing and removing
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
            for volume in machine.volumes.list(filters={"label": "smchub.project"}):
                volume.remove(force=True)
            machine.close()
        manager.close()
