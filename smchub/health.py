"""Node health: a node whose engine stops answering is marked down, and comes back by
itself when it answers again.

A down node gets no new projects (placement needs an active node), and its projects are
reported stopped as their spawners' polls fail. 'draining' is the admin's to set and
clear; 'down' belongs to this check.
"""

import asyncio

from . import orm
from .nodes import sync_discovered

CHECK_TIMEOUT = 10


async def check_node(app, node_name):
    """None if the node's engine answers (within CHECK_TIMEOUT seconds), else why not:
    what the admin reads when the node is marked down (a refused certificate, a timeout)."""
    backend = app.backend_for(node_name)
    if backend is None:
        return "no backend for it"
    try:
        if await asyncio.wait_for(backend.check(), CHECK_TIMEOUT):
            return None
        return "its engine said it is not ready"
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT} s"
    except Exception as e:
        app.log.debug("Node %s did not answer: %r", node_name, e)
        return str(e) or type(e).__name__


async def check_nodes(app):
    """Check every node once; record answers and flip active <-> down.

    Cluster entries (a Swarm manager) also report their machines, which become nodes of
    their own; backends that mirror smchub's node state into their engine (draining a
    Swarm node) are told the state smchub has.
    """
    for cluster in app.db.query(orm.ComputeNode).populate_existing().all():
        if not (cluster.options or {}).get("cluster"):
            continue
        try:
            specs = await asyncio.wait_for(app.backend_for(cluster.name).discover(), CHECK_TIMEOUT)
        except Exception as e:
            app.log.warning("Cluster %s did not list its machines: %s", cluster.name, e)
            continue
        if specs is not None:
            sync_discovered(app.db, cluster, specs, app.log)
    nodes = app.db.query(orm.ComputeNode).populate_existing().all()
    problems = await asyncio.gather(*(check_node(app, n.name) for n in nodes))
    now = orm.now()
    for node, problem in zip(nodes, problems, strict=True):
        if problem is None:
            node.last_seen = now
            if node.state == "down":
                app.log.info("Node %s answers again: active", node.name)
                node.state = "active"
        elif node.state == "active":
            app.log.warning("Node %s does not answer (%s): marking it down", node.name, problem)
            node.state = "down"
    app.db.commit()
    for node in nodes:
        if node.state != "down":
            try:
                await asyncio.wait_for(app.backend_for(node.name).reconcile(node.state),
                                       CHECK_TIMEOUT)  # fmt: skip
            except Exception as e:
                app.log.warning("Could not tell node %s's engine it is %s: %s", node.name,
                                node.state, e)  # fmt: skip
