"""Who may do what: owner, collaborator, viewer, stranger, admin and anonymous × every endpoint."""

import asyncio
import time

import pytest

from smchub.scopes import PROJECTS_SCOPE

from .hubfixture import Person

ROLES = ["owner", "collaborator", "stranger", "admin", "anonymous"]

# an admin calling with a token that has only the projects scope: scopes decide, not the
# person, so that token has a stranger's power (the column it is checked against)
SAME_AS = {"narrow_admin": "stranger"}
# a student's project for a course (smchub.course_policy), owned by the instructor: the
# student and a TA of the course are its collaborators, and only the TA, who teaches
# the course, brings people in. Each is a column, with the steps where the policy differs.
COURSE_ROLES = {
    "student": ("collaborator", {"invite collaborator": 403, "make invite": 403}),
    "course_ta": ("collaborator", {}),
}
# a collaborator the owner made a viewer (issue 18): reads, and neither changes the
# project nor brings people in; leaving, starting and stopping stay open to them
VIEWER_ROLES = {
    "viewer": (
        "collaborator",
        {"rename": 403, "invite collaborator": 403, "make invite": 403, "revoke invite": 403},
    ),
}
DERIVED_ROLES = {**COURSE_ROLES, **VIEWER_ROLES}
API_ROLES = [*ROLES, *SAME_AS, *DERIVED_ROLES]

# expected status per role, for each step (walked in order on a fresh project per role)
MATRIX = [
    # (label, method, path, body, {role: status})
    (
        "list",
        "GET",
        "projects",
        None,
        dict(owner=200, collaborator=200, stranger=200, admin=200, anonymous=403),
    ),
    (
        "read",
        "GET",
        "projects/{pid}",
        None,
        dict(owner=200, collaborator=200, stranger=404, admin=200, anonymous=403),
    ),
    (
        "rename",
        "PATCH",
        "projects/{pid}",
        {"title": "Renamed"},
        dict(owner=200, collaborator=200, stranger=404, admin=200, anonymous=403),
    ),
    (
        "quotas",
        "PATCH",
        "projects/{pid}",
        {"quotas": {"memory_mb": 512}},
        dict(owner=403, collaborator=403, stranger=404, admin=200, anonymous=403),
    ),
    (
        "invite collaborator",
        "PUT",
        "projects/{pid}/collaborators/{extra}",
        None,
        dict(owner=202, collaborator=202, stranger=404, admin=202, anonymous=403),
    ),
    (
        "my invitations",
        "GET",
        "invitations",
        None,
        dict(owner=200, collaborator=200, stranger=200, admin=200, anonymous=403),
    ),
    (
        "remove other",
        "DELETE",
        "projects/{pid}/collaborators/{extra}",
        None,
        dict(owner=200, collaborator=403, stranger=404, admin=200, anonymous=403),
    ),
    (
        "make invite",
        "POST",
        "projects/{pid}/invites",
        {},
        dict(owner=201, collaborator=201, stranger=404, admin=201, anonymous=403),
    ),
    (
        "list invites",
        "GET",
        "projects/{pid}/invites",
        None,
        dict(owner=200, collaborator=200, stranger=404, admin=200, anonymous=403),
    ),
    (
        "revoke invite",
        "DELETE",
        "projects/{pid}/invites/{invite_id}",
        None,
        dict(owner=204, collaborator=204, stranger=404, admin=204, anonymous=403),
    ),
    (
        "accept invite",
        "POST",
        "invites/{token}",
        None,
        dict(owner=200, collaborator=200, stranger=200, admin=200, anonymous=403),
    ),
    (
        "start",
        "POST",
        "projects/{pid}/start",
        None,
        dict(owner=202, collaborator=202, stranger=404, admin=202, anonymous=403),
    ),
    (
        "stop",
        "POST",
        "projects/{pid}/stop",
        None,
        dict(owner=202, collaborator=202, stranger=404, admin=202, anonymous=403),
    ),
    (
        "create",
        "POST",
        "projects",
        {"title": "Mine"},
        dict(owner=201, collaborator=201, stranger=201, admin=201, anonymous=403),
    ),
    (
        "delete",
        "DELETE",
        "projects/{pid}",
        None,
        dict(owner=204, collaborator=403, stranger=404, admin=204, anonymous=403),
    ),
]

PAGES = [
    (
        "projects page",
        "/hub/projects",
        dict(owner=200, collaborator=200, stranger=200, admin=200, anonymous="login"),
    ),
    (
        "project page",
        "/hub/projects/{pid}",
        dict(owner=200, collaborator=200, stranger=404, admin=200, anonymous="login"),
    ),
]


async def narrow_admin(hub):
    """The admin, with a token of theirs that has only the projects scope."""
    r = await hub.admin.api("POST", "users/admin/tokens", {"scopes": [f"{PROJECTS_SCOPE}!user"]})
    assert r.status_code == 201, r.text
    return Person(hub, "admin", r.json()["token"])


async def student_project(instructor, student, ta):
    """The student's project for a course the instructor teaches with the TA."""
    course_project = (await instructor.create_project("Matrix course"))["id"]
    await ta.join(instructor, course_project)
    body = {"project": course_project, "title": "Matrix 101"}
    course_id = (await instructor.api("POST", "courses", body)).json()["id"]
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": student.name})
    return r.json()["results"][0]["project"]


@pytest.mark.parametrize("role", API_ROLES)
async def test_access_matrix(hub, role):
    owner = await hub.person()
    collaborator = await hub.person()
    extra = await hub.person()
    if role in COURSE_ROLES:
        student, ta = collaborator, await hub.person()
        pid = await student_project(owner, student, ta)
        collaborator = {"student": student, "course_ta": ta}[role]
    else:
        pid = (await owner.create_project("Matrix"))["id"]
        await collaborator.join(owner, pid)
    if role == "viewer":
        r = await owner.api(
            "PATCH", f"projects/{pid}/collaborators/{collaborator.name}", {"role": "viewer"}
        )
        assert r.status_code == 200, r.text
    actor = {
        "owner": owner,
        "collaborator": collaborator,
        "stranger": await hub.person(),
        "admin": hub.admin,
        "anonymous": hub.anonymous(),
        "narrow_admin": await narrow_admin(hub),
        "student": collaborator,
        "course_ta": collaborator,
        "viewer": collaborator,
    }[role]
    column, differences = DERIVED_ROLES.get(role, (SAME_AS.get(role, role), {}))
    values = {"pid": pid, "extra": extra.name}
    # an invite to revoke, made by the owner, and one to accept, to another of their
    # projects (accepting must not change what the actor may do with this one)
    values["invite_id"] = (await owner.api("POST", f"projects/{pid}/invites", {})).json()["id"]
    other = (await owner.create_project("Other"))["id"]
    values["token"] = (await owner.api("POST", f"projects/{other}/invites", {})).json()["token"]
    results = {}
    for label, method, path, body, expected in MATRIX:
        if label == "remove other":
            await extra.join(owner, pid)
        if label == "stop" and expected[column] == 202:
            await hub.wait_for_state(owner, pid, "running")
        r = await actor.api(method, path.format(**values), body)
        results[label] = r.status_code
        if r.status_code >= 400:
            # every refusal is JupyterHub's JSON error shape with words in it
            assert r.json()["message"], (label, r.text)
    assert results == {
        label: differences.get(label, expected[column]) for label, _, _, _, expected in MATRIX
    }
    if column == "collaborator":
        # deleting was refused, so the project is still there; its stop must finish
        await hub.wait_for_state(owner, pid, "stopped")


@pytest.mark.parametrize("role", ROLES)
async def test_pages_matrix(hub, role):
    owner = await hub.person()
    pid = (await owner.create_project("Pages"))["id"]
    actor = {
        "owner": owner,
        "collaborator": await hub.person(),
        "stranger": await hub.person(),
        "admin": hub.admin,
        "anonymous": None,
    }[role]
    if role == "collaborator":
        await actor.join(owner, pid)
    if actor is None:
        anonymous = hub.anonymous()
        client = anonymous.client
    else:
        client = await actor.browser()
    for label, path, expected in PAGES:
        r = await client.get(path.format(pid=pid), follow_redirects=True)
        if expected[role] == "login":
            assert r.url.path == "/hub/login", label
        else:
            assert r.status_code == expected[role], (label, r.status_code)
    if actor is None:
        await anonymous.close()


async def test_removed_collaborator_loses_server_access_within_60s(hub):
    owner = await hub.person()
    collaborator = await hub.person()
    pid = (await owner.create_project("Revocation"))["id"]
    await collaborator.join(owner, pid)
    await owner.api("POST", f"projects/{pid}/start")
    await hub.wait_for_state(owner, pid, "running")
    try:
        # both ways in work: the browser session (OAuth cookie) and the API token
        assert (await collaborator.open_project(pid, "lab")).status_code == 200
        assert (await collaborator.server_api(pid, "GET", "api/contents")).status_code == 200
        assert (
            await collaborator.client.get(hub.project_url(pid, "api/contents"))
        ).status_code == 200

        r = await owner.api("DELETE", f"projects/{pid}/collaborators/{collaborator.name}")
        assert r.status_code == 200
        removed_at = time.monotonic()
        cookie_refused = token_refused = None
        while time.monotonic() - removed_at < 65 and not (cookie_refused and token_refused):
            if cookie_refused is None:
                r = await collaborator.server_api(pid, "GET", "api/contents")
                if r.status_code in (302, 403):
                    cookie_refused = time.monotonic() - removed_at
            if token_refused is None:
                r = await collaborator.client.get(hub.project_url(pid, "api/contents"))
                if r.status_code == 403:
                    token_refused = time.monotonic() - removed_at
            await asyncio.sleep(1)
        assert cookie_refused is not None and cookie_refused <= 60
        assert token_refused is not None and token_refused <= 60
        # and a fresh visit through the hub is refused too
        r = await collaborator.open_project(pid, "lab")
        assert r.status_code == 403
    finally:
        await owner.api("POST", f"projects/{pid}/stop")
        await hub.wait_for_state(owner, pid, "stopped")
