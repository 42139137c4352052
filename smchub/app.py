"""SMCHub: JupyterHub with projects, collaborators and compute nodes."""

import asyncio
import os
import shutil
import stat
import sys
from dataclasses import asdict
from urllib.parse import urlsplit

from jupyterhub import orm as hub_orm
from jupyterhub.apihandlers.base import API404 as JupyterHubAPI404
from jupyterhub.app import JupyterHub
from jupyterhub.utils import url_path_join
from tornado.ioloop import PeriodicCallback
from tornado.web import StaticFileHandler
from traitlets import Bool, CaselessStrEnum, Dict, Float, Integer, List, Unicode, default, validate
from traitlets.utils.importstring import import_item

from . import (
    apihandlers,
    dbutil,
    handlers,
    isolation,
    leader,
    log,
    nodes,
    origins,
    orm,
    person_limits,
    state_metrics,
)
from ._data import DATA_FILES_PATH
from ._version import __version__
from .apihandlers.base import API404
from .authenticators.project_names import keeping_project_names
from .collector import CollectorSettings
from .course_policy import ExamWindows, student_project_ids
from .coursework import CourseJobs
from .culler import cull_idle_projects
from .deadlines import Deadlines
from .environments import check_environments
from .handlers import origins as origins_handlers
from .health import check_nodes
from .loopwatch import LoopWatch
from .mail import Mailer
from .placement import Overcommit, PlacementRefused, Request, place_project
from .projects import PROJECT_SERVER_SCOPES, QUOTA_KEYS, InvalidInput, check_quotas
from .scopes import ADMIN_SCOPE, CUSTOM_SCOPES, PROJECTS_SCOPE
from .servers import ProjectServers
from .snapshots import Snapshots
from .spawners.backend import InvalidNodeOptions
from .spawners.registry import UnknownBackend, load_backend_class, loadable_backend_classes

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

    compute_nodes = List(
        Dict(),
        help="""Compute nodes, created or updated in the database at every start.

        Each is a dict: name, backend ("local", "docker", "swarm", "kubernetes"), url
        (a Docker Engine: unix:///var/run/docker.sock or tcp://host:2376), cpu and
        memory_mb (capacity), labels (dict), options (backend settings, e.g. tls_ca,
        tls_cert, tls_key, image, host_ip), state ("active", "draining", "down").
        Nodes can also be managed with /hub/api/nodes and `smchub node`. With no nodes
        at all, smchub makes one, "local", running projects as local processes.
        """,
    ).tag(config=True)

    @validate("compute_nodes")
    def _validate_compute_nodes(self, proposal):
        names = set()
        for spec in proposal.value:
            try:
                cleaned = nodes.check_node_spec(spec)
            except nodes.InvalidNode as e:
                raise ValueError(f"c.SMCHub.compute_nodes: {e}")
            if cleaned["name"] in names:
                raise ValueError(f"c.SMCHub.compute_nodes: node {cleaned['name']!r} twice")
            names.add(cleaned["name"])
        return proposal.value

    overcommit = Dict(
        help="""How far placement may allocate past a node's capacity.

        {"memory": 1.0, "cpu": 4.0} (the default) hands out each node's memory once and its
        CPUs four times over (projects rarely all compute at once). A key left out keeps
        its default; factors below 1 keep a reserve.
        """,
    ).tag(config=True)

    @default("overcommit")
    def _overcommit_default(self):
        return asdict(Overcommit())

    @validate("overcommit")
    def _validate_overcommit(self, proposal):
        try:
            return asdict(Overcommit.from_config(proposal.value))
        except ValueError as e:
            raise ValueError(f"c.SMCHub.overcommit: {e}") from None

    @property
    def node_overcommit(self):
        """c.SMCHub.overcommit, as placement takes it."""
        return Overcommit(**self.overcommit)

    allow_unisolated_projects = Bool(
        False,
        help="""Let more than one person use a hub whose projects are not isolated.

        A hub that is not root runs local projects as its own account, so every project
        can read every other one, the hub's database and its cookie secret. Such a hub
        serves its first person only and refuses further sign-ups and accounts, unless
        this is True: set it only when everyone on the hub trusts everyone else. Hubs
        running as root (a Unix account per project) or with only container nodes are
        not affected.
        """,
    ).tag(config=True)

    max_projects_per_person = Integer(
        200,
        help="""How many projects one person may own (0: no limit; admins have none).

        Creating one more is refused with a message saying so. Course projects that an
        instructor creates for students are not refused.
        """,
    ).tag(config=True)

    max_running_per_person = Integer(
        10,
        help="""How many of the projects one person owns may run at once (0: no limit).

        Starting one more (by its owner or a collaborator) is refused with a message
        that says to stop one first. Projects of admins, and the projects a course made for its
        students (owned by an instructor, who may start the whole class), are not limited.
        """,
    ).tag(config=True)

    snapshot_repository = Unicode(
        "",
        help="""The restic repository holding every project's snapshots.

        Default: the folder snapshots/ in c.SMCHub.data_dir. Any restic repository works:
        a folder (Docker and Swarm nodes must see it at the same path, e.g. a shared
        mount), or a URL such as sftp:backup@host:/srv/smchub, rest:https://host:8000/,
        s3:s3.example.org/bucket; its credentials come from the hub's environment
        (AWS_ACCESS_KEY_ID, RESTIC_REST_USERNAME, ...). Several hubs or machines can
        share one repository: restic deduplicates and locks across them.
        """,
    ).tag(config=True)

    snapshot_password_file = Unicode(
        "",
        help="""File holding the snapshot repository's password (made, 0600, on first use
        like the cookie secret). Default: snapshot-password in c.SMCHub.data_dir. Without
        it the snapshots cannot be read: back it up apart from the repository.""",
    ).tag(config=True)

    snapshot_interval = Float(
        600,
        help="""Seconds between snapshots of a running project (0: only at stop and on
        demand). A snapshot in which no file changed is not kept.""",
    ).tag(config=True)

    snapshot_keep = Dict(
        {"last": 12, "hourly": 24, "daily": 14, "weekly": 8},
        help="""Which snapshots of each project to keep, applied daily with restic's
        forget and prune: keys are restic's --keep-* options (last, hourly, daily, weekly,
        monthly, yearly, within), e.g. {"last": 12, "daily": 14}. {} keeps everything.""",
    ).tag(config=True)

    @validate("snapshot_keep")
    def _validate_snapshot_keep(self, proposal):
        allowed = {"last", "hourly", "daily", "weekly", "monthly", "yearly", "within"}
        for key, value in proposal.value.items():
            if key not in allowed:
                raise ValueError(
                    f"c.SMCHub.snapshot_keep: unknown key {key!r}; use {', '.join(sorted(allowed))}"
                )
            if key != "within" and (not isinstance(value, int) or value < 1):
                raise ValueError(f"c.SMCHub.snapshot_keep: {key} must be a positive integer")
        return proposal.value

    snapshot_parallelism = Integer(
        1,
        help="""How many snapshots run at once.

        One at a time deduplicates best: two restic runs at the same moment cannot see
        each other's new data, so a handout new to both projects is stored twice (until
        the next prune). Raise it when stops queue up for long (the log says how long
        each snapshot took; the metrics have smchub_snapshot_duration_seconds).
        """,
    ).tag(config=True)

    snapshot_timeout = Float(
        1800,
        help="Seconds a snapshot may take before it is given up (and recorded as failed).",
    ).tag(config=True)

    snapshot_shutdown_wait = Float(
        30,
        help="""Seconds the hub waits, as it stops, for the snapshots of the servers it
        stopped (the others are taken at their next stop).""",
    ).tag(config=True)

    deleted_retention_days = Float(
        30,
        help="""Days a deleted project can be undeleted by its owner (or an admin), with
        its files; after that its snapshots are pruned.""",
    ).tag(config=True)

    @property
    def snapshot_repository_location(self):
        return self.snapshot_repository or os.path.join(os.path.abspath(self.data_dir), "snapshots")

    @property
    def snapshot_password_location(self):
        return self.snapshot_password_file or os.path.join(
            os.path.abspath(self.data_dir), "snapshot-password"
        )

    environments = List(
        Dict(),
        help="""Software environments people choose from for their projects (and
        instructors for their courses), like JupyterHub's profile lists.

        Each is a dict: name (a short slug, kept in the database), display_name,
        description, image (for docker, swarm and kubernetes nodes: one image name, or a
        dict by node kind, e.g. {"docker": "smchub/full:1", "kubernetes":
        "registry.example.org/full:1"}), kernels (for local nodes: the kernelspec names
        offered, out of those the node has), and default (True on exactly one, for
        projects that choose none). Left out: image runs the node's own configured
        image, kernels offers every kernel. The image of an environment is pinned to its
        digest at a project's first start with it. Default: one environment, "minimal",
        which is the node's image (or all its kernels), as before environments existed.
        """,
    ).tag(config=True)

    @validate("environments")
    def _validate_environments(self, proposal):
        try:
            check_environments(proposal.value)
        except ValueError as e:
            raise ValueError(f"c.SMCHub.environments: {e}") from None
        return proposal.value

    @property
    def environment_choices(self):
        """c.SMCHub.environments, checked, as a tuple of environments.Environment."""
        return check_environments(self.environments)

    placement_spread = Integer(
        3,
        help="New projects go to a random node among this many with the most room.",
    ).tag(config=True)

    backend_classes = Dict(
        help="""Backend class for a kind of compute node (kind -> class or import string),
        in place of the one registered in the smchub.node_backends entry points."""
    ).tag(config=True)

    def backend_class(self, kind):
        """The NodeBackend class of a kind of node: configured, else registered."""
        cls = self.backend_classes.get(kind)
        if cls is None:
            return load_backend_class(kind)
        return import_item(cls) if isinstance(cls, str) else cls

    course_parallelism = Integer(
        4,
        help="""How many students a course step (assign, collect, return) works on at once.

        Each needs the student's project server running for a moment.
        """,
    ).tag(config=True)

    course_job_retention_days = Float(
        30,
        help="""Days a finished course job (a step run for a class, with each student's
        result) stays listed on the course page and in its API; older ones are forgotten
        (0: kept forever). Each student's own status and last error stay either way.""",
    ).tag(config=True)

    deadline_interval = Float(
        30,
        help="""Seconds between looks for students whose deadline (an assignment's due
        date or their extension) has passed, to collect their work. The hub also looks
        once at start, collecting for deadlines that passed while it was down. A student's
        work is collected at most this long after their deadline (0: never automatically).
        """,
    ).tag(config=True)

    smtp_host = Unicode(
        "",
        help="""The SMTP server the hub sends email through (address confirmation at
        sign-up, password resets, invitations to a project, notes to students added to
        a course). Empty (the default): the hub sends no email, and pages hide what
        needs it.""",
    ).tag(config=True)
    smtp_port = Integer(587, help="The SMTP server's port.").tag(config=True)
    smtp_security = CaselessStrEnum(
        ["starttls", "ssl", "none"],
        "starttls",
        help="""How the connection to the SMTP server is protected: "starttls" (port 587),
        "ssl" (TLS from the start, port 465), or "none" (only for a server on this machine
        or a network you trust).""",
    ).tag(config=True)
    smtp_username = Unicode("", help="The SMTP login, if the server asks for one.").tag(config=True)
    smtp_password = Unicode("", help="The SMTP password.").tag(config=True)
    smtp_from = Unicode(
        "",
        help="""The From of the hub's messages, e.g. "Our hub <hub@example.org>"
        (default: smchub@<smtp_host>).""",
    ).tag(config=True)

    exam_check_interval = Float(
        10,
        help="""Seconds between checks that every running student project has the
        restrictions of its course's exam window as of now (0: only when a course's
        settings change). A server whose window opened or closed since it started is
        restarted with the new ones, so a window's edges reach it within this time.""",
    ).tag(config=True)

    node_check_interval = Float(
        10,
        help="""Seconds between health checks of the compute nodes (0: never).

        A node whose engine does not answer is marked down (no new projects; its
        projects are reported stopped) and becomes active again when it answers.
        """,
    ).tag(config=True)

    idle_check_interval = Float(
        60,
        help="Seconds between checks for projects idle past their idle_timeout_s quota.",
    ).tag(config=True)

    active_hub_lease = Float(
        10,
        help="""On PostgreSQL, seconds within which a hub that froze, lost its network or
        lost the database gives up being the active hub (smchub/leader.py). Two hubs
        configured alike on one database elect the active one; the other stands by,
        answering /hub/health with 503, and takes over when the lock is free. A longer
        lease rides out longer stalls of the active hub; the standby waits as long.""",
    ).tag(config=True)

    @validate("active_hub_lease")
    def _validate_active_hub_lease(self, proposal):
        least = leader.FENCE_MARGIN + leader.KEEP_EVERY
        if proposal.value <= least:
            raise ValueError(f"active_hub_lease must be more than {least:g} seconds")
        return proposal.value

    @default("init_spawners_timeout")
    def _init_spawners_timeout_default(self):
        # serve at once: a hub taking over finds every running project, and polling
        # them all (up to each one's http_timeout) goes on in the background
        return 1

    subcommands = {
        **JupyterHub.subcommands,
        "node": ("smchub.cli.NodeApp", "Manage compute nodes: list, add, drain, remove"),
    }

    # times the event loop from a thread once the hub runs (loopwatch.py)
    loop_watch = None
    mailer = None
    # the project snapshots (snapshots.py), made by init_db
    snapshots = None
    # the course jobs (coursework.py), made by init_db
    course_jobs = None
    # keeps running student projects to their exam windows (course_policy.py), by init_db
    exam_windows = None
    # the deadline timer (deadlines.py), made by init_db
    deadlines = None
    # the active hub's lock on PostgreSQL (leader.py), taken by init_db
    leadership = None
    # False for tools that open the hub's database beside the running hub (`smchub node`):
    # they neither wait to be the active hub nor hold up one that would take over
    elects = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # node name -> (what its backend was made from, the backend); a hub stopped
        # before init_db has none to close
        self._backends = {}

    @property
    def projects_root(self):
        return os.path.join(os.path.abspath(self.data_dir), "projects")

    # --- JupyterHub defaults that differ in smchub ---------------------------

    @default("ip")
    def _ip_default(self):
        # the embedded default serves this machine only; set ip or bind_url to open it up
        return "127.0.0.1"

    @default("bind_url")
    def _bind_url_default(self):
        # JupyterHub's default listens on every interface; ip above only reaches
        # bind_url when it is set in config, so the default is spelled out here too
        proto = "https" if self.ssl_cert else "http"
        return f"{proto}://127.0.0.1:8000"

    @default("subdomain_host")
    def _subdomain_host_default(self):
        # every project its own origin (see origins.py); the admin of a public hub
        # sets its name, a hub on loopback uses *.localhost
        return origins.default_subdomain_host(self.bind_url)

    def project_url(self, project_id):
        """The URL people open a project at (its own origin when subdomains are on)."""
        return origins.project_url(
            project_id, self.base_url, self.subdomain_host, self.subdomain_hook
        )

    def lets_strangers_in(self):
        """Whether people the admin does not know can make themselves an account."""
        from .authenticators import SMCAuthenticator

        authenticator = self.authenticator
        if isinstance(authenticator, SMCAuthenticator) and authenticator.signup_mode != "closed":
            return True
        return bool(authenticator.allow_all)

    def origin_warning(self):
        """What admins must read when projects share the hub's origin with strangers."""
        if self.subdomain_host or not self.lets_strangers_in():
            return ""
        return origins.NO_SUBDOMAINS_WARNING

    @default("spawner_class")
    def _spawner_class_default(self):
        from .spawners import ProjectSpawner

        return ProjectSpawner

    @default("authenticator_class")
    def _authenticator_class_default(self):
        from .authenticators import SMCAuthenticator

        return SMCAuthenticator

    @default("authenticator")
    def _authenticator_default(self):
        # Whatever authenticator the admin configures (OAuth, LTI, ...), project-shaped
        # names stay the projects': it is built as a subclass with ProjectNamesReserved
        # first (SMCAuthenticator already has it), the way JupyterHub builds its own.
        authenticator_class = keeping_project_names(self.authenticator_class)
        return authenticator_class(parent=self, _deprecated_db_session=self.db)

    @default("default_url")
    def _default_url_default(self):
        # a person's home is their project list
        return url_path_join(self.base_url, "hub/projects")

    @default("classes")
    def _load_classes(self):
        from .authenticators import SMCAuthenticator
        from .spawners import ProjectSpawner

        classes = super()._load_classes()
        # every registered node backend whose class imports here (kubernetes needs its extra)
        backends = list(loadable_backend_classes().values())
        for cls in [SMCHub, ProjectSpawner, *backends, SMCAuthenticator, LoopWatch]:
            if cls not in classes:
                classes.append(cls)
        return classes

    # --- start-up steps ------------------------------------------------------

    def init_db(self):
        if self.elects and leader.elects(self.db_url):
            self._become_active()
        # the database holds every account's email and password hash, and projects run
        # code as other accounts on this machine: only the hub's account may read it,
        # whatever folder it is in (SQLite gives its -wal and -journal files the mode of
        # the database file)
        umask = os.umask(0o077)
        try:
            super().init_db()
            # our own history, in our own version table; at head this does nothing
            dbutil.upgrade(self.db.get_bind())
        finally:
            os.umask(umask)
        url = self.db.get_bind().url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            for suffix in ("", "-wal", "-shm", "-journal"):
                if os.path.exists(url.database + suffix):
                    os.chmod(url.database + suffix, 0o600)
        if self.leadership is not None:
            self.leadership.fence(self.db.get_bind())
        nodes.sync_config_nodes(self.db, self.compute_nodes, self.log)
        self._backends = {}
        # the hub's own services, for handlers and for work no request starts
        self.servers = ProjectServers(self)
        # course steps run for a class: started, resumed after a restart, pruned
        self.course_jobs = CourseJobs(self)
        self.exam_windows = ExamWindows(self)
        # deadlines that collect students' work by themselves
        self.deadlines = Deadlines(self)
        self.snapshots = Snapshots(self)

    def _become_active(self):
        """Wait, as the standby, until this hub is the active one (smchub/leader.py).
        Nothing else runs meanwhile: JupyterHub has not touched the database, bound a
        port or started the proxy yet."""
        self.leadership = leader.Leadership(self.db_url, self.active_hub_lease)
        stop_answering = []

        def on_standby():
            bind = urlsplit(self.hub_bind_url) if self.hub_bind_url else None
            address = bind.hostname if bind else (self.hub_ip or "0.0.0.0")
            port = bind.port if bind else self.hub_port
            stop_answering.append(leader.standby_answer(address, port, self.base_url))

        self.leadership.wait(on_standby)
        for stop in stop_answering:
            stop()
        self.leadership.keep()
        self.log.info("This hub is the active one on its database")

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
        if "state_dir" not in self.config.HAProxyProxy:
            # HAProxy's config, route maps and admin socket beside the hub's other state
            # (its class default is a folder in the working directory, as JupyterHub's
            # pid file is)
            self.config.HAProxyProxy.state_dir = os.path.join(
                os.path.abspath(self.data_dir), "haproxy"
            )
        super().init_proxy()

    async def init_role_creation(self):
        for scope, definition in CUSTOM_SCOPES.items():
            self.custom_scopes.setdefault(scope, definition)
        # what a share of a project's server lets a person do there (viewer or collaborator)
        for scope, definition in PROJECT_SERVER_SCOPES.items():
            self.custom_scopes.setdefault(scope, definition)
        self.extra_user_scopes.add(f"{PROJECTS_SCOPE}!user")
        await super().init_role_creation()
        self._grant_admin_scope()

    def _grant_admin_scope(self):
        """Give JupyterHub's admin role smchub's admin scope.

        JupyterHub refuses overrides of the admin role in load_roles and resets its scopes
        to the defaults at every start, so the scope is added back here, each time.
        """
        role = hub_orm.Role.find(self.db, "admin")
        if ADMIN_SCOPE not in role.scopes:
            role.scopes = [*role.scopes, ADMIN_SCOPE]
            self.db.commit()

    async def init_users(self):
        await super().init_users()
        # set only now: the admin's own list of people (admin_users, allowed_users) is
        # theirs to choose; whoever joins after (sign-up, sign-in, the users API, roles
        # and groups in config) passes the policy
        self.authenticator.new_person_policy = self.new_person_refusal

    def projects_isolated(self):
        """Whether every project is kept from the others and the hub (isolation.py)."""
        backends = [backend for (backend,) in self.db.query(orm.ComputeNode.backend)]
        return isolation.projects_isolated(os.geteuid() == 0, backends)

    def new_person_refusal(self, newcomer=None, known=()):
        """Why `newcomer` may not join this hub, or None.

        Only a hub whose projects are not isolated refuses anyone; `known` adds people
        the authenticator has that may not be hub users yet (accounts never signed in).
        """
        if self.allow_unisolated_projects or self.projects_isolated():
            return None
        return isolation.refusal([*isolation.people_names(self.db), *known], newcomer)

    def init_mailer(self):
        # links in messages point at the hub's public URL: JupyterHub's public_url, or
        # the hub's own host when projects have subdomains, or where it listens
        parts = urlsplit(self.public_url or self.subdomain_host or self.bind_url)
        hub_url = f"{parts.scheme}://{parts.netloc}"
        self.mailer = Mailer(
            parent=self, log=self.log, host=self.smtp_host, port=self.smtp_port,
            username=self.smtp_username, password=self.smtp_password,
            security=self.smtp_security, sender=self.smtp_from, hub_url=hub_url,
        )  # fmt: skip
        self.template_vars["mail_enabled"] = self.mailer.enabled

    def init_tornado_settings(self):
        self.init_data_dir()
        self.init_mailer()
        self.tornado_settings["smchub"] = self
        # invite and reset links carry secrets in their paths: cut them from request logs
        log.scrub_request_logs(self.log)
        # links to the authenticator's own pages, if it has any (SMCAuthenticator does)
        self.template_vars.setdefault("account_pages", list(self.authenticator.account_pages))
        # shown to admins on every page while it applies
        self.template_vars["origin_warning"] = self.origin_warning()
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

    def init_tornado_application(self):
        super().init_tornado_application()
        if self.subdomain_host:
            # ahead of the hub's own handlers, for projects' hosts only
            self.tornado_application.add_handlers(
                origins_handlers.project_host_pattern(self.subdomain_host),
                [(r".*", origins_handlers.ProjectOriginHandler)],
            )

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
        # JupyterHub's catch-all for unknown API paths answers without a message
        self.handlers = [
            (h[0], API404, *h[2:]) if len(h) > 1 and h[1] is JupyterHubAPI404 else h
            for h in self.handlers
        ]

    # --- what one person may take ---------------------------------------------------

    def check_can_create_project(self, person):
        """Raise person_limits.LimitReached if `person` may not own one more project."""
        if person.admin:
            return
        owned = person_limits.owned_project_ids(self.db, person.id)
        person_limits.check_can_create(len(owned), self.max_projects_per_person)

    def check_can_start_project(self, project):
        """Raise person_limits.LimitReached if the owner has too many projects running.

        The projects a course made for its students are owned by the instructor who
        added them, who starts the whole class at once (the course's "Start all"): they
        count for nobody, and starting one is never refused here.
        """
        owner = next((c.user for c in project.collaborators if c.role == "owner"), None)
        if owner is None or owner.admin or not self.max_running_per_person:
            return
        owned = person_limits.owned_project_ids(self.db, owner.id)
        students = student_project_ids(self.db, [*owned, project.id])
        if project.id in students:
            return
        owned = [project_id for project_id in owned if project_id not in students]
        running = person_limits.running_among(self.db, self.users, owned, exclude=project.id)
        person_limits.check_can_start(owner.name, running, self.max_running_per_person)

    # --- placement and node backends ------------------------------------------

    def node_loads(self):
        """(node rows, name -> NodeLoad): every node, fresh from the database, with what
        this hub has started or is starting on it."""
        return nodes.loads_for(self.db, nodes.allocations_in_hub(self.users))

    def place_project(self, project, quotas):
        """The node to run `project` on (recording it as the project's home node)."""
        rows, loads = self.node_loads()
        request = Request(
            memory_mb=quotas["memory_mb"], cpu=quotas["cpu"], labels=project.node_labels or {}
        )
        name = place_project(
            loads, request, home_node=project.node, overcommit=self.node_overcommit,
            spread=self.placement_spread,
        )  # fmt: skip
        if project.node != name:
            project.node = name
            self.db.commit()
        return next(n for n in rows if n.name == name)

    def backend_for(self, node_name):
        """The backend running projects on `node_name`.

        For a node removed meanwhile, the backend it had (which can still stop what runs
        there), or None if this hub never had one.
        """
        node = self.db.get(orm.ComputeNode, node_name)
        if node is None:
            cached = self._backends.get(node_name)
            return cached[1] if cached else None
        key = (node.backend, node.url, repr(sorted((node.options or {}).items())))
        cached = self._backends.get(node_name)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            cls = self.backend_class(node.backend).class_for_node(node.options)
            backend = cls(
                parent=self,
                log=self.log,
                hub=self,
                node_name=node.name,
                node_url=node.url or "",
                node_options=dict(node.options or {}),
            )
        except (UnknownBackend, InvalidNodeOptions) as e:
            raise PlacementRefused(f"node {node_name!r}: {e}", status=500) from e
        self._backends[node_name] = (key, backend)
        return backend

    async def forget_backend(self, node_name):
        """A node was removed: stop what its backend runs of its own (a fork server)."""
        cached = self._backends.pop(node_name, None)
        if cached is not None:
            await cached[1].close()

    async def start(self):
        await super().start()
        if self.subapp or self.generate_config or self.generate_certs:
            return
        self._warm_backends()
        asyncio.ensure_future(self.servers.route_when_checked())
        self.loop_watch = LoopWatch(parent=self, log=self.log)
        self.loop_watch.start(asyncio.get_running_loop())
        # /hub/metrics reads this hub's projects, nodes and snapshots when scraped
        state_metrics.COLLECTOR.app = self
        # full garbage collections held the loop for 150-220 ms every 13-26 s under load
        self.collector_settings = CollectorSettings()
        self.collector_settings.apply()
        warning = self.origin_warning()
        if warning:
            self.log.critical("%s", warning)
        if not self.projects_isolated():
            self.log.critical(
                "This hub is not root: local projects run as its own account and are not "
                "isolated from each other or from the hub's files. %s",
                "c.SMCHub.allow_unisolated_projects is True, so anyone may still join."
                if self.allow_unisolated_projects
                else "It serves one person, its first account; others are refused.",
            )
        if self.node_check_interval > 0:
            # a first check now, so a cluster's machines are known from the start
            asyncio.ensure_future(check_nodes(self))
            pc = PeriodicCallback(lambda: check_nodes(self), 1e3 * self.node_check_interval)
            self._periodic_callbacks["smchub_node_health"] = pc
            pc.start()
        if self.idle_check_interval > 0:
            pc = PeriodicCallback(lambda: cull_idle_projects(self), 1e3 * self.idle_check_interval)
            self._periodic_callbacks["smchub_idle_culler"] = pc
            pc.start()
        if self.snapshot_interval > 0:
            pc = PeriodicCallback(
                self.snapshots.snapshot_running_projects, 1e3 * self.snapshot_interval
            )
            self._periodic_callbacks["smchub_snapshots"] = pc
            pc.start()
        # retention and pruning once a day, the first an hour after start
        pc = PeriodicCallback(self.snapshots.maintain, 1e3 * 24 * 3600, jitter=0.05)
        self._periodic_callbacks["smchub_snapshot_upkeep"] = pc
        asyncio.get_running_loop().call_later(3600, lambda: (self.snapshots.maintain(), pc.start()))
        # course jobs a stopped hub left unfinished go on now; old ones are pruned hourly
        self.course_jobs.upkeep()
        pc = PeriodicCallback(self.course_jobs.upkeep, 1e3 * 3600)
        self._periodic_callbacks["smchub_course_jobs"] = pc
        pc.start()
        # exam windows that opened or closed while the hub was down are applied now
        self.exam_windows.enforce()
        if self.exam_check_interval > 0:
            pc = PeriodicCallback(self.exam_windows.enforce, 1e3 * self.exam_check_interval)
            self._periodic_callbacks["smchub_exam_windows"] = pc
            pc.start()
        if self.deadline_interval > 0:
            # after the jobs a stopped hub left: deadlines missed meanwhile are caught up
            self.deadlines.check()
            pc = PeriodicCallback(self.deadlines.check, 1e3 * self.deadline_interval)
            self._periodic_callbacks["smchub_deadlines"] = pc
            pc.start()

    def _warm_backends(self):
        """Let local nodes start their fork servers now rather than at the first start."""
        for node in self.db.query(orm.ComputeNode).filter_by(state="active"):
            try:
                backend = self.backend_for(node.name)
            except PlacementRefused:
                continue
            backend.warm()

    async def cleanup(self):
        if self.mailer is not None:
            await self.mailer.close()
        if state_metrics.COLLECTOR.app is self:
            state_metrics.COLLECTOR.app = None
        if self.exam_windows is not None:
            await self.exam_windows.close()
        if self.course_jobs is not None:
            # before JupyterHub stops the servers under them: a job stopped here leaves
            # its unfinished students as they are, for the next start to run again
            await self.course_jobs.close()
        await super().cleanup()
        if self.leadership is not None:
            # the standby takes over as soon as this hub is done
            self.leadership.release()
        if self.snapshots is not None:
            await self.snapshots.close(self.snapshot_shutdown_wait)
        if self.loop_watch is not None:
            self.loop_watch.stop()
            self.collector_settings.restore()
        # backends with processes of their own (the local fork server) stop them; a copy,
        # as work still finishing (a server's stop) may make a backend meanwhile
        for _, backend in list(self._backends.values()):
            await backend.close()


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
