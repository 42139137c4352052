"""Files across projects: copying between projects, and a project's live info.

The hub talks to project servers directly (not through the proxy) with each server's
own API token, which JupyterHub scopes to that one server. Copies stream a tar archive
from the source server's localhub (GET smc/api/archive) into the target's (PUT), chunk
by chunk with back-pressure, so a folder of any size crosses without being held in the
hub's memory.
"""

import asyncio

import httpx
from tornado import web

from .base import SMCAPIHandler

START_TIMEOUT = 120
# chunks pulled from the source only as fast as the target takes them
CHUNK = 256 * 1024


def server_url(project_user, path):
    return project_user.spawner.server.url.rstrip("/") + "/" + path


def server_headers(project_user):
    return {"Authorization": f"token {project_user.spawner.api_token}"}


def check_path(value, name):
    if not isinstance(value, str) or not value or len(value) > 4096 or "\0" in value:
        raise web.HTTPError(400, f"{name} must be a non-empty path relative to the project home")
    return value


class ProjectServerMixin:
    async def ensure_running(self, project_user):
        """Start the project's server if needed and wait until it answers."""
        spawner = project_user.spawner
        while spawner.pending == "stop":
            await asyncio.sleep(0.1)
        if spawner.ready:
            return
        if not spawner.active:
            try:
                await asyncio.wait_for(self.spawn_single_user(project_user), START_TIMEOUT)
            except asyncio.TimeoutError:
                pass
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while not spawner.ready:
            if not spawner.active:
                raise web.HTTPError(
                    503, f"project {project_user.name} could not be started; see its page"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise web.HTTPError(503, f"project {project_user.name} did not start in time")
            await asyncio.sleep(0.1)


class ProjectCopyAPIHandler(ProjectServerMixin, SMCAPIHandler):
    """POST /api/projects/<id>/copy {path, target_project, target_path}."""

    async def post(self, project_id):
        person = self.current_person()
        source = self.find_project(project_id, person)
        model = self.json_object_body(
            {"path", "target_project", "target_path"}, required=("path", "target_project")
        )
        path = check_path(model["path"], "path")
        target_path = check_path(model.get("target_path", "."), "target_path")
        if not isinstance(model["target_project"], str):
            raise web.HTTPError(400, "target_project must be a project id")
        target = self.find_project(model["target_project"], person)
        source_user = self.project_user(source)
        target_user = self.project_user(target)
        await asyncio.gather(self.ensure_running(source_user), self.ensure_running(target_user))
        result = await copy_between_servers(source_user, path, target_user, target_path)
        self.log.info(
            "%s copied %s of project %s to %s of project %s: %s files, %s bytes",
            person.name, path, source.id, target_path, target.id,
            result["files"], result["bytes"],
        )  # fmt: skip
        self.write_json(
            {
                "source": {"project": source.id, "path": path},
                "target": {"project": target.id, "path": target_path},
                **result,
            }
        )


async def copy_between_servers(
    source_user, path, target_user, target_path, contents=False, backup=False
):
    """Stream `path` of one project server into `target_path` of another.

    With `contents`, the folder's contents land in target_path (not the folder itself);
    with `backup`, files the target has changed are kept as name~ before being replaced.
    """
    try:
        return await _copy(source_user, path, target_user, target_path, contents, backup)
    except httpx.HTTPError as e:
        raise web.HTTPError(502, f"the copy was cut short: {e.__class__.__name__} {e}")


async def _copy(source_user, path, target_user, target_path, contents, backup):
    timeout = httpx.Timeout(60, read=600, write=600)
    target_url = server_url(target_user, "smc/api/archive")
    async with httpx.AsyncClient(timeout=timeout) as client:
        # ask the target first: once the upload streams, a refusal can only cut it off
        check = await client.put(
            target_url,
            params={"path": target_path, "check": "1"},
            # the server answers before reading a body: do not reuse this connection
            headers={**server_headers(target_user), "Connection": "close"},
        )
        if check.status_code != 200:
            raise web.HTTPError(
                _client_status(check.status_code),
                f"writing into {target_path!r} of the target project: {_message(check)}",
            )
        async with client.stream(
            "GET",
            server_url(source_user, "smc/api/archive"),
            params={"path": path, **({"contents": "1"} if contents else {})},
            headers=server_headers(source_user),
        ) as download:
            if download.status_code != 200:
                await download.aread()
                raise web.HTTPError(
                    _client_status(download.status_code),
                    f"reading {path!r} from the source project: {_message(download)}",
                )
            upload = await client.put(
                target_url,
                params={"path": target_path, **({"backup": "1"} if backup else {})},
                headers={**server_headers(target_user), "Content-Type": "application/x-tar"},
                content=download.aiter_raw(CHUNK),
            )
    if upload.status_code != 200:
        raise web.HTTPError(
            _client_status(upload.status_code),
            f"writing into {target_path!r} of the target project: {_message(upload)}",
        )
    body = upload.json()
    result = {"files": body.get("files"), "bytes": body.get("bytes")}
    if backup:
        result["backed_up"] = body.get("backed_up", [])
    return result


class ProjectInfoAPIHandler(ProjectServerMixin, SMCAPIHandler):
    """GET /api/projects/<id>/info: processes, memory, disk of a running project."""

    async def get(self, project_id):
        person = self.current_person()
        project = self.find_project(project_id, person)
        project_user = self.project_user(project)
        if not project_user.spawner.ready:
            raise web.HTTPError(409, "The project is not running; start it to see its processes.")
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(
                server_url(project_user, "smc/api/info"), headers=server_headers(project_user)
            )
        if r.status_code != 200:
            raise web.HTTPError(502, f"the project server answered {r.status_code}: {_message(r)}")
        self.write_json(r.json())


def _message(response):
    try:
        return response.json().get("message") or response.reason_phrase
    except ValueError:
        return response.reason_phrase


def _client_status(status):
    # the server's 4xx (bad path, too large) are the caller's to fix; anything else is ours
    return status if 400 <= status < 500 and status not in (401, 403) else 502


default_handlers = [
    (r"/api/projects/([^/]+)/copy", ProjectCopyAPIHandler),
    (r"/api/projects/([^/]+)/info", ProjectInfoAPIHandler),
]
