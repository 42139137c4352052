"""Compute nodes: checking their definitions, syncing config, and what runs where."""

import re

import psutil
from jupyterhub import orm as hub_orm

from . import orm
from .placement import node_loads
from .projects import effective_quotas
from .spawners.backend import InvalidNodeOptions
from .spawners.registry import UnknownBackend, backend_kinds, load_backend_class
from .spawners.spawner import ProjectSpawner

NODE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
NODE_FIELDS = {"name", "backend", "url", "cpu", "memory_mb", "labels", "options", "state"}
DEFAULT_NODE = "local"


class InvalidNode(ValueError):
    """A node definition that cannot be used; the message says what to fix."""


def check_node_spec(spec, partial=False):
    """Clean a node definition (from config, the API or the CLI)."""
    if not isinstance(spec, dict):
        raise InvalidNode("a node is an object with name, backend, url, cpu, memory_mb, ...")
    unknown = sorted(set(spec) - NODE_FIELDS)
    if unknown:
        fields = ", ".join(sorted(NODE_FIELDS))
        raise InvalidNode(f"unknown node field(s) {', '.join(unknown)}; fields are {fields}")
    cleaned = {}
    if "name" in spec or not partial:
        name = spec.get("name")
        if not isinstance(name, str) or not NODE_NAME_RE.match(name):
            raise InvalidNode(
                f"node name {name!r} must be 1-63 lowercase letters, digits, '.', '_' or '-'"
            )
        cleaned["name"] = name
    if "backend" in spec or not partial:
        backend = spec.get("backend")
        kinds = backend_kinds()
        if backend not in kinds:
            raise InvalidNode(f"node backend {backend!r} must be one of {', '.join(kinds)}")
        cleaned["backend"] = backend
    if "url" in spec:
        if not isinstance(spec["url"], str) or len(spec["url"]) > 1024:
            raise InvalidNode("node url must be a string (e.g. unix:///var/run/docker.sock)")
        cleaned["url"] = spec["url"]
    for key, kind, low in (("cpu", float, 0.01), ("memory_mb", int, 16)):
        if key in spec:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                raise InvalidNode(f"node {key} must be a number of at least {low}")
            if kind is int and value != int(value):
                raise InvalidNode(f"node {key} must be a whole number")
            cleaned[key] = kind(value)
    for key in ("labels", "options"):
        if key in spec:
            value = spec[key]
            if not isinstance(value, dict):
                raise InvalidNode(f"node {key} must be an object")
            if key == "labels" and not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise InvalidNode("node labels map strings to strings")
            cleaned[key] = dict(value)
    cls = _loadable_class(cleaned["backend"]) if "backend" in cleaned else None
    if cls is not None and "options" in cleaned:
        try:
            cls.check_node_options(cleaned.get("name", "(new)"), cleaned["options"])
        except InvalidNodeOptions as e:
            raise InvalidNode(f"{e} (see c.{cls.__name__} in smchub --generate-config)") from e
    if "state" in spec:
        if spec["state"] not in orm.NODE_STATES:
            raise InvalidNode(f"node state must be one of {', '.join(orm.NODE_STATES)}")
        cleaned["state"] = spec["state"]
    if cls is not None and cls.url_example and not partial and not cleaned.get("url"):
        raise InvalidNode(
            f"a {cleaned['backend']} node needs the url of its engine ({cls.url_example})"
        )
    return cleaned


def _loadable_class(kind):
    """The backend class of `kind`, or None where it does not load (an extra not
    installed): its nodes are then checked when the hub first uses them."""
    try:
        return load_backend_class(kind)
    except UnknownBackend:
        return None


def machine_capacity():
    """This machine's CPUs and memory, for the local node."""
    return float(psutil.cpu_count() or 1), int(psutil.virtual_memory().total / 2**20)


def new_node(spec):
    cpu, memory_mb = machine_capacity()
    if (spec.get("options") or {}).get("cluster"):
        # a cluster's entry: its machines, found by the health check, carry the capacity
        cpu, memory_mb = 0.01, 16
    node = orm.ComputeNode(
        name=spec["name"],
        backend=spec["backend"],
        url=spec.get("url", ""),
        cpu=spec.get("cpu", cpu),
        memory_mb=spec.get("memory_mb", memory_mb),
        labels=spec.get("labels", {}),
        options=spec.get("options", {}),
        state=spec.get("state", "active"),
    )
    is_cluster = (spec.get("options") or {}).get("cluster")
    missing = "cpu" not in spec or "memory_mb" not in spec
    if node.backend != "local" and not is_cluster and missing:
        raise InvalidNode(f"node {node.name!r}: give its capacity (cpu and memory_mb)")
    return node


def update_node(node, spec):
    for key, value in spec.items():
        if key != "name":
            setattr(node, key, value)


def sync_config_nodes(db, specs, log):
    """Create or update the nodes declared in c.SMCHub.compute_nodes."""
    for raw in specs:
        spec = check_node_spec(raw)
        node = db.get(orm.ComputeNode, spec["name"])
        if node is None:
            node = new_node(spec)
            db.add(node)
            log.info("Adding compute node %s (%s) from config", node.name, node.backend)
        else:
            # the state an admin set (draining) survives restarts unless config says
            state = spec.pop("state", None)
            update_node(node, spec)
            if state:
                node.state = state
        node.from_config = True
    if not specs and db.query(orm.ComputeNode).count() == 0:
        log.info("Adding the default compute node %r: local processes", DEFAULT_NODE)
        db.add(new_node({"name": DEFAULT_NODE, "backend": "local"}))
    db.commit()


def allocations_in_hub(users):
    """(node, project, memory_mb, cpu) for every project server the hub has started or
    is starting, from its spawners in memory (so starts in flight count)."""
    for user in list(users.values()):
        spawner = user.spawners.get("")
        if not isinstance(spawner, ProjectSpawner):
            continue  # a person's own server (if any), or none
        if not (spawner.active or spawner._spawn_pending):
            continue
        node_name, quotas = spawner.node_name, spawner.allocated
        if node_name and quotas:
            yield node_name, user.name, quotas["memory_mb"], quotas["cpu"]


def allocations_in_db(db, default_quotas):
    """The same, from the database (for the CLI, when the hub may not be running)."""
    rows = (
        db.query(hub_orm.Spawner, hub_orm.User.name)
        .join(hub_orm.User, hub_orm.Spawner.user_id == hub_orm.User.id)
        .filter(hub_orm.Spawner.server_id.isnot(None))
    )
    for spawner, name in rows:
        state = spawner.state or {}
        node_name = state.get("node")
        project = db.get(orm.Project, name)
        if node_name and project is not None:
            quotas = effective_quotas(default_quotas, project.quota_overrides)
            yield node_name, name, quotas["memory_mb"], quotas["cpu"]


def loads_for(db, allocations):
    # fresh from the database: the CLI and health checks change nodes behind our back
    nodes = db.query(orm.ComputeNode).populate_existing().order_by(orm.ComputeNode.name).all()
    return nodes, node_loads(nodes, allocations)


def projects_on(db, node_name):
    """Projects (not deleted) whose files are on the node."""
    return (
        db.query(orm.Project)
        .filter(orm.Project.node == node_name, orm.Project.deleted.is_(False))
        .order_by(orm.Project.created)
        .all()
    )


def node_model(node, load):
    model = {
        "name": node.name,
        "backend": node.backend,
        "url": node.url,
        "cpu": node.cpu,
        "memory_mb": node.memory_mb,
        "labels": node.labels or {},
        "options": {k: v for k, v in (node.options or {}).items() if "key" not in k.lower()},
        "state": node.state,
        "from_config": node.from_config,
        "last_seen": node.last_seen.isoformat() + "Z" if node.last_seen else None,
        "load": load.as_dict() if load else None,
    }
    return model


def sync_discovered(db, cluster, specs, log):
    """Make the rows of a cluster's machines match what its engine reports.

    `cluster` is the configured entry (options.cluster); each spec becomes (or updates) a
    node named after it, with the cluster's backend and url. Machines the engine no longer
    lists are marked down (their projects' files may still be there).
    """
    seen = set()
    for raw in specs:
        spec = check_node_spec({**raw, "backend": cluster.backend, "url": cluster.url})
        options = {**(cluster.options or {}), **spec.get("options", {}), "cluster": False,
                   "cluster_entry": cluster.name}  # fmt: skip
        node = db.get(orm.ComputeNode, spec["name"])
        if node is None:
            node = new_node({**spec, "options": options})
            db.add(node)
            log.info("Found %s in cluster %s", node.name, cluster.name)
        else:
            state = spec.pop("state", None)
            update_node(node, {**spec, "options": options})
            # draining is the admin's call, kept through an outage; the engine decides
            # only whether an active node is down, and a down one active again
            if (state == "down" and node.state == "active") or (
                node.state == "down" and state == "active"
            ):
                node.state = state
        seen.add(node.name)
    for node in db.query(orm.ComputeNode).all():
        opts = node.options or {}
        if opts.get("cluster_entry") == cluster.name and node.name not in seen:
            if node.state != "down":
                log.warning("Cluster %s no longer lists %s: marking it down", cluster.name,
                            node.name)  # fmt: skip
                node.state = "down"
    db.commit()
