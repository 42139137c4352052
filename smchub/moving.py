"""Moving a project to another compute node (admins).

The project is stopped and snapshotted, its home streams from the old node's backend to
the new one's (any two kinds: local, docker, ...), its placement switches, and it starts
again if it was running. The old home stays where it was, as a backup an admin may delete; if the
project moves back there later, that old copy is replaced, never merged with the new one.
"""

from .placement import Request, why_not
from .projects import effective_quotas
from .servers import ServiceError
from .spawners.backend import HomeTransferError


class MoveRefused(ServiceError):
    """The project cannot move there; the message says why."""


async def move_project(app, project, target_name):
    """Move `project` to the node `target_name`; returns what moved (from, to, counts)."""
    if project.node == target_name:
        raise MoveRefused(409, f"The project is already on node {target_name}.")
    rows, loads = app_loads(app)
    if target_name not in loads:
        raise MoveRefused(404, f"No such node (or not one projects run on): {target_name}")
    quotas = effective_quotas(app.default_quotas, project.quota_overrides)
    request = Request(quotas["memory_mb"], quotas["cpu"], project.node_labels or {})
    reason = why_not(loads[target_name], request, app.node_overcommit)
    if reason:
        raise MoveRefused(409, f"Cannot move the project there: {reason}.")

    project_user = app.servers.user_for(project)
    was_running = project_user.spawner.active
    app.snapshots.expect_stop(project.id, "move")
    await app.servers.stop(project_user, wait=True)
    # a snapshot of the home as it leaves (a failed one is recorded and the move goes on)
    await app.snapshots.after_stop(project, "move")
    result = {"files": 0, "bytes": 0}
    if project.node is not None:
        source = app.backend_for(project.node)
        target = app.backend_for(target_name)
        if source is None:
            raise MoveRefused(409, f"The project's node {project.node} no longer exists.")
        try:
            result = await target.import_home(project.id, source.export_home(project.id))
        except HomeTransferError as e:
            raise MoveRefused(409, f"The project's files could not be moved: {e}")
    old = project.node
    project.node = target_name
    app.db.commit()
    app.log.info("Moved project %s from %s to %s: %s", project.id, old, target_name, result)
    if was_running:
        await app.servers.ensure_running(project_user)
    return {"from": old, "to": target_name, "files": result["files"], "bytes": result["bytes"]}


def app_loads(app):
    return app.node_loads()
