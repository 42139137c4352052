"""Names shaped like project ids belong to projects, whatever the authenticator.

Each project is served by a JupyterHub user named after its id (smchub/names.py), so
no person may take such a name. JupyterHub asks its authenticator about every name a
person gets (sign-in, the users API, config), which makes the authenticator the one
place to keep them: SMCHub builds every authenticator with ProjectNamesReserved.
"""

import functools

from jupyterhub import orm as hub_orm
from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Callable

from ..names import is_project_name


class ProjectNamesReserved(Authenticator):
    """Keeps project-shaped names out of people's names, and new people to the hub's policy.

    List it first among an authenticator's bases, so that project users, which never
    authenticate, never reach the hooks of the authenticator it is mixed into (a
    LocalAuthenticator would make a Unix account for each).
    """

    # links to the authenticator's own pages in every page's menu: (path under /hub,
    # label, for admins only); SMCAuthenticator has its account pages, others none
    account_pages = []

    new_person_policy = Callable(
        None,
        allow_none=True,
        help="""Set by the hub, not in config: called as policy(username, known=names of
        people the authenticator knows but the hub may not yet), it returns why nobody
        new may join now (a hub whose projects are not isolated serves one person), or
        None. The hub sets it once the people named in config are in.""",
    )

    def validate_username(self, username):
        return not is_project_name(username) and super().validate_username(username)

    async def get_authenticated_user(self, handler, data):
        auth_model = await super().get_authenticated_user(handler, data)
        if auth_model is None or self.new_person_policy is None:
            return auth_model
        # a newcomer the hub may not take is told why here, whatever the authenticator;
        # refused later, in add_user, they would see a server error
        if hub_orm.User.find(handler.db, auth_model["name"]) is None:
            refusal = self.new_person_policy(auth_model["name"])
            if refusal:
                raise web.HTTPError(403, refusal)
        return auth_model

    def add_user(self, user):
        # JupyterHub calls this at start for every user in its database, project users
        # included; theirs are the hub's, not the authenticator's
        if is_project_name(user.name):
            return None
        if self.new_person_policy is not None:
            refusal = self.new_person_policy(user.name)
            if refusal:
                raise ValueError(refusal)
        return super().add_user(user)

    def delete_user(self, user):
        if is_project_name(user.name):
            return None
        return super().delete_user(user)


@functools.cache
def keeping_project_names(authenticator_class):
    """`authenticator_class`, or a subclass of it with ProjectNamesReserved first.

    The subclass keeps the class's name and module, so its c.<Name> settings, its log
    lines and the admin's reading of them are unchanged.
    """
    if issubclass(authenticator_class, ProjectNamesReserved):
        return authenticator_class
    return type(
        authenticator_class.__name__,
        (ProjectNamesReserved, authenticator_class),
        {"__module__": authenticator_class.__module__, "__doc__": authenticator_class.__doc__},
    )
