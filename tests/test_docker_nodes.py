"""Docker compute nodes for real: two Docker Engines, placement, draining, files, limits."""

import os

import docker
import pytest

from smchub import orm

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
CPU = 1.0
# each node's projects network, on TEST-NET-3 (outside the test engines' own pools)
SUBNETS = ["203.0.113.128/28", "203.0.113.144/28"]


def node_config():
    nodes = [
        {"name": f"dock{i}", "backend": "docker", "url": url, "cpu": 2, "memory_mb": 2 * MEMORY_MB,
         "options": {"image": IMAGE, "network": "smchub-test-projects",
                     "network_subnet": SUBNETS[i]}}
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
        for network in client.networks.list(filters={"label": "smchub.network"}):
            network.remove()
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
    """The project's server containers (not the short-lived helpers that snapshot or move
    its home, labelled smchub.role, which a stop starts in the background)."""
    found = engine.containers.list(all=True, filters={"label": f"smchub.project={project_id}"})
    return [c for c in found if "smchub.role" not in c.labels]


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
    # its own network namespace, on the node's projects network; no capabilities, no
    # way to gain privileges, a bounded number of processes
    assert host_config["NetworkMode"] == "smchub-test-projects"
    assert host_config["CapDrop"] == ["ALL"]
    assert host_config["SecurityOpt"] == ["no-new-privileges"]
    assert host_config["PidsLimit"] == 512
    assert container.attrs["Config"]["User"] == "1000:1000"

    # files in the project's volume survive stop and start, on the same node
    r = await alice.client.put(
        alice.hub.project_url(pid, "api/contents/data.txt"),
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
    r = await alice.client.get(alice.hub.project_url(pid, "api/contents/data.txt"))
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
            hub.project_url(pid, "api/contents/before.txt"),
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
        r = await alice.client.get(hub.project_url(pid, "api/contents/before.txt"))
        assert r.status_code == 200 and r.json()["content"] == "before the restart"
        await alice.stop_project(pid)
    finally:
        await hub.stop()


PROBE_PORTS = """
import socket
for host, port in {targets!r}:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print(host, port, "open")
    except OSError as e:
        print(host, port, type(e).__name__)
"""


async def test_a_docker_project_reaches_neither_the_host_nor_other_kernels(hub, engines):
    from .test_isolation import attack_while_victim_prints

    spec = {"name": "dock-iso", "backend": "docker", "url": HOSTS[0], "cpu": 4,
            "memory_mb": 8000, "options": {"image": IMAGE, "network": "smchub-test-projects",
                                           "network_subnet": SUBNETS[0]}}  # fmt: skip
    r = await hub.admin.api("POST", "nodes", spec)
    assert r.status_code == 201, r.text
    alice, mallory = await hub.person(), await hub.person()
    victim = (await alice.create_project("Alice's secrets"))["id"]
    attacker = (await mallory.create_project("Mallory's probe"))["id"]
    try:
        for person, pid in ((alice, victim), (mallory, attacker)):
            hub.db.get(orm.Project, pid).node = "dock-iso"
            hub.db.commit()
            assert (await person.start_project(pid))["node"] == "dock-iso"
        network = engines["dock0"].networks.get("smchub-test-projects").attrs
        (ipam,) = network["IPAM"]["Config"]
        assert ipam["Subnet"] == SUBNETS[0]
        gateway = ipam["Gateway"]
        config = hub.config
        proxy_api = int(config.ConfigurableHTTPProxy.api_url.rsplit(":", 1)[1])
        # the hub's own port, the proxy's API and the proxy's public port on the host's
        # loopback, or at the host's address on the projects' network: out of reach; the
        # hub's relay to the proxy's public port (how the server reaches the hub, as
        # anyone out there would) answers, so the probe itself works
        ports = (config.JupyterHub.hub_port, proxy_api, config.JupyterHub.port)
        targets = [(host, port) for host in ("127.0.0.1", gateway) for port in ports]
        code = PROBE_PORTS.format(targets=[*targets, (gateway, 880)])
        out = await mallory.execute(attacker, code)
        results = {(h, int(port)): what for h, port, what in map(str.split, out.splitlines())}
        assert results.pop((gateway, 880)) == "open", out
        assert "open" not in results.values(), out
        # the kernel can gain no privileges, has no capability, and few processes
        out = await mallory.execute(attacker, "print(open('/proc/self/status').read())")
        status = dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)
        assert status["NoNewPrivs"].strip() == "1" and int(status["CapEff"], 16) == 0
        out = await mallory.execute(attacker, "print(open('/sys/fs/cgroup/pids/pids.max').read())")
        assert out.strip() == "512"
        # and the other project's kernel is out of reach (both run as uid 1000 in
        # their containers)
        (by_mallory,) = await attack_while_victim_prints(
            alice, victim, [(mallory, attacker)], victim_uid=1000
        )
        assert by_mallory[-1] == "False", by_mallory
    finally:
        for person, pid in ((alice, victim), (mallory, attacker)):
            await person.stop_project(pid)
            hub.db.get(orm.Project, pid).deleted = True
        hub.db.commit()
        r = await hub.admin.api("DELETE", "nodes/dock-iso")
        assert r.status_code == 204, r.text
