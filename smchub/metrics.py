"""smchub's Prometheus metrics of events, served beside JupyterHub's at /hub/metrics.

They are updated where things happen (servers.py, coursework.py; snapshots.py and
loopwatch.py keep their own). What is a state rather than an event is read at each
scrape by state_metrics.HubStateCollector.
"""

from prometheus_client import Counter, Histogram

# a project server's start: placing it, the node's backend starting it, waiting for it
# to answer and adding its route (smchub.servers.ProjectServers.begin_start)
START_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)
PROJECT_START_SECONDS = Histogram(
    "smchub_project_start_duration_seconds",
    "Time to start a project's server, until it answers through the proxy (successful starts)",
    ["node"],
    buckets=START_BUCKETS,
)
PROJECT_START_FAILURES = Counter(
    "smchub_project_start_failures",
    "Project server starts that failed, by the node they were placed on ('' if none)",
    ["node"],
)
PROJECT_STOP_SECONDS = Histogram(
    "smchub_project_stop_duration_seconds",
    "Time to stop a project's server, its route removed first",
    ["node"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
COURSE_STEP_FAILURES = Counter(
    "smchub_course_step_failures",
    "Students for whom a course step or class-wide action failed, by step",
    ["step"],
)


def node_label(user):
    """The node a project server runs (or was placed) on, for the labels above."""
    return getattr(user.spawner, "node_name", None) or ""
