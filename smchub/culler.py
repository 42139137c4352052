"""Stopping idle projects: each project after its own idle_timeout_s (0: never).

jupyterhub-idle-culler applies one timeout to every server; smchub's quotas give each
project its own, so the hub checks JupyterHub's own activity records itself.
"""

from datetime import timedelta

from jupyterhub.utils import utcnow

from . import orm
from .projects import effective_quotas


def idle_projects(running, default_quotas, now):
    """Projects to stop: (project, last activity, timeout) for each idle one.

    `running` holds (project row, last activity or None, started at) for running servers.
    """
    for project, last_activity, started in running:
        timeout = effective_quotas(default_quotas, project.quota_overrides)["idle_timeout_s"]
        if not timeout:
            continue
        since = (
            max(t for t in (last_activity, started) if t is not None)
            if (last_activity or started)
            else None
        )
        if since is not None and now - since > timedelta(seconds=timeout):
            yield project, since, timeout


async def cull_idle_projects(app):
    """Stop every running project idle for longer than its timeout."""
    db = app.db
    running = []
    for user in list(app.users.values()):
        spawner = user.spawners.get("")
        if spawner is None or not spawner.ready:
            continue
        project = db.get(orm.Project, user.name)
        if project is None:
            continue
        orm_spawner = spawner.orm_spawner
        running.append((project, orm_spawner.last_activity, orm_spawner.started))
    for project, since, timeout in list(
        idle_projects(running, app.default_quotas, utcnow(with_tz=False))
    ):
        user = app.users[project.id]
        if user.spawner.pending:
            continue
        app.log.info(
            "Stopping project %s: idle since %s (its limit is %s s)", project.id, since, timeout
        )
        await user.stop("")
