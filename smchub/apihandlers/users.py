"""JupyterHub's user API, with project-shaped names kept for projects, and projects'
own JupyterHub users left to the projects API."""

from jupyterhub.apihandlers.users import UserAPIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from .. import orm
from ..names import is_project_name


class ReservingUserAPIHandler(UserAPIHandler):
    """POST /api/users/<name> creates a person; project ids are not theirs to take.

    (JupyterHub checks names with the authenticator's validate_username when creating
    users in bulk and renaming them; on this route only its add_user checks them, and
    ProjectNamesReserved.add_user lets project names through for the project users
    already in the database.)
    """

    async def post(self, user_name):
        if is_project_name(user_name):
            raise web.HTTPError(
                400, f"Invalid username: {user_name} (names shaped like project ids are reserved)"
            )
        return await super().post(user_name)

    # the scope first, as JupyterHub's own methods do: no one else learns what a name is
    @needs_scope("delete:users")
    async def delete(self, user_name):
        self._refuse_project_user(user_name, "deleted")
        return await super().delete(user_name)

    @needs_scope("admin:users")
    async def patch(self, user_name):
        self._refuse_project_user(user_name, "changed (renamed, made admin)")
        return await super().patch(user_name)

    def _refuse_project_user(self, user_name, what):
        """A project's JupyterHub user is the project's to make and remove: deleting it
        here would leave the project listed with no server user, renaming it would cut
        the two apart, and making it admin would give the project's code the hub."""
        if not is_project_name(user_name):
            return
        project = self.db.get(orm.Project, user_name)
        if project is None:
            return
        raise web.HTTPError(
            409,
            f"{user_name} is the server of the project {project.title!r}, not a person: it "
            f"cannot be {what} here. Delete or change the project instead, on its page or "
            f"with DELETE/PATCH /hub/api/projects/{user_name}.",
        )


default_handlers = [(r"/api/users/([^/]+)", ReservingUserAPIHandler)]
