"""Services and scoped tokens are first-class clients of smchub's API (issue 19, item 1).

A university drives its hub with services: roster sync, LMS links, monitoring, grading
bots. smchub's powers are JupyterHub custom scopes that roles give to services, users
and groups; what a client may do follows its token's scopes, not who it is.
"""

import asyncio
import os
import secrets

import pytest

from smchub.scopes import (
    ALL_COURSES_SCOPE,
    READ_ALL_COURSES_SCOPE,
    READ_ALL_PROJECTS_SCOPE,
    READ_NODES_SCOPE,
)

from .hubfixture import Person, running_hub

TOKENS = {name: secrets.token_hex(16) for name in ("roster", "monitor", "lms", "plain")}


@pytest.fixture
async def services_hub(hub_root):
    async with running_hub(
        os.path.join(hub_root, "services-hub"),
        JupyterHub__services=[{"name": name, "api_token": token} for name, token in TOKENS.items()],
        JupyterHub__load_roles=[
            # JupyterHub's own admin role: every smchub scope comes with it
            {"name": "admin", "services": ["roster"]},
            {
                "name": "monitoring",
                "scopes": [READ_ALL_PROJECTS_SCOPE, READ_ALL_COURSES_SCOPE, READ_NODES_SCOPE],
                "services": ["monitor"],
            },
            {"name": "lms", "scopes": [ALL_COURSES_SCOPE], "services": ["lms"]},
            {"name": "assistants", "scopes": [READ_ALL_PROJECTS_SCOPE], "groups": ["tas"]},
        ],
        JupyterHub__load_groups={"tas": {"users": ["tina"]}},
    ) as running:
        clients = {name: Person(running, name, token) for name, token in TOKENS.items()}
        try:
            yield running, clients
        finally:
            for client in clients.values():
                await client.close()


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def refused(response, status, *words):
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message


def ids(listing):
    return {p["id"] for p in listing}


async def test_an_admin_service_lists_and_manages_every_project(services_hub):
    hub, clients = services_hub
    roster = clients["roster"]
    alice, bob = await hub.person("alice"), await hub.person("bob")
    a1 = (await alice.create_project("Alice's thesis"))["id"]
    b1 = (await bob.create_project("Bob's lab"))["id"]

    every = ok(await roster.api("GET", "projects?all=1"))
    assert {a1, b1} <= ids(every)
    assert ids(ok(await roster.api("GET", "projects?all=1&owner=alice"))) == {a1}
    assert ids(ok(await roster.api("GET", "projects?all=1&owner=nobody"))) == set()
    # a service has no projects of its own: it says how to list everyone's
    refused(await roster.api("GET", "projects"), 400, "all=1")
    refused(await roster.api("GET", "projects?all=1&state=asleep"), 400, "running")

    # start one through the service; the state filter follows the real server
    ok(await roster.api("POST", f"projects/{a1}/start"), 202)
    await alice.wait_for_state(a1, "running")
    assert ids(ok(await roster.api("GET", "projects?all=1&state=running"))) == {a1}
    stopped = ids(ok(await roster.api("GET", "projects?all=1&state=stopped")))
    assert b1 in stopped and a1 not in stopped
    assert ids(ok(await roster.api("GET", "projects?all=1&node=local&owner=alice"))) == {a1}
    paged = ok(
        await roster.api(
            "GET",
            "projects?all=1&limit=1",
            headers={"Accept": "application/jupyterhub-pagination+json"},
        )
    )
    assert len(paged["items"]) == 1 and paged["_pagination"]["total"] >= 2
    ok(await roster.api("POST", f"projects/{a1}/stop"), 202)
    await alice.wait_for_state(a1, "stopped")

    # a project made for a person is theirs, and they see it as they see their own
    made = ok(await roster.api("POST", "projects", {"title": "Lab 1", "owner": "bob"}), 201)
    assert [c["name"] for c in made["collaborators"] if c["role"] == "owner"] == ["bob"]
    assert made["id"] in ids(ok(await bob.api("GET", "projects")))
    refused(await roster.api("POST", "projects", {"title": "Whose?"}), 400, "owner")
    refused(await roster.api("POST", "projects", {"title": "X", "owner": "nobody"}), 400, "nobody")

    # adding someone invites them, as for people: joining stays their choice
    r = await roster.api("PUT", f"projects/{made['id']}/collaborators/alice")
    assert ok(r, 202)["invited"][0]["name"] == "alice"
    (invitation,) = ok(await alice.api("GET", "invitations"))
    ok(await alice.api("POST", f"invitations/{invitation['id']}/accept"))
    assert made["id"] in ids(ok(await alice.api("GET", "projects")))
    ok(await roster.api("PATCH", f"projects/{made['id']}", {"title": "Lab 1 (2027)"}))
    ok(await roster.api("DELETE", f"projects/{made['id']}/collaborators/alice"))
    ok(await roster.api("DELETE", f"projects/{made['id']}"), 204)
    assert made["id"] not in ids(ok(await bob.api("GET", "projects")))

    # nodes: read and change
    nodes = ok(await roster.api("GET", "nodes"))
    assert "local" in [n["name"] for n in nodes]
    assert (
        ok(await roster.api("PATCH", "nodes/local", {"state": "draining"}))["state"] == "draining"
    )
    assert ok(await roster.api("PATCH", "nodes/local", {"state": "active"}))["state"] == "active"

    # what only a person does for themselves stays theirs
    refused(await roster.api("GET", "invitations"), 403, "Only a person")
    refused(await roster.api("POST", f"projects/{a1}/invites", {}), 403, "Only a person")


async def test_a_service_runs_a_course_step(services_hub):
    hub, clients = services_hub
    teacher, student = await hub.person("teacher"), await hub.person("sam")
    project = (await teacher.create_project("Algebra 101"))["id"]
    await teacher.start_project(project)
    for name, body in [
        ("hw1", {"type": "directory"}),
        ("hw1/problems.md", {"type": "file", "format": "text", "content": "1. 2 + 2?\n"}),
    ]:
        r = await teacher.client.put(hub.project_url(project, f"api/contents/{name}"), json=body)
        assert r.status_code in (200, 201), r.text
    course = ok(await teacher.api("POST", "courses", {"project": project, "title": "Algebra"}), 201)
    cid = course["id"]

    # the LMS has the courses scope only: it runs any course, and nothing else
    lms = clients["lms"]
    assert cid in [c["id"] for c in ok(await lms.api("GET", "courses?all=1"))]
    refused(await lms.api("GET", "courses"), 400, "all=1")
    r = await lms.api("POST", f"courses/{cid}/students", {"students": ["sam"]})
    added = ok(r)
    assert [e["result"] for e in added["results"]] == ["added"]
    assignment = ok(await lms.api("POST", f"courses/{cid}/assignments", {"path": "hw1"}), 201)
    aid = next(a["id"] for a in assignment["assignments"] if a["path"] == "hw1")
    job = ok(await lms.api("POST", f"courses/{cid}/assignments/{aid}/assign", {}), 202)
    assert job["started_by"] is None
    deadline = asyncio.get_running_loop().time() + 300
    while not job["finished"]:
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.5)
        job = ok(await lms.api("GET", f"courses/{cid}/jobs/{job['id']}"))
    assert job["done"] == 1 and not job["failed"], job

    # the student's project, owned by the course project's owner, holds the handout
    (mine,) = [p for p in ok(await student.api("GET", "projects")) if p["id"] != project]
    owners = [c["name"] for c in mine["collaborators"] if c["role"] == "owner"]
    assert owners == ["teacher"]
    with open(os.path.join(hub.root, "data", "projects", mine["id"], "hw1", "problems.md")) as f:
        assert f.read() == "1. 2 + 2?\n"
    # the courses scope reaches no project directly
    refused(await lms.api("GET", f"projects/{project}"), 404)


async def test_a_read_only_service_reads_and_is_refused_writes(services_hub):
    hub, clients = services_hub
    monitor, plain = clients["monitor"], clients["plain"]
    alice = await hub.person("alice")
    pid = (await alice.create_project("Watched"))["id"]
    course = ok(await alice.api("POST", "courses", {"project": pid, "title": "Watched"}), 201)

    assert pid in ids(ok(await monitor.api("GET", "projects?all=1")))
    assert ok(await monitor.api("GET", f"projects/{pid}"))["title"] == "Watched"
    assert ok(await monitor.api("GET", "nodes"))
    assert ok(await monitor.api("GET", f"courses/{course['id']}"))["title"] == "Watched"
    ok(await monitor.api("GET", f"courses/{course['id']}/jobs"))

    changing = "projects:all"
    refused(await monitor.api("PATCH", f"projects/{pid}", {"title": "Mine"}), 403, changing)
    refused(await monitor.api("POST", f"projects/{pid}/start"), 403, changing)
    refused(await monitor.api("DELETE", f"projects/{pid}"), 403, changing)
    refused(await monitor.api("PUT", f"projects/{pid}/collaborators/alice"), 403, changing)
    refused(await monitor.api("POST", "projects", {"title": "X", "owner": "alice"}), 403, changing)
    refused(await monitor.api("PATCH", "nodes/local", {"state": "draining"}), 403, "smchub:nodes")
    refused(
        await monitor.api("PATCH", f"courses/{course['id']}", {"title": "Mine"}), 403, "courses:all"
    )
    refused(await monitor.api("POST", f"projects/{pid}/move", {"node": "local"}), 403, "nodes")
    # nothing changed
    project = ok(await alice.api("GET", f"projects/{pid}"))
    assert project["title"] == "Watched" and project["state"] == "stopped"
    assert ok(await hub.admin.api("GET", "nodes/local"))["state"] == "active"

    # a service no role gives smchub's scopes is told which exist
    refused(await plain.api("GET", "projects?all=1"), 403, READ_ALL_PROJECTS_SCOPE)
    refused(await plain.api("GET", f"projects/{pid}"), 403, "none of smchub's scopes")
    refused(await plain.api("GET", "nodes"), 403, READ_NODES_SCOPE)


async def test_a_group_role_lets_assistants_read_every_project(services_hub):
    hub, _ = services_hub
    tina, stranger = await hub.person("tina"), await hub.person("stranger")
    theirs = (await stranger.create_project("Someone else's"))["id"]
    own = (await tina.create_project("Tina's own"))["id"]
    # her cookie's and full token's scopes include her group's role
    assert ok(await tina.api("GET", f"projects/{theirs}"))["title"] == "Someone else's"
    assert {theirs, own} <= ids(ok(await tina.api("GET", "projects?all=1")))
    assert ids(ok(await tina.api("GET", "projects"))) == {own}
    refused(await tina.api("PATCH", f"projects/{theirs}", {"title": "Hers"}), 403, "projects:all")
    ok(await tina.api("PATCH", f"projects/{own}", {"title": "Still hers"}))
    # the project's page opens to her as the API does
    page = await (await tina.browser()).get(f"/hub/projects/{theirs}")
    assert page.status_code == 200 and "Someone else&#39;s" in page.text
    # a person without the role sees neither the project nor the list
    refused(await stranger.api("GET", f"projects/{own}"), 404)
    assert (await (await stranger.browser()).get(f"/hub/projects/{own}")).status_code == 404
    refused(await stranger.api("GET", "projects?all=1"), 403, READ_ALL_PROJECTS_SCOPE)
