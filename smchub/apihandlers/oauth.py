"""JupyterHub's OAuth authorization, without the confirmation page for collaborators."""

from jupyterhub.apihandlers.auth import OAuthAuthorizeHandler

from .. import orm
from ..names import is_project_name

SERVER_CLIENT_PREFIX = "jupyterhub-user-"


class ProjectOAuthAuthorizeHandler(OAuthAuthorizeHandler):
    """Opening a project you collaborate on needs no "authorize access?" page.

    JupyterHub asks people to confirm before a server that is not their own learns who
    they are; in smchub no server is anyone's own, and collaborators chose to share.
    Everyone else still gets JupyterHub's page (and is refused without access).
    """

    def needs_oauth_confirm(self, user, oauth_client, requested_scopes):
        identifier = oauth_client.identifier or ""
        if identifier.startswith(SERVER_CLIENT_PREFIX):
            project_id = identifier[len(SERVER_CLIENT_PREFIX) :]
            if is_project_name(project_id):
                project = self.db.get(orm.Project, project_id)
                if (
                    project is not None
                    and not project.deleted
                    and project.collaborator(user.id) is not None
                ):
                    return False
        return super().needs_oauth_confirm(user, oauth_client, requested_scopes)


default_handlers = [(r"/api/oauth2/authorize", ProjectOAuthAuthorizeHandler)]
