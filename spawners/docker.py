"""The docker backend: a project server as a container on a node's Docker Engine.

One Docker Engine per node, reached at the node's url (a unix socket, or tcp with TLS
given in the node's options: tls_ca, tls_cert, tls_key). Each project keeps its home in
a named volume on its node; its container uses the host's network, is held to the
project's memory and CPU quotas, and is removed when the project stops (the volume
stays). dockerspawner keeps one client per spawner class; smchub needs one per node,
so the containers are managed here with the Docker SDK directly.
"""

import asyncio

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.tls import TLSConfig
from jupyterhub.utils import random_port
from requests.exceptions import RequestException
from traitlets import Integer, List, Unicode

from .backend import NodeBackend

# the image gives this folder to uid 1000; Docker copies a mount point's owner onto an
# empty named volume, so the project's volume mounted here belongs to the project
HOME = "/home/user"


class DockerBackend(NodeBackend):
    """Runs project servers as containers on one Docker Engine."""

    kind = "docker"
    home = HOME

    image = Unicode(
        "smchub/project:latest",
        help="Image of project servers (a node's options may name another: image).",
    ).tag(config=True)

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

    _client = None

    @property
    def client(self):
        if self._client is None:
            options = self.node_options or {}
            tls = None
            if options.get("tls_cert") or options.get("tls_ca"):
                cert = None
                if options.get("tls_cert"):
                    cert = (options["tls_cert"], options["tls_key"])
                tls = TLSConfig(
                    client_cert=cert,
                    ca_cert=options.get("tls_ca"),
                    verify=bool(options.get("tls_ca")),
                )
            self._client = docker.DockerClient(base_url=self.node_url, tls=tls, timeout=60)
        return self._client

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

    @property
    def host_ip(self):
        """Where the hub reaches servers on this node (containers share its network)."""
        return (self.node_options or {}).get("host_ip", "127.0.0.1")

    def _run(self, fn, *args, **kwargs):
        # the Docker SDK blocks; keep it off the event loop
        return asyncio.to_thread(fn, *args, **kwargs)

    async def check(self):
        return await self._run(self.client.ping)

    def _create_and_start(self, project_id, env, quotas, args):
        client = self.client
        name = self.container_name(project_id)
        try:
            stale = client.containers.get(name)
            stale.remove(force=True)
        except NotFound:
            pass
        volume = self.ensure_volume(project_id)
        image = (self.node_options or {}).get("image") or self.image
        memory = f"{int(quotas['memory_mb'])}m"
        container = client.containers.create(
            image,
            command=self.command + args,
            user=self.project_user,
            name=name,
            environment=env,
            network_mode="host",
            volumes={volume: {"bind": HOME, "mode": "rw"}},
            working_dir=HOME,
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(float(quotas["cpu"]) * 1e9),
            labels={"smchub.project": project_id, "smchub.node": self.node_name},
        )
        container.start()
        return container.id

    async def start(self, spawner, project, quotas):
        spawner.ip = self.host_ip
        spawner.port = random_port()
        env = spawner.get_env()
        env.update(self.limits_env(quotas, True, self._note(quotas)))
        env.update(HOME=HOME, SHELL="/bin/bash", USER="user", LANG="C.UTF-8")
        env["JUPYTERHUB_ROOT_DIR"] = HOME
        self.log.info("Starting project %s as a container on node %s", project.id, self.node_name)
        container_id = await self._run(
            self._create_and_start, project.id, env, quotas, spawner.get_args()
        )
        handle = {"container": container_id, "volume": self.volume_name(project.id)}
        return spawner.ip, spawner.port, handle

    def _note(self, quotas):
        return (
            f"{quotas['memory_mb']} MB of memory and {quotas['cpu']:g} CPU enforced by Docker "
            f"on node {self.node_name}; the disk quota is reported, not enforced"
        )

    async def poll(self, spawner, handle):
        try:
            container = await self._run(self.client.containers.get, handle["container"])
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
            await self._run(stop_and_remove)
        except (DockerException, RequestException) as e:
            # left for the next start on this node, which removes a stale container
            self.log.warning("Could not remove the container on node %s: %s", self.node_name, e)
