"""Docker compute nodes for real: two Docker Engines, placement, draining, files, limits."""

import os

import docker
import pytest

from .hubprocess import HubProcess

HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        len(HOSTS) < 2 and not os.environ.get("CI"),
        reason="needs two test Docker Engines (tests/services/with-docker.sh starts them)",
    ),
]

MEMORY_MB = 1000
CPU = 0.5


def node_config():
    nodes = [
        {"name": f"dock{i}", "backend": "docker", "url": url, "cpu": 2, "memory_mb": 2 * MEMORY_MB,
         "options": {"image": IMAGE}}
        for i, url in enumerate(HOSTS[:2])
    ]  # fmt: skip
    return (
        f"c.SMCHub.compute_nodes = {nodes!r}\n"
        f"c.SMCHub.default_quotas = {{'memory_mb': {MEMORY_MB}, 'cpu': {CPU}}}\n"
        "c.SMCHub.overcommit = {'memory': 1.0, 'cpu': 1.0}\n"
        "c.ProjectSpawner.start_timeout = 120\n"
        "c.ProjectSpawner.http_timeout = 120\n"
    )


@pytest.fixture(scope="module")
def engines():
    assert len(HOSTS) >= 2 and IMAGE, "SMCHUB_TEST_DOCKER_HOSTS and SMCHUB_TEST_PROJECT_IMAGE"
    clients = {f"dock{i}": docker.DockerClient(base_url=url) for i, url in enumerate(HOSTS[:2])}
    yield clients
    for client in clients.values():
        for container in client.containers.list(all=True, filters={"label": "smchub.project"}):
            container.remove(force=True)
        for volume in client.volumes.list(filters={"label": "smchub.project"}):
            volume.remove(force=True)
        client.close()


@pytest.fixture
async def docker_hub(hub_root, engines, request):
    hub = HubProcess(os.path.join(hub_root, f"docker-{request.node.name[:40]}"), node_config())
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


def containers(engine, project_id):
    return engine.containers.list(all=True, filters={"label": f"smchub.project={project_id}"})


async def test_projects_on_two_docker_nodes(docker_hub, engines):
    alice = await docker_hub.person("alice")
    ids = [(await alice.create_project(f"D{i}"))["id"] for i in range(4)]
    placed = {}
    for pid in ids:
        running = await alice.start_project(pid)
        placed[pid] = running["node"]
    # each node has room for two: both are used, two each
    assert sorted(placed.values()) == ["dock0", "dock0", "dock1", "dock1"]
    admin = await docker_hub.person("admin")
    r = await admin.api("GET", "nodes")
    loads = {n["name"]: n["load"] for n in r.json()}
    assert loads["dock0"]["running"] == loads["dock1"]["running"] == 2
    assert loads["dock0"]["memory_allocated_mb"] == 2 * MEMORY_MB

    # a fifth project does not fit anywhere, and is told why
    extra = (await alice.create_project("Too many"))["id"]
    r = await alice.api("POST", f"projects/{extra}/start")
    assert r.status_code == 503
    assert "no compute node can take this project" in r.json()["message"]

    pid = ids[0]
    engine = engines[placed[pid]]
    (container,) = containers(engine, pid)
    host_config = container.attrs["HostConfig"]
    assert host_config["Memory"] == MEMORY_MB * 2**20
    assert host_config["MemorySwap"] == MEMORY_MB * 2**20
    assert host_config["NanoCpus"] == int(CPU * 1e9)
    assert host_config["NetworkMode"] == "host"
    assert container.attrs["Config"]["User"] == "1000:1000"

    # files in the project's volume survive stop and start, on the same node
    r = await alice.client.put(
        f"/user/{pid}/api/contents/data.txt",
        json={"type": "file", "format": "text", "content": "in a volume"},
    )
    assert r.status_code in (200, 201), r.text
    out = await alice.execute(pid, "import os; print(os.getuid(), os.getcwd())")
    assert out.split() == ["1000", "/home/user"]
    await alice.stop_project(pid)
    assert containers(engine, pid) == []  # the container is removed...
    assert engine.volumes.get(f"smchub-home-{pid}")  # ...its volume stays
    running = await alice.start_project(pid)
    assert running["node"] == placed[pid]
    r = await alice.client.get(f"/user/{pid}/api/contents/data.txt")
    assert r.json()["content"] == "in a volume"

    # draining a node: its projects cannot start (their files are there), new ones go elsewhere
    for other in ids:
        await alice.stop_project(other)
    drained = placed[pid]
    r = await admin.api("PATCH", f"nodes/{drained}", {"state": "draining"})
    assert r.status_code == 200
    r = await alice.api("POST", f"projects/{pid}/start")
    assert r.status_code == 409
    assert f"files are on node '{drained}'" in r.json()["message"]
    new = (await alice.create_project("After draining"))["id"]
    running = await alice.start_project(new)
    assert running["node"] != drained
    await alice.stop_project(new)


async def test_docker_projects_survive_a_hub_restart(hub_root, engines):
    hub = HubProcess(
        os.path.join(hub_root, "docker-restart"),
        node_config() + "c.JupyterHub.cleanup_servers = False\n",
    )
    await hub.start()
    try:
        alice = await hub.person("alice")
        pid = (await alice.create_project("Through a restart"))["id"]
        running = await alice.start_project(pid)
        r = await alice.client.put(
            f"/user/{pid}/api/contents/before.txt",
            json={"type": "file", "format": "text", "content": "before the restart"},
        )
        assert r.status_code in (200, 201)
        (container,) = containers(engines[running["node"]], pid)
        await hub.stop()
        container.reload()
        assert container.status == "running"
        await hub.start()
        alice = await hub.person("alice")
        assert (await alice.wait_for_state(pid, "running", timeout=10))["node"] == running["node"]
        r = await alice.client.get(f"/user/{pid}/api/contents/before.txt")
        assert r.status_code == 200 and r.json()["content"] == "before the restart"
        await alice.stop_project(pid)
    finally:
        await hub.stop()
