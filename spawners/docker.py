"""The docker backend: a project server as a container on a node's Docker Engine.

One Docker Engine per node, reached at the node's url (a unix socket, or tcp with TLS
given in the node's options: tls_ca, tls_cert, tls_key). Each project keeps its home in
a named volume on its node; its container is held to the project's memory, CPU and
process quotas, has no capabilities and cannot gain privileges, and is removed when the
project stops (the volume stays).

Containers are on a bridge network of the node's (made if missing, on the subnet the
admin gives), never on the host's: a project sees neither the host's loopback (the
hub's own port, the proxy's API) nor its ports. The hub reaches a server at the
container's address on that network; the server reaches the hub's API through the
proxy's public port, as any client out there would: at c.DockerBackend.hub_api_url, or
(for an engine on the hub's machine) at a relay the hub runs on the network's gateway
address (hub_relay.py). Docker's inter-container option (enable_icc=false) keeps
containers of one network from each other where the engine manages iptables.

A student's project started during a course's exam window with no_network
(smchub.course_policy) goes on the node's exam network instead: an internal bridge
network, out of which Docker's iptables rules forward nothing, so the container reaches
only addresses on the host's side of the bridge (the hub's relay there passes to the
proxy and nowhere else). An engine run with iptables=false (the tests' engines) sets no
such rules: its internal networks route like any other. That needs the engine on the hub's
machine (the hub reaches the server on the bridge); a server on a remote engine is
published on a port of its machine, which an internal network cannot have, and starts
with the network it always has (takes_network_away; the hub logs it).

dockerspawner keeps one client per spawner class; smchub needs one per node, so the
containers are managed here with the Docker SDK directly.
"""

import asyncio
import ipaddress
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.tls import TLSConfig
from jupyterhub.utils import url_path_join
from requests.exceptions import RequestException
from traitlets import Float, Integer, List, Unicode, default

from ..environments import PinnedImageMissing
from ..extensions.localhub.permissions import NETWORK
from . import docker_homes, docker_snapshots
from .backend import NodeBackend
from .engine_client import EngineAPIClient, EngineClient
from .hub_relay import HubRelay

# the image gives this folder to uid 1000; Docker copies a mount point's owner onto an
# empty named volume, so the project's volume mounted here belongs to the project
HOME = "/home/user"
# each container has its own network namespace: every server listens on the same port
SERVER_PORT = 8888
# in a handle kept while a start is under way (ProjectSpawner.keep_handle): what it names
# is removed, never kept, by a hub that finds it after the one starting it died
STARTING = "starting"


class DockerStartFailed(RuntimeError):
    """A project container cannot be started as configured; the message says what to set."""


def server_address(attrs, network, published_on=None):
    """(ip, port) where the hub reaches a started container's server.

    On the hub's machine, the container's own address on the projects' network; for an
    engine elsewhere (`published_on` is that machine), the host port Docker published.
    """
    settings = attrs["NetworkSettings"]
    if published_on is None:
        return settings["Networks"][network]["IPAddress"], SERVER_PORT
    (binding, *_) = settings["Ports"][f"{SERVER_PORT}/tcp"]
    return published_on, int(binding["HostPort"])


class DockerBackend(NodeBackend):
    """Runs project servers as containers on one Docker Engine."""

    kind = "docker"
    url_example = "unix:///var/run/docker.sock, or tcp://host:2376 with TLS options"
    home = HOME

    image = Unicode(
        "smchub/project:latest",
        help="Image of project servers (a node's options may name another: image).",
    ).tag(config=True, node_option=True)

    project_user = Unicode(
        "1000:1000",
        help="uid:gid the project server runs as inside its container (the image's 'user').",
    ).tag(config=True)

    command = List(
        ["jupyterhub-singleuser"],
        help="Command that starts the project server inside the image.",
    ).tag(config=True)

    stop_timeout = Integer(10, help="Seconds a container gets to stop before it is killed.").tag(
        config=True
    )

    network = Unicode(
        "smchub-projects",
        help="""Bridge network the project containers of a node are on (a node's options
        may name another: network). Made on the node's engine if it is missing.""",
    ).tag(config=True, node_option=True)

    network_subnet = Unicode(
        "",
        help="""Subnet of the projects' network, when smchub makes it (CIDR, e.g.
        "10.77.0.0/16"; a node's options may give another: network_subnet). Choose one
        that no other network of the machine uses. Empty: the engine picks one from its
        default-address-pools.""",
    ).tag(config=True, node_option=True)

    exam_network = Unicode(
        "smchub-projects-exam",
        help="""Internal bridge network for students' projects during an exam window
        without network (a node's options may name another: exam_network). Made on the
        node's engine if it is missing.""",
    ).tag(config=True, node_option=True)

    exam_network_subnet = Unicode(
        "",
        help="""Subnet of the exam network, when smchub makes it (CIDR; a node's options
        may give another: exam_network_subnet). Empty: the engine picks one.""",
    ).tag(config=True, node_option=True)

    # how the hub reaches a node's engine (TLS for tcp:// urls) and its servers
    tls_ca = Unicode(
        "",
        help="""File of the CA certificate that signed the engines' TLS certificates, for
        tcp:// urls (a node's options may name another: tls_ca). Empty: not verified.""",
    ).tag(config=True, node_option=True)
    tls_cert = Unicode(
        "",
        help="""File of the hub's client certificate for the engines (a node's options may
        name another: tls_cert).""",
    ).tag(config=True, node_option=True)
    tls_key = Unicode(
        "", help="File of tls_cert's key (a node's options may name another: tls_key)."
    ).tag(config=True, node_option=True)

    host_ip = Unicode(
        help="""Where the hub reaches an engine on another machine: its servers' ports are
        published there (node option; default: the host of the engine's url). A node
        whose options name it is on another machine even when its url is a unix socket
        (one forwarded from that machine, e.g. by ssh -L).""",
    ).tag(node_option=True)

    @default("host_ip")
    def _host_ip_default(self):
        return urlparse(self.node_url).hostname or "127.0.0.1"

    hub_api_url = Unicode(
        "",
        help="""URL of the hub's API as project containers reach it, through the proxy,
        e.g. "https://hub.example.org/hub/api". Needed for engines on other machines.
        Empty: for an engine on the hub's machine, the hub relays the network's gateway
        address (at hub_relay_port) to the proxy's public port. Never an address on
        the hub machine's loopback, which containers do not reach.""",
    ).tag(config=True)

    hub_relay_port = Integer(
        help="""Port of the relay to the proxy on each projects' network's gateway.

        Default: 880 when the hub is root (below 1024, so no project account of a local
        node can take the address first), else the proxy's own port number.""",
    ).tag(config=True)

    @default("hub_relay_port")
    def _hub_relay_port_default(self):
        return 880 if os.geteuid() == 0 else self._proxy_address()[1]

    pids_limit = Integer(
        512,
        min=16,
        help="Most processes and threads a project's container may have at once.",
    ).tag(config=True)

    api_timeout = Integer(
        60, help="Seconds a call to a node's Docker Engine may take before it fails."
    ).tag(config=True)

    check_timeout = Float(
        5,
        help="""Seconds a health check waits for a node's engine to answer before the node
        is marked down.""",
    ).tag(config=True)

    executor_threads = Integer(
        4,
        min=1,
        help="""Threads that send a node's Docker Engine its calls (the Docker SDK blocks).

        Each node has its own, so a node that stops answering holds up only its own calls,
        never the hub's event loop or another node's.""",
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # executor threads may all want the client at once; one of them makes it
        self._client_lock = threading.Lock()
        self._check_lock = threading.Lock()  # apart: a check must not wait for a slow start

    _client = None
    _check_client = None
    _executor = None
    _relays = None  # gateway address -> this node's HubRelay there, once started

    def _tls(self):
        if not (self.tls_cert or self.tls_ca):
            return None
        cert = (self.tls_cert, self.tls_key) if self.tls_cert else None
        return TLSConfig(client_cert=cert, ca_cert=self.tls_ca or None, verify=bool(self.tls_ca))

    @property
    def client(self):
        """The node's DockerClient; only ever used in this backend's executor threads
        (making one asks the engine for its version, which may never answer)."""
        with self._client_lock:
            if self._client is None:
                self._client = EngineClient(
                    base_url=self.node_url, tls=self._tls(), timeout=self.api_timeout
                )
            return self._client

    @property
    def executor(self):
        """This node's own threads for Docker SDK calls."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.executor_threads, thread_name_prefix=f"docker-{self.node_name}"
            )
        return self._executor

    def in_thread(self, fn, *args, **kwargs):
        """Run a blocking Docker SDK call in this node's executor; returns an awaitable."""
        return asyncio.wrap_future(self.executor.submit(fn, *args, **kwargs))

    def container_name(self, project_id):
        return f"smchub-project-{project_id}"

    def volume_name(self, project_id):
        return f"smchub-home-{project_id}"

    def ensure_volume(self, project_id):
        """The project's home volume on this node, made if missing; returns its name."""
        volume = self.volume_name(project_id)
        try:
            self.client.volumes.get(volume)
        except NotFound:
            self.client.volumes.create(volume, labels={"smchub.project": project_id})
        return volume

    def ensure_network(self, exam=False):
        """The projects' network on this node (the exam network with `exam`), made if
        missing; returns its attributes."""
        name = self.exam_network if exam else self.network
        try:
            return self.client.networks.get(name).attrs
        except NotFound:
            pass
        subnet = self.exam_network_subnet if exam else self.network_subnet
        ipam = None
        if subnet:
            # the gateway spelled out, so the network's attributes name it
            gateway = str(next(ipaddress.ip_network(subnet, strict=False).hosts()))
            pool = docker.types.IPAMPool(subnet=subnet, gateway=gateway)
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
        try:
            self.client.networks.create(
                name,
                driver="bridge",
                ipam=ipam,
                # the exam network: Docker forwards nothing in or out of it
                internal=exam,
                # containers of different projects do not talk to each other
                options={"com.docker.network.bridge.enable_icc": "false"},
                labels={"smchub.network": "projects"},
            )
        except APIError as e:
            if e.status_code != 409:  # another start made it meanwhile
                raise
        self.log.info("Made network %s (%s) on node %s", name, subnet or "engine's pick",
                      self.node_name)  # fmt: skip
        return self.client.networks.get(name).attrs

    def _proxy_address(self):
        """Where the proxy's public port listens on this machine (host, port)."""
        url = urlparse(self.hub.bind_url)
        host = url.hostname if url.hostname not in (None, "", "0.0.0.0", "::") else "127.0.0.1"
        return host, url.port or (443 if url.scheme == "https" else 80)

    @property
    def engine_is_local(self):
        # a node that names host_ip is on another machine, even when its engine is reached
        # through a socket here (one forwarded from that machine, e.g. by ssh -L)
        if "host_ip" in (self.node_options or {}):
            return False
        return not self.node_url or self.node_url.startswith(("unix://", "npipe://"))

    def _gateway(self, network):
        (config,) = network["IPAM"]["Config"][:1] or [{}]
        # Docker gives a bridge the subnet's first address, and does not always say so
        if config.get("Gateway"):
            return config["Gateway"]
        if config.get("Subnet"):
            return str(next(ipaddress.ip_network(config["Subnet"], strict=False).hosts()))
        raise DockerStartFailed(
            f"network {network['Name']} on node {self.node_name} has no subnet: remove it, "
            "or set c.DockerBackend.hub_api_url"
        )

    async def container_api_url(self, network):
        """The hub's API URL for containers on `network`, its relay started if needed."""
        if self.hub_api_url:
            return self.hub_api_url
        if not self.engine_is_local:
            raise DockerStartFailed(
                f"node {self.node_name}'s engine is on another machine: set "
                "c.DockerBackend.hub_api_url to the hub's API as its containers reach it"
            )
        gateway = self._gateway(network)
        if self._relays is None:
            self._relays = {}
        relay = self._relays.get(gateway)
        if relay is None:
            relay = HubRelay(gateway, self.hub_relay_port, *self._proxy_address(), self.log)
            self._relays[gateway] = relay
        try:
            await relay.start()
        except OSError as e:
            raise DockerStartFailed(
                f"cannot relay {gateway}:{self.hub_relay_port} to the proxy for node "
                f"{self.node_name}'s containers ({e}): set c.DockerBackend.hub_relay_port "
                "or c.DockerBackend.hub_api_url"
            ) from e
        scheme = "https" if self.hub.ssl_cert else "http"
        api_path = url_path_join(self.hub.hub.base_url, "api")
        return f"{scheme}://{gateway}:{self.hub_relay_port}{api_path}"

    def warm(self):
        """Start the relay at hub start, so containers that outlived a hub restart reach
        the hub again."""
        if not self.hub_api_url and self.engine_is_local:
            task = asyncio.ensure_future(self._warm())
            task.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _warm(self):
        try:
            await self.container_api_url(await self.in_thread(self.ensure_network))
        except (DockerException, RequestException, DockerStartFailed) as e:
            self.log.warning("Node %s: no relay to the hub yet: %s", self.node_name, e)

    async def _close_relay(self):
        relays, self._relays = self._relays or {}, None
        for relay in relays.values():
            await relay.close()

    async def close(self):
        """Stop the relay (the hub is stopping, or the node changed) and the node's threads."""
        await self._close_relay()
        if self._executor is not None:
            # a call stuck on a silent engine must not hold up the hub's exit
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    @property
    def check_client(self):
        """A low-level client for health checks (in executor threads only): a client of
        its own with a short timeout, since a check must end soon, while the calls of a
        start may rightly take longer."""
        with self._check_lock:
            if self._check_client is None:
                self._check_client = EngineAPIClient(
                    base_url=self.node_url, tls=self._tls(), timeout=self.check_timeout
                )
            return self._check_client

    def _ping(self):
        return self.check_client.ping()

    async def check(self):
        return await self.in_thread(self._ping)

    def _image_reference(self, image):
        try:
            attrs = self.client.images.get(image).attrs
        except NotFound:
            raise PinnedImageMissing(
                f"node {self.node_name} has no image {image}: ask the hub's admin to build "
                "or pull it there"
            ) from None
        # a pulled image's digest in its registry, else (built on this node) its own ID
        digests = attrs.get("RepoDigests") or []
        return digests[0] if digests else attrs["Id"]

    async def resolve_image(self, image):
        return await self.in_thread(self._image_reference, image)

    def _image_exists(self, reference):
        try:
            self.client.images.get(reference)
        except NotFound:
            return False
        return True

    async def has_image(self, reference):
        return await self.in_thread(self._image_exists, reference)

    def _create_and_start(self, project_id, env, quotas, args, network, image=None):
        client = self.client
        name = self.container_name(project_id)
        try:
            stale = client.containers.get(name)
            stale.remove(force=True)
        except NotFound:
            pass
        volume = self.ensure_volume(project_id)
        memory = f"{int(quotas['memory_mb'])}m"
        container = client.containers.create(
            image or self.image,
            command=self.command + args,
            user=self.project_user,
            name=name,
            environment=env,
            network=network,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=self.pids_limit,
            volumes={volume: {"bind": HOME, "mode": "rw"}},
            # an engine on another machine: the hub cannot route to its bridge, so the
            # server is published on a port of that machine the engine picks
            ports=None if self.engine_is_local else {f"{SERVER_PORT}/tcp": None},
            working_dir=HOME,
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(float(quotas["cpu"]) * 1e9),
            labels={"smchub.project": project_id, "smchub.node": self.node_name},
        )
        container.start()
        container.reload()
        published_on = None if self.engine_is_local else self.host_ip
        return container.id, server_address(container.attrs, network, published_on)

    async def start(self, spawner, project, quotas):
        exam = NETWORK in spawner.exam_restrictions and self.takes_network_away()
        network = await self.in_thread(self.ensure_network, exam)
        # the server listens on its container's own address; the hub connects to that
        spawner.ip = "0.0.0.0"
        spawner.port = SERVER_PORT
        env = spawner.get_env()
        api_url = await self.container_api_url(network)
        for key in ("JUPYTERHUB_API_URL", "JUPYTERHUB_ACTIVITY_URL"):
            env[key] = env[key].replace(env["JUPYTERHUB_API_URL"], api_url, 1)
        env.update(self.limits_env(quotas, True, self._note(quotas)))
        env.update(HOME=HOME, SHELL="/bin/bash", USER="user", LANG="C.UTF-8")
        env["JUPYTERHUB_ROOT_DIR"] = HOME
        self.log.info("Starting project %s as a container on node %s", project.id, self.node_name)
        # the container by its name, kept before it exists: a hub killed before start()
        # returns leaves the next hub a container to remove, not one no one knows of
        spawner.keep_handle({"container": self.container_name(project.id), STARTING: True})
        container_id, (ip, port) = await self.in_thread(
            self._create_and_start, project.id, env, quotas, spawner.get_args(), network["Name"],
            spawner.environment_image,
        )  # fmt: skip
        handle = {"container": container_id, "volume": self.volume_name(project.id)}
        return ip, port, handle

    def takes_network_away(self):
        # the hub reaches a server on an internal network only across the bridge of its
        # own machine; a remote engine's servers are published, which such networks lack
        return self.engine_is_local

    def _note(self, quotas):
        return (
            f"{quotas['memory_mb']} MB of memory, {quotas['cpu']:g} CPU and at most "
            f"{self.pids_limit} processes enforced by Docker "
            f"on node {self.node_name}; the disk quota is reported, not enforced"
        )

    def _container(self, container_id):
        return self.client.containers.get(container_id)

    async def poll(self, spawner, handle):
        if handle.get(STARTING):
            if spawner.pending == "spawn":
                return None  # starting here
            # a start a killed hub never finished: not kept, and removed now, since
            # JupyterHub stops only what poll calls running
            await self.stop(spawner, handle, now=True)
            return 1
        try:
            container = await self.in_thread(self._container, handle["container"])
        except NotFound:
            return 1
        except (DockerException, RequestException) as e:
            # the node's engine is gone: its projects are not running as far as anyone
            # can tell (the health check marks the node down)
            self.log.warning("Node %s does not answer: %s", self.node_name, e)
            return 1
        state = container.attrs.get("State", {})
        if state.get("Running"):
            return None
        return state.get("ExitCode", 1) or 1

    async def stop(self, spawner, handle, now=False):
        def stop_and_remove():
            try:
                container = self.client.containers.get(handle["container"])
            except NotFound:
                return
            try:
                container.stop(timeout=0 if now else self.stop_timeout)
            except APIError:
                pass
            container.remove(force=True)

        try:
            await self.in_thread(stop_and_remove)
        except (DockerException, RequestException) as e:
            # left for the next start on this node, which removes a stale container
            self.log.warning("Could not remove the container on node %s: %s", self.node_name, e)

    def export_home(self, project_id):
        return docker_homes.export_home(self, project_id)

    async def import_home(self, project_id, chunks):
        return await docker_homes.import_home(self, project_id, chunks)

    async def snapshot_home(self, project_id, restic, trigger):
        return await docker_snapshots.snapshot_docker(self, project_id, restic, trigger)

    async def restore_home(self, project_id, restic, snapshot_id, source_path, target_path):
        return await docker_snapshots.restore_docker(
            self, project_id, restic, snapshot_id, source_path, target_path
        )
