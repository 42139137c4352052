"""How much of a hub one person may take: projects owned, and projects running.

A class is hundreds of people on one set of nodes; without a bound, one script that
creates or starts projects in a loop takes every node's memory from everyone else.
Admins are not bound (they run courses and benchmarks). The checks count in the
database and the hub's own cache of running servers, never on the nodes.
"""

from jupyterhub import orm as hub_orm

from . import orm


class LimitReached(Exception):
    """A person reached a limit; the message says which, and what to do."""


def check_can_create(owned, limit):
    """Refuse a new project when its owner already owns `limit` (0: no limit)."""
    if limit and owned >= limit:
        raise LimitReached(
            f"You own {owned} projects, the most one person may own on this hub "
            f"({limit}): delete one you no longer need, or ask an admin."
        )


def check_can_start(owner_name, running, limit):
    """Refuse a start when the project's owner already has `limit` running (0: no limit)."""
    if limit and running >= limit:
        raise LimitReached(
            f"{owner_name} already has {running} projects running, the most one person may "
            f"have on this hub ({limit}): stop one of them first."
        )


def owned_project_ids(db, person_id):
    """Ids of the projects (not deleted) that the person owns."""
    rows = (
        db.query(orm.Collaborator.project_id)
        .join(orm.Project)
        .filter(
            orm.Collaborator.user_id == person_id,
            orm.Collaborator.role == "owner",
            orm.Project.deleted.isnot(True),
        )
    )
    return [project_id for (project_id,) in rows]


def running_among(db, users, project_ids, exclude=None):
    """How many of `project_ids` have a server running or starting now.

    `users` is JupyterHub's cache of loaded users: a running server's user is always
    in it, so projects whose user is not loaded are stopped.
    """
    ids = [project_id for project_id in project_ids if project_id != exclude]
    if not ids:
        return 0
    uids = db.query(hub_orm.User.id).filter(hub_orm.User.name.in_(ids))
    count = 0
    for (uid,) in uids:
        user = dict.get(users, uid)
        if user is not None and user.spawner.active:
            count += 1
    return count
