"""REST API for a project's snapshots, restores and undelete (smchub/snapshots.py does
the work). Collaborators only: anyone else gets the 404 a missing project gets."""

import asyncio
import os
import urllib.parse
import zlib

from jupyterhub.utils import isoformat
from sqlalchemy import func
from tornado import web

from .. import orm
from ..snapshots import check_relative_path
from .base import SMCAPIHandler, service_errors

# POST .../snapshots answers 201 with the snapshot if it is done by then, else 202
SNAPSHOT_WAIT = 10


def snapshot_model(row):
    return {
        "id": row.id,
        "short_id": row.id[:8],
        "time": isoformat(row.time),
        "trigger": row.trigger,
        "node": row.node,
        "files_new": row.files_new,
        "files_changed": row.files_changed,
        "bytes_added": row.bytes_added,
    }


class SnapshotAPIHandlerBase(SMCAPIHandler):
    @property
    def snapshots(self):
        return self.smchub.snapshots

    def find_snapshot(self, project, snapshot_id):
        with service_errors():
            return self.snapshots.find(project, snapshot_id)


class SnapshotListAPIHandler(SnapshotAPIHandlerBase):
    """GET: the project's snapshots, newest first; POST: take one now."""

    def get(self, project_id):
        project = self.find_project(project_id, self.current_caller(), write=False)
        error = None
        if project.snapshot_error:
            error = {
                "message": project.snapshot_error,
                "time": isoformat(project.snapshot_error_at),
            }
        self.write_json(
            {
                "snapshots": [snapshot_model(row) for row in self.snapshots.list(project)],
                "running": self.snapshots.is_running(project.id),
                "error": error,
            }
        )

    async def post(self, project_id):
        caller = self.current_caller()
        project = self.find_project(project_id, caller)
        self.json_object_body(set())
        if project.node is None:
            raise web.HTTPError(409, "The project has never run: it has no files to snapshot yet.")
        future = self.snapshots.schedule(project.id, "manual")
        done, _ = await asyncio.wait([future], timeout=SNAPSHOT_WAIT)
        if not done:
            self.write_json({"status": "running"}, status=202)
            return
        row = future.result()
        if row is None:
            self.db.refresh(project)
            raise web.HTTPError(
                503, "The snapshot failed: %s", project.snapshot_error or "unknown error"
            )
        self.log.info("%s took snapshot %s of project %s", caller.name, row.id[:8], project.id)
        self.write_json(snapshot_model(row), status=201)


class SnapshotFilesAPIHandler(SnapshotAPIHandlerBase):
    """GET .../files?path=<folder>: a folder's entries; .../files/<path>: download."""

    async def get(self, project_id, snapshot_id, path=None):
        project = self.find_project(project_id, self.current_caller(), write=False)
        snapshot = self.find_snapshot(project, snapshot_id)
        if path is None:
            with service_errors():
                folder = check_relative_path(self.get_argument("path", ""), "path")
                entries = await self.snapshots.browse(snapshot, folder)
            self.write_json({"path": folder, "entries": entries})
            return
        with service_errors():
            path = check_relative_path(path, "path", allow_empty=False)
            node = await self.snapshots.entry(snapshot, path)
        if node["type"] == "file":
            await self._send(snapshot, path, os.path.basename(path), node.get("size"))
        elif node["type"] == "dir":
            await self._send(snapshot, path, os.path.basename(path) + ".tar.gz", None, gzip=True)
        else:
            raise web.HTTPError(400, f"{path} is a {node['type']}; only files and folders download")

    async def _send(self, snapshot, path, filename, size, gzip=False):
        quoted = urllib.parse.quote(filename)
        self.set_header("Content-Type", "application/gzip" if gzip else "application/octet-stream")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quoted}")
        if size is not None:
            self.set_header("Content-Length", str(size))
        # restic's dump of a folder is a tar; gzip it on the way, off the event loop
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip else None
        async for chunk in self.snapshots.restic.dump(snapshot.id, path):
            if compressor is not None:
                chunk = await asyncio.to_thread(compressor.compress, chunk)
            if chunk:
                self.write(chunk)
                await self.flush()
        if compressor is not None:
            self.write(compressor.flush())
        self.finish()


class SnapshotRestoreAPIHandler(SnapshotAPIHandlerBase):
    """POST .../restore {path, target_path?}: put a file or folder back in the project."""

    async def post(self, project_id, snapshot_id):
        caller = self.current_caller()
        project = self.find_project(project_id, caller)
        snapshot = self.find_snapshot(project, snapshot_id)
        model = self.json_object_body({"path", "target_path"}, required=("path",))
        with service_errors():
            result = await self.snapshots.restore(
                project, snapshot, model["path"], model.get("target_path")
            )
        self.log.info(
            "%s restored %s from snapshot %s of project %s",
            caller.name, model["path"] or "/", snapshot.id[:8], project.id,
        )  # fmt: skip
        self.write_json(result)


class DeletedProjectsAPIHandler(SnapshotAPIHandlerBase):
    """GET /api/projects/deleted: the caller's deleted projects that can come back."""

    def get(self):
        person = self.current_person()
        retention = self.snapshots.retention()
        projects = self.snapshots.restorable_deleted(person.orm_user)
        counts = dict(
            self.db.query(orm.Snapshot.project_id, func.count(orm.Snapshot.id))
            .filter(orm.Snapshot.project_id.in_([p.id for p in projects]))
            .group_by(orm.Snapshot.project_id)
        )
        self.write_json(
            {
                "projects": [
                    {
                        "id": p.id,
                        "title": p.title,
                        "deleted": isoformat(p.deleted_at),
                        "expires": isoformat(p.deleted_at + retention),
                        "snapshots": counts.get(p.id, 0),
                    }
                    for p in projects
                ]
            }
        )


class UndeleteAPIHandler(SnapshotAPIHandlerBase):
    """POST /api/projects/<id>/undelete: its owner (or an admin) brings it back."""

    async def post(self, project_id):
        caller = self.current_caller()
        self.json_object_body(set())
        project = self.db.get(orm.Project, project_id) if len(project_id) <= 36 else None
        if project is None or not project.deleted:
            raise web.HTTPError(404, f"No such deleted project: {project_id}")
        owner = project.owner
        is_owner = owner is not None and owner.id == caller.id
        if not (is_owner or self.manages_projects()):
            raise web.HTTPError(404, f"No such deleted project: {project_id}")
        with service_errors():
            await self.snapshots.undelete(project)
        self.log.info("%s undeleted project %s", caller.name, project.id)
        self.write_json(self.project_model(project))


default_handlers = [
    (r"/api/projects/deleted", DeletedProjectsAPIHandler),
    (r"/api/projects/([^/]+)/undelete", UndeleteAPIHandler),
    (r"/api/projects/([^/]+)/snapshots", SnapshotListAPIHandler),
    (r"/api/projects/([^/]+)/snapshots/([^/]+)/files", SnapshotFilesAPIHandler),
    (r"/api/projects/([^/]+)/snapshots/([^/]+)/files/(.+)", SnapshotFilesAPIHandler),
    (r"/api/projects/([^/]+)/snapshots/([^/]+)/restore", SnapshotRestoreAPIHandler),
]
