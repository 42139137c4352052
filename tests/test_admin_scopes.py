"""Admin power follows the token's scopes, not the person who made the token.

An admin who makes a token with only the projects scope (for a script, say) hands out
a plain person's power: that token must not read, change or delete other people's
projects, nor manage nodes, courses, accounts or users.
"""

import contextlib

import pytest

from smchub.scopes import ADMIN_SCOPE, PROJECTS_SCOPE

from .hubfixture import Person

# the projects scope as people hold it: for their own projects
OWN_PROJECTS = f"{PROJECTS_SCOPE}!user"


@contextlib.asynccontextmanager
async def admin_token(hub, scopes):
    """The admin, calling the API with a token of theirs that has only `scopes`."""
    r = await hub.admin.api("POST", "users/admin/tokens", {"scopes": scopes, "note": "narrow"})
    assert r.status_code == 201, r.text
    narrow = Person(hub, "admin", r.json()["token"])
    try:
        yield narrow
    finally:
        await narrow.close()


@pytest.fixture
async def strangers_project(hub):
    owner = await hub.person()
    return owner, await owner.create_project("Not the admin's")


def refused(response, status):
    assert response.status_code == status, response.text
    assert response.json()["message"]


async def test_projects_only_admin_token_cannot_touch_others_projects(hub, strangers_project):
    owner, project = strangers_project
    pid = project["id"]
    async with admin_token(hub, [OWN_PROJECTS]) as narrow:
        refused(await narrow.api("GET", f"projects/{pid}"), 404)
        refused(await narrow.api("PATCH", f"projects/{pid}", {"title": "Taken"}), 404)
        refused(await narrow.api("PATCH", f"projects/{pid}", {"quotas": {"memory_mb": 64}}), 404)
        refused(await narrow.api("POST", f"projects/{pid}/start"), 404)
        refused(await narrow.api("DELETE", f"projects/{pid}"), 404)
        # quotas stay an admin power on the token's own projects too
        own = (await narrow.create_project("The admin's script's"))["id"]
        refused(await narrow.api("PATCH", f"projects/{own}", {"quotas": {"cpu": 8}}), 403)
    # nothing changed, and the admin's full token still has every power
    r = await hub.admin.api("GET", f"projects/{pid}")
    assert r.status_code == 200 and r.json()["title"] == "Not the admin's"
    r = await hub.admin.api("PATCH", f"projects/{pid}", {"quotas": {"memory_mb": 512}})
    assert r.status_code == 200 and r.json()["quotas"]["memory_mb"] == 512
    assert (await owner.api("GET", f"projects/{pid}")).status_code == 200


async def test_projects_only_admin_token_cannot_manage_nodes(hub):
    async with admin_token(hub, [OWN_PROJECTS]) as narrow:
        refused(await narrow.api("GET", "nodes"), 403)
        refused(await narrow.api("GET", "nodes/local"), 403)
        refused(await narrow.api("PATCH", "nodes/local", {"state": "draining"}), 403)
        refused(await narrow.api("POST", "nodes", {"name": "n1", "backend": "docker"}), 403)
        refused(await narrow.api("DELETE", "nodes/local"), 403)
    r = await hub.admin.api("GET", "nodes/local")
    assert r.status_code == 200 and r.json()["state"] == "active"


async def test_projects_only_admin_token_cannot_see_others_courses(hub, strangers_project):
    owner, project = strangers_project
    r = await owner.api("POST", "courses", {"project": project["id"], "title": "Algebra"})
    assert r.status_code == 201, r.text
    course = r.json()["id"]
    async with admin_token(hub, [OWN_PROJECTS]) as narrow:
        refused(await narrow.api("GET", f"courses/{course}"), 404)
        refused(await narrow.api("PATCH", f"courses/{course}", {"title": "Mine"}), 404)
        refused(await narrow.api("GET", f"courses/{course}/grades.csv"), 404)
        refused(await narrow.api("DELETE", f"courses/{course}"), 404)
    assert (await hub.admin.api("GET", f"courses/{course}")).status_code == 200


async def test_projects_only_admin_token_cannot_manage_accounts_or_users(hub):
    person = await hub.person()
    async with admin_token(hub, [OWN_PROJECTS]) as narrow:
        refused(await narrow.api("GET", "accounts"), 403)
        refused(await narrow.api("GET", f"accounts/{person.name}"), 403)
        refused(await narrow.api("POST", f"accounts/{person.name}/reset-link", {}), 403)
        refused(await narrow.api("POST", "signup-tokens", {"note": "class"}), 403)
        refused(await narrow.api("GET", "users"), 403)
        refused(await narrow.api("POST", "users/newcomer"), 403)
        refused(await narrow.api("PATCH", f"users/{person.name}", {"admin": True}), 403)
    assert (await hub.admin.api("GET", f"accounts/{person.name}")).status_code == 200
    assert (await hub.admin.api("GET", f"users/{person.name}")).json()["admin"] is False


async def test_the_admin_scope_is_what_gives_admin_power(hub, strangers_project):
    _, project = strangers_project
    # an admin's token with the admin scope has admin power, whatever else it lacks
    async with admin_token(hub, [OWN_PROJECTS, ADMIN_SCOPE]) as scoped:
        assert (await scoped.api("GET", f"projects/{project['id']}")).status_code == 200
        assert (await scoped.api("GET", "nodes")).status_code == 200
    # and nobody else can give themselves the scope
    person = await hub.person()
    r = await person.api("POST", f"users/{person.name}/tokens", {"scopes": [ADMIN_SCOPE]})
    assert r.status_code == 400, r.text
    assert (await person.api("GET", "nodes")).status_code == 403
