"""Pages a person uses: the projects list, a project, and invite links."""

from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado import web

from .. import nodes, orm
from ..names import is_project_name


class SMCPageHandler(BaseHandler):
    def projects_url(self):
        return url_path_join(self.hub.base_url, "projects")


class ProjectsPageHandler(SMCPageHandler):
    """The projects page: a person's home."""

    @web.authenticated
    async def get(self):
        html = await self.render_template("projects.html", user=self.current_user)
        self.finish(html)


class ProjectPageHandler(SMCPageHandler):
    """One project: state, settings, collaborators and invite links."""

    @web.authenticated
    async def get(self, project_id):
        user = self.current_user
        project = self.db.get(orm.Project, project_id) if is_project_name(project_id) else None
        visible = (
            project is not None
            and not project.deleted
            and (user.admin or project.collaborator(user.id) is not None)
        )
        if not visible:
            raise web.HTTPError(404, f"No such project: {project_id}")
        html = await self.render_template(
            "project.html", user=user, project=project, is_admin=bool(user.admin)
        )
        self.finish(html)


class InvitePageHandler(SMCPageHandler):
    """Where an invite link lands: the person confirms joining the project."""

    @web.authenticated
    async def get(self, token):
        invite = orm.Invite.find(self.db, token)
        usable = invite is not None and invite.usable
        if not usable:
            self.set_status(404)
        html = await self.render_template(
            "invite.html",
            user=self.current_user,
            token=token,
            usable=usable,
            project=invite.project if usable else None,
            already=usable and invite.project.collaborator(self.current_user.id) is not None,
        )
        self.finish(html)


class NodesPageHandler(SMCPageHandler):
    """Admins: the compute nodes, their state and load."""

    @web.authenticated
    async def get(self):
        user = self.current_user
        if not user.admin:
            raise web.HTTPError(403, "Only admins can see compute nodes.")
        rows, loads = nodes.loads_for(self.db, nodes.allocations_in_hub(self.users))
        html = await self.render_template(
            "nodes.html", user=user, nodes=[(n, loads[n.name]) for n in rows]
        )
        self.finish(html)


class PeopleHomeHandler(SMCPageHandler):
    """People have projects, not servers: their home and spawn pages are the project list."""

    @web.authenticated
    def get(self):
        self.redirect(self.projects_url())


default_handlers = [
    (r"/projects/?", ProjectsPageHandler),
    (r"/projects/invite/([^/]+)", InvitePageHandler),
    (r"/projects/([^/]+)", ProjectPageHandler),
    (r"/nodes", NodesPageHandler),
    (r"/home", PeopleHomeHandler),
    (r"/spawn/?", PeopleHomeHandler),
]
