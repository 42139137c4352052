"""Shared parts of smchub's REST handlers."""

from contextlib import contextmanager

from jupyterhub import orm as hub_orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import has_scope
from tornado import web

from .. import orm
from ..jsonapi import JSONAPIHandler
from ..projects import (
    PROJECT_ONLY,
    InvalidInput,
    add_collaborator,
    collaborator_lists,
    new_project,
    project_model,
)
from ..scopes import ADMIN_SCOPE, PROJECTS_SCOPE
from ..servers import ServiceError


class SMCAPIHandler(JSONAPIHandler):
    """Base for smchub's projects API: people only, project lookups."""

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
        return new_project(self.smchub, owner, title, description, collaborators)

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
