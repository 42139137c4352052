"""Projects and their collaborators: the rules, and the changes to the database.

Handlers call these; nothing here talks HTTP. Access to a running project server is
granted with JupyterHub's own sharing (orm.Share on the project's server), so the proxy,
plain HTTP and websockets all refuse anyone who is not a collaborator.
"""

from datetime import timedelta

from jupyterhub import orm as hub_orm
from jupyterhub.utils import isoformat
from sqlalchemy import or_
from sqlalchemy.orm import lazyload, selectinload

from . import orm
from .extensions.localhub.permissions import ACTIONS, SCOPE_DESCRIPTIONS, action_scope
from .names import is_project_name, new_project_id
from .servers import ServiceError

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000

QUOTA_KEYS = {
    # name: (type, minimum, maximum); maxima are sanity bounds, not policy
    "memory_mb": (int, 64, 1024 * 1024),
    "cpu": (float, 0.05, 1024.0),
    "idle_timeout_s": (int, 0, 365 * 24 * 3600),
    "disk_mb": (int, 0, 1024 * 1024 * 1024),
}


class InvalidInput(ValueError):
    """Bad input from a person; the message says what to change."""


def check_title(value):
    if not isinstance(value, str):
        raise InvalidInput("title must be a string")
    title = value.strip()
    if not title:
        raise InvalidInput("title must not be empty")
    if len(title) > TITLE_MAX:
        raise InvalidInput(f"title is {len(title)} characters long; the limit is {TITLE_MAX}")
    return title


def check_description(value):
    if not isinstance(value, str):
        raise InvalidInput("description must be a string")
    if len(value) > DESCRIPTION_MAX:
        raise InvalidInput(
            f"description is {len(value)} characters long; the limit is {DESCRIPTION_MAX}"
        )
    return value


def check_quotas(value):
    """Validate a partial quotas object; returns the cleaned values."""
    if not isinstance(value, dict):
        raise InvalidInput("quotas must be an object")
    cleaned = {}
    for key, item in value.items():
        if key not in QUOTA_KEYS:
            raise InvalidInput(f"unknown quota {key!r}; quotas are {', '.join(sorted(QUOTA_KEYS))}")
        kind, low, high = QUOTA_KEYS[key]
        # bool is an int in Python, but true is not a quota
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InvalidInput(f"quota {key} must be a number")
        if kind is int and item != int(item):
            raise InvalidInput(f"quota {key} must be a whole number")
        if not low <= item <= high:
            raise InvalidInput(f"quota {key} must be between {low} and {high}")
        cleaned[key] = kind(item)
    return cleaned


def check_node_labels(value):
    """Labels a project's node must have, e.g. {"gpu": "yes"}."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 63 and len(v) <= 255
        for k, v in value.items()
    ):
        raise InvalidInput("node_labels must be an object mapping label names to strings")
    return dict(value)


def effective_quotas(defaults, overrides):
    quotas = {key: QUOTA_KEYS[key][0](defaults[key]) for key in QUOTA_KEYS}
    quotas.update(overrides or {})
    return quotas


def server_state(user):
    """The project server's state as a person would describe it."""
    spawner = user.spawners.get("") if user is not None else None
    if spawner is None:
        return "stopped"
    pending = spawner.pending
    if pending == "stop":
        return "stopping"
    # 'check': a hub that has just started (or taken over) found the server and waits
    # for it to answer before it keeps it and routes it (ProjectServers.route_when_checked)
    if pending in ("spawn", "check") or spawner._proxy_pending:
        return "starting"
    if spawner.server is not None and spawner.ready:
        return "running"
    return "stopped"


def project_model(project, user, url, default_quotas, last_active=None, collaborators=None):
    """The JSON form of a project (docs/architecture.md, "The REST contract").

    `url` is where people open it (SMCHub.project_url); `user` is the project's serving
    JupyterHub user if it is loaded (None means its
    server is not running); `last_active` is that user's last activity; `collaborators`,
    the project's [(name, role)] from collaborator_lists() if the caller has them.
    """
    if collaborators is None:
        collaborators = [(c.user.name, c.role) for c in project.collaborators]
    owner = next((name for name, role in collaborators if role == "owner"), None)
    members = {name for name, _ in collaborators}
    return {
        "id": project.id,
        "title": project.title,
        "description": project.description,
        "owner": owner,
        "collaborators": [{"name": name, "role": role} for name, role in collaborators],
        # someone who joined another way (an invite link, a course) is no longer pending
        "invited": [
            entry
            for entry in map(invited_model, project.invitations)
            if entry["name"] not in members
        ],
        "created": isoformat(project.created),
        "last_active": isoformat(last_active) if last_active else None,
        "state": server_state(user),
        "url": url,
        "node": project.node,
        "quotas": effective_quotas(default_quotas, project.quota_overrides),
        "node_labels": project.node_labels or {},
    }


def invited_model(invitation):
    """A pending invitation as a project's collaborators see it."""
    return {
        "id": invitation.id,
        "name": invitation.user.name,
        "invited_by": invitation.invited_by.name if invitation.invited_by else None,
        "created": isoformat(invitation.created),
    }


def invitation_model(invitation):
    """A pending invitation as the invited person sees it: enough to decide, and
    nothing of the project beyond its title and who asked."""
    return {
        "id": invitation.id,
        "project_id": invitation.project_id,
        "title": invitation.project.title,
        "invited_by": invitation.invited_by.name if invitation.invited_by else None,
        "created": isoformat(invitation.created),
    }


def create_project(db, owner, title, description="", environment=None):
    """Add the project row and its owner; the caller creates the serving user.

    `environment` is a checked environment name (environments.check_choice), or None
    for the hub's default."""
    project = orm.Project(
        id=new_project_id(),
        title=check_title(title),
        description=check_description(description),
        quota_overrides={},
        environment=environment,
    )
    project.collaborators.append(orm.Collaborator(user_id=owner.id, role="owner"))
    db.add(project)
    return project


def new_project(app, owner, title, description="", collaborators=(), environment=None):
    """Create a project (already-checked title) with its serving JupyterHub user; commits."""
    db = app.db
    project = create_project(db, owner, title, description, environment)
    project_user = app.servers.user_for(project)
    grant_server_access(db, project_user, owner, OWNER)
    for person in collaborators:
        if person.id != owner.id and project.collaborator(person.id) is None:
            project.collaborators.append(orm.Collaborator(user_id=person.id))
            grant_server_access(db, project_user, person)
    db.commit()
    return project


def add_collaborator(app, project, person):
    """Add `person` to `project` (nothing if already there); commits. True if added."""
    if project.collaborator(person.id) is not None:
        return False
    project.collaborators.append(orm.Collaborator(user_id=person.id, role="collaborator"))
    grant_server_access(app.db, app.servers.user_for(project), person)
    app.db.commit()
    app.db.refresh(project)
    return True


async def delete_project(app, project):
    """Stop the project and take it away from everyone; its files are kept, and a last
    snapshot lets its owner undelete it (c.SMCHub.deleted_retention_days)."""
    project_user = app.servers.user_for(project)
    app.snapshots.expect_stop(project.id, "delete")
    await app.servers.stop(project_user, wait=True)
    await app.snapshots.after_stop(project, "delete")
    project.deleted = True
    project.deleted_at = orm.now()
    for invite in list(project.invites):
        app.db.delete(invite)
    project.invitations.clear()
    for collaborator in project.collaborators:
        revoke_server_access(app.db, project_user, collaborator.user)
    app.db.commit()


def restore_access(app, project):
    """Undelete: the project is back for its collaborators, as it was; commits."""
    project.deleted = False
    project.deleted_at = None
    project_user = app.servers.user_for(project)
    for collaborator in project.collaborators:
        grant_server_access(app.db, project_user, collaborator.user, collaborator.role)
    app.db.commit()


# what every collaborator may do with the project's server, granted as a JupyterHub
# share: reach it (HTTP and websockets), start and stop it from JupyterHub's own pages
# (spawn, spawn-pending with its progress bar, not-running), and read its state
COLLABORATOR_SERVER_SCOPES = ("access:servers", "servers", "read:servers")

# the roles a person can have on a project, and what each may do inside its server
# (jupyter-server's actions, checked there by extensions/localhub/authorizer.py); the
# owner is a collaborator who also deletes the project and removes people
OWNER, COLLABORATOR, VIEWER = "owner", "collaborator", "viewer"
ROLE_ACTIONS = {OWNER: ACTIONS, COLLABORATOR: ACTIONS, VIEWER: ("read",)}
# what the owner may make a collaborator (the owner stays the owner)
ASSIGNABLE_ROLES = (COLLABORATOR, VIEWER)

# the custom scopes the hub must define (SMCHub.custom_scopes) for the shares above
PROJECT_SERVER_SCOPES = {
    action_scope(action): {"description": SCOPE_DESCRIPTIONS[action_scope(action)]}
    for action in ACTIONS
}


class RoleRefused(ServiceError):
    """A role change or an action the person's role does not allow."""


def server_scopes(role):
    """The scopes of the share a person with `role` gets on a project's server."""
    return (*COLLABORATOR_SERVER_SCOPES, *(action_scope(a) for a in ROLE_ACTIONS[role]))


def grant_server_access(db, project_user, person, role=COLLABORATOR):
    """Let `person` use the project's server through JupyterHub's sharing, as `role`
    allows; what the role does not allow is taken away (a share only grows otherwise)."""
    spawner = project_user.spawner.orm_spawner
    hub_orm.Share.grant(db, spawner, person, scopes=server_scopes(role))
    withheld = [action_scope(a) for a in ACTIONS if a not in ROLE_ACTIONS[role]]
    if withheld:
        hub_orm.Share.revoke(
            db, spawner, person, scopes=hub_orm.Share.apply_filter(withheld, spawner)
        )


def is_viewer(project, person_id):
    """Whether the person with `person_id` only views `project`."""
    collaborator = project.collaborator(person_id)
    return collaborator is not None and collaborator.role == VIEWER


def viewer_refusal(project, person_id, what):
    """Why the person with `person_id` may not do `what` ("add people", ...) as a
    viewer of `project`; None if they are not one."""
    if is_viewer(project, person_id):
        return f"You can only view this project, so you cannot {what}; ask its owner."
    return None


def check_not_viewer(project, person_id, what):
    """Refuse (RoleRefused) to let a viewer do `what`."""
    reason = viewer_refusal(project, person_id, what)
    if reason is not None:
        raise RoleRefused(403, reason)


def set_role(db, project, project_user, person, role):
    """Make `person`, a collaborator of `project`, a viewer or a collaborator; commits.

    A running server learns it when it next reads its shares from the hub (within
    ProjectSpawner.revocation_delay): the person's requests are then judged by the new
    role, their websockets that it no longer allows (terminals, kernels) close, and
    their open documents take no more changes from them.
    """
    if role not in ASSIGNABLE_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ASSIGNABLE_ROLES)}, not {role!r}")
    collaborator = project.collaborator(person.id)
    if collaborator.role == OWNER:
        raise RoleRefused(409, "The owner's role cannot change; they keep full access.")
    collaborator.role = role
    grant_server_access(db, project_user, person, role)
    db.commit()


def revoke_server_access(db, project_user, person):
    """Take away `person`'s access to the project's server.

    Deleting the share removes the permission; deleting the OAuth tokens the person holds
    for this server makes the server's cached check fail on its next refresh.
    """
    spawner = project_user.spawner
    hub_orm.Share.revoke(db, spawner.orm_spawner, person)
    client_id = spawner.oauth_client_id
    for token in db.query(hub_orm.APIToken).filter_by(user_id=person.id, client_id=client_id):
        db.delete(token)
    db.commit()


def invite_person(db, project, person, invited_by):
    """Ask `person` to join `project`: their pending invitation, new or the one there was.

    They become a collaborator only when they accept it.
    """
    for invitation in project.invitations:
        if invitation.user_id == person.id:
            return invitation
    # None: invited by a service (an admin's client), which no person speaks for
    invited_by_id = invited_by.id if invited_by is not None else None
    invitation = orm.Invitation(user_id=person.id, invited_by_id=invited_by_id)
    project.invitations.append(invitation)
    db.commit()
    return invitation


def pending_invitations(db, person):
    """The invitations waiting for `person`'s answer, oldest first."""
    joined = (
        db.query(orm.Collaborator)
        .filter(
            orm.Collaborator.project_id == orm.Invitation.project_id,
            orm.Collaborator.user_id == person.id,
        )
        .exists()
    )
    return (
        db.query(orm.Invitation)
        .join(orm.Project)
        # someone who joined another way (an invite link, a course) has nothing to answer
        .filter(orm.Invitation.user_id == person.id, orm.Project.deleted.isnot(True), ~joined)
        .order_by(orm.Invitation.id)
        .all()
    )


def find_invitation(db, invitation_id, person, may_withdraw=False, admin=False):
    """The invitation `person` (None: a service) may answer: their own; with
    `may_withdraw`, also one to a project they collaborate on (any project for an
    `admin`). None otherwise: whether
    it exists is not revealed."""
    # ids are database integers: a longer string of digits names nothing
    if not (invitation_id.isascii() and invitation_id.isdigit() and len(invitation_id) <= 18):
        return None
    invitation = db.get(orm.Invitation, int(invitation_id))
    if invitation is None or invitation.project.deleted:
        return None
    person_id = person.id if person is not None else None
    if person_id is not None and invitation.user_id == person_id:
        return invitation
    if may_withdraw and (admin or invitation.project.collaborator(person_id) is not None):
        return invitation
    return None


def drop_invitation(db, invitation):
    """Decline or withdraw an invitation."""
    invitation.project.invitations.remove(invitation)
    db.commit()


def remove_collaborator(db, project, project_user, person):
    """Take `person` out of `project`: their row, their invite links, their server access.

    Their links go too, because a link speaks for its maker: a removed collaborator
    must not be able to rejoin with one they made before.
    """
    collaborator = project.collaborator(person.id)
    project.collaborators.remove(collaborator)
    for invite in [i for i in project.invites if i.created_by_id == person.id]:
        project.invites.remove(invite)
    revoke_server_access(db, project_user, person)
    db.refresh(project)


# loading a project for a check: its collaborator rows, without the people's User rows
# (which would load, eagerly, everything shared with them); they load if touched
PROJECT_ONLY = [selectinload(orm.Project.collaborators).lazyload(orm.Collaborator.user)]


def collaborator_lists(db, project_ids):
    """Each project's collaborators as [(name, role)], in the order they were added.

    One query for all the projects, reading only names: loading the people's User rows
    would also load, eagerly, their roles, groups and every server shared with them, and
    then the same for each of those servers' users.
    """
    lists = {project_id: [] for project_id in project_ids}
    if not lists:
        return lists
    rows = (
        db.query(orm.Collaborator.project_id, hub_orm.User.name, orm.Collaborator.role)
        .join(hub_orm.User, hub_orm.User.id == orm.Collaborator.user_id)
        .filter(orm.Collaborator.project_id.in_(list(lists)))
        # as Project.collaborators is ordered; the owner comes first, even in a tie
        .order_by(orm.Collaborator.added, orm.Collaborator.role != "owner")
    )
    for project_id, name, role in rows:
        lists[project_id].append((name, role))
    return lists


# the states a project's server can be in (server_state), by which lists filter
SERVER_STATES = ("running", "starting", "stopping", "stopped")

# how a list of projects is ordered: newest first, or most recently used first (the
# never used last); the longest text a list is searched for; and the most days a list
# is filtered by activity over
PROJECT_ORDERS = ("created", "last_active")
SEARCH_MAX = 200
ACTIVITY_DAYS_MAX = 36_500


def busy_projects(users):
    """{project id: state} of the projects in `users` (JupyterHub's user cache) whose
    server is not stopped: a stopped one is never cached, so a list of any size is
    filtered by state without loading its spawners."""
    states = {}
    for user in users:
        if is_project_name(user.name):
            state = server_state(user)
            if state != "stopped":
                states[user.name] = state
    return states


def projects_for(db, person, offset=0, limit=None, owner=None, node=None, state=None,
                 busy=None, q=None, sort="created", active_days=None,
                 idle_days=None):  # fmt: skip
    """Projects `person` collaborates on (every project when `person` is None), in
    `sort` order (PROJECT_ORDERS), and how many there are in all; `owner` (a name),
    `node`, `state` (one of SERVER_STATES, judged from `busy`, the busy_projects() of
    the hub), `q` (text in the title or the owner's name, in any case, or the
    project's id), `active_days` (used in the last that many days) and `idle_days`
    (not used in the last that many days, or never) narrow them."""
    query = (
        db.query(orm.Project)
        # the page's collaborators are read with collaborator_lists()
        .options(lazyload(orm.Project.collaborators))
        # "IS NOT true" rather than "IS false" (the same, deleted is never NULL): SQLite
        # would otherwise walk the deleted index, every project, to count one person's
        .filter(orm.Project.deleted.isnot(True))
    )
    if person is not None:
        query = query.join(orm.Collaborator).filter(orm.Collaborator.user_id == person.id)
    if owner is not None:
        owners = (
            db.query(orm.Collaborator.project_id)
            .join(hub_orm.User, hub_orm.User.id == orm.Collaborator.user_id)
            .filter(orm.Collaborator.role == OWNER, hub_orm.User.name == owner)
        )
        query = query.filter(orm.Project.id.in_(owners))
    if node is not None:
        query = query.filter(orm.Project.node == node)
    if state is not None:
        ids = [i for i, s in (busy or {}).items() if s == state]
        if state == "stopped":
            query = query.filter(orm.Project.id.notin_(list(busy or {})))
        else:
            query = query.filter(orm.Project.id.in_(ids))
    if q is not None:
        # autoescape: a % or _ typed in the search box is a character, not a wildcard
        owned_by = (
            db.query(orm.Collaborator.project_id)
            .join(hub_orm.User, hub_orm.User.id == orm.Collaborator.user_id)
            .filter(orm.Collaborator.role == OWNER, hub_orm.User.name.icontains(q, autoescape=True))
        )
        query = query.filter(
            or_(
                orm.Project.title.icontains(q, autoescape=True),
                orm.Project.id == q,
                orm.Project.id.in_(owned_by),
            )
        )
    # a project's activity is its serving user's (JupyterHub records it)
    activity = hub_orm.User.last_activity
    if sort == "last_active" or active_days is not None or idle_days is not None:
        query = query.outerjoin(hub_orm.User, hub_orm.User.name == orm.Project.id)
    if active_days is not None:
        query = query.filter(activity >= orm.now() - timedelta(days=active_days))
    if idle_days is not None:
        since = orm.now() - timedelta(days=idle_days)
        query = query.filter(or_(activity.is_(None), activity < since))
    total = query.count()
    if sort == "last_active":
        query = query.order_by(
            activity.is_(None), activity.desc(), orm.Project.created.desc(), orm.Project.id
        )
    else:
        query = query.order_by(orm.Project.created.desc(), orm.Project.id)
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return query.all(), total
