"""The hub's state as Prometheus metrics, read when /hub/metrics is scraped.

Projects by server state and node, nodes' capacity and use, and the age of projects'
newest snapshots are states rather than events: HubStateCollector reads them from the
hub's caches and three grouped queries at each scrape, so they are never stale and cost
nothing between scrapes.
"""

from datetime import datetime, timezone

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from sqlalchemy import func

from . import orm
from .projects import SERVER_STATES, busy_projects

# ages of projects' newest snapshots, as Prometheus le-buckets in seconds
SNAPSHOT_AGE_BUCKETS = (3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600, 30 * 24 * 3600)


def _utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


class HubStateCollector:
    """Collects, at each scrape, the state of the hub it is given (SMCHub.init_metrics).

    One instance stays registered for the process; `app` is the hub whose state it
    reads, or None after that hub stopped (tests run several hubs, one after another).
    """

    def __init__(self):
        self.app = None

    def describe(self):
        # no metrics at registration: collect() needs a running hub
        return []

    def collect(self):
        app = self.app
        if app is None or app.db is None:
            return
        yield from self._projects(app)
        yield from self._nodes(app)
        yield self._snapshot_ages(app)

    def _projects(self, app):
        projects = GaugeMetricFamily(
            "smchub_projects",
            "Projects (not deleted) by their server's state and their home node "
            "('' for never placed)",
            labels=["state", "node"],
        )
        db = app.db
        alive = orm.Project.deleted.isnot(True)
        totals = dict(
            db.query(orm.Project.node, func.count(orm.Project.id))
            .filter(alive)
            .group_by(orm.Project.node)
        )
        busy = busy_projects(dict.values(app.users))
        counts = {}
        if busy:
            rows = db.query(orm.Project.id, orm.Project.node).filter(
                alive, orm.Project.id.in_(list(busy))
            )
            for project_id, node in rows:
                key = (busy[project_id], node or "")
                counts[key] = counts.get(key, 0) + 1
        for node, total in totals.items():
            node = node or ""
            not_stopped = 0
            for state in SERVER_STATES:
                if state == "stopped":
                    continue
                n = counts.get((state, node), 0)
                not_stopped += n
                projects.add_metric([state, node], n)
            projects.add_metric(["stopped", node], total - not_stopped)
        yield projects

    def _nodes(self, app):
        capacity = GaugeMetricFamily(
            "smchub_node_capacity",
            "What a compute node offers to projects, by resource (cpu in cores, memory in MB)",
            labels=["node", "backend", "resource"],
        )
        allocated = GaugeMetricFamily(
            "smchub_node_allocated",
            "What the hub's running and starting project servers take of a node, by resource",
            labels=["node", "backend", "resource"],
        )
        running = GaugeMetricFamily(
            "smchub_node_running_projects",
            "Project servers running or starting on a node",
            labels=["node", "backend"],
        )
        up = GaugeMetricFamily(
            "smchub_node_up",
            "1 for a node in this state (active, draining, down), per node",
            labels=["node", "backend", "state"],
        )
        rows, loads = app.node_loads()
        for node in rows:
            load = loads.get(node.name)
            labels = [node.name, node.backend]
            capacity.add_metric([*labels, "cpu"], node.cpu or 0)
            capacity.add_metric([*labels, "memory_mb"], node.memory_mb or 0)
            allocated.add_metric([*labels, "cpu"], load.cpu_allocated if load else 0)
            allocated.add_metric([*labels, "memory_mb"], load.memory_allocated_mb if load else 0)
            running.add_metric(labels, load.running if load else 0)
            up.add_metric([*labels, node.state], 1)
        yield from (capacity, allocated, running, up)

    def _snapshot_ages(self, app):
        """How old each project's newest snapshot is, as a histogram over projects."""
        newest = (
            app.db.query(func.max(orm.Snapshot.time))
            .join(orm.Project, orm.Project.id == orm.Snapshot.project_id)
            .filter(orm.Project.deleted.isnot(True))
            .group_by(orm.Snapshot.project_id)
        )
        now = _utcnow()
        ages = [(now - time).total_seconds() for (time,) in newest if time is not None]
        buckets = []
        for bound in SNAPSHOT_AGE_BUCKETS:
            buckets.append((str(float(bound)), sum(1 for a in ages if a <= bound)))
        buckets.append(("+Inf", len(ages)))
        return GaugeHistogramMetricFamily(
            "smchub_snapshot_age_seconds",
            "Age of each project's newest snapshot (projects that have one)",
            buckets=buckets,
            gsum_value=sum(ages),
        )


COLLECTOR = HubStateCollector()
REGISTRY.register(COLLECTOR)
