"""JupyterHub's user API, with project-shaped names kept for projects."""

from jupyterhub.apihandlers.users import UserAPIHandler
from tornado import web

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


default_handlers = [(r"/api/users/([^/]+)", ReservingUserAPIHandler)]
