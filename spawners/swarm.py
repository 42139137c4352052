"""The swarm backend: project servers as Docker Swarm services, on the swarm's machines.

An admin declares the swarm once, as a cluster entry in c.SMCHub.compute_nodes whose url is
a Swarm manager's Docker API (a unix socket, or tcp with TLS like a docker node):

    {"name": "swarm", "backend": "swarm", "url": "unix:///var/run/docker.sock",
     "options": {"cluster": True, "image": "smchub/project:<hash>"}}

The health check asks the manager for its nodes (`discover`): each machine becomes an
smchub node of its own, named `<entry>-<hostname>`, with the CPUs, memory and labels Swarm
reports, and is placed on by smchub's own placement, as any node. A project's server is a
service of one replica pinned to its machine with a placement constraint, so it comes back
to the machine that holds its home (a volume there, or on the volume driver the admin
names for shared storage). Swarm restarts nothing by itself: the service's restart policy
is none, and the hub decides. Draining a machine in smchub pauses it in Swarm (no new
tasks; the projects running there keep running, as smchub's draining means).

Each server has a network namespace of its own, on a bridge of its machine that keeps
containers from each other (Docker's enable_icc=false): a project reaches neither
another project's ports nor the machine's loopback. Overlay networks have no such switch,
so the projects' network is a bridge network of swarm scope, made from a config-only
network on each machine that holds the subnet and the option. The admin makes them once
(the hub only talks to the manager, and Docker makes config-only networks machine by
machine), with engines that manage iptables:

    # on every machine (a subnet no other network of the machine uses)
    docker network create --config-only --subnet 203.0.113.192/27 \
        -o com.docker.network.bridge.enable_icc=false smchub-projects-config
    # once, on a manager
    docker network create -d bridge --scope swarm \
        --config-from smchub-projects-config smchub-projects

A server's port is published in host mode on a port of its machine's address (from
port_range), where the hub reaches it; servers reach the hub's API through their
machine's NAT (c.JupyterHub.hub_connect_url, or hub_ip).
"""

import asyncio
import re
import socket

from docker.errors import DockerException, NotFound
from docker.types import (
    DriverConfig,
    EndpointSpec,
    Mount,
    Resources,
    RestartPolicy,
    ServiceMode,
)
from requests.exceptions import RequestException
from traitlets import Bool, Dict, Float, Integer, Tuple, Unicode, default, validate

from ..environments import PinnedImageMissing
from . import swarm_homes, swarm_snapshots
from .backend import HomeTransferError, SnapshotFailed
from .docker import HOME, SERVER_PORT, STARTING, DockerBackend
from .ports import NoFreePort, check_port_range, choose_port

# task states (swarmkit's api.TaskState) on the way to running, and after it
TASK_STARTING = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready",
                 "starting"}  # fmt: skip
TASK_RUNNING = "running"


class SwarmStartFailed(RuntimeError):
    """Swarm did not run a project's service; the message says what it reported."""


def node_name_for(entry, hostname, node_id, shared):
    """The smchub node name of a swarm machine: `<entry>-<hostname>`, cleaned to fit node
    names; a hostname that several machines share gets the start of the Swarm node id."""
    host = re.sub(r"[^a-z0-9._-]+", "-", hostname.lower()).strip("-._") or "node"
    suffix = f"-{node_id[:8].lower()}" if shared else ""
    return f"{entry}-{host}"[: 63 - len(suffix)].rstrip("-._") + suffix


def machine_address(attrs):
    """Where the hub reaches servers on a swarm machine.

    The label smchub.host_ip wins (for machines whose swarm address the hub cannot reach);
    else the address the machine advertises to the swarm. Managers may report 0.0.0.0 there,
    and then their manager address holds it.
    """
    labels = (attrs.get("Spec") or {}).get("Labels") or {}
    if labels.get("smchub.host_ip"):
        return labels["smchub.host_ip"]
    addr = (attrs.get("Status") or {}).get("Addr") or ""
    if addr in ("", "0.0.0.0"):
        manager = (attrs.get("ManagerStatus") or {}).get("Addr") or ""
        addr = manager.rpartition(":")[0] if ":" in manager else manager
    return addr


def machine_state(attrs):
    """smchub's state for a swarm machine: down unless Swarm has it ready; draining when
    Swarm schedules nothing new on it (drain or pause)."""
    if (attrs.get("Status") or {}).get("State") != "ready":
        return "down"
    if (attrs.get("Spec") or {}).get("Availability") in ("drain", "pause"):
        return "draining"
    return "active"


def machine_specs(entry, nodes):
    """Node specs (for sync_discovered) from the attrs of the manager's nodes."""
    hostnames = [n.get("Description", {}).get("Hostname") or "" for n in nodes]
    specs = []
    for attrs, hostname in zip(nodes, hostnames, strict=True):
        resources = attrs.get("Description", {}).get("Resources") or {}
        labels = (attrs.get("Spec") or {}).get("Labels") or {}
        specs.append(
            {
                "name": node_name_for(entry, hostname, attrs["ID"], hostnames.count(hostname) > 1),
                "cpu": max(resources.get("NanoCPUs", 0) / 1e9, 0.01),
                "memory_mb": max(resources.get("MemoryBytes", 0) // 2**20, 16),
                "labels": {str(k): str(v) for k, v in labels.items()},
                "state": machine_state(attrs),
                "options": {
                    "swarm_node_id": attrs["ID"],
                    "hostname": hostname,
                    "host_ip": machine_address(attrs),
                },
            }
        )
    return specs


def latest_task(tasks):
    """The task that tells how a service of one replica is doing: the one Swarm wants
    running, else (it stopped, and Swarm made no other) the last one changed."""
    if not tasks:
        return None
    return max(
        tasks,
        key=lambda t: (t.get("DesiredState") == TASK_RUNNING, t.get("Version", {}).get("Index", 0)),
    )


def task_report(task):
    status = task.get("Status") or {}
    return status.get("Err") or status.get("Message") or status.get("State", "no report")


class SwarmBackend(DockerBackend):
    """A swarm's own entry: talks to the Swarm manager to list the swarm's machines.

    Each machine the manager reports becomes an smchub node of its own, run by
    SwarmMachineBackend through the same manager. Settings shared with the docker
    backend (image, project_user, command, stop_timeout) are read from c.DockerBackend.*
    too, and c.SwarmBackend.* overrides them, for the entry and its machines alike.
    """

    kind = "swarm"

    async def resolve_image(self, image):
        # a service's task runs on whichever machine of the swarm, each holding its own
        # copy of the image: only a registry digest names the same image on all of them.
        # An image built on the machines (an ID, different on each) is started by name.
        try:
            reference = await super().resolve_image(image)
        except PinnedImageMissing:
            # the manager lacks it, a worker may have it: the task's start says
            return None
        return reference if "@sha256:" in reference else None

    async def has_image(self, reference):
        # a digest pin: a machine without it pulls it from its registry
        return True

    port_range = Tuple(
        Integer(),
        Integer(),
        default_value=(20000, 29999),
        help="""Ports of a swarm machine that project servers are published on, and home
        transfers listen on (first, last).

        The hub cannot list a remote machine's ports: it picks one no project of its own
        uses there and that refuses a connection from the hub. Keep the range below the
        machines' ephemeral ports (net.ipv4.ip_local_port_range, 32768 and up by default).
        """,
    ).tag(config=True)

    @validate("port_range")
    def _validate_port_range(self, proposal):
        return check_port_range(proposal.value, "c.SwarmBackend.port_range")

    network = Unicode(
        "smchub-projects",
        help="""The swarm's network for project servers (a node's options may name
        another: network): a bridge network of swarm scope made from a config-only
        network with com.docker.network.bridge.enable_icc=false on each machine (see
        smchub.spawners.swarm for the two commands). The admin makes it; a project does
        not start without it. Set it as c.SwarmBackend.network: c.DockerBackend.network
        applies here too.""",
    ).tag(config=True, node_option=True)

    task_poll_interval = Float(
        0.5, help="Seconds between looks at a service's task while it starts or stops."
    ).tag(config=True)

    volume_driver = Unicode(
        "",
        help="""Volume driver of project homes, for storage shared by the machines (a node's
        options may name another; empty: a local volume on the machine of the project).""",
    ).tag(config=True, node_option=True)
    volume_options = Dict(help="Options of volume_driver (node option).").tag(
        config=True, node_option=True
    )

    # set on the swarm's entry by the admin, and on its machines by `discover`
    cluster = Bool(
        False, help="This node is a swarm's own entry, whose machines become nodes (node option)."
    ).tag(node_option=True)
    cluster_entry = Unicode(help="Name of the swarm's entry a machine was found through.").tag(
        node_option=True
    )
    swarm_node_id = Unicode(help="The Swarm node id of a machine.").tag(node_option=True)
    hostname = Unicode(help="The machine's hostname, as Swarm reports it.").tag(node_option=True)

    @default("host_ip")
    def _host_ip_default(self):
        # servers are published on the machine's address, found by `discover`
        return "127.0.0.1"

    @classmethod
    def class_for_node(cls, options):
        """The swarm's entry, or (for a node found by `discover`) one of its machines."""
        return SwarmMachineBackend if (options or {}).get("swarm_node_id") else cls

    def warm(self):
        """Nothing to prepare: servers reach the hub's own address through their
        machine's NAT (no relay)."""

    async def discover(self):
        """The swarm's machines, as node specs."""
        nodes = await self.in_thread(self._list_machines)
        return machine_specs(self.node_name, nodes)

    def _list_machines(self):
        return [n.attrs for n in self.client.nodes.list()]

    async def start(self, spawner, project, quotas):
        raise SwarmStartFailed(
            f"node {self.node_name!r} is a swarm's own entry; projects run on its machines "
            "(nodes named after it, found when the manager is checked)"
        )

    async def poll(self, spawner, handle):
        return 1  # nothing ever runs on the entry itself

    async def stop(self, spawner, handle, now=False):
        """Nothing runs on the entry itself."""

    def export_home(self, project_id):
        raise HomeTransferError(f"{self.node_name} is a swarm's entry: it holds no homes")

    async def import_home(self, project_id, chunks):
        raise HomeTransferError(f"{self.node_name} is a swarm's entry: it holds no homes")

    async def snapshot_home(self, project_id, restic, trigger):
        raise SnapshotFailed(f"{self.node_name} is a swarm's entry: it holds no homes")

    async def restore_home(self, project_id, restic, snapshot_id, source_path, target_path):
        raise SnapshotFailed(f"{self.node_name} is a swarm's entry: it holds no homes")


class SwarmMachineBackend(SwarmBackend):
    """Runs project servers as Swarm services, each pinned to this machine of the swarm."""

    def service_name(self, project_id):
        return self.container_name(project_id)

    # --- the machine in the swarm -------------------------------------------------------

    def _machine_answers(self):
        node = self.check_client.inspect_node(self.swarm_node_id)
        return node.get("Status", {}).get("State") == "ready"

    async def check(self):
        """The manager has this machine ready."""
        return await self.in_thread(self._machine_answers)

    async def discover(self):
        """A machine has no machines of its own."""
        return None

    async def reconcile(self, state):
        """Give the machine the Swarm availability that smchub's state means (smchub owns
        it: a machine drained with `docker node update` comes back to what smchub says).

        A draining machine is paused in Swarm, not drained: Swarm's drain would stop the
        projects running there (and start them again when the machine is active, behind the
        hub's back), while draining in smchub only stops new projects from coming.
        """
        wanted = "pause" if state == "draining" else "active"
        node = await self.in_thread(self._machine)
        spec = dict(node.attrs["Spec"])
        if spec.get("Availability") == wanted:
            return
        self.log.info("Swarm node %s of %s: availability %s", self.swarm_node_id,
                      self.node_name, wanted)  # fmt: skip
        await self.in_thread(node.update, {**spec, "Availability": wanted})

    def _machine(self):
        return self.client.nodes.get(self.swarm_node_id)

    # --- ports ----------------------------------------------------------------------------

    def _port_answers(self, port):
        try:
            with socket.create_connection((self.host_ip, port), timeout=1):
                return True
        except OSError:
            # refused: nothing listens there; no answer at all (a firewall dropping the
            # probe): nothing to learn either way, so take it
            return False

    async def pick_port(self):
        """A port of this machine for a new server (or transfer) to listen on."""
        taken = self.ports_in_use()
        for _ in range(20):
            try:
                port = choose_port(self.port_range, taken)
            except NoFreePort as e:
                raise SwarmStartFailed(str(e)) from None
            if not await self.in_thread(self._port_answers, port):
                return port
            taken.add(port)
        raise SwarmStartFailed(
            f"20 ports of {self.port_range} are in use on {self.host_ip} ({self.node_name}); "
            "widen c.SwarmBackend.port_range"
        )

    # --- services -------------------------------------------------------------------------

    def _check_network(self):
        """The projects' network is on the swarm, as the admin made it (see the module)."""
        try:
            attrs = self.client.networks.get(self.network).attrs
        except NotFound:
            attrs = {}
        if attrs.get("Scope") != "swarm" or not (attrs.get("ConfigFrom") or {}).get("Network"):
            raise SwarmStartFailed(
                f"the swarm of {self.node_name} has no network {self.network!r} made from a "
                "config-only network: on every machine, `docker network create --config-only "
                "--subnet <subnet> -o com.docker.network.bridge.enable_icc=false "
                f"{self.network}-config`; then, on a manager, `docker network create -d bridge "
                f"--scope swarm --config-from {self.network}-config {self.network}`"
            )

    def service_kwargs(self, project_id, env, quotas, args, port):
        """What the project's service is made of (for client.services.create), its server
        published on `port` of the machine."""
        driver = self.volume_driver
        mount = Mount(
            target=HOME,
            source=self.volume_name(project_id),
            type="volume",
            labels={"smchub.project": project_id},
            driver_config=DriverConfig(driver, self.volume_options) if driver else None,
        )
        labels = {"smchub.project": project_id, "smchub.node": self.node_name}
        resources = Resources(
            mem_limit=int(quotas["memory_mb"]) * 2**20,
            cpu_limit=int(float(quotas["cpu"]) * 1e9),
        )
        # a fork bomb stays inside the project (Docker's API 1.41 has it; the SDK does not)
        resources["Limits"]["Pids"] = self.pids_limit
        return {
            "image": self.image,
            "name": self.service_name(project_id),
            # Args, not Command: the image's entrypoint (tini) stays PID 1. Services have
            # no no-new-privileges option before Docker 27: setpriv sets it on the
            # server, and every process it starts inherits it.
            "args": ["setpriv", "--no-new-privs", "--", *self.command, *args],
            "cap_drop": ["ALL"],
            "env": env,
            "user": self.project_user,
            "workdir": HOME,
            "mounts": [mount],
            "networks": [self.network],
            # on the machine's own address, not Swarm's routing mesh (which would answer
            # on every machine, and that the swarm may not have)
            "endpoint_spec": EndpointSpec(ports={port: (SERVER_PORT, "tcp", "host")}),
            "resources": resources,
            "restart_policy": RestartPolicy(condition="none"),
            "mode": ServiceMode("replicated", replicas=1),
            "constraints": [f"node.id=={self.swarm_node_id}"],
            "stop_grace_period": int(self.stop_timeout * 1e9),
            "labels": labels,
            "container_labels": labels,
        }

    def _tasks(self, service_id):
        return self.client.api.tasks(filters={"service": service_id})

    async def service_tasks(self, service_id):
        """The tasks Swarm has for a service (its history of attempts included)."""
        return await self.in_thread(self._tasks, service_id)

    def create_service(self, **kwargs):
        """Make a Swarm service (in an executor thread: see in_thread)."""
        return self.client.services.create(**kwargs)

    def _service(self, name_or_id):
        try:
            return self.client.services.get(name_or_id)
        except NotFound:
            return None

    def _machine_ready(self, task):
        # a machine that is down still shows its tasks running: nothing runs there as far
        # as anyone can tell
        if not task.get("NodeID"):
            return True
        try:
            node = self.client.nodes.get(task["NodeID"])
        except NotFound:
            return False  # the machine left the swarm
        return node.attrs.get("Status", {}).get("State") == "ready"

    def _alive(self, task, starting=False):
        """Whether a task runs (or, with `starting`, is on its way) on a machine that
        answers."""
        state = task["Status"]["State"]
        wanted = TASK_STARTING | {TASK_RUNNING} if starting else {TASK_RUNNING}
        return state in wanted and self._machine_ready(task)

    def _any_task_alive(self, service_id):
        return any(self._alive(t, starting=True) for t in self._tasks(service_id))

    async def remove_service(self, name_or_id, wait=0):
        """Stop a service's task (waiting up to `wait` seconds), then remove the service.

        Scaling to no replicas first lets the server stop within its grace period while the
        service can still be asked about its task; a removed service has no tasks to list.
        """
        service = await self.in_thread(self._service, name_or_id)
        if service is None:
            return
        if wait:
            await self.in_thread(service.scale, 0)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while loop.time() < deadline:
                if not await self.in_thread(self._any_task_alive, service.id):
                    break
                await asyncio.sleep(self.task_poll_interval)
        await self.in_thread(service.remove)

    async def _wait_running(self, project_id, service, deadline):
        loop = asyncio.get_running_loop()
        while True:
            task = latest_task(await self.service_tasks(service.id))
            state = task["Status"]["State"] if task else "new"
            if state == TASK_RUNNING:
                return
            if state not in TASK_STARTING:
                raise SwarmStartFailed(
                    f"Swarm's task for project {project_id} on {self.node_name} is {state}: "
                    f"{task_report(task)}"
                )
            if loop.time() > deadline:
                why = task_report(task) if task else "Swarm made no task"
                raise SwarmStartFailed(
                    f"project {project_id} did not start on {self.node_name} in time "
                    f"(its task is {state}: {why})"
                )
            await asyncio.sleep(self.task_poll_interval)

    def takes_network_away(self):
        # servers are published on their machine's address, which an internal network
        # cannot have: an exam without network is not enforced on Swarm yet
        return False

    async def start(self, spawner, project, quotas):
        await self.in_thread(self._check_network)
        port = await self.pick_port()
        # the server listens on its own container's address; the hub reaches it where
        # the machine publishes it
        spawner.ip, spawner.port = "0.0.0.0", SERVER_PORT
        env = spawner.get_env()
        spawner.ip, spawner.port = self.host_ip, port
        env.update(self.limits_env(quotas, True, self._note(quotas)))
        env.update(HOME=HOME, SHELL="/bin/bash", USER="user", LANG="C.UTF-8")
        env["JUPYTERHUB_ROOT_DIR"] = HOME
        self.log.info("Starting project %s as a Swarm service on %s (%s:%s)", project.id,
                      self.node_name, spawner.ip, spawner.port)  # fmt: skip
        # finish (or give up and clean up) before JupyterHub's own start timeout, which
        # would leave a service running that no handle points to
        deadline = asyncio.get_running_loop().time() + max(spawner.start_timeout - 5, 10)
        # a service left from a hub that lost track of it (its state was not saved)
        await self.remove_service(self.service_name(project.id), wait=self.stop_timeout + 5)
        # the service by its name, kept before it exists: a hub killed before start()
        # returns leaves the next hub a service to remove, not one no one knows of
        spawner.keep_handle({"service": self.service_name(project.id), STARTING: True})
        kwargs = self.service_kwargs(project.id, env, quotas, spawner.get_args(), port)
        if spawner.environment_image:
            # the project's software environment (smchub/environments.py)
            kwargs["image"] = spawner.environment_image
        service = await self.in_thread(self.create_service, **kwargs)
        try:
            await self._wait_running(project.id, service, deadline)
        except BaseException:
            await self.in_thread(service.remove)
            raise
        handle = {"service": service.id, "node": self.swarm_node_id,
                  "volume": self.volume_name(project.id), "port": port}  # fmt: skip
        return spawner.ip, spawner.port, handle

    def _note(self, quotas):
        return (
            f"{quotas['memory_mb']} MB of memory and {quotas['cpu']:g} CPU enforced by Docker "
            f"Swarm on {self.node_name}; swap is limited only by the machine's own settings, "
            "and the disk quota is reported, not enforced"
        )

    def _service_status(self, service_id):
        try:
            task = latest_task(self._tasks(service_id))
        except NotFound:
            # the service is gone (removed behind the hub's back)
            return 1
        # polled once started: only a running task is a server (a pending one is Swarm
        # waiting for a machine to take it)
        if task is None:
            return 1
        if self._alive(task):
            return None
        exit_code = (task["Status"].get("ContainerStatus") or {}).get("ExitCode")
        return exit_code or 1

    async def poll(self, spawner, handle):
        if handle.get(STARTING):
            if spawner.pending == "spawn":
                return None  # starting here
            # a start a killed hub never finished: not kept, and removed now, since
            # JupyterHub stops only what poll calls running
            await self.stop(spawner, handle, now=True)
            return 1
        try:
            return await self.in_thread(self._service_status, handle["service"])
        except (DockerException, RequestException) as e:
            # the manager does not answer (the health check marks the swarm down)
            self.log.warning("Swarm manager of %s does not answer: %s", self.node_name, e)
            return 1

    async def stop(self, spawner, handle, now=False):
        try:
            await self.remove_service(handle["service"], 0 if now else self.stop_timeout + 5)
        except (DockerException, RequestException) as e:
            # left for the next start of the project, which removes a stale service
            self.log.warning("Could not remove the service of %s on %s: %s", spawner.user.name,
                             self.node_name, e)  # fmt: skip

    # --- homes, when a project moves on or off this machine ------------------------------

    def export_home(self, project_id):
        return swarm_homes.export_home(self, project_id)

    async def import_home(self, project_id, chunks):
        return await swarm_homes.import_home(self, project_id, chunks)

    # --- snapshots, taken and restored next to the volume ---------------------------------

    async def snapshot_home(self, project_id, restic, trigger):
        return await swarm_snapshots.snapshot_swarm(self, project_id, restic, trigger)

    async def restore_home(self, project_id, restic, snapshot_id, source_path, target_path):
        return await swarm_snapshots.restore_swarm(
            self, project_id, restic, snapshot_id, source_path, target_path
        )
