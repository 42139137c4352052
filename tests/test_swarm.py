"""Docker Swarm for real: a manager and a worker, each its own dockerd in its own network
namespace (tests/services/with-swarm.sh), reached through a hub running as its own process.

The first tests are the backend's decisions (pure functions) and run everywhere.
"""

import asyncio
import ipaddress
import os
import signal
import subprocess
import time

import docker
import pytest

from smchub.spawners.ports import NoFreePort, choose_port
from smchub.spawners.swarm import (
    SwarmBackend,
    SwarmMachineBackend,
    SwarmStartFailed,
    latest_task,
    machine_specs,
)

from .hubprocess import HubProcess

MANAGER = os.environ.get("SMCHUB_TEST_SWARM_MANAGER", "")
MACHINES = dict(m.split("=", 1) for m in os.environ.get("SMCHUB_TEST_SWARM_MACHINES", "").split())
HUB_IP = os.environ.get("SMCHUB_TEST_SWARM_HUB_IP", "")
STATE = os.environ.get("SMCHUB_TEST_SWARM_STATE", "")
IMAGE = os.environ.get("SMCHUB_TEST_SWARM_IMAGE", "")
TEST_SWARM = os.path.join(os.path.dirname(__file__), "..", "docker", "test-swarm.sh")

needs_swarm = pytest.mark.skipif(
    not (MANAGER and len(MACHINES) >= 2 and IMAGE) and not os.environ.get("CI"),
    reason="needs a test swarm of two machines (tests/services/with-swarm.sh, inside "
    "tests/services/with-docker.sh, starts one)",
)

MEMORY_MB = 1000


# --- the backend's decisions -----------------------------------------------------------------


def swarm_node(node_id, hostname, state="ready", availability="active", addr="10.0.0.5",
               labels=None, manager_addr=None):  # fmt: skip
    attrs = {
        "ID": node_id,
        "Description": {
            "Hostname": hostname,
            "Resources": {"NanoCPUs": 4_000_000_000, "MemoryBytes": 8 * 2**30},
        },
        "Spec": {"Labels": labels or {}, "Role": "worker", "Availability": availability},
        "Status": {"State": state, "Addr": addr},
    }
    if manager_addr:
        attrs["ManagerStatus"] = {"Leader": True, "Addr": manager_addr}
    return attrs


def test_machines_become_node_specs():
    specs = machine_specs(
        "swarm",
        [
            swarm_node("aaaa1111bbbb", "Gpu1.Example.org", labels={"gpu": "yes"}),
            swarm_node("cccc2222dddd", "m2", availability="pause"),
            swarm_node("eeee3333ffff", "m3", availability="drain"),
            swarm_node("gggg4444hhhh", "m4", state="down"),
            swarm_node("iiii5555jjjj", "lead", addr="0.0.0.0", manager_addr="10.0.0.9:2377"),
            swarm_node("kkkk6666llll", "m6", labels={"smchub.host_ip": "192.168.7.6"}),
        ],
    )
    first = specs[0]
    assert first["name"] == "swarm-gpu1.example.org"
    assert (first["cpu"], first["memory_mb"], first["labels"]) == (4.0, 8192, {"gpu": "yes"})
    assert first["state"] == "active"
    assert first["options"] == {
        "swarm_node_id": "aaaa1111bbbb", "hostname": "Gpu1.Example.org", "host_ip": "10.0.0.5",
    }  # fmt: skip
    assert [s["state"] for s in specs[1:4]] == ["draining", "draining", "down"]
    # a manager may advertise 0.0.0.0: its manager address says where it is
    assert specs[4]["options"]["host_ip"] == "10.0.0.9"
    # an admin's label names the address the hub reaches a machine at
    assert specs[5]["options"]["host_ip"] == "192.168.7.6"


def test_machines_sharing_a_hostname_get_distinct_names():
    specs = machine_specs(
        "swarm", [swarm_node("abcdef123456", "node"), swarm_node("123456abcdef", "node")]
    )
    assert [s["name"] for s in specs] == ["swarm-node-abcdef12", "swarm-node-123456ab"]
    long = machine_specs("swarm", [swarm_node("x1", "h" * 80 + "!")])[0]["name"]
    assert len(long) == 63 and long.startswith("swarm-hhh")


def test_ports_are_chosen_from_the_range_and_never_twice():
    taken = {20000, 20001}
    assert choose_port((20000, 20002), taken) == 20002
    with pytest.raises(NoFreePort, match="every port from 20000 to 20001"):
        choose_port((20000, 20001), taken)
    with pytest.raises(ValueError, match="port_range"):
        SwarmBackend(port_range=(30000, 20000))


def test_the_task_swarm_wants_running_is_the_one_that_counts():
    wanted = {"DesiredState": "running", "Version": {"Index": 5}}
    stopping = {"DesiredState": "shutdown", "Version": {"Index": 9}}
    assert latest_task([stopping, wanted]) is wanted
    failed = {"DesiredState": "shutdown", "Version": {"Index": 12}}
    assert latest_task([stopping, failed]) is failed
    assert latest_task([]) is None


def test_a_project_service_is_pinned_limited_and_never_restarted_by_swarm():
    backend = SwarmMachineBackend(
        node_name="swarm-m1",
        node_options={"swarm_node_id": "n1", "image": "smchub/project:abc",
                      "volume_driver": "nfs", "volume_options": {"share": "srv:/homes"}},
    )  # fmt: skip
    quotas = {"memory_mb": 500, "cpu": 0.5}
    kwargs = backend.service_kwargs("p1", {"A": "1"}, quotas, ["--x"], 20005)
    assert kwargs["image"] == "smchub/project:abc"
    assert kwargs["name"] == "smchub-project-p1"
    assert kwargs["constraints"] == ["node.id==n1"]
    # the projects' network, not the machine's; the server is published on the machine's
    # own address, never through Swarm's routing mesh
    assert kwargs["networks"] == ["smchub-projects"]
    assert kwargs["endpoint_spec"]["Ports"] == [
        {"Protocol": "tcp", "PublishedPort": 20005, "TargetPort": 8888, "PublishMode": "host"}
    ]
    # the image's entrypoint (tini) stays: the server is its arguments, started with
    # no way to gain privileges (setuid programs), and without capabilities
    assert kwargs["args"] == ["setpriv", "--no-new-privs", "--", "jupyterhub-singleuser", "--x"]
    assert "command" not in kwargs
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["restart_policy"]["Condition"] == "none"
    assert kwargs["mode"] == {"replicated": {"Replicas": 1}}
    assert kwargs["resources"]["Limits"] == {
        "MemoryBytes": 500 * 2**20, "NanoCPUs": 500_000_000, "Pids": 512,
    }  # fmt: skip
    (mount,) = kwargs["mounts"]
    assert (mount["Source"], mount["Target"]) == ("smchub-home-p1", "/home/user")
    assert mount["VolumeOptions"]["DriverConfig"] == {
        "Name": "nfs", "Options": {"share": "srv:/homes"},
    }  # fmt: skip


async def test_the_swarm_entry_runs_no_projects_itself():
    backend = SwarmBackend(node_name="swarm", node_options={"cluster": True})
    with pytest.raises(SwarmStartFailed, match="a swarm's own entry"):
        await backend.start(None, None, None)


# --- a real swarm --------------------------------------------------------------------------


def project_cpu(manager):
    """A CPU quota of which each machine (all are this one) holds one project, not two."""
    return manager.info()["NCPU"] * 0.75


def swarm_config(cpu, extra=""):
    entry = {"name": "swarm", "backend": "swarm", "url": MANAGER,
             "options": {"cluster": True, "image": IMAGE}}  # fmt: skip
    return (
        f"c.SMCHub.compute_nodes = [{entry!r}]\n"
        # the machines reach the hub's API at the root namespace's address
        f"c.JupyterHub.hub_ip = {HUB_IP!r}\n"
        f"c.SMCHub.default_quotas = {{'memory_mb': {MEMORY_MB}, 'cpu': {cpu}}}\n"
        "c.SMCHub.overcommit = {'memory': 1.0, 'cpu': 1.0}\n"
        "c.SMCHub.node_check_interval = 1\n"
        "c.Spawner.poll_interval = 2\n"
        "c.ProjectSpawner.start_timeout = 120\n"
        "c.ProjectSpawner.http_timeout = 120\n"
        "c.SwarmBackend.stop_timeout = 3\n" + extra
    )


@pytest.fixture(scope="module")
def swarm():
    """The manager's client; afterwards every machine runs again, and the services,
    containers and volumes the tests left are removed."""
    assert MANAGER and len(MACHINES) >= 2 and IMAGE, (
        "SMCHUB_TEST_SWARM_MANAGER, SMCHUB_TEST_SWARM_MACHINES, SMCHUB_TEST_SWARM_IMAGE"
    )
    manager = docker.DockerClient(base_url=MANAGER)
    yield manager
    restart_machines()
    for service in manager.services.list(filters={"label": "smchub.project"}):
        service.remove()
    for url in MACHINES.values():
        engine = docker.DockerClient(base_url=url)
        for container in engine.containers.list(all=True, filters={"label": "smchub.project"}):
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": "smchub.project"}):
            volume.remove(force=True)
        engine.close()
    manager.close()


def restart_machines():
    """`start` again: machines whose engine stopped come back and rejoin the swarm; then
    the manager lists its machines (the next test's first call)."""
    start_machines()
    deadline, started_again = time.monotonic() + 60, False
    while True:
        manager = docker.DockerClient(base_url=MANAGER)
        try:
            if len(manager.nodes.list()) >= len(MACHINES):
                return
        except (docker.errors.DockerException, OSError) as e:
            # Debian's dockerd 20.10's swarm manager once panicked removing a service
            # whose task was on a machine that had just gone (swarmkit's
            # SetServiceTasksRemove), then refused connections
            assert time.monotonic() < deadline, f"the swarm manager does not answer: {e}"
            if not started_again and time.monotonic() > deadline - 45:
                started_again = True
                start_machines()
        finally:
            manager.close()
        time.sleep(1)


def start_machines():
    out = subprocess.run(
        [TEST_SWARM, "start", STATE, str(len(MACHINES))],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def swarm_ids(manager):
    return {n.attrs["Description"]["Hostname"]: n.id for n in manager.nodes.list()}


async def nodes_of(admin):
    r = await admin.api("GET", "nodes")
    assert r.status_code == 200, r.text
    return {n["name"]: n for n in r.json()}


async def wait_for_nodes(admin, check, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        nodes = await nodes_of(admin)
        if check(nodes):
            return nodes
        if time.monotonic() > deadline:
            raise AssertionError(f"nodes did not get there in {timeout}s: {nodes}")
        await asyncio.sleep(0.2)


def project_task(manager, project_id):
    (service,) = manager.services.list(filters={"name": f"smchub-project-{project_id}"})
    return service, latest_task(service.tasks())


@needs_swarm
def tag_on_every_machine(image, tag):
    """`tag` for `image` on each machine: an image built there, with no registry digest."""
    for url in MACHINES.values():
        engine = docker.DockerClient(base_url=url)
        engine.images.get(image).tag(tag)
        engine.close()


async def test_projects_on_the_machines_of_a_swarm(hub_root, swarm):
    cpu = project_cpu(swarm)
    # an environment whose image each machine built for itself (as the test image is)
    alt = f"smchub-test/swarm-env:{os.getpid()}"
    tag_on_every_machine(IMAGE, alt)
    environments = [{"name": "standard", "display_name": "Standard", "default": True},
                    {"name": "alt", "display_name": "Alt", "image": {"swarm": alt}}]  # fmt: skip
    extra = f"c.JupyterHub.cleanup_servers = False\nc.SMCHub.environments = {environments!r}\n"
    hub = HubProcess(os.path.join(hub_root, "swarm"), swarm_config(cpu, extra))
    await hub.start()
    try:
        ids = swarm_ids(swarm)
        admin = await hub.person("admin")
        alice = await hub.person("alice")

        # the swarm's machines appear as nodes, with what Swarm says of them
        def listed(nodes):
            # the machines, once checked (listing and checking are one step after another)
            return all(nodes.get(name, {}).get("last_seen") for name in ("swarm-m0", "swarm-m1"))

        nodes = await wait_for_nodes(admin, listed)
        info = swarm.info()
        for m in ("m0", "m1"):
            node = nodes[f"swarm-{m}"]
            assert node["backend"] == "swarm" and node["state"] == "active"
            assert node["cpu"] == info["NCPU"]
            assert node["memory_mb"] == info["MemTotal"] // 2**20
            assert node["labels"] == {"machine": m}
            assert node["options"]["swarm_node_id"] == ids[m]
            assert node["options"]["host_ip"] == HUB_IP.rpartition(".")[0] + f".{10 + int(m[1])}"
        assert nodes["swarm"]["options"]["cluster"] is True
        assert nodes["swarm"]["last_seen"]

        # a project on each machine, chosen by the machines' labels
        placed = {}
        for m in ("m0", "m1"):
            environment = "alt" if m == "m0" else "standard"
            pid = (await alice.create_project(f"On {m}", environment=environment))["id"]
            r = await admin.api("PATCH", f"projects/{pid}", {"node_labels": {"machine": m}})
            assert r.status_code == 200, r.text
            running = await alice.start_project(pid)
            assert running["node"] == f"swarm-{m}"
            service, task = project_task(swarm, pid)
            assert task["NodeID"] == ids[m] and task["Status"]["State"] == "running"
            placed[m] = pid
        # the environment's image is started by its name on the machine the task runs
        # on: an image ID names a different image on each machine, so it is not pinned
        service, _ = project_task(swarm, placed["m0"])
        assert service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == alt
        model = (await admin.api("GET", f"projects/{placed['m0']}")).json()
        assert model["environment"] == "alt" and model["environment_pin"] is None, model
        # each machine's CPUs hold one project: a third fits nowhere, and is told so
        third = (await alice.create_project("No room"))["id"]
        r = await alice.api("POST", f"projects/{third}/start")
        assert r.status_code == 503
        free = info["NCPU"] - cpu
        assert f"node 'swarm-m1' has {free:.2f} CPUs free" in r.json()["message"]

        # the service: limits, pinning, the projects' network, no restarts of Swarm's own
        pid = placed["m1"]
        service, task = project_task(swarm, pid)
        template = service.attrs["Spec"]["TaskTemplate"]
        assert template["Resources"]["Limits"] == {
            "MemoryBytes": MEMORY_MB * 2**20, "NanoCPUs": int(cpu * 1e9), "Pids": 512,
        }  # fmt: skip
        # no capabilities, no way to gain privileges (setpriv sets it for the server
        # and all it starts)
        assert template["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
        assert template["ContainerSpec"]["Args"][:3] == ["setpriv", "--no-new-privs", "--"]
        assert template["Placement"]["Constraints"] == [f"node.id=={ids['m1']}"]
        assert template["RestartPolicy"]["Condition"] == "none"
        assert template["ContainerSpec"]["User"] == "1000:1000"
        (network,) = template["Networks"]
        assert swarm.networks.get(network["Target"]).name == "smchub-projects"
        (published,) = service.attrs["Spec"]["EndpointSpec"]["Ports"]
        assert (published["TargetPort"], published["PublishMode"]) == (8888, "host")
        worker = docker.DockerClient(base_url=MACHINES["m1"])
        (container,) = worker.containers.list(filters={"label": f"smchub.project={pid}"})
        assert container.attrs["HostConfig"]["Memory"] == MEMORY_MB * 2**20
        assert container.attrs["HostConfig"]["NanoCpus"] == int(cpu * 1e9)

        # files live in the project's volume on its machine, through stop and start
        r = await alice.client.put(
            hub.project_url(pid, "api/contents/data.txt"),
            json={"type": "file", "format": "text", "content": "on the worker"},
        )
        assert r.status_code in (200, 201), r.text
        out = await alice.execute(pid, "import os; print(os.getuid(), os.getcwd())")
        assert out.split() == ["1000", "/home/user"]
        # the kernel (a child of the server) cannot gain privileges, and has no capability
        out = await alice.execute(pid, "print(open('/proc/self/status').read())")
        status = dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)
        assert status["NoNewPrivs"].strip() == "1" and int(status["CapEff"], 16) == 0
        await alice.stop_project(pid)
        assert swarm.services.list(filters={"name": f"smchub-project-{pid}"}) == []
        assert worker.volumes.get(f"smchub-home-{pid}")
        assert (await alice.start_project(pid))["node"] == "swarm-m1"
        r = await alice.client.get(hub.project_url(pid, "api/contents/data.txt"))
        assert r.json()["content"] == "on the worker"

        # a restarted hub finds its services again
        await hub.stop()
        await hub.start()
        admin = await hub.person("admin")
        alice = await hub.person("alice")
        for m, project in placed.items():
            back = await alice.wait_for_state(project, "running", timeout=10)
            assert back["node"] == f"swarm-{m}"
        r = await alice.client.get(hub.project_url(pid, "api/contents/data.txt"))
        assert r.status_code == 200

        # draining m0 in smchub pauses it in Swarm: its running project keeps running...
        r = await admin.api("PATCH", "nodes/swarm-m0", {"state": "draining"})
        assert r.status_code == 200
        await wait_for_availability(swarm, ids["m0"], "pause")
        await asyncio.sleep(3)  # a few health checks: nothing stops it
        assert (await alice.wait_for_state(placed["m0"], "running"))["node"] == "swarm-m0"
        assert project_task(swarm, placed["m0"])[1]["Status"]["State"] == "running"
        # ...but once stopped it cannot start again (its files are there), and a new
        # project goes to the other machine
        await alice.stop_project(placed["m0"])
        r = await alice.api("POST", f"projects/{placed['m0']}/start")
        assert r.status_code == 409
        assert "files are on node 'swarm-m0'" in r.json()["message"]
        await alice.stop_project(pid)
        elsewhere = await alice.start_project(third)
        assert elsewhere["node"] == "swarm-m1"
        await alice.stop_project(third)
        # active again in smchub, active again in Swarm
        r = await admin.api("PATCH", "nodes/swarm-m0", {"state": "active"})
        assert r.status_code == 200
        await wait_for_availability(swarm, ids["m0"], "active")
        assert (await alice.start_project(placed["m0"]))["node"] == "swarm-m0"
        await alice.stop_project(placed["m0"])
    finally:
        await hub.stop()


async def wait_for_availability(manager, node_id, availability, timeout=30):
    deadline = time.monotonic() + timeout
    while manager.nodes.get(node_id).attrs["Spec"]["Availability"] != availability:
        assert time.monotonic() < deadline, f"Swarm node {node_id} is not {availability}"
        await asyncio.sleep(0.2)


def dockerd_pid(machine):
    with open(os.path.join(STATE, machine, "d0", "dockerd.pid")) as f:
        return int(f.read())


@needs_swarm
async def test_a_machine_whose_engine_stops_is_down_and_comes_back(hub_root, swarm):
    hub = HubProcess(os.path.join(hub_root, "swarm-faults"), swarm_config(project_cpu(swarm)))
    await hub.start()
    try:
        admin = await hub.person("admin")
        alice = await hub.person("alice")
        await wait_for_nodes(admin, lambda n: n.get("swarm-m1", {}).get("state") == "active")
        pid = (await alice.create_project("On the worker"))["id"]
        r = await admin.api("PATCH", f"projects/{pid}", {"node_labels": {"machine": "m1"}})
        assert r.status_code == 200
        assert (await alice.start_project(pid))["node"] == "swarm-m1"
        r = await alice.client.put(
            hub.project_url(pid, "api/contents/kept.txt"),
            json={"type": "file", "format": "text", "content": "kept on m1"},
        )
        assert r.status_code in (200, 201)

        # the worker's engine stops, as if its machine went away
        os.kill(dockerd_pid("m1"), signal.SIGTERM)
        nodes = await wait_for_nodes(admin, lambda n: n["swarm-m1"]["state"] == "down")
        assert nodes["swarm-m0"]["state"] == "active"
        assert (await alice.wait_for_state(pid, "stopped", timeout=30))["state"] == "stopped"
        # the time of the last answer stays behind while the manager's moves on
        seen = nodes["swarm-m1"]["last_seen"]
        await asyncio.sleep(2.5)
        nodes = await nodes_of(admin)
        assert nodes["swarm-m1"]["last_seen"] == seen < nodes["swarm"]["last_seen"]
        r = await alice.api("POST", f"projects/{pid}/start")
        assert r.status_code == 409 and "down" in r.json()["message"]

        # the engine comes back and rejoins the swarm: the machine is active by itself
        await asyncio.to_thread(restart_machines)

        def back(nodes):
            return nodes["swarm-m1"]["state"] == "active" and nodes["swarm-m1"]["last_seen"] > seen

        await wait_for_nodes(admin, back)
        assert (await alice.start_project(pid))["node"] == "swarm-m1"
        r = await alice.client.get(hub.project_url(pid, "api/contents/kept.txt"))
        assert r.json()["content"] == "kept on m1"
        await alice.stop_project(pid)
    finally:
        await hub.stop()


@needs_swarm
async def test_no_project_starts_without_the_projects_network(swarm):
    """Until the admin makes the network, a start says what to make, and makes nothing."""
    (m1,) = [n.id for n in swarm.nodes.list() if n.attrs["Description"]["Hostname"] == "m1"]
    backend = SwarmMachineBackend(
        node_name="swarm-m1",
        node_url=MANAGER,
        node_options={"swarm_node_id": m1, "image": IMAGE, "network": "smchub-elsewhere"},
    )
    try:
        with pytest.raises(SwarmStartFailed) as failed:
            await backend.start(None, None, {"memory_mb": 100, "cpu": 0.1})
    finally:
        await backend.close()
    assert "no network 'smchub-elsewhere'" in str(failed.value)
    assert "--config-only" in str(failed.value) and "enable_icc=false" in str(failed.value)
    assert swarm.services.list(filters={"label": "smchub.project"}) == []


# a port a project's own program listens on (not a server smchub publishes)
LISTENER_PORT = 8765

START_LISTENER = f"""
import socket, subprocess, sys, time
subprocess.Popen([sys.executable, "-m", "http.server", "{LISTENER_PORT}", "--bind", "0.0.0.0"],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 20
while True:
    try:
        socket.create_connection(("127.0.0.1", {LISTENER_PORT}), timeout=1).close()
        print("listening")
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
"""

KNOCK = """
import socket
for address in {addresses!r}:
    try:
        socket.create_connection((address, {port}), timeout=3).close()
        print(address, "open")
    except OSError as e:
        print(address, "closed", type(e).__name__)
"""

REACH_HUB = """
import json, os, urllib.request
with urllib.request.urlopen(os.environ["JUPYTERHUB_API_URL"], timeout=10) as r:
    print(r.status, "version" in json.load(r))
"""


@needs_swarm
async def test_projects_on_one_machine_do_not_reach_each_other(hub_root, swarm):
    # two projects fit on one machine
    hub = HubProcess(
        os.path.join(hub_root, "swarm-isolation"), swarm_config(project_cpu(swarm) / 2)
    )
    await hub.start()
    try:
        admin = await hub.person("admin")
        alice = await hub.person("alice")
        mallory = await hub.person("mallory")
        await wait_for_nodes(admin, lambda n: n.get("swarm-m1", {}).get("state") == "active")
        victim = (await alice.create_project("Alice's"))["id"]
        attacker = (await mallory.create_project("Mallory's"))["id"]
        for owner, pid in ((alice, victim), (mallory, attacker)):
            r = await admin.api("PATCH", f"projects/{pid}", {"node_labels": {"machine": "m1"}})
            assert r.status_code == 200, r.text
            assert (await owner.start_project(pid))["node"] == "swarm-m1"

        # alice's project runs a program listening on a port of its own
        assert (await alice.execute(victim, START_LISTENER)).split() == ["listening"]
        worker = docker.DockerClient(base_url=MACHINES["m1"])
        (container,) = worker.containers.list(filters={"label": f"smchub.project={victim}"})
        own = [n["IPAddress"] for n in container.attrs["NetworkSettings"]["Networks"].values()]
        machine = HUB_IP.rpartition(".")[0] + ".11"
        addresses = ["127.0.0.1", machine, *filter(None, own)]

        # mallory's kernel, on the same machine, knocks at every address it could be at
        out = await mallory.execute(attacker, KNOCK.format(addresses=addresses, port=LISTENER_PORT))
        knocks = dict(line.split(" ", 1) for line in out.splitlines())
        assert set(knocks) == set(addresses)
        assert not [a for a, said in knocks.items() if said == "open"], knocks

        # each project is on the projects' network, none on the machine's own
        for pid in (victim, attacker):
            service, _ = project_task(swarm, pid)
            (network,) = service.attrs["Spec"]["TaskTemplate"]["Networks"]
            assert swarm.networks.get(network["Target"]).name == "smchub-projects"
        assert container.attrs["HostConfig"]["NetworkMode"] != "host"
        (address,) = own
        subnet = worker.networks.get("smchub-projects").attrs["IPAM"]["Config"][0]["Subnet"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
        assert ipaddress.ip_network(subnet).subnet_of(ipaddress.ip_network("203.0.113.0/24"))

        # both still reach the hub's API, and the hub serves both
        for owner, pid in ((alice, victim), (mallory, attacker)):
            assert (await owner.execute(pid, REACH_HUB)).split() == ["200", "True"]
            r = await owner.client.get(hub.project_url(pid, "api/contents"))
            assert r.status_code == 200, r.text
        worker.close()
        await alice.stop_project(victim)
        await mallory.stop_project(attacker)
    finally:
        await hub.stop()
