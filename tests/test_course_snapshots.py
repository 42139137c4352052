"""Snapshots around course steps: a student's project that a step started only to copy
files in or out is stopped without a snapshot (its home is as its last snapshot has it,
plus files the course project can give again), unless someone used it meanwhile; a
command run in it is always followed by one.

Through the session's real hub, real project servers and Debian's restic.
"""

import pytest

from smchub import orm

from .test_deadlines import Course
from .test_snapshots import wait_for_snapshot

pytestmark = pytest.mark.timeout(600)


def triggers(listed):
    return sorted(s["trigger"] for s in listed["snapshots"])


async def settled(person, pid):
    """The project's snapshots once none is queued or running."""
    return await wait_for_snapshot(person, pid, 0)


async def test_the_server_tells_the_hub_whether_anyone_came(hub):
    person = await hub.person()
    pid = (await person.create_project("Visited"))["id"]
    await person.start_project(pid)
    servers = hub.app.servers
    user = servers.user_for(hub.app.db.get(orm.Project, pid))
    try:
        # starting it went through the hub only; the hub's own question is no visit
        assert await servers.used_by_others(user) is False
        assert await servers.used_by_others(user) is False
        # the owner opens it in a browser (signed in through the hub's OAuth)
        assert (await person.open_project(pid, "lab")).status_code == 200
        r = await person.server_api(pid, "GET", "api/contents")
        assert r.status_code == 200, r.text
        assert await servers.used_by_others(user) is True
    finally:
        await person.stop_project(pid)


async def test_a_step_that_only_copies_leaves_no_stop_snapshot(hub):
    course = await Course.make(hub, 2)
    (alice, _, alice_project), (bob, _, bob_project) = course.students.values()
    # bob worked in his project before: his stop took a snapshot of that work
    await bob.start_project(bob_project)
    assert (await bob.execute(bob_project, "open('notes.txt', 'w').write('mine'); print('ok')")
            ).strip() == "ok"  # fmt: skip
    await bob.stop_project(bob_project)
    assert triggers(await wait_for_snapshot(bob, bob_project, 1)) == ["stop"]
    hw = await course.assignment()

    # assign starts both stopped projects, snapshots each before writing, copies, stops
    await course.step(hw, "assign")
    assert course.file(alice_project, "hw1/problems.md") == "1. Measure g.\n"
    assert triggers(await settled(alice, alice_project)) == ["course"]
    assert triggers(await settled(bob, bob_project)) == ["course", "stop"]

    # collect only reads them: still no new snapshot
    await course.step(hw, "collect")
    assert triggers(await settled(alice, alice_project)) == ["course"]
    assert triggers(await settled(bob, bob_project)) == ["course", "stop"]

    # a command run in every project changes what it likes: its stop takes a snapshot
    r = await course.api("POST", "actions/exec", {"command": "touch ran-by-instructor"})
    assert r.status_code == 202, r.text
    job = await course.job(r.json()["id"])
    assert job["failed"] == [], job
    assert triggers(await wait_for_snapshot(alice, alice_project, 2)) == ["course", "stop"]
    assert triggers(await wait_for_snapshot(bob, bob_project, 3)) == ["course", "stop", "stop"]
    await course.instructor.stop_project(course.course_project)
