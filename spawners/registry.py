"""The kinds of compute node this hub knows: the `smchub.node_backends` entry points.

Each entry point names a kind (the `backend` of a node row) and its NodeBackend class;
smchub registers local, docker, swarm and kubernetes in its setup.cfg, and another
package can add a kind by registering its own class in the same group.
"""

from importlib.metadata import entry_points

from .backend import NodeBackend

ENTRY_POINT_GROUP = "smchub.node_backends"


class UnknownBackend(LookupError):
    """No class for a kind of node, or one that cannot be loaded; the message says why."""


def backend_kinds():
    """The kinds registered (whether or not their classes can be imported here)."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_backend_class(kind):
    """The NodeBackend class registered for `kind`."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=kind)
    if not found:
        raise UnknownBackend(
            f"no node backend {kind!r}; registered: {', '.join(backend_kinds()) or 'none'}"
        )
    (entry, *_) = found
    try:
        cls = entry.load()
    except ImportError as e:
        raise UnknownBackend(
            f"the {kind!r} node backend cannot be loaded ({e}); is its extra installed "
            f"(pip install smchub[{kind}])?"
        ) from e
    if not (isinstance(cls, type) and issubclass(cls, NodeBackend)):
        raise UnknownBackend(f"entry point {kind!r} of {ENTRY_POINT_GROUP} is not a NodeBackend")
    return cls


def loadable_backend_classes():
    """kind -> class, for every registered kind whose class imports here (the kubernetes
    one needs its extra)."""
    classes = {}
    for kind in backend_kinds():
        try:
            classes[kind] = load_backend_class(kind)
        except UnknownBackend:
            continue
    return classes
