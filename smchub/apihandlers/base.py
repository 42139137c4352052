"""Shared parts of smchub's REST handlers."""

import asyncio
import json

from jupyterhub import orm as hub_orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import has_scope
from tornado import web

from .. import orm
from ..projects import (
    PROJECT_ONLY,
    InvalidInput,
    collaborator_lists,
    create_project,
    grant_server_access,
    project_model,
)

# scope that lets a person (or a token of theirs) use the projects API; given to
# everyone through the default 'user' role, and absent from the OAuth tokens that
# project servers receive, so a server cannot act for its visitors
PROJECTS_SCOPE = "custom:smchub:projects"

# scope of smchub's admin powers (every project and course, quotas, compute nodes);
# JupyterHub's admin role has it, so admins' cookies and full tokens do, while a
# token an admin makes with narrower scopes does not
ADMIN_SCOPE = "custom:smchub:admin"

MAX_BODY_BYTES = 64 * 1024


def _strings(value):
    """Every string in a JSON value, keys included (iterative: nesting depth is the client's)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _storable(text):
    """Whether `text` can be stored as UTF-8: JSON's \\ud800 escapes make lone surrogates,
    which every database refuses (and a failed flush would poison the shared session)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


UNSTORABLE = (
    "Text in the {where} contains a lone UTF-16 surrogate (\\ud800-\\udfff without its "
    "pair), which cannot be stored as UTF-8; send the character itself, or both halves."
)


class SMCAPIHandler(APIHandler):
    """Base for smchub's API: people only, strict JSON bodies, project lookups."""

    @property
    def smchub(self):
        return self.settings["smchub"]

    def current_person(self):
        """The signed-in person making this request, or a 403."""
        user = self.current_user
        if user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        if not isinstance(user.orm_user if hasattr(user, "orm_user") else user, hub_orm.User):
            raise web.HTTPError(403, "The projects API is for people, not services.")
        if PROJECTS_SCOPE not in self.parsed_scopes:
            raise web.HTTPError(
                403,
                f"This token lacks the {PROJECTS_SCOPE} scope; "
                "make a token with it (or with your own permissions) to use projects.",
            )
        return user

    def is_admin(self):
        """Whether this request may use smchub's admin powers.

        The request's scopes decide, not the person's admin flag: a token an admin made
        with only the projects scope has a plain person's power.
        """
        return has_scope(ADMIN_SCOPE, self.parsed_scopes)

    def get_json_body(self):
        """The body as JSON, refusing what is too big, not UTF-8 or not JSON."""
        body = self.request.body
        if not body:
            return None
        if len(body) > MAX_BODY_BYTES:
            raise web.HTTPError(
                413, f"Request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}."
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPError(400, "Request body is not valid UTF-8.")
        try:
            model = json.loads(text)
        except ValueError as e:
            raise web.HTTPError(400, f"Request body is not valid JSON: {e}")
        except RecursionError:
            raise web.HTTPError(400, "Request body is nested too deeply.")
        strings = list(_strings(model))
        if any("\0" in string for string in strings):
            raise web.HTTPError(400, "Text in the request body may not contain NUL characters.")
        if not all(_storable(string) for string in strings):
            raise web.HTTPError(400, UNSTORABLE.format(where="request body"))
        return model

    async def prepare(self):
        await super().prepare()
        # NUL is no character a name, id or query needs, and PostgreSQL refuses it in text
        if any("\0" in arg for arg in self.path_args or ()) or any(
            b"\0" in value for values in self.request.query_arguments.values() for value in values
        ):
            raise web.HTTPError(400, "The address contains a NUL character.")
        if not all(_storable(arg) for arg in self.path_args or ()):
            raise web.HTTPError(400, UNSTORABLE.format(where="address"))
        for values in self.request.query_arguments.values():
            for value in values:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    raise web.HTTPError(400, "The address's query is not valid UTF-8.") from None

    def get_api_pagination(self):
        offset, limit = super().get_api_pagination()
        # databases store 64-bit integers; no list is a billion long
        if offset > 10**9:
            raise web.HTTPError(400, f"offset {offset} is too large")
        return offset, limit

    def json_object_body(self, allowed, required=()):
        """The body as a JSON object whose keys are among `allowed`."""
        model = self.get_json_body()
        if model is None:
            model = {}
        if not isinstance(model, dict):
            raise web.HTTPError(400, "Request body must be a JSON object.")
        unknown = sorted(set(model) - set(allowed))
        if unknown:
            raise web.HTTPError(
                400,
                f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.",
            )
        missing = [key for key in required if key not in model]
        if missing:
            raise web.HTTPError(400, f"Missing field(s): {', '.join(missing)}.")
        return model

    def find_project(self, project_id, person, owner_only=False):
        """The project `person` may see, or 404 (existence is never revealed)."""
        project = (
            self.db.get(orm.Project, project_id, options=PROJECT_ONLY)
            if len(project_id) <= 36
            else None
        )
        if project is None or project.deleted:
            raise web.HTTPError(404, f"No such project: {project_id}")
        if self.is_admin():
            return project
        collaborator = project.collaborator(person.id)
        if collaborator is None:
            raise web.HTTPError(404, f"No such project: {project_id}")
        if owner_only and collaborator.role != "owner":
            raise web.HTTPError(403, "Only the project's owner can do that.")
        return project

    def new_project(self, owner, title, description="", collaborators=()):
        """Create a project (already-checked title) with its serving JupyterHub user."""
        project = create_project(self.db, owner, title, description)
        project_user = self.user_from_username(project.id)
        grant_server_access(self.db, project_user, owner)
        for person in collaborators:
            if person.id != owner.id and project.collaborator(person.id) is None:
                project.collaborators.append(orm.Collaborator(user_id=person.id))
                grant_server_access(self.db, project_user, person)
        self.db.commit()
        return project

    def add_collaborator(self, project, person):
        """Add `person` to `project` (nothing if already there); commits."""
        if project.collaborator(person.id) is None:
            project.collaborators.append(orm.Collaborator(user_id=person.id, role="collaborator"))
            grant_server_access(self.db, self.project_user(project), person)
            self.db.commit()
            self.db.refresh(project)
            return True
        return False

    async def stop_server(self, project_user, wait, grace=0):
        """Stop a project's server, whatever it is doing now.

        With wait=False, returns after `grace` seconds even if the stop goes on.
        """
        spawner = project_user.spawner
        if spawner.pending == "spawn":
            # JupyterHub cannot cancel a start midway; let it finish, then stop
            try:
                await spawner._spawn_future
            except Exception:
                return
        if spawner.pending == "stop":
            # a stop begun elsewhere (another request, the idle culler, hub shutdown)
            while wait and spawner.pending == "stop":
                await asyncio.sleep(0.1)
            return
        if not spawner.active:
            return
        task = asyncio.ensure_future(self.stop_single_user(project_user))
        if wait:
            await task
        else:
            await asyncio.wait([task], timeout=grace)

    def project_user(self, project):
        """The JupyterHub user serving `project`."""
        user = self.find_user(project.id)
        if user is None:
            user = self.user_from_username(project.id)
        return user

    def project_models(self, projects):
        """JSON forms of `projects`, reading their servers' state from the hub's cache.

        A running server's user is always in JupyterHub's user cache (it was spawned or
        found at start-up), so a project whose user is not cached is stopped; this keeps
        listing thousands of projects from loading thousands of spawners.
        """
        names = [p.id for p in projects]
        rows = self.db.query(hub_orm.User.name, hub_orm.User.id, hub_orm.User.last_activity).filter(
            hub_orm.User.name.in_(names)
        )
        found = {name: (uid, last_activity) for name, uid, last_activity in rows}
        collaborators = collaborator_lists(self.db, names)
        defaults = self.smchub.default_quotas
        models = []
        for project in projects:
            uid, last_activity = found.get(project.id, (None, None))
            user = dict.get(self.users, uid)
            models.append(
                project_model(
                    project, user, self.smchub.project_url(project.id), defaults, last_activity,
                    collaborators=collaborators[project.id],
                )
            )  # fmt: skip
        return models

    def project_model(self, project):
        return self.project_models([project])[0]

    def write_json(self, model, status=200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(model))

    def invalid(self, error: InvalidInput):
        raise web.HTTPError(400, str(error))


class API404(APIHandler):
    """JSON 404 for API paths that match nothing, saying which path that was."""

    def check_xsrf_cookie(self):
        pass

    async def prepare(self):
        await super().prepare()
        raise web.HTTPError(404, f"No such API endpoint: {self.request.method} {self.request.path}")
