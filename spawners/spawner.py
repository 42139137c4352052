"""ProjectSpawner: runs a project's Jupyter server on a compute node."""

import asyncio
import sys

from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Dict, Integer, Unicode, default

from .. import orm
from ..names import is_project_name
from .local import LocalBackend


class ProjectSpawner(Spawner):
    """Starts a project's server (jupyterhub-singleuser with JupyterLab) on its node.

    The JupyterHub user being spawned is a project (its name is the project id); people
    never have servers of their own. The node's backend does the actual work; this class
    keeps the node and the backend's handle in its state, so a restarted hub finds every
    running project again.
    """

    revocation_delay = Integer(
        30,
        help="""Seconds a project server trusts its cached check of a visitor's access.

        Removing a collaborator takes effect on running servers within this time.
        """,
    ).tag(config=True)

    local_node = Unicode("local", help="Name of the node that runs projects locally.").tag(
        config=True
    )

    backend_config = Dict(
        help="Extra settings passed to every node backend (for tests and tuning)."
    ).tag(config=True)

    @default("cmd")
    def _default_cmd(self):
        # the hub's own interpreter, so project servers use the environment smchub is in
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("default_url")
    def _default_default_url(self):
        return "/lab"

    @default("http_timeout")
    def _default_http_timeout(self):
        return 60

    @default("args")
    def _default_args(self):
        return [
            # load the localhub extension explicitly, whatever is installed in
            # jupyter_server_config.d
            "--ServerApp.jpserver_extensions=smchub.extensions.localhub=True",
            f"--HubOAuth.cache_max_age={self.revocation_delay}",
        ]

    # state
    node_name = Unicode(allow_none=True, default_value=None)
    handle = Dict()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._events = []
        self._events_changed = asyncio.Event()

    # --- state ---------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        if self.node_name:
            state["node"] = self.node_name
        if self.handle:
            state["handle"] = self.handle
        return state

    def load_state(self, state):
        super().load_state(state)
        self.node_name = state.get("node")
        self.handle = state.get("handle") or {}

    def clear_state(self):
        super().clear_state()
        self.handle = {}

    # --- project and node ----------------------------------------------------

    @property
    def project_id(self):
        return self.user.name

    def _project(self):
        if not is_project_name(self.user.name):
            raise web.HTTPError(
                400,
                "People do not have servers of their own in smchub: "
                "open a project from your projects page instead.",
            )
        project = self.user.db.get(orm.Project, self.user.name)
        if project is None or project.deleted:
            raise web.HTTPError(404, f"No such project: {self.user.name}")
        return project

    def _backend(self, node_name):
        backend = LocalBackend(parent=self, log=self.log)
        for key, value in self.backend_config.items():
            setattr(backend, key, value)
        if not backend.projects_root:
            backend.projects_root = self.user.settings["smchub"].projects_root
        return backend

    # --- progress ------------------------------------------------------------

    def _progress(self, percent, message):
        self._events.append({"progress": percent, "message": message})
        self._events_changed.set()

    async def progress(self):
        sent = 0
        while True:
            while sent < len(self._events):
                yield self._events[sent]
                sent += 1
            if not self._spawn_pending:
                return
            self._events_changed.clear()
            try:
                await asyncio.wait_for(self._events_changed.wait(), timeout=1)
            except TimeoutError:
                pass

    # --- lifecycle -----------------------------------------------------------

    async def start(self):
        self._events = []
        project = self._project()
        node_name = project.node or self.local_node
        self._progress(10, f"Placing project on node {node_name}")
        backend = self._backend(node_name)
        self._progress(30, f"Starting the project server on {node_name}")
        ip, port, handle = await backend.start(self, project.id)
        if project.node != node_name:
            project.node = node_name
            self.user.db.commit()
        self.node_name = node_name
        self.handle = handle
        self._progress(60, "Waiting for the project server to answer")
        return ip, port

    async def poll(self):
        if not self.handle:
            return 0
        status = await self._backend(self.node_name).poll(self, self.handle)
        return status

    async def stop(self, now=False):
        if not self.handle:
            return
        await self._backend(self.node_name).stop(self, self.handle, now=now)
        self.handle = {}
