"""REST API for projects: /hub/api/projects (docs/architecture.md, "The REST contract")."""

from jupyterhub import orm as hub_orm
from tornado import web

from ..course_policy import check_may_add_people, sharing_refusal
from ..moving import move_project
from ..names import is_project_name
from ..person_limits import LimitReached
from ..projects import (
    InvalidInput,
    check_description,
    check_node_labels,
    check_not_viewer,
    check_quotas,
    check_title,
    delete_project,
    invite_person,
    projects_for,
    remove_collaborator,
    set_role,
    viewer_refusal,
)
from .base import SMCAPIHandler, service_errors


class ProjectListAPIHandler(SMCAPIHandler):
    """List the caller's projects, or create one."""

    def get(self):
        person = self.current_person()
        offset, limit = self.get_api_pagination()
        projects, total = projects_for(self.db, person.orm_user, offset, limit)
        models = self.project_models(projects)
        if self.accepts_pagination:
            models = self.paginated_model(models, offset, limit, total)
        self.write_json(models)

    def post(self):
        person = self.current_person()
        model = self.json_object_body({"title", "description"}, required=("title",))
        try:
            title = check_title(model["title"])
            description = check_description(model.get("description", ""))
        except InvalidInput as e:
            self.invalid(e)
        try:
            self.smchub.check_can_create_project(person.orm_user)
        except LimitReached as e:
            raise web.HTTPError(403, str(e))
        project = self.new_project(person.orm_user, title, description)
        self.log.info("%s created project %s (%r)", person.name, project.id, title)
        self.write_json(self.project_model(project), status=201)


class ProjectAPIHandler(SMCAPIHandler):
    """Read, change or delete one project."""

    def get(self, project_id):
        person = self.current_person()
        project = self.find_project(project_id, person)
        # whether the caller may bring people in, so the project page offers only that
        reason = None
        if not self.is_admin():
            reason = viewer_refusal(project, person.id, "add people") or sharing_refusal(
                self.db, project, person.id
            )
        sharing = {"allowed": reason is None, "reason": reason}
        self.write_json({**self.project_model(project), "sharing": sharing})

    def patch(self, project_id):
        person = self.current_person()
        project = self.find_project(project_id, person)
        model = self.json_object_body({"title", "description", "quotas", "node_labels"})
        if not self.is_admin():
            with service_errors():
                check_not_viewer(project, person.id, "change it")
        try:
            if "title" in model:
                project.title = check_title(model["title"])
            if "description" in model:
                project.description = check_description(model["description"])
            if "quotas" in model:
                if not self.is_admin():
                    raise web.HTTPError(403, "Only admins can change a project's quotas.")
                overrides = dict(project.quota_overrides or {})
                overrides.update(check_quotas(model["quotas"]))
                # a fresh dict, so SQLAlchemy sees the JSON column change
                project.quota_overrides = overrides
            if "node_labels" in model:
                if not self.is_admin():
                    raise web.HTTPError(403, "Only admins can choose a project's nodes.")
                project.node_labels = check_node_labels(model["node_labels"])
        except InvalidInput as e:
            self.db.rollback()
            self.invalid(e)
        except web.HTTPError:
            self.db.rollback()
            raise
        self.db.commit()
        self.write_json(self.project_model(project))

    async def delete(self, project_id):
        person = self.current_person()
        project = self.find_project(project_id, person, owner_only=True)
        await delete_project(self.smchub, project)
        self.log.info("%s deleted project %s; its files are kept", person.name, project.id)
        self.set_status(204)
        self.finish()


class ProjectServerAPIHandler(SMCAPIHandler):
    """Start or stop a project's server. Both are idempotent and answer 202."""

    # how long a start request waits before answering 'starting': long enough to
    # turn an immediate refusal (no node has room, too many starts) into an error
    start_grace = 0.5

    async def post(self, project_id, action):
        person = self.current_person()
        project = self.find_project(project_id, person)
        project_user = self.project_user(project)
        servers = self.smchub.servers
        with service_errors():
            if action == "start":
                await servers.start(project_user, grace=self.start_grace)
            else:
                await servers.stop(project_user, wait=False, grace=self.start_grace)
        self.write_json(self.project_model(project), status=202)


class CollaboratorAPIHandler(SMCAPIHandler):
    """Invite someone to a project, change a collaborator's role, or remove them.

    PUT only invites: the person joins when they accept (api/invitations), because
    whoever opens a project runs what its collaborators put there. PATCH {"role"}: the
    owner makes a collaborator a viewer (who only reads) or a collaborator again.
    """

    def _person(self, name):
        name = self.authenticator.normalize_username(name)
        user = None if is_project_name(name) else hub_orm.User.find(self.db, name)
        if user is None:
            raise web.HTTPError(404, f"No such user: {name}")
        return user

    def put(self, project_id, name):
        person = self.current_person()
        project = self.find_project(project_id, person)
        target = self._person(name)
        if project.collaborator(target.id) is not None:
            self.write_json(self.project_model(project))
            return
        if not self.is_admin():
            with service_errors():
                check_not_viewer(project, person.id, "add people")
                check_may_add_people(self.db, project, person.id)
        invitation = invite_person(self.db, project, target, person.orm_user)
        self.log.info(
            "%s invited %s to project %s (invitation %s)",
            person.name, target.name, project.id, invitation.id,
        )  # fmt: skip
        self.write_json(self.project_model(project), status=202)

    def patch(self, project_id, name):
        person = self.current_person()
        project = self.find_project(project_id, person, owner_only=True)
        model = self.json_object_body({"role"}, required=("role",))
        target = self._person(name)
        if project.collaborator(target.id) is None:
            raise web.HTTPError(404, f"{target.name} is not a collaborator on this project")
        try:
            with service_errors():
                set_role(self.db, project, self.project_user(project), target, model["role"])
        except InvalidInput as e:
            self.invalid(e)
        self.log.info(
            "%s made %s a %s of project %s", person.name, target.name, model["role"], project.id
        )
        self.write_json(self.project_model(project))

    def delete(self, project_id, name):
        person = self.current_person()
        project = self.find_project(project_id, person)
        target = self._person(name)
        collaborator = project.collaborator(target.id)
        if collaborator is None:
            raise web.HTTPError(404, f"{target.name} is not a collaborator on this project")
        if collaborator.role == "owner":
            raise web.HTTPError(400, "The owner cannot be removed from their project.")
        caller = project.collaborator(person.id)
        is_owner = caller is not None and caller.role == "owner"
        if not (is_owner or target.id == person.id or self.is_admin()):
            raise web.HTTPError(
                403, "Only the owner can remove other collaborators; you can remove yourself."
            )
        remove_collaborator(self.db, project, self.project_user(project), target)
        self.log.info("%s removed %s from project %s", person.name, target.name, project.id)
        self.write_json(self.project_model(project))


class ProjectMoveAPIHandler(SMCAPIHandler):
    """POST /api/projects/<id>/move {node}: admins move a project to another node."""

    async def post(self, project_id):
        person = self.current_person()
        if not self.is_admin():
            raise web.HTTPError(403, "Only admins can move projects between nodes.")
        project = self.find_project(project_id, person)
        model = self.json_object_body({"node"}, required=("node",))
        if not isinstance(model["node"], str):
            raise web.HTTPError(400, "node must be the name of a compute node")
        with service_errors():
            moved = await move_project(self.smchub, project, model["node"])
        self.write_json({**self.project_model(project), "moved": moved})


default_handlers = [
    (r"/api/projects", ProjectListAPIHandler),
    (r"/api/projects/([^/]+)", ProjectAPIHandler),
    (r"/api/projects/([^/]+)/(start|stop)", ProjectServerAPIHandler),
    (r"/api/projects/([^/]+)/collaborators/([^/]+)", CollaboratorAPIHandler),
    (r"/api/projects/([^/]+)/move", ProjectMoveAPIHandler),
]
