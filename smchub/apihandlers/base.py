"""Shared parts of smchub's REST handlers."""

from contextlib import contextmanager
from dataclasses import dataclass

from jupyterhub import orm as hub_orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import has_scope
from tornado import web

from .. import orm
from ..environments import course_environments, default_environment, environment_model
from ..jsonapi import JSONAPIHandler
from ..names import is_project_name
from ..projects import (
    PROJECT_ONLY,
    InvalidInput,
    add_collaborator,
    collaborator_lists,
    new_project,
    project_model,
)
from ..scopes import (
    ADMIN_SCOPE,
    ALL_PROJECTS_SCOPE,
    CUSTOM_SCOPES,
    PROJECTS_SCOPE,
    READ_ALL_PROJECTS_SCOPE,
    WIDE_SCOPES,
)
from ..servers import ServiceError


@dataclass(frozen=True)
class Caller:
    """Who makes a request to smchub's API.

    `person` is whose collaborator rights apply: the signed-in person when the request
    has the projects scope, else None (a service, or a person's token made without it).
    What reaches beyond those rights comes from the request's scopes, never from who
    the caller is.
    """

    client: object  # jupyterhub.user.User or jupyterhub.orm.Service
    person: object = None  # jupyterhub.user.User

    @property
    def name(self):
        """For logs: a person's name, or which service."""
        if isinstance(self.client, hub_orm.Service):
            return f"service {self.client.name}"
        return self.client.name

    @property
    def id(self):
        """The person's user id, or None: matches no collaborator."""
        return self.person.id if self.person is not None else None

    @property
    def orm_user(self):
        return self.person.orm_user if self.person is not None else None


class SMCAPIHandler(JSONAPIHandler):
    """Base for smchub's projects API: callers, scopes, project lookups."""

    def may(self, scope):
        """Whether this request's scopes include `scope` (a custom scope of smchub's)."""
        return has_scope(scope, self.parsed_scopes)

    def is_admin(self):
        """Whether this request may use all of smchub's admin powers.

        The request's scopes decide, not the person's admin flag: a token an admin made
        with only the projects scope has a plain person's power.
        """
        return self.may(ADMIN_SCOPE)

    def _client(self):
        user = self.current_user
        if user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        inner = user.orm_user if hasattr(user, "orm_user") else user
        return user, isinstance(inner, hub_orm.User)

    def current_caller(self):
        """The person or service making this request, if its scopes reach smchub's API
        (smchub.scopes), or a 403 that says which scope it lacks."""
        client, is_person = self._client()
        person = client if is_person and PROJECTS_SCOPE in self.parsed_scopes else None
        if person is None and not any(self.may(s) for s in WIDE_SCOPES):
            if is_person:
                raise web.HTTPError(
                    403,
                    f"This token lacks the {PROJECTS_SCOPE} scope; "
                    "make a token with it (or with your own permissions) to use projects.",
                )
            raise web.HTTPError(
                403,
                "This service has none of smchub's scopes. Give it a role with the ones it "
                f"needs: {', '.join(CUSTOM_SCOPES)}.",
            )
        return Caller(client, person)

    def current_person(self):
        """The signed-in person making this request, for what only a person does for
        themselves (their invitations, course places, invite links), or a 403."""
        client, is_person = self._client()
        if not is_person:
            raise web.HTTPError(
                403,
                "Only a person can do this for themselves; a service has no invitations, "
                "course places or invite links of its own.",
            )
        if PROJECTS_SCOPE not in self.parsed_scopes:
            raise web.HTTPError(
                403,
                f"This token lacks the {PROJECTS_SCOPE} scope; "
                "make a token with it (or with your own permissions) to use projects.",
            )
        return client

    def manages_projects(self):
        """Whether this request may change any project, as if it were its owner."""
        return self.may(ALL_PROJECTS_SCOPE)

    def find_project(self, project_id, caller, owner_only=False, write=True):
        """The project `caller` may see (write=False) or change, or 404 (existence is
        never revealed to those who may not read it)."""
        project = (
            self.db.get(orm.Project, project_id, options=PROJECT_ONLY)
            if len(project_id) <= 36
            else None
        )
        if project is None or project.deleted:
            raise web.HTTPError(404, f"No such project: {project_id}")
        if self.may(ALL_PROJECTS_SCOPE if write else READ_ALL_PROJECTS_SCOPE):
            return project
        collaborator = project.collaborator(caller.id) if caller.id is not None else None
        if collaborator is None:
            if self.may(READ_ALL_PROJECTS_SCOPE):
                raise web.HTTPError(
                    403,
                    "This token may read every project but not change them; that needs "
                    f"the {ALL_PROJECTS_SCOPE} scope.",
                )
            raise web.HTTPError(404, f"No such project: {project_id}")
        if owner_only and collaborator.role != "owner":
            raise web.HTTPError(403, "Only the project's owner can do that.")
        return project

    def find_person(self, name, status=404):
        """The person called `name` (never a project's user), or `status` saying so."""
        if not isinstance(name, str):
            raise web.HTTPError(400, "A person is named by their username, a string.")
        name = self.authenticator.normalize_username(name)
        user = None if is_project_name(name) else hub_orm.User.find(self.db, name)
        if user is None:
            raise web.HTTPError(status, f"No such user: {name}")
        return user

    def new_project(self, owner, title, description="", collaborators=(), environment=None):
        return new_project(self.smchub, owner, title, description, collaborators, environment)

    def add_collaborator(self, project, person):
        return add_collaborator(self.smchub, project, person)

    def project_user(self, project):
        """The JupyterHub user serving `project`."""
        return self.smchub.servers.user_for(project)

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
        from_courses = course_environments(self.db, names)
        default_name = default_environment(self.smchub.environment_choices).name
        admin = self.is_admin()
        models = []
        for project in projects:
            uid, last_activity = found.get(project.id, (None, None))
            user = dict.get(self.users, uid)
            model = project_model(
                project, user, self.smchub.project_url(project.id), defaults, last_activity,
                collaborators=collaborators[project.id],
            )  # fmt: skip
            running = user.spawner.environment_name if model["state"] != "stopped" else None
            model.update(environment_model(project, from_courses, running, default_name, admin))
            models.append(model)
        return models

    def project_model(self, project):
        return self.project_models([project])[0]

    def invalid(self, error: InvalidInput):
        raise web.HTTPError(400, str(error))


@contextmanager
def service_errors():
    """Hub logic's refusals (smchub.servers.ServiceError) as the HTTP errors they name."""
    try:
        yield
    except ServiceError as e:
        error = web.HTTPError(e.status, "%s", e.message)
        if e.retry_after is not None:
            # JupyterHub's write_error sends these with the error
            error.headers = {"Retry-After": e.retry_after}
        raise error from None


class API404(APIHandler):
    """JSON 404 for API paths that match nothing, saying which path that was."""

    def check_xsrf_cookie(self):
        pass

    async def prepare(self):
        await super().prepare()
        raise web.HTTPError(404, f"No such API endpoint: {self.request.method} {self.request.path}")
