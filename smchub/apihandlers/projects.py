"""REST API for projects: /hub/api/projects (docs/architecture.md, "The REST contract")."""

from tornado import web

from ..course_policy import check_may_add_people, course_place, sharing_refusal
from ..environments import check_choice, set_environment
from ..moving import move_project
from ..person_limits import LimitReached
from ..projects import (
    ACTIVITY_DAYS_MAX,
    PROJECT_ORDERS,
    SEARCH_MAX,
    SERVER_STATES,
    InvalidInput,
    busy_projects,
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
from ..scopes import ALL_PROJECTS_SCOPE, NODES_SCOPE, PROJECTS_SCOPE, READ_ALL_PROJECTS_SCOPE
from .base import SMCAPIHandler, service_errors


class ProjectListAPIHandler(SMCAPIHandler):
    """List projects (the caller's, or with ?all=1 every one), or create one."""

    def _days(self, name):
        """?<name>=<whole days>, checked; None if not given."""
        value = self.get_argument(name, "")
        if not value:
            return None
        whole = value.isascii() and value.isdigit() and len(value) <= 6
        if not (whole and 1 <= int(value) <= ACTIVITY_DAYS_MAX):
            raise web.HTTPError(
                400, f"{name} must be a whole number of days from 1 to {ACTIVITY_DAYS_MAX}"
            )
        return int(value)

    def _filters(self):
        """?owner=&node=&state=&q=&sort=&active_days=&idle_days=, checked."""
        filters = {key: self.get_argument(key, None) or None for key in ("owner", "node", "state")}
        filters["q"] = self.get_argument("q", "").strip() or None
        if filters["q"] is not None and len(filters["q"]) > SEARCH_MAX:
            raise web.HTTPError(400, f"q is longer than {SEARCH_MAX} characters; search for less")
        filters["active_days"] = self._days("active_days")
        filters["idle_days"] = self._days("idle_days")
        filters["sort"] = self.get_argument("sort", "") or "created"
        if filters["sort"] not in PROJECT_ORDERS:
            raise web.HTTPError(
                400,
                f"sort must be one of {', '.join(PROJECT_ORDERS)}, not {filters['sort']!r}",
            )
        if filters["owner"] is not None:
            filters["owner"] = self.authenticator.normalize_username(filters["owner"])
        if filters["state"] is not None:
            if filters["state"] not in SERVER_STATES:
                raise web.HTTPError(
                    400,
                    f"state must be one of {', '.join(SERVER_STATES)}, not {filters['state']!r}",
                )
            filters["busy"] = busy_projects(dict.values(self.users))
        return filters

    def get(self):
        caller = self.current_caller()
        offset, limit = self.get_api_pagination()
        every = self.get_argument("all", "") not in ("", "0", "false")
        if every and not self.may(READ_ALL_PROJECTS_SCOPE):
            raise web.HTTPError(
                403, f"Listing every project needs the {READ_ALL_PROJECTS_SCOPE} scope."
            )
        if not every and caller.person is None:
            raise web.HTTPError(
                400,
                "This token has no projects of its own (it is a service's, or lacks "
                f"{PROJECTS_SCOPE}): list every project with ?all=1.",
            )
        member = None if every else caller.orm_user
        projects, total = projects_for(self.db, member, offset, limit, **self._filters())
        models = self.project_models(projects)
        if self.accepts_pagination:
            models = self.paginated_model(models, offset, limit, total)
        self.write_json(models)

    def post(self):
        caller = self.current_caller()
        model = self.json_object_body(
            {"title", "description", "owner", "environment"}, required=("title",)
        )
        try:
            title = check_title(model["title"])
            description = check_description(model.get("description", ""))
            environment = None
            if "environment" in model:
                environment = check_choice(self.smchub.environment_choices, model["environment"])
        except InvalidInput as e:
            self.invalid(e)
        if "owner" in model:
            if not self.manages_projects():
                raise web.HTTPError(
                    403, f"Making a project for someone else needs the {ALL_PROJECTS_SCOPE} scope."
                )
            owner = self.find_person(model["owner"], status=400)
        elif caller.person is None:
            raise web.HTTPError(
                400, 'Say whose project this is: {"owner": "<username>"} in the body.'
            )
        else:
            owner = caller.orm_user
        try:
            self.smchub.check_can_create_project(owner)
        except LimitReached as e:
            raise web.HTTPError(403, str(e))
        project = self.new_project(owner, title, description, environment=environment)
        self.log.info("%s created project %s (%r) for %s", caller.name, project.id, title,
                      owner.name)  # fmt: skip
        self.write_json(self.project_model(project), status=201)


class ProjectAPIHandler(SMCAPIHandler):
    """Read, change or delete one project."""

    def get(self, project_id):
        caller = self.current_caller()
        project = self.find_project(project_id, caller, write=False)
        # whether the caller may bring people in, so the project page offers only that
        if self.manages_projects():
            reason = None
        elif caller.person is None:
            reason = f"Adding people needs the {ALL_PROJECTS_SCOPE} scope."
        else:
            reason = viewer_refusal(project, caller.id, "add people") or sharing_refusal(
                self.db, project, caller.id
            )
        sharing = {"allowed": reason is None, "reason": reason}
        self.write_json({**self.project_model(project), "sharing": sharing})

    def patch(self, project_id):
        caller = self.current_caller()
        project = self.find_project(project_id, caller)
        model = self.json_object_body(
            {"title", "description", "quotas", "node_labels", "environment"}
        )
        if not self.manages_projects():
            with service_errors():
                check_not_viewer(project, caller.id, "change it")
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
            if "environment" in model:
                self._set_environment(project, model["environment"])
        except InvalidInput as e:
            self.db.rollback()
            self.invalid(e)
        except web.HTTPError:
            self.db.rollback()
            raise
        self.db.commit()
        self.write_json(self.project_model(project))

    def _set_environment(self, project, value):
        """Choose the project's environment for its next start (its pin is dropped, so
        choosing the same one again takes that environment's current image)."""
        name = check_choice(self.smchub.environment_choices, value)
        if course_place(self.db, project.id) is not None:
            raise web.HTTPError(
                409,
                "This is a student's course project: it runs its course's environment, "
                "which the course's instructors choose in the course's settings.",
            )
        set_environment(project, name)
        self.log.info("Project %s: environment %s from its next start", project.id, name)

    async def delete(self, project_id):
        caller = self.current_caller()
        project = self.find_project(project_id, caller, owner_only=True)
        await delete_project(self.smchub, project)
        self.log.info("%s deleted project %s; its files are kept", caller.name, project.id)
        self.set_status(204)
        self.finish()


class ProjectServerAPIHandler(SMCAPIHandler):
    """Start or stop a project's server. Both are idempotent and answer 202."""

    # how long a start request waits before answering 'starting': long enough to
    # turn an immediate refusal (no node has room, too many starts) into an error
    start_grace = 0.5

    async def post(self, project_id, action):
        project = self.find_project(project_id, self.current_caller())
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

    def put(self, project_id, name):
        caller = self.current_caller()
        project = self.find_project(project_id, caller)
        target = self.find_person(name)
        if project.collaborator(target.id) is not None:
            self.write_json(self.project_model(project))
            return
        if not self.manages_projects():
            with service_errors():
                check_not_viewer(project, caller.id, "add people")
                check_may_add_people(self.db, project, caller.id)
        # from a service, an invitation no person sent (invited_by None); accepting it
        # is still the person's choice
        invitation = invite_person(self.db, project, target, caller.orm_user)
        self.log.info(
            "%s invited %s to project %s (invitation %s)",
            caller.name, target.name, project.id, invitation.id,
        )  # fmt: skip
        self.write_json(self.project_model(project), status=202)

    def patch(self, project_id, name):
        caller = self.current_caller()
        project = self.find_project(project_id, caller, owner_only=True)
        model = self.json_object_body({"role"}, required=("role",))
        target = self.find_person(name)
        if project.collaborator(target.id) is None:
            raise web.HTTPError(404, f"{target.name} is not a collaborator on this project")
        try:
            with service_errors():
                set_role(self.db, project, self.project_user(project), target, model["role"])
        except InvalidInput as e:
            self.invalid(e)
        self.log.info(
            "%s made %s a %s of project %s", caller.name, target.name, model["role"], project.id
        )
        self.write_json(self.project_model(project))

    def delete(self, project_id, name):
        caller = self.current_caller()
        project = self.find_project(project_id, caller)
        target = self.find_person(name)
        collaborator = project.collaborator(target.id)
        if collaborator is None:
            raise web.HTTPError(404, f"{target.name} is not a collaborator on this project")
        if collaborator.role == "owner":
            raise web.HTTPError(400, "The owner cannot be removed from their project.")
        own = project.collaborator(caller.id) if caller.id is not None else None
        is_owner = own is not None and own.role == "owner"
        if not (is_owner or target.id == caller.id or self.manages_projects()):
            raise web.HTTPError(
                403, "Only the owner can remove other collaborators; you can remove yourself."
            )
        remove_collaborator(self.db, project, self.project_user(project), target)
        self.log.info("%s removed %s from project %s", caller.name, target.name, project.id)
        self.write_json(self.project_model(project))


class ProjectMoveAPIHandler(SMCAPIHandler):
    """POST /api/projects/<id>/move {node}: admins move a project to another node."""

    async def post(self, project_id):
        caller = self.current_caller()
        if not self.may(NODES_SCOPE):
            raise web.HTTPError(
                403, f"Only admins can move projects between nodes (the {NODES_SCOPE} scope)."
            )
        project = self.find_project(project_id, caller)
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
