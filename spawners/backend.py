"""What every compute-node backend offers the hub: the declared NodeBackend interface.

Every hook the hub calls is declared here with a default, so callers never ask a backend
whether it has a method: a backend that has nothing to warm, close, discover or reconcile
inherits a default that does nothing, and one that cannot move homes refuses clearly.
"""

from traitlets import Any, TraitError, Unicode
from traitlets.config import LoggingConfigurable


class HomeTransferError(RuntimeError):
    """A home could not be read or written; the message says why."""


class SnapshotFailed(RuntimeError):
    """A snapshot or a restore of a project's home did not happen; the message says why."""


class RestoreRefused(SnapshotFailed):
    """A restore that cannot be done as asked (its target goes through a symbolic link or
    a file): the person must choose another path. restore_place.PLACE_SCRIPT says so by
    exiting with REFUSED."""


class SnapshotPathMissing(SnapshotFailed):
    """The snapshot has nothing at the path asked for."""


class InvalidNodeOptions(ValueError):
    """A node's options that its backend cannot use; the message names the node and says
    what to fix."""


class NodeBackend(LoggingConfigurable):
    """Runs project servers on one compute node.

    Backends are made per node by the hub (and cached), configured by c.<BackendClass>.*
    in jupyterhub_config.py and by the node's row: its url, and its options, each of which
    sets the backend's trait of that name (declared with `.tag(node_option=True)`), so a
    node's own value wins over the configured one and is checked like it.
    """

    kind = "abstract"
    # a node of this kind needs a url (its engine's), e.g. this; "": it needs none
    url_example = ""

    node_name = Unicode()
    node_url = Unicode()
    node_options = Any({}, help="the node row's options, as given")
    hub = Any(help="the SMCHub application")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        names = self.node_option_names()
        for key, value in (self.node_options or {}).items():
            if key not in names:
                raise InvalidNodeOptions(
                    f"node {self.node_name!r}: a {self.kind} node has no option {key!r}; "
                    f"its options are {', '.join(names) or 'none'}"
                )
            try:
                setattr(self, key, value)
            except TraitError as e:
                raise InvalidNodeOptions(f"node {self.node_name!r}: option {key!r}: {e}") from e

    @classmethod
    def node_option_names(cls):
        """The options a node of this kind may have (its traits tagged node_option)."""
        return sorted(cls.class_traits(node_option=True))

    @classmethod
    def check_node_options(cls, node_name, options):
        """Raise InvalidNodeOptions unless a node of this kind can use these options."""
        cls.class_for_node(options)(node_name=node_name, node_options=dict(options or {}))

    @classmethod
    def class_for_node(cls, options):
        """The class that runs a node with these options (a kind may have several roles)."""
        return cls

    async def start(self, spawner, project, quotas):
        """Start the project's server; returns (ip, port, handle)."""
        raise NotImplementedError

    async def poll(self, spawner, handle):
        """None while the server runs, else an exit status."""
        raise NotImplementedError

    async def stop(self, spawner, handle, now=False):
        """Stop the server the handle points at (at once with `now`)."""
        raise NotImplementedError

    async def check(self):
        """Whether the node answers (for health checks); raises or returns False if not."""
        return True

    def warm(self):
        """Prepare at hub start what the first project start would otherwise wait for.

        Must not block: start background work and return.
        """

    async def close(self):
        """Stop what the backend runs of its own (the hub stops, or the node went away)."""

    async def discover(self):
        """The machines of a cluster's entry, as node specs; None for a node that is a
        machine itself (the hub then has nothing to sync)."""
        return None

    async def reconcile(self, state):
        """Give the node's engine the state smchub has for it ('active' or 'draining')."""

    def export_home(self, project_id):
        """The project's home on this node, as an async iterator of tar chunks."""
        raise HomeTransferError(f"homes cannot be moved off {self.kind} nodes yet")

    async def import_home(self, project_id, chunks):
        """Write a home from tar chunks, replacing any old one; returns counts
        ({"files", "bytes", "streamed"})."""
        raise HomeTransferError(f"homes cannot be moved onto {self.kind} nodes yet")

    async def snapshot_home(self, project_id, restic, trigger):
        """Take a restic snapshot of the project's home on this node, where it is.

        `restic` is the hub's smchub.restic.Restic: run its backup_args(project_id,
        trigger) with the home as the working directory (so the snapshot's root is the
        home), reaching the repository as its container_access() says when restic runs
        in a container. Returns restic's JSON summary (a dict with snapshot_id, files_new,
        files_changed, dirs_new, dirs_changed, data_added). Raises SnapshotFailed.
        """
        raise SnapshotFailed(f"snapshots are not supported on {self.kind} nodes yet")

    async def restore_home(self, project_id, restic, snapshot_id, source_path, target_path):
        """Restore `source_path` of a snapshot ("" for all of it) to `target_path` of the
        home ("" for the home itself), whether the project runs or not.

        Both paths are relative and already checked. restic restores into a staging
        folder the project cannot reach; then restore_place.PLACE_SCRIPT, run as the
        project's own account, moves it into the home (a changed file kept as name~).
        Returns the script's result ({"files", "bytes", "kept"}). Raises SnapshotFailed,
        or RestoreRefused when the script exits with restore_place.REFUSED.
        """
        raise SnapshotFailed(f"snapshots are not supported on {self.kind} nodes yet")

    async def resolve_image(self, image):
        """What `image` (a name from c.SMCHub.environments) is on this node now, as the
        reference that pins it (a digest or an image ID), for every later start.

        None: this kind of node cannot pin before a start; it starts the image by its
        name, and started_image may give the pin afterwards. Raises
        environments.PinnedImageMissing when the node has no such image.
        """
        return None

    def ports_in_use(self):
        """Ports of the project servers this hub runs or starts on this node."""
        ports = set()
        for user in list(self.hub.users.values()):
            spawner = user.spawners.get("")
            if spawner is None or spawner.node_name != self.node_name:
                continue
            port = spawner.handle.get("port") or spawner.port
            if (spawner.active or spawner._spawn_pending) and port:
                ports.add(port)
        return ports

    def started_image(self, handle):
        """The registry digest of the image a server just started (`handle`, as start()
        returned it) runs, for a kind of node that can pin only once a server runs (its
        resolve_image gives None); None when unknown or not a registry's."""
        return None

    async def has_image(self, reference):
        """Whether the node still has the image a project was pinned to."""
        return True

    def takes_network_away(self):
        """Whether a server this backend starts for an exam without network
        (smchub.course_policy) really has none but its way to the hub."""
        return False

    def limits_env(self, quotas, enforced, note):
        """Environment telling the project (its localhub info) about its limits."""
        return {
            "SMCHUB_MEMORY_LIMIT_MB": str(quotas["memory_mb"]),
            "SMCHUB_CPU_LIMIT": str(quotas["cpu"]),
            "SMCHUB_DISK_QUOTA_MB": str(quotas["disk_mb"]),
            "SMCHUB_LIMITS_ENFORCED": "1" if enforced else "0",
            "SMCHUB_LIMITS_NOTE": note,
            "SMCHUB_NODE": self.node_name,
        }
