"""SMCHub: JupyterHub with projects, collaborators and compute nodes."""

import os
import shutil
import stat
import sys

from jupyterhub.app import JupyterHub
from jupyterhub.utils import url_path_join
from tornado.web import StaticFileHandler
from traitlets import Dict, Unicode, default, validate

from . import apihandlers, dbutil, handlers
from ._data import DATA_FILES_PATH
from ._version import __version__
from .apihandlers.base import PROJECTS_SCOPE
from .names import is_project_name
from .projects import QUOTA_KEYS, InvalidInput, check_quotas

DEFAULT_QUOTAS = {"memory_mb": 2000, "cpu": 1.0, "idle_timeout_s": 3600, "disk_mb": 3000}


class SMCHub(JupyterHub):
    """A notebook cloud: people own and share projects, each a Jupyter server on a node.

    Configure it with jupyterhub_config.py like any JupyterHub; smchub's own settings
    are under c.SMCHub.
    """

    name = "smchub"
    version = __version__
    description = """Start the smchub notebook cloud.

    smchub is JupyterHub with SageMathCloud's projects: people sign in, create projects,
    share them with collaborators, and each running project is a Jupyter server on a
    compute node. Every c.JupyterHub.* setting works; smchub adds c.SMCHub.*.
    """

    data_dir = Unicode(
        "smchub-data",
        help="""Folder for smchub's files on this machine: project homes of the local
        node (in projects/) and project server logs (in logs/).

        Relative paths are taken from the folder the hub starts in, beside the default
        SQLite database. When the hub runs as root, every folder above it must be
        searchable by other users (o+x): projects run as their own Unix accounts.
        """,
    ).tag(config=True)

    default_quotas = Dict(
        help=f"""Quotas every project gets unless an admin sets its own.

        Keys: {", ".join(sorted(QUOTA_KEYS))}. memory_mb and cpu limit the project's
        server; idle_timeout_s stops a project nobody has used for that long (0: never);
        disk_mb bounds its home folder. Changes apply at a project's next start.
        """,
    ).tag(config=True)

    @default("default_quotas")
    def _default_quotas_default(self):
        return dict(DEFAULT_QUOTAS)

    @validate("default_quotas")
    def _validate_default_quotas(self, proposal):
        try:
            cleaned = check_quotas(proposal.value)
        except InvalidInput as e:
            raise ValueError(f"c.SMCHub.default_quotas: {e}")
        merged = dict(DEFAULT_QUOTAS)
        merged.update(cleaned)
        return merged

    @property
    def projects_root(self):
        return os.path.join(os.path.abspath(self.data_dir), "projects")

    # --- JupyterHub defaults that differ in smchub ---------------------------

    @default("ip")
    def _ip_default(self):
        # the embedded default serves this machine only; set ip or bind_url to open it up
        return "127.0.0.1"

    @default("spawner_class")
    def _spawner_class_default(self):
        from .spawners import ProjectSpawner

        return ProjectSpawner

    @default("authenticator_class")
    def _authenticator_class_default(self):
        from .authenticators import SMCAuthenticator

        return SMCAuthenticator

    @default("default_url")
    def _default_url_default(self):
        # a person's home is their project list
        return url_path_join(self.base_url, "hub/projects")

    @default("classes")
    def _load_classes(self):
        from .authenticators import SMCAuthenticator
        from .spawners import ProjectSpawner
        from .spawners.local import LocalBackend

        classes = super()._load_classes()
        for cls in (SMCHub, ProjectSpawner, LocalBackend, SMCAuthenticator):
            if cls not in classes:
                classes.append(cls)
        return classes

    # --- start-up steps ------------------------------------------------------

    def init_db(self):
        super().init_db()
        # our own history, in our own version table; at head this does nothing
        dbutil.upgrade(self.db.get_bind())

    def init_data_dir(self):
        os.makedirs(self.projects_root, mode=0o711, exist_ok=True)
        os.makedirs(os.path.join(os.path.abspath(self.data_dir), "logs"), mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.projects_root, 0o711)
            self._check_reachable_by_projects()

    def _check_reachable_by_projects(self):
        """Projects run as their own accounts: they must reach their homes and Python."""
        problems = []
        for path in (self.projects_root, os.path.realpath(sys.executable), sys.prefix):
            for parent in _ancestors(path):
                mode = os.stat(parent).st_mode
                if not mode & stat.S_IXOTH:
                    problems.append(parent)
        if problems:
            listed = ", ".join(sorted(set(problems)))
            self.log.critical(
                "Per-project accounts cannot reach %s: run `chmod o+x` on it, or move "
                "c.SMCHub.data_dir and the Python environment somewhere they can.",
                listed,
            )
            self.exit(1)

    def init_proxy(self):
        if "command" not in self.config.ConfigurableHTTPProxy:
            command = _find_chp()
            if command:
                self.config.ConfigurableHTTPProxy.command = [command]
        super().init_proxy()

    async def init_role_creation(self):
        self.custom_scopes.setdefault(
            PROJECTS_SCOPE,
            {"description": "Create, read and manage the projects you collaborate on."},
        )
        self.extra_user_scopes.add(f"{PROJECTS_SCOPE}!user")
        await super().init_role_creation()

    async def init_users(self):
        self._reserve_project_names()
        await super().init_users()

    def _reserve_project_names(self):
        """Keep project-shaped names for projects, whatever the authenticator.

        Every way a person gets a name (sign-in, the users API, config) passes through
        the authenticator's validate_username; project users never authenticate, so
        the authenticator's add_user/delete_user hooks are not theirs either.
        """
        authenticator = self.authenticator
        validate = authenticator.validate_username
        add_user = authenticator.add_user
        delete_user = authenticator.delete_user

        def validate_username(name):
            return not is_project_name(name) and validate(name)

        def add_user_unless_project(user):
            if is_project_name(user.name):
                return None
            return add_user(user)

        def delete_user_unless_project(user):
            if is_project_name(user.name):
                return None
            return delete_user(user)

        authenticator.validate_username = validate_username
        authenticator.add_user = add_user_unless_project
        authenticator.delete_user = delete_user_unless_project

    def init_tornado_settings(self):
        self.init_data_dir()
        self.tornado_settings["smchub"] = self
        # smchub's templates go after any the admin configured and before JupyterHub's
        # own, which stay reachable as "templates/<name>" for {% extends %}
        ours = os.path.join(DATA_FILES_PATH, "templates")
        jupyterhub_default = super()._template_paths_default()[0]
        if ours not in self.template_paths:
            if jupyterhub_default in self.template_paths:
                position = self.template_paths.index(jupyterhub_default)
            else:
                position = len(self.template_paths)
            self.template_paths.insert(position, ours)
        super().init_tornado_settings()

    def init_handlers(self):
        super().init_handlers()
        static = os.path.join(DATA_FILES_PATH, "static")
        ours = [
            *handlers.default_handlers,
            *apihandlers.default_handlers,
            (r"/smchub-static/(.*)", StaticFileHandler, {"path": static}),
        ]
        # ahead of JupyterHub's own, so that ours win where the paths overlap
        self.handlers[:0] = self.add_url_prefix(self.hub_prefix, ours)


def _ancestors(path):
    path = os.path.abspath(path)
    parents = []
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            break
        parents.append(parent)
        path = parent
    return parents


def _find_chp():
    """configurable-http-proxy from this environment or the repository's node_modules."""
    candidates = [
        os.path.join(os.path.dirname(sys.executable), "configurable-http-proxy"),
        os.path.join(sys.prefix, "bin", "configurable-http-proxy"),
    ]
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(
        os.path.join(os.path.dirname(here), "node_modules", ".bin", "configurable-http-proxy")
    )
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    return shutil.which("configurable-http-proxy")


main = SMCHub.launch_instance
