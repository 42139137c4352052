"""Pages a person uses: the projects list, a project, invite links, courses."""

from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import has_scope
from jupyterhub.utils import url_path_join
from tornado import web

from .. import orm
from ..names import is_project_name
from ..projects import projects_for
from ..scopes import ADMIN_SCOPE, READ_ALL_COURSES_SCOPE, READ_ALL_PROJECTS_SCOPE


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
            and (
                project.collaborator(user.id) is not None
                or has_scope(READ_ALL_PROJECTS_SCOPE, self.parsed_scopes)
            )
        )
        if not visible:
            raise web.HTTPError(404, f"No such project: {project_id}")
        html = await self.render_template(
            "project.html",
            user=user,
            project=project,
            project_url=self.settings["smchub"].project_url(project.id),
            # the page offers admins' settings (quotas, nodes) by the same scope as the API
            is_admin=has_scope(ADMIN_SCOPE, self.parsed_scopes),
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

    def find_course(self, course_id):
        """The course, if the signed-in person teaches it (or may read every course)."""
        user = self.current_user
        course = self.db.get(orm.Course, course_id) if is_project_name(course_id) else None
        visible = (
            course is not None
            and not course.deleted
            and (
                course.project.collaborator(user.id) is not None
                or has_scope(READ_ALL_COURSES_SCOPE, self.parsed_scopes)
            )
        )
        if not visible:
            raise web.HTTPError(404, f"No such course: {course_id}")
        return course

    @web.authenticated
    async def get(self, course_id):
        course = self.find_course(course_id)
        html = await self.render_template("course.html", user=self.current_user, course=course)
        self.finish(html)


class GradingPageHandler(CoursePageHandler):
    """Grading an autograded assignment of a course by hand (grading.js)."""

    @web.authenticated
    async def get(self, course_id, assignment_id):
        course = self.find_course(course_id)
        assignment = next((a for a in course.assignments if str(a.id) == assignment_id), None)
        if assignment is None or assignment.kind != "assignment":
            raise web.HTTPError(404, f"No such assignment in {course.title}: {assignment_id}")
        html = await self.render_template(
            "grading.html", user=self.current_user, course=course, assignment=assignment
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
    (r"/courses/?", CoursesPageHandler),
    (r"/courses/([^/]+)", CoursePageHandler),
    (r"/courses/([^/]+)/assignments/([0-9]+)/grading", GradingPageHandler),
    (r"/home", PeopleHomeHandler),
    (r"/spawn/?", PeopleHomeHandler),
]
