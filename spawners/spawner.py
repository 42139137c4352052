"""ProjectSpawner: runs a project's Jupyter server on a compute node."""

import asyncio
import sys

from jupyterhub import orm as hub_orm
from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Bool, Dict, Integer, List, Unicode, default

from .. import orm
from ..course_policy import course_place, restrictions_for_project
from ..environments import (
    PinnedImageMissing,
    UnknownEnvironment,
    current_pin,
    effective_environment,
    environment_holder,
    missing_pin_message,
    record_pin,
)
from ..extensions.localhub.labconfig import STUDENT_ENV
from ..extensions.localhub.permissions import EXAM_ENV, NETWORK, TERMINALS, exam_env_value
from ..names import is_project_name
from ..person_limits import LimitReached
from ..placement import PlacementRefused
from ..projects import effective_quotas


class ProjectSpawner(Spawner):
    """Starts a project's server (jupyterhub-singleuser with JupyterLab) on a node.

    The JupyterHub user being spawned is a project (its name is the project id); people
    never have servers of their own. Placement picks the node (the one holding the
    project's files, or a new one with room); the node's backend does the work. The
    state keeps the node, the quotas it was given and the backend's handle, so a
    restarted hub finds every running project again.
    """

    revocation_delay = Integer(
        30,
        help="""Seconds a project server trusts its cached check of a visitor's access.

        Removing a collaborator takes effect on running servers within this time.
        """,
    ).tag(config=True)

    @default("server_token_scopes")
    def _default_server_token_scopes(self):
        # JupyterHub's 'server' role, and reading this server's shares: they say what
        # each collaborator's role allows (extensions/localhub/authorizer.py)
        def scopes(spawner):
            server_role = hub_orm.Role.find(spawner.user.db, "server")
            return [*server_role.scopes, "read:shares!server"]

        return scopes

    @default("cmd")
    def _default_cmd(self):
        # the hub's own interpreter, so local project servers use smchub's environment
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("default_url")
    def _default_default_url(self):
        return "/lab"

    @default("http_timeout")
    def _default_http_timeout(self):
        return 60

    @default("args")
    def _default_args(self):
        args = [
            # load the localhub extension explicitly, whatever jupyter_server_config.d holds
            "--ServerApp.jpserver_extensions=smchub.extensions.localhub=True",
            f"--HubOAuth.cache_max_age={self.revocation_delay}",
            # each visitor may do what their role on the project allows (a viewer reads)
            "--ServerApp.authorizer_class=smchub.extensions.localhub.authorizer.ProjectAuthorizer",
            # kernels listen on Unix sockets in a folder only the project can open, not on
            # TCP ports every account on the node can find and connect to (a kernel's
            # output channel needs no key to subscribe); see JUPYTER_RUNTIME_DIR
            "--KernelManager.transport=ipc",
            # jupyter-server hides name~ files; restores and course steps keep a person's
            # changed files under exactly that name, which they must be able to find
            "--ContentsManager.hide_globs=['__pycache__', '*.pyc', '*.pyo', '.DS_Store']",
            # every document's edit history (JupyterLab's timeline) and the collaboration
            # sessions in the home's hidden data folder, not among the person's files, and
            # file ids (which name the histories) that still hold after a move
            "--YDocExtension.ystore_class=smchub.extensions.localhub.history.EditHistoryStore",
            "--YDocExtension.session_store_path=~/.local/share/smchub/collaboration-sessions.json",
            "--FileIdExtension.file_id_manager_class="
            "smchub.extensions.localhub.history.HomeFileIdManager",
            # what a project server need not do as it starts:
            # - jupyter_lsp looks for a dozen language servers on every start, and a project
            #   has none unless an admin installs them (who then sets c.ProjectSpawner.args)
            "--ServerApp.jpserver_extensions=jupyter_lsp=False",
            # - the PyPI extension manager builds an HTTPS client (loading every CA
            #   certificate) to offer installs into the Python environment, which project
            #   accounts cannot write to; the read-only one lists what is installed
            "--LabApp.extension_manager=readonly",
            # - nbgrader (installed for autograding, smchub/autograde.py, which uses it as a
            #   library) enables its formgrader, exchange and validation for everyone;
            #   smchub's course steps do that work, and students must not see them
            "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=False",
            "--ServerApp.jpserver_extensions=nbgrader.server_extensions.assignment_list=False",
            "--ServerApp.jpserver_extensions=nbgrader.server_extensions.course_list=False",
            "--ServerApp.jpserver_extensions=nbgrader.server_extensions.validate_assignment=False",
            # - Notebook 7 (which nbgrader brings) and notebook_shim serve the classic
            #   notebook's front end and config; projects open in JupyterLab
            "--ServerApp.jpserver_extensions=notebook=False",
            "--ServerApp.jpserver_extensions=notebook_shim=False",
        ]
        return args

    # state, kept across hub restarts
    node_name = Unicode(allow_none=True, default_value=None)
    allocated = Dict(help="the quotas the running server was given")
    handle = Dict(help="the backend's handle on the running server")
    exam_restrictions = List(help="what an exam window took away when the server started")
    student_project = Bool(False, help="whether the server is a student's course project")
    environment_name = Unicode(
        allow_none=True, default_value=None, help="the software environment the server runs"
    )
    # what the environment gives this start (not kept: a restarted hub only needs its name)
    environment_image = Unicode("", help="the pinned image to run; empty: the node's own")
    environment_kernels = List(help="the kernelspecs offered; empty: every one installed")
    # (holder, source image, environment name) when the node pins only once the server
    # runs: the image it then reports is pinned (see _take_environment)
    _pin_after_start = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._events = []
        self._events_changed = asyncio.Event()

    @property
    def hub_app(self):
        return self.user.settings["smchub"]

    @property
    def project_id(self):
        return self.user.name

    def get_state(self):
        state = super().get_state()
        if self.node_name:
            state["node"] = self.node_name
        if self.allocated:
            state["quotas"] = self.allocated
        if self.handle:
            state["handle"] = self.handle
        if self.exam_restrictions:
            state["exam"] = self.exam_restrictions
        if self.environment_name:
            state["environment"] = self.environment_name
        return state

    def load_state(self, state):
        super().load_state(state)
        self.node_name = state.get("node")
        self.allocated = state.get("quotas") or {}
        self.handle = state.get("handle") or {}
        self.exam_restrictions = state.get("exam") or []
        self.environment_name = state.get("environment")

    def keep_handle(self, handle):
        """Keep the handle of a server being started in the database now, from within
        the backend's start(). JupyterHub saves a spawner's state only once start()
        returns: a hub that died in between left the server running, and the next hub,
        with no handle to poll, called it stopped and never stopped it.

        Backends keep a handle twice: before the server exists, one naming what will
        hold it (the project's account or cgroup, the container's or service's name),
        which the next hub stops; then, once the server runs and the hub waits for it
        to answer, the real one, which the next hub polls to keep or stop the server.
        With the address the server listens on, it checks the right one (JupyterHub
        records that, too, only once start() returns)."""
        self.handle = handle
        self.orm_spawner.state = self.get_state()
        if self.server is not None:
            self.server.ip, self.server.port = self.ip, self.port
        self.user.db.commit()

    def clear_state(self):
        super().clear_state()
        self.handle = {}
        self.allocated = {}
        self.exam_restrictions = []
        self.environment_name = None

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
            except asyncio.TimeoutError:
                pass

    async def start(self):
        self._events = []
        app = self.hub_app
        project = self._project()
        quotas = effective_quotas(app.default_quotas, project.quota_overrides)
        try:
            app.check_can_start_project(project)
        except LimitReached as e:
            raise web.HTTPError(403, str(e))
        try:
            # placing and recording the allocation happen without a pause in between,
            # so a burst of starts sees each other's allocations
            node = app.place_project(project, quotas)
        except PlacementRefused as e:
            raise web.HTTPError(e.status, str(e))
        self.node_name = node.name
        self.allocated = quotas
        # fixed for the server's life: the hub restarts it when a window opens or closes
        self.exam_restrictions = sorted(restrictions_for_project(self.user.db, project.id))
        # a student's course project shows no nbgrader authoring (localhub/labconfig.py)
        self.student_project = course_place(self.user.db, project.id) is not None
        self._progress(10, f"Placed on node {node.name}")
        backend = app.backend_for(node.name)
        if NETWORK in self.exam_restrictions and not backend.takes_network_away():
            self.log.warning(
                "Project %s is in an exam without network, which node %s cannot take away: "
                "its server has the network it always has", project.id, node.name,
            )  # fmt: skip
        await self._take_environment(project, node, backend)
        self._progress(20, f"Starting the project server on {node.name}")
        ip, port, handle = await backend.start(self, project, quotas)
        self.handle = handle
        if self._pin_after_start is not None:
            self._pin_started_image(backend, handle, node, *self._pin_after_start)
        self._progress(60, "Waiting for the project server to answer")
        return ip, port

    async def _take_environment(self, project, node, backend):
        """Set what the project's environment gives this start: its kernels, and its
        image pinned (resolved on the node at the first start with it, then reused).

        A student's course project takes its course's environment and pin
        (smchub/environments.py says why).
        """
        db = self.user.db
        holder, course = environment_holder(db, project)
        try:
            environment = effective_environment(
                self.hub_app.environment_choices, holder.environment
            )
        except UnknownEnvironment as e:
            raise web.HTTPError(409, str(e))
        self.environment_name = environment.name
        self.environment_kernels = list(environment.kernels or ())
        self.environment_image = ""
        self._pin_after_start = None
        source = environment.image_for(node.backend)
        if source is None:
            return
        pinned = current_pin(holder, node.backend)
        if pinned is not None:
            if not await backend.has_image(pinned):
                message = missing_pin_message(
                    environment.name, node.name, pinned, holder.image_source, course is not None
                )
                raise web.HTTPError(409, message)
            self.environment_image = pinned
            return
        try:
            reference = await backend.resolve_image(source)
        except PinnedImageMissing as e:
            raise web.HTTPError(409, f"Environment {environment.name!r}: {e}")
        if reference is None:
            # a kind of node that cannot pin before a start starts the image by its name,
            # and may say afterwards what it pulled (Kubernetes)
            self.environment_image = source
            self._pin_after_start = (holder, source, environment.name)
            return
        self.environment_image = self._pin(holder, node, source, reference, environment.name)

    def _pin(self, holder, node, source, reference, environment_name):
        """Pin holder's environment to `reference` on node's kind; the pin that holds."""
        # another start (a classmate's, in this hub's session) may have pinned the course
        # while the node answered: keep theirs, so the whole class runs one image
        pinned = current_pin(holder, node.backend)
        if pinned is None:
            record_pin(holder, node.backend, source, reference)
            self.user.db.commit()
            self.log.info("Project %s: environment %s pinned to %s (from %s) on %s nodes",
                          self.project_id, environment_name, reference, source,
                          node.backend)  # fmt: skip
            pinned = reference
        return pinned

    def _pin_started_image(self, backend, handle, node, holder, source, environment_name):
        reference = backend.started_image(handle)
        if reference is not None:
            self._pin(holder, node, source, reference, environment_name)

    def get_env(self):
        env = super().get_env()
        if self.exam_restrictions:
            env[EXAM_ENV] = exam_env_value(self.exam_restrictions)
        if self.student_project:
            env[STUDENT_ENV] = "1"
        return env

    def get_args(self):
        args = super().get_args()
        if TERMINALS in self.exam_restrictions:
            # the authorizer refuses terminals anyway; without them JupyterLab's launcher
            # and menus offer none
            args.append("--ServerApp.terminals_enabled=False")
        if self.environment_kernels:
            # the environment's kernels only; its default kernel is the first of them
            args.append(f"--KernelSpecManager.allowed_kernelspecs={self.environment_kernels!r}")
            args.append(f"--MultiKernelManager.default_kernel_name={self.environment_kernels[0]}")
        return args

    async def poll(self):
        if not self.handle or not self.node_name:
            return 0
        backend = self.hub_app.backend_for(self.node_name)
        if backend is None:
            return 1
        return await backend.poll(self, self.handle)

    async def stop(self, now=False):
        if not self.handle or not self.node_name:
            return
        backend = self.hub_app.backend_for(self.node_name)
        if backend is not None:
            await backend.stop(self, self.handle, now=now)
        self.handle = {}
        # every stop leaves a snapshot of the home behind (in the background: a
        # snapshot never holds up or fails a stop)
        self.hub_app.snapshots.project_stopped(self.project_id)
