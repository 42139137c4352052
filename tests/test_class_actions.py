"""Class-wide actions through the API, on real local project servers: start every student's
project before class, run a command in all of them (one failing), stop them all."""

import asyncio
import os
import secrets
import signal

import pytest

from smchub import orm

from .hubfixture import remove_accounts_under
from .hubprocess import HubProcess

pytestmark = pytest.mark.timeout(600)

CLASS_SIZE = 20


async def follow(person, course_id, job, until=lambda job: job["finished"], timeout=300):
    """The job, polled as the course page does, once `until` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not until(job):
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.3)
        r = await person.api("GET", f"courses/{course_id}/jobs/{job['id']}")
        assert r.status_code == 200, r.text
        job = r.json()
    return job


async def begin(person, course_id, action, body=None):
    r = await person.api("POST", f"courses/{course_id}/actions/{action}", body or {})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["step"] == action and job["assignment"] is None and job["path"] is None
    return job


async def act(person, course_id, action, body=None):
    """Start a class action as the course page does, and follow its job to the end."""
    job = await follow(person, course_id, await begin(person, course_id, action, body))
    assert job["outcome"] == "completed" and job["done"] == job["total"], job
    return job


async def states(person, project_ids):
    found = {}
    for pid in project_ids:
        r = await person.api("GET", f"projects/{pid}")
        assert r.status_code == 200, r.text
        found[pid] = r.json()["state"]
    return found


async def make_class(hub, size):
    """An instructor and a course of `size` signed-up students, each with a course project."""
    instructor = await hub.person()
    project = (await instructor.create_project("Physics 7 (course)"))["id"]
    r = await instructor.api("POST", "courses", {"project": project, "title": "Physics 7"})
    assert r.status_code == 201, r.text
    course_id = r.json()["id"]
    people = [await hub.person() for _ in range(size)]
    r = await instructor.api(
        "POST", f"courses/{course_id}/students", {"students": [p.name for p in people]}
    )
    assert r.status_code == 200, r.text
    students = r.json()["course"]["students"]
    assert len(students) == size and all(s["project"] for s in students)
    # small projects, as an admin sets them for a class: all 20 fit on the test machine
    for s in students:
        r = await hub.admin.api("PATCH", f"projects/{s['project']}",
                                {"quotas": {"cpu": 0.25, "memory_mb": 500}})  # fmt: skip
        assert r.status_code == 200, r.text
    return instructor, course_id, students


@pytest.fixture
async def a_class(hub):
    """A class of 20."""
    instructor, course_id, students = await make_class(hub, CLASS_SIZE)
    yield instructor, course_id, students
    # whatever a failed assertion left running
    for s in students:
        user = hub.app.servers.cached_user(s["project"])
        if user is not None and user.spawner.active:
            await hub.app.servers.stop(user, wait=True)


async def test_start_run_in_all_with_one_failing_then_stop(hub, a_class):
    instructor, course_id, students = a_class
    projects = [s["project"] for s in students]
    by_name = {s["name"]: s for s in students}

    # before class: every student's project is started, and left running
    job = await act(instructor, course_id, "start")
    assert job["failed"] == [] and sorted(job["succeeded"]) == sorted(by_name)
    assert set((await states(instructor, projects)).values()) == {"running"}

    # a file in every project but one, then a command that reads it, in all 20
    odd_one = students[7]
    others = [s["id"] for s in students if s is not odd_one]
    ready = {"command": "echo 'ready for class' > ready.txt", "students": others}
    job = await act(instructor, course_id, "exec", ready)
    assert job["total"] == CLASS_SIZE - 1 and job["failed"] == [], job
    job = await act(instructor, course_id, "exec", {"command": "cat ready.txt", "timeout": 20})
    assert job["command"] == "cat ready.txt" and job["timeout"] == 20
    assert job["total"] == CLASS_SIZE
    results = {e["name"]: e for e in job["students"]}
    assert len(job["succeeded"]) == CLASS_SIZE - 1
    for name, entry in results.items():
        if name == odd_one["name"]:
            assert entry["state"] == "failed" and entry["exit_code"] == 1, entry
            assert entry["error"] == "exit code 1"
            # stderr is part of the output, as in a terminal
            assert "ready.txt: No such file or directory" in entry["output"]
        else:
            assert entry["state"] == "done" and entry["exit_code"] == 0, entry
            assert entry["output"] == "ready for class\n" and entry["error"] is None
    assert job["failed"] == [{"student": odd_one["id"], "name": odd_one["name"],
                              "error": "exit code 1", "exit_code": 1}]  # fmt: skip
    # the servers were running before: exec leaves them so
    assert set((await states(instructor, projects)).values()) == {"running"}

    # a long output keeps its end, where a failing command says why, bounded to 4 KB
    chatty = {"command": "seq 1 100000; echo done >&2", "students": [odd_one["id"]]}
    job = await act(instructor, course_id, "exec", chatty)
    (entry,) = job["students"]
    assert entry["exit_code"] == 0 and entry["output"].endswith("99999\n100000\ndone\n")
    assert len(entry["output"].encode()) == 4096 and not entry["output"].startswith("1\n")

    # after class: all stopped
    job = await act(instructor, course_id, "stop")
    assert job["failed"] == [] and len(job["succeeded"]) == CLASS_SIZE
    assert set((await states(instructor, projects)).values()) == {"stopped"}

    # exec in stopped projects starts each and stops it again; a project that cannot
    # start fails with the reason and no exit code
    broken, fine = students[3], students[11]
    project = hub.db.get(orm.Project, broken["project"])
    project.quota_overrides = {"memory_mb": 10_000_000}
    hub.db.commit()
    two = {"command": "cat ready.txt", "students": [broken["id"], fine["id"]]}
    try:
        job = await act(instructor, course_id, "exec", two)
    finally:
        project.quota_overrides = {}
        hub.db.commit()
    results = {e["name"]: e for e in job["students"]}
    assert results[fine["name"]]["exit_code"] == 0
    assert results[fine["name"]]["output"] == "ready for class\n"
    failure = results[broken["name"]]
    assert failure["state"] == "failed" and failure["exit_code"] is None
    assert failure["error"].startswith("the project could not start: ")
    assert "the project needs 10000000 MB" in failure["error"]
    assert set((await states(instructor, [broken["project"], fine["project"]])).values()) == {
        "stopped"
    }
    # the course page lists the actions with the rest
    listed = (await instructor.api("GET", f"courses/{course_id}/jobs")).json()
    assert [j["step"] for j in listed[:6]] == ["exec", "stop", "exec", "exec", "exec", "start"]


async def test_only_instructors_act_and_bad_commands_are_refused(hub):
    instructor, course_id, students = await make_class(hub, 2)
    student = await hub.person(students[0]["name"])
    stranger = await hub.person()
    for person in (student, stranger):
        for action, body in [("start", {}), ("stop", {}), ("exec", {"command": "true"})]:
            r = await person.api("POST", f"courses/{course_id}/actions/{action}", body)
            assert r.status_code == 404, (person.name, action, r.text)
    for body, message in [
        ({}, "Missing field(s): command"),
        ({"command": ""}, "command must be a non-empty string"),
        ({"command": "   "}, "command must be a non-empty string"),
        ({"command": ["ls"]}, "command must be a non-empty string"),
        ({"command": "x" * 10_001}, "the limit is 10000"),
        ({"command": "ls", "timeout": 0}, "timeout must be a number of seconds above 0"),
        ({"command": "ls", "timeout": 601}, "at most 600"),
        ({"command": "ls", "timeout": "10"}, "timeout must be"),
        ({"command": "ls", "timeout": True}, "timeout must be"),
        ({"command": "ls", "students": ["all"]}, "students must be a list of student ids"),
        ({"command": "ls", "cwd": "/"}, "Unknown field(s) cwd"),
    ]:
        r = await instructor.api("POST", f"courses/{course_id}/actions/exec", body)
        assert r.status_code == 400 and message in r.json()["message"], (body, r.text)
    r = await instructor.api("POST", f"courses/{course_id}/actions/start", {"command": "ls"})
    assert r.status_code == 400 and "Unknown field(s) command" in r.json()["message"]
    r = await instructor.api("POST", f"courses/{course_id}/actions/reboot", {})
    assert r.status_code == 404
    # nothing was started by any of these
    assert (await instructor.api("GET", f"courses/{course_id}/jobs")).json() == []
    projects = [s["project"] for s in students]
    assert set((await states(instructor, projects)).values()) == {"stopped"}
    page = await (await instructor.browser()).get(f"/hub/courses/{course_id}")
    assert page.status_code == 200 and 'id="run-in-all"' in page.text


async def test_a_command_cut_short_by_a_crash_is_not_run_twice(hub_root):
    config = (
        "c.SMCHub.snapshot_interval = 0\nc.SMCHub.course_parallelism = 2\n"
        # the class's snapshots at stop two at a time, as the setting's help advises
        "c.SMCHub.snapshot_parallelism = 2\n"
    )
    hub = HubProcess(os.path.join(hub_root, "actions-" + secrets.token_hex(3)), config)
    await hub.start()
    try:
        admin, teacher = await hub.person("admin"), await hub.person("teacher")
        names = [f"student{i}" for i in range(4)]
        assert (await admin.api("POST", "users", {"usernames": names})).status_code == 201
        project = (await teacher.create_project("Chem 1 (course)"))["id"]
        r = await teacher.api("POST", "courses", {"project": project, "title": "Chem 1"})
        course_id = r.json()["id"]
        r = await teacher.api("POST", f"courses/{course_id}/students", {"students": names})
        projects = [s["project"] for s in r.json()["course"]["students"]]
        # two students at a time: the first two are under way when the hub is killed
        command = {"command": "echo $((2 + 3)) >> runs.txt; sleep 6; cat runs.txt"}
        job = await begin(teacher, course_id, "exec", command)

        def two_running(job):
            return sum(s["state"] == "running" for s in job["students"]) == 2

        job = await follow(teacher, course_id, job, two_running)
        cut_short = {s["name"] for s in job["students"] if s["state"] == "running"}
        hub.proc.send_signal(signal.SIGKILL)
        hub.proc.wait()
        await hub.start()

        job = await follow(teacher, course_id, job)
        assert job["outcome"] == "completed" and job["restarts"] == 1, job
        for entry in job["students"]:
            if entry["name"] in cut_short:
                assert entry["state"] == "failed", entry
                assert "may or may not have finished" in entry["error"]
            else:
                # run once, by the restarted hub
                assert entry["state"] == "done" and entry["output"] == "5\n", entry
        # the servers the job started, the killed hub's included, are stopped
        for pid in projects:
            assert (await hub.wait_for_state(teacher, pid, "stopped"))["state"] == "stopped"
    finally:
        await hub.stop()
        remove_accounts_under(hub.root)
