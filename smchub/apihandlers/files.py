"""Files across projects: copying between projects, and a project's live info.

The copying itself (a tar stream from one server's localhub into another's) is
smchub.servers.ProjectServers.copy; these handlers check who may do it.
"""

import asyncio
import posixpath

from tornado import web

from .base import SMCAPIHandler, service_errors


def check_path(value, name):
    if not isinstance(value, str) or not value or len(value) > 4096 or "\0" in value:
        raise web.HTTPError(400, f"{name} must be a non-empty path relative to the project home")
    normal = posixpath.normpath(value)
    if normal.startswith("/") or normal == ".." or normal.startswith("../"):
        raise web.HTTPError(400, f"{name} {value!r} leaves the project home; give a path inside it")
    return value


class ProjectCopyAPIHandler(SMCAPIHandler):
    """POST /api/projects/<id>/copy {path, target_project, target_path}.

    As `cp -r`: into target_path if it is a folder (the home by default), else as
    target_path; a file there is replaced and kept as name~, work is never lost.
    """

    async def post(self, project_id):
        caller = self.current_caller()
        source = self.find_project(project_id, caller, write=False)
        model = self.json_object_body(
            {"path", "target_project", "target_path"}, required=("path", "target_project")
        )
        path = check_path(model["path"], "path")
        target_path = check_path(model.get("target_path", "."), "target_path")
        if not isinstance(model["target_project"], str):
            raise web.HTTPError(400, "target_project must be a project id")
        target = self.find_project(model["target_project"], caller)
        servers = self.smchub.servers
        source_user = servers.user_for(source)
        target_user = servers.user_for(target)
        with service_errors():
            await asyncio.gather(
                servers.ensure_running(source_user), servers.ensure_running(target_user)
            )
            result = await servers.copy_as_cp(source_user, path, target_user, target_path)
        self.log.info(
            "%s copied %s of project %s to %s of project %s: %s files, %s bytes",
            caller.name, path, source.id, target_path, target.id,
            result["files"], result["bytes"],
        )  # fmt: skip
        self.write_json(
            {
                "source": {"project": source.id, "path": path},
                "target": {"project": target.id, "path": result.pop("path")},
                **result,
            }
        )


class ProjectInfoAPIHandler(SMCAPIHandler):
    """GET /api/projects/<id>/info: processes, memory, disk of a running project."""

    async def get(self, project_id):
        project = self.find_project(project_id, self.current_caller(), write=False)
        with service_errors():
            info = await self.smchub.servers.info(self.project_user(project))
        self.write_json(info)


default_handlers = [
    (r"/api/projects/([^/]+)/copy", ProjectCopyAPIHandler),
    (r"/api/projects/([^/]+)/info", ProjectInfoAPIHandler),
]
