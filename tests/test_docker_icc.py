"""A Docker node keeps its projects' containers from each other (enable_icc=false).

The test engines of tests/services/with-docker.sh never touch iptables, so this takes a
machine of the test swarm (tests/services/with-swarm.sh), whose dockerd manages iptables
inside the machine's own network namespace, as a Docker node on another machine: the hub
reaches its servers at ports published on the machine's address, and they reach the hub's
API through the machine's NAT at the address the hub binds for the machines.
"""

import os

import docker
import pytest

from .hubprocess import HubProcess
from .test_swarm import HUB_IP, IMAGE, KNOCK, LISTENER_PORT, MACHINES, REACH_HUB, START_LISTENER

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not ("m1" in MACHINES and IMAGE) and not os.environ.get("CI"),
        reason="needs the test swarm's machine m1 (tests/services/with-swarm.sh, inside "
        "tests/services/with-docker.sh, starts it)",
    ),
]

NETWORK = "smchub-icc-test"
# TEST-NET-3, apart from the swarm projects' /27, the test engines' pools and the other
# Docker tests' subnets
SUBNET = "203.0.113.176/28"


@pytest.fixture
def m1():
    """m1's own engine, without the test's network before and after (the machine's data
    folder outlives the swarm); the containers and volumes the test made are removed."""
    assert "m1" in MACHINES and IMAGE and HUB_IP, "SMCHUB_TEST_SWARM_MACHINES and _IMAGE"
    engine = docker.DockerClient(base_url=MACHINES["m1"])

    def clean():
        for container in engine.containers.list(all=True, filters={"label": "smchub.node=dock-m1"}):
            container.remove(force=True)
        for network in engine.networks.list(names=[NETWORK]):
            network.remove()

    clean()
    for network in engine.networks.list():
        for config in network.attrs["IPAM"]["Config"] or []:
            assert config.get("Subnet") != SUBNET, f"{network.name} on m1 has {SUBNET}"
    projects = set()
    yield engine, projects
    clean()
    for pid in projects:
        for volume in engine.volumes.list(filters={"label": f"smchub.project={pid}"}):
            volume.remove(force=True)
    engine.close()


async def test_projects_on_a_docker_node_do_not_reach_each_other(hub_root, m1):
    engine, projects = m1
    machine = HUB_IP.rpartition(".")[0] + ".11"
    # m1's engine through its socket here, its servers published on m1's address
    options = {"image": IMAGE, "host_ip": machine, "network": NETWORK, "network_subnet": SUBNET}
    node = {"name": "dock-m1", "backend": "docker", "url": MACHINES["m1"], "cpu": 2,
            "memory_mb": 2000, "options": options}  # fmt: skip
    hub = HubProcess(
        os.path.join(hub_root, "docker-icc"),
        f"c.SMCHub.compute_nodes = [{node!r}]\n"
        "c.SMCHub.default_quotas = {'memory_mb': 500, 'cpu': 0.5}\n"
        f"c.JupyterHub.hub_ip = {HUB_IP!r}\n"
        # the containers reach the hub's API where the hub binds it on the machines'
        # network (the proxy's public port serves this machine's loopback only)
        f"c.DockerBackend.hub_api_url = 'http://{HUB_IP}:%d/hub/api' % c.JupyterHub.hub_port\n"
        "c.ProjectSpawner.start_timeout = 120\n"
        "c.ProjectSpawner.http_timeout = 120\n",
    )
    await hub.start()
    try:
        alice = await hub.person("alice")
        mallory = await hub.person("mallory")
        victim = (await alice.create_project("Alice's"))["id"]
        attacker = (await mallory.create_project("Mallory's"))["id"]
        for owner, pid in ((alice, victim), (mallory, attacker)):
            projects.add(pid)
            assert (await owner.start_project(pid))["node"] == "dock-m1"

        # alice's kernel serves a port of its own on its container's address
        assert (await alice.execute(victim, START_LISTENER)).split() == ["listening"]
        (container,) = engine.containers.list(filters={"label": f"smchub.project={victim}"})
        address = container.attrs["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        knock = KNOCK.format(addresses=[address], port=LISTENER_PORT)
        assert (await alice.execute(victim, knock)).split() == [address, "open"]

        # mallory's kernel, on the same node and network, cannot reach it (with a network
        # made without enable_icc=false, it does: "open")
        out = await mallory.execute(attacker, knock)
        assert out.split()[:2] == [address, "closed"], out
        assert container.attrs["HostConfig"]["NetworkMode"] == NETWORK
        made = engine.networks.get(NETWORK).attrs["Options"]
        assert made["com.docker.network.bridge.enable_icc"] == "false"

        # both reach the hub's API, and the hub serves both
        for owner, pid in ((alice, victim), (mallory, attacker)):
            assert (await owner.execute(pid, REACH_HUB)).split() == ["200", "True"]
            r = await owner.client.get(hub.project_url(pid, "api/contents"))
            assert r.status_code == 200, r.text
        await alice.stop_project(victim)
        await mallory.stop_project(attacker)
    finally:
        await hub.stop()
