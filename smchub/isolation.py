"""Whether projects are kept apart, and who may join a hub where they are not.

Projects on a local node run as their own Unix accounts only when the hub is root. A
hub that is not root runs every local project as its own account: a project can then
read every other project, the hub's database and its cookie secret. Such a hub is a
personal one: it serves its first person, and refuses everyone else unless the admin
says, with c.SMCHub.allow_unisolated_projects, that all its people trust each other.
"""

from jupyterhub import orm as hub_orm

from .names import is_project_name


def projects_isolated(hub_is_root, node_backends):
    """Whether every project is kept from the others and from the hub.

    Containers (docker, swarm, kubernetes) isolate by themselves; local projects only
    when the hub can give each its own account.
    """
    return hub_is_root or "local" not in set(node_backends)


def refusal(person_names, newcomer=None):
    """Why `newcomer` may not join a hub whose projects are not isolated, or None.

    `person_names` are the people the hub has now (their accounts or users); the first
    person is welcome, and so is anyone already there.
    """
    others = [name for name in person_names if name != newcomer]
    if not others:
        return None
    return (
        "This hub serves one person only: it does not run as root, so projects run as "
        "the hub's own account and could read each other's files and the hub's secrets. "
        "Ask the admin to run it as root or with Docker nodes, or to set "
        "c.SMCHub.allow_unisolated_projects = True if everyone here trusts each other."
    )


def people_names(db, limit=2):
    """Up to `limit` names of people (not projects) the hub has as users."""
    names = []
    for (name,) in db.query(hub_orm.User.name).yield_per(100):
        if not is_project_name(name):
            names.append(name)
            if len(names) >= limit:
                break
    return names
