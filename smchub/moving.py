"""Moving a project to another compute node (admins).

The project is stopped, its home streams from the old node's backend to the new one's
(any two kinds: local, docker, ...), its placement switches, and it starts again if it
was running. The old home stays where it was, as a backup an admin may delete; if the
project moves back there later, that old copy is replaced, never merged with the new one.
"""

from tornado import web

from .nodes import allocations_in_hub, loads_for
from .placement import Overcommit, Request, why_not
from .projects import effective_quotas
from .spawners.homes import HomeTransferError, transfer_functions


async def move_project(handler, project, target_name):
    app = handler.smchub
    if project.node == target_name:
        raise web.HTTPError(409, f"The project is already on node {target_name}.")
    rows, loads = app_loads(app)
    if target_name not in loads:
        raise web.HTTPError(404, f"No such node (or not one projects run on): {target_name}")
    quotas = effective_quotas(app.default_quotas, project.quota_overrides)
    request = Request(quotas["memory_mb"], quotas["cpu"], project.node_labels or {})
    overcommit = Overcommit(
        memory=float(app.overcommit.get("memory", 1.0)), cpu=float(app.overcommit.get("cpu", 4.0))
    )
    reason = why_not(loads[target_name], request, overcommit)
    if reason:
        raise web.HTTPError(409, f"Cannot move the project there: {reason}.")

    project_user = handler.project_user(project)
    was_running = project_user.spawner.active
    await handler.stop_server(project_user, wait=True)
    result = {"files": 0, "bytes": 0}
    if project.node is not None:
        source = app.backend_for(project.node)
        target = app.backend_for(target_name)
        if source is None:
            raise web.HTTPError(409, f"The project's node {project.node} no longer exists.")
        try:
            export, _ = transfer_functions(source)
            _, import_ = transfer_functions(target)
            result = await import_(target, project.id, export(source, project.id))
        except HomeTransferError as e:
            raise web.HTTPError(409, f"The project's files could not be moved: {e}")
    old = project.node
    project.node = target_name
    handler.db.commit()
    handler.log.info("Moved project %s from %s to %s: %s", project.id, old, target_name, result)
    if was_running:
        await handler.ensure_running(project_user)
    return {"from": old, "to": target_name, "files": result["files"], "bytes": result["bytes"]}


def app_loads(app):
    return loads_for(app.db, allocations_in_hub(app.users))
