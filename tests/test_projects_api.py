"""The projects REST API: every endpoint and its errors."""

import pytest


async def test_create_and_read_project(hub):
    alice = await hub.person()
    r = await alice.api("POST", "projects", {"title": "  Thesis  ", "description": "chapter 1"})
    assert r.status_code == 201, r.text
    project = r.json()
    assert project["title"] == "Thesis"
    assert project["description"] == "chapter 1"
    assert project["owner"] == alice.name
    assert project["collaborators"] == [{"name": alice.name, "role": "owner"}]
    assert project["state"] == "stopped"
    assert project["url"] == hub.project_url(project["id"])
    assert project["last_active"] is None
    assert set(project["quotas"]) == {"memory_mb", "cpu", "idle_timeout_s", "disk_mb"}

    r = await alice.api("GET", f"projects/{project['id']}")
    assert r.status_code == 200
    assert r.json()["id"] == project["id"]

    r = await alice.api("GET", "projects")
    assert [p["id"] for p in r.json()] == [project["id"]]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"description": "no title"}', "Missing field(s): title"),
        (b'{"title": 5}', "title must be a string"),
        (b'{"title": "   "}', "title must not be empty"),
        (('{"title": "%s"}' % ("x" * 201)).encode(), "the limit is 200"),
        (b'{"title": "ok", "colour": "red"}', "Unknown field(s) colour"),
        (b'{"title": "ok", "description": ["x"]}', "description must be a string"),
        (b'{"title": "\xff\xfe"}', "not valid UTF-8"),
    ],
)
async def test_create_project_bad_input(hub, body, message):
    alice = await hub.person("badinput")
    before = (await alice.api("GET", "projects")).json()
    r = await alice.api(
        "POST", "projects", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400
    assert message in r.json()["message"]
    # nothing half-made
    assert (await alice.api("GET", "projects")).json() == before


async def test_oversized_body_is_413(hub):
    alice = await hub.person()
    r = await alice.api("POST", "projects", content=b'{"title": "' + b"x" * 100_000 + b'"}')
    assert r.status_code == 413
    assert "limit" in r.json()["message"]


async def test_unknown_project_is_404(hub):
    alice = await hub.person()
    for method, path in [
        ("GET", "projects/0e4b6a1e-3c1f-4d55-8d5a-3ef2a8a1c001"),
        ("GET", "projects/not-a-uuid"),
        ("PATCH", "projects/0e4b6a1e-3c1f-4d55-8d5a-3ef2a8a1c001"),
        ("DELETE", "projects/0e4b6a1e-3c1f-4d55-8d5a-3ef2a8a1c001"),
        ("POST", "projects/0e4b6a1e-3c1f-4d55-8d5a-3ef2a8a1c001/start"),
    ]:
        r = await alice.api(method, path, {} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.text)
        assert "No such project" in r.json()["message"]


async def test_patch_project(hub):
    alice = await hub.person()
    project = await alice.create_project("Old")
    r = await alice.api("PATCH", f"projects/{project['id']}", {"title": "New", "description": "d"})
    assert r.status_code == 200
    assert (r.json()["title"], r.json()["description"]) == ("New", "d")
    # quotas are for admins; a refused patch changes nothing, not even the title
    r = await alice.api(
        "PATCH", f"projects/{project['id']}", {"title": "Sneaky", "quotas": {"memory_mb": 99999}}
    )
    assert r.status_code == 403
    r = await alice.api("GET", f"projects/{project['id']}")
    assert r.json()["title"] == "New"
    r = await hub.admin.api(
        "PATCH", f"projects/{project['id']}", {"quotas": {"memory_mb": 4096, "cpu": 2}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["quotas"]["memory_mb"] == 4096
    assert r.json()["quotas"]["cpu"] == 2.0
    for bad in [{"memory_mb": "lots"}, {"gpus": 1}, {"cpu": -1}, {"memory_mb": 1.5}, []]:
        r = await hub.admin.api("PATCH", f"projects/{project['id']}", {"quotas": bad})
        assert r.status_code == 400, (bad, r.text)
    assert (await alice.api("GET", f"projects/{project['id']}")).json()["quotas"][
        "memory_mb"
    ] == 4096


async def test_delete_project_hides_it(hub):
    alice = await hub.person()
    bob = await hub.person()
    project = await alice.create_project("Doomed")
    await bob.join(alice, project["id"])
    r = await bob.api("DELETE", f"projects/{project['id']}")
    assert r.status_code == 403
    r = await alice.api("DELETE", f"projects/{project['id']}")
    assert r.status_code == 204
    assert (await alice.api("GET", f"projects/{project['id']}")).status_code == 404
    assert project["id"] not in [p["id"] for p in (await alice.api("GET", "projects")).json()]


async def test_list_pagination(hub):
    alice = await hub.person()
    ids = [(await alice.create_project(f"P{i}"))["id"] for i in range(5)]
    r = await alice.api(
        "GET",
        "projects?offset=1&limit=2",
        headers={"Accept": "application/jupyterhub-pagination+json"},
    )
    assert r.status_code == 200
    page = r.json()
    assert page["_pagination"]["total"] == 5
    assert [p["id"] for p in page["items"]] == list(reversed(ids))[1:3]
    r = await alice.api("GET", "projects?limit=abc")
    assert r.status_code == 400


async def test_collaborators(hub):
    alice = await hub.person()
    bob = await hub.person()
    carol = await hub.person()
    project = await alice.create_project()
    pid = project["id"]
    r = await alice.api("PUT", f"projects/{pid}/collaborators/nobody-here")
    assert r.status_code == 404
    assert "No such user" in r.json()["message"]
    r = await alice.api("PUT", f"projects/{pid}/collaborators/{pid}")
    assert r.status_code == 404
    # adding someone invites them (tests/test_invitations.py); they join by accepting
    model = await bob.join(alice, pid)
    assert {"name": bob.name, "role": "collaborator"} in model["collaborators"]
    # idempotent
    r = await alice.api("PUT", f"projects/{pid}/collaborators/{bob.name}")
    assert r.status_code == 200
    assert len(r.json()["collaborators"]) == 2
    # a collaborator may add others, but only the owner removes others
    await carol.join(bob, pid)
    r = await bob.api("DELETE", f"projects/{pid}/collaborators/{carol.name}")
    assert r.status_code == 403
    r = await alice.api("DELETE", f"projects/{pid}/collaborators/{alice.name}")
    assert r.status_code == 400
    assert "owner" in r.json()["message"]
    r = await carol.api("DELETE", f"projects/{pid}/collaborators/{carol.name}")
    assert r.status_code == 200
    assert (await carol.api("GET", f"projects/{pid}")).status_code == 404
    r = await alice.api("DELETE", f"projects/{pid}/collaborators/{bob.name}")
    assert r.status_code == 200
    assert [c["name"] for c in r.json()["collaborators"]] == [alice.name]
    r = await alice.api("DELETE", f"projects/{pid}/collaborators/{bob.name}")
    assert r.status_code == 404


async def test_project_names_are_reserved(hub):
    pid = (await (await hub.person()).create_project())["id"]
    other = "0e4b6a1e-3c1f-4d55-8d5a-3ef2a8a1c0ff"
    for name in (pid, other):
        r = await hub.admin.api("POST", f"users/{name}")
        assert r.status_code in (400, 409), r.text
        r = await hub.admin.api("POST", "users", {"usernames": [name]})
        assert r.status_code == 400, r.text


async def test_a_projects_hub_user_is_left_to_the_projects_api(hub):
    """JupyterHub's user routes (and its admin page, which uses them) do not delete,
    rename or make admin a project's JupyterHub user; the project stays whole."""
    owner = await hub.person()
    project = await owner.create_project("Thesis")
    pid = project["id"]
    for method, body, what in [
        ("DELETE", None, "deleted"),
        ("PATCH", {"name": "renamed-project"}, "changed"),
        ("PATCH", {"admin": True}, "changed"),
    ]:
        r = await hub.admin.api(method, f"users/{pid}", body)
        assert r.status_code == 409, (method, body, r.text)
        message = r.json()["message"]
        assert what in message and "Thesis" in message and f"/hub/api/projects/{pid}" in message
    # nothing changed: the project and its hub user are as they were
    assert (await owner.api("GET", f"projects/{pid}")).json()["title"] == "Thesis"
    r = await hub.admin.api("GET", f"users/{pid}")
    assert r.status_code == 200 and r.json()["admin"] is False
    # someone without the admin scopes learns nothing about the name
    r = await owner.api("DELETE", f"users/{pid}")
    assert r.status_code in (403, 404) and "Thesis" not in r.text
    # people are still deleted as before
    person = await hub.person()
    assert (await hub.admin.api("DELETE", f"users/{person.name}")).status_code == 204
