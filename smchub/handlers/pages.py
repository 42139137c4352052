"""Pages a person uses: the projects list, a project, and invite links."""

from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado import web

from .. import orm
from ..names import is_project_name
from ..projects import projects_for


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
            "project.html",
            user=user,
            project=project,
            project_url=self.settings["smchub"].project_url(project.id),
            is_admin=bool(user.admin),
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
        rows, loads = self.settings["smchub"].node_loads()
        html = await self.render_template(
            "nodes.html", user=user, nodes=[(n, loads[n.name]) for n in rows]
        )
        self.finish(html)


class CoursesPageHandler(SMCPageHandler):
    """The courses a person teaches, and a form to start one in one of their projects."""

    @web.authenticated
    async def get(self):
        user = self.current_user
        mine, _ = projects_for(self.db, user.orm_user, limit=500)
        html = await self.render_template("courses.html", user=user, projects=mine)
        self.finish(html)


class CoursePageHandler(SMCPageHandler):
    """One course, for its instructors."""

    @web.authenticated
    async def get(self, course_id):
        user = self.current_user
        course = self.db.get(orm.Course, course_id) if is_project_name(course_id) else None
        visible = (
            course is not None
            and not course.deleted
            and (user.admin or course.project.collaborator(user.id) is not None)
        )
        if not visible:
            raise web.HTTPError(404, f"No such course: {course_id}")
        html = await self.render_template("course.html", user=user, course=course)
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
    (r"/courses/?", CoursesPageHandler),
    (r"/courses/([^/]+)", CoursePageHandler),
    (r"/home", PeopleHomeHandler),
    (r"/spawn/?", PeopleHomeHandler),
]
