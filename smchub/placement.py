"""Choosing a compute node for a project: pure functions, no I/O.

The rules, as on SageMathCloud: a project goes back to the node that holds its files
(sticky); a new project goes to an active node that has the labels it asks for and room
for its quotas (capacity times overcommit), chosen at random among the few with the
most room, so a burst of new projects spreads instead of piling onto one node. When
nothing fits, the refusal says why, node by node.
"""

import random
from dataclasses import asdict, dataclass, field


@dataclass
class NodeLoad:
    """A node with what is already placed on it."""

    name: str
    backend: str
    state: str
    cpu: float
    memory_mb: int
    labels: dict = field(default_factory=dict)
    running: int = 0
    cpu_allocated: float = 0.0
    memory_allocated_mb: int = 0
    projects: list = field(default_factory=list)

    def as_dict(self):
        return {
            "running": self.running,
            "cpu_allocated": round(self.cpu_allocated, 3),
            "memory_allocated_mb": self.memory_allocated_mb,
            "cpu_capacity": self.cpu,
            "memory_capacity_mb": self.memory_mb,
        }


@dataclass(frozen=True)
class Request:
    """What a project needs from a node."""

    memory_mb: int
    cpu: float
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Overcommit:
    """How far allocations may exceed capacity (1.0: not at all).

    The defaults hand out each node's memory once and its CPUs four times over (projects
    rarely all compute at once); they are written here only.
    """

    memory: float = 1.0
    cpu: float = 4.0

    @classmethod
    def from_config(cls, value):
        """An Overcommit from c.SMCHub.overcommit ({"memory": ..., "cpu": ...}, either
        may be left out); ValueError says what is wrong."""
        if not isinstance(value, dict):
            raise ValueError(f"give a dict like {asdict(cls())}, not {value!r}")
        unknown = sorted(set(value) - {"memory", "cpu"})
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}: give memory, cpu")
        for key, factor in value.items():
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
                raise ValueError(f"{key} must be a number above 0 (1.0: no overcommit)")
        return cls(**{key: float(factor) for key, factor in value.items()})


class PlacementRefused(Exception):
    """No node can take the project; the message says why.

    `status` is the HTTP answer: 409 when the project's own node cannot take it (an
    admin must act), 503 when no node has room now (it may later).
    """

    def __init__(self, message, status=503):
        super().__init__(message)
        self.status = status


def node_loads(nodes, allocations):
    """NodeLoads from node rows and (node name, project id, memory_mb, cpu) allocations."""
    loads = {
        n.name: NodeLoad(
            name=n.name,
            backend=n.backend,
            state=n.state,
            cpu=float(n.cpu),
            memory_mb=int(n.memory_mb),
            labels=dict(n.labels or {}),
        )
        for n in nodes
        # a cluster's own entry (a Swarm manager) is not a place to run projects: its
        # machines are, each as a node of its own
        if not (n.options or {}).get("cluster")
    }
    for node_name, project_id, memory_mb, cpu in allocations:
        load = loads.get(node_name)
        if load is None:
            continue
        load.running += 1
        load.memory_allocated_mb += int(memory_mb)
        load.cpu_allocated += float(cpu)
        load.projects.append(project_id)
    return loads


def why_not(node, request, overcommit):
    """Why `node` cannot take `request` now, or None if it can."""
    if node.state != "active":
        return f"node {node.name!r} is {node.state}"
    missing = {k: v for k, v in request.labels.items() if node.labels.get(k) != v}
    if missing:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(missing.items()))
        return f"node {node.name!r} lacks the labels {wanted}"
    memory_free = node.memory_mb * overcommit.memory - node.memory_allocated_mb
    if request.memory_mb > memory_free:
        return (
            f"node {node.name!r} has {max(int(memory_free), 0)} MB of memory free; "
            f"the project needs {request.memory_mb} MB"
        )
    cpu_free = node.cpu * overcommit.cpu - node.cpu_allocated
    if request.cpu > cpu_free + 1e-9:
        return (
            f"node {node.name!r} has {max(cpu_free, 0):.2f} CPUs free; "
            f"the project needs {request.cpu:g}"
        )
    return None


def never_fits(node, request, overcommit):
    """Whether the request is more than the node has in all, used or not: waiting for
    other projects to stop will not make room for it."""
    return (
        request.memory_mb > node.memory_mb * overcommit.memory
        or request.cpu > node.cpu * overcommit.cpu + 1e-9
    )


def room(node, overcommit):
    """Share of the node's (overcommitted) memory still free: higher is emptier."""
    capacity = node.memory_mb * overcommit.memory
    if capacity <= 0:
        return 0.0
    return (capacity - node.memory_allocated_mb) / capacity


def place_project(loads, request, home_node=None, overcommit=Overcommit(), spread=3, rng=random):
    """The name of the node to start a project on.

    `home_node` is the node holding the project's files, if it has been placed before:
    it must go back there (its files are not anywhere else). Raises PlacementRefused.
    """
    if home_node is not None:
        node = loads.get(home_node)
        if node is None:
            raise PlacementRefused(
                f"the project's files are on node {home_node!r}, which no longer exists; "
                "an admin can move the project to another node",
                status=409,
            )
        reason = why_not(node, request, overcommit)
        if reason:
            if node.state != "active":
                hint, status = "; an admin can move the project to another node", 409
            elif never_fits(node, request, overcommit):
                # a quota beyond the node's size (a typo in an override, say): no wait helps
                hint, status = (
                    "; that is more than the node has in all: lower the project's quota, "
                    "or an admin can move it to a larger node",
                    409,
                )
            else:
                hint, status = "; try again when other projects on it have stopped", 503
            raise PlacementRefused(
                f"the project's files are on node {home_node!r}: {reason}{hint}",
                status=status,
            )
        return home_node

    reasons = []
    fitting = []
    for node in loads.values():
        reason = why_not(node, request, overcommit)
        if reason:
            reasons.append(reason)
        else:
            fitting.append(node)
    if not fitting:
        if not reasons:
            raise PlacementRefused("there are no compute nodes; an admin must add one")
        raise PlacementRefused("no compute node can take this project: " + "; ".join(reasons))
    fitting.sort(key=lambda n: (-room(n, overcommit), n.name))
    best = fitting[: max(1, spread)]
    return rng.choice(best).name
