"""Admins' pages: every project, the compute nodes and their load, every course.

Each page asks for the same scope as the API it shows (smchub/scopes.py), so a person
whose role gives them, say, only read:projects:all sees the projects page without the
buttons that would change anything; the API checks again on every request.
"""

from datetime import timedelta

from jupyterhub.scopes import has_scope
from tornado import web

from .. import orm
from ..courses import course_overviews
from ..projects import PROJECT_ORDERS, SEARCH_MAX, SERVER_STATES
from ..scopes import (
    ALL_PROJECTS_SCOPE,
    NODES_SCOPE,
    READ_ALL_COURSES_SCOPE,
    READ_ALL_PROJECTS_SCOPE,
    READ_NODES_SCOPE,
)
from .pages import SMCPageHandler

# the course list's window for job failures, as the course page lists jobs
FAILURE_DAYS = 7


class AdminPageHandler(SMCPageHandler):
    def may(self, scope):
        return has_scope(scope, self.parsed_scopes)

    def require(self, scope, what):
        """A 403 page, saying which scope is missing, for those without `scope`."""
        if not self.may(scope):
            raise web.HTTPError(403, f"Only admins can see {what} (the {scope} scope).")


class AdminProjectsPageHandler(AdminPageHandler):
    """Every project: searched, filtered, sorted and paged by the API, started, stopped
    and moved from its row (admin_projects.js)."""

    @web.authenticated
    async def get(self):
        self.require(READ_ALL_PROJECTS_SCOPE, "every project")
        names = self.db.query(orm.ComputeNode.name).order_by(orm.ComputeNode.name)
        html = await self.render_template(
            "admin_projects.html",
            user=self.current_user,
            states=SERVER_STATES,
            orders=PROJECT_ORDERS,
            search_max=SEARCH_MAX,
            node_names=[name for (name,) in names],
            may_manage=self.may(ALL_PROJECTS_SCOPE),
            may_move=self.may(NODES_SCOPE),
        )
        self.finish(html)


class NodesPageHandler(AdminPageHandler):
    """The compute nodes, their state and load."""

    @web.authenticated
    async def get(self):
        self.require(READ_NODES_SCOPE, "compute nodes")
        rows, loads = self.settings["smchub"].node_loads()
        html = await self.render_template(
            "nodes.html",
            user=self.current_user,
            nodes=[(n, loads[n.name]) for n in rows],
            may_see_projects=self.may(READ_ALL_PROJECTS_SCOPE),
        )
        self.finish(html)


class AdminCoursesPageHandler(AdminPageHandler):
    """Every course with its size and the failures of its recent jobs."""

    @web.authenticated
    async def get(self):
        self.require(READ_ALL_COURSES_SCOPE, "every course")
        since = orm.now() - timedelta(days=FAILURE_DAYS)
        html = await self.render_template(
            "admin_courses.html",
            user=self.current_user,
            courses=course_overviews(self.db, since),
            failure_days=FAILURE_DAYS,
        )
        self.finish(html)


default_handlers = [
    (r"/admin/projects", AdminProjectsPageHandler),
    (r"/admin/courses", AdminCoursesPageHandler),
    (r"/nodes", NodesPageHandler),
]
