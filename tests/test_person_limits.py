"""One person cannot take the whole hub: bounds on projects owned and projects running."""

import pytest

from smchub.person_limits import LimitReached, check_can_create, check_can_start


def test_the_limits_say_what_to_do():
    check_can_create(owned=1, limit=2)
    check_can_create(owned=500, limit=0)  # 0: no limit
    with pytest.raises(LimitReached, match="delete one"):
        check_can_create(owned=2, limit=2)
    check_can_start("ada", running=0, limit=1)
    with pytest.raises(LimitReached, match="ada already has 1 projects running.*stop one"):
        check_can_start("ada", running=1, limit=1)


@pytest.fixture
def limits(hub):
    """Set the hub's per-person limits for one test."""
    app = hub.app
    saved = app.max_projects_per_person, app.max_running_per_person

    def set_limits(projects, running):
        app.max_projects_per_person, app.max_running_per_person = projects, running

    yield set_limits
    app.max_projects_per_person, app.max_running_per_person = saved


async def test_a_person_owns_at_most_so_many_projects(hub, limits):
    limits(projects=2, running=10)
    ada = await hub.person()
    await ada.create_project("one")
    await ada.create_project("two")
    r = await ada.api("POST", "projects", {"title": "three"})
    assert r.status_code == 403
    assert "You own 2 projects" in r.json()["message"]
    r = await ada.api("GET", "projects")
    assert [p["title"] for p in r.json()] == ["two", "one"]  # nothing half-made
    # admins run courses and benchmarks: not limited
    assert (await hub.admin.api("POST", "projects", {"title": "x"})).status_code == 201
    assert (await hub.admin.api("POST", "projects", {"title": "y"})).status_code == 201
    assert (await hub.admin.api("POST", "projects", {"title": "z"})).status_code == 201


async def test_a_person_runs_at_most_so_many_projects(hub, limits):
    limits(projects=10, running=1)
    bea = await hub.person()
    first = (await bea.create_project("first"))["id"]
    second = (await bea.create_project("second"))["id"]
    await bea.start_project(first)
    try:
        r = await bea.api("POST", f"projects/{second}/start")
        assert r.status_code == 403, r.text
        assert "already has 1 projects running" in r.json()["message"]
        assert (await bea.api("GET", f"projects/{second}")).json()["state"] == "stopped"
        # starting the one already running is still fine (idempotent)
        assert (await bea.api("POST", f"projects/{first}/start")).status_code == 202
    finally:
        await bea.stop_project(first)
    await bea.start_project(second)
    await bea.stop_project(second)
