"""Deadlines act: the hub collects each student's work at their own deadline (the
assignment's due date or their extension), also after being down at that moment; work
changed after the deadline is collected apart and flagged late; a due date changed is
rewritten in the students' DUE_DATE.txt."""

import asyncio
import csv
import io
import os
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, update

from smchub import orm

from .hubfixture import remove_accounts_under
from .hubprocess import HubProcess

pytestmark = pytest.mark.timeout(600)


def utc_in(seconds):
    """The time `seconds` from now, as the API takes it."""
    then = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return then.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Course:
    """An instructor's course with hw1 and some students, through any hub (in-process
    or a process of its own: both have person(), url, root and project_url)."""

    def __init__(self, hub, instructor, course_id, course_project, students):
        self.hub = hub
        self.instructor = instructor
        self.id = course_id
        self.course_project = course_project
        self.students = students  # name -> (person, student id, project id)

    @classmethod
    async def make(cls, hub, size):
        instructor = await hub.person()
        people = [await hub.person() for _ in range(size)]
        course_project = (await instructor.create_project("Physics (course)"))["id"]
        await instructor.start_project(course_project)
        await put_file(hub, instructor, course_project, "hw1", None)
        await put_file(hub, instructor, course_project, "hw1/problems.md", "1. Measure g.\n")
        r = await instructor.api("POST", "courses", {"project": course_project, "title": "Physics"})
        assert r.status_code == 201, r.text
        course_id = r.json()["id"]
        names = [p.name for p in people]
        r = await instructor.api("POST", f"courses/{course_id}/students", {"students": names})
        assert r.status_code == 200, r.text
        by_name = {s["name"]: s for s in r.json()["course"]["students"]}
        students = {p.name: (p, by_name[p.name]["id"], by_name[p.name]["project"]) for p in people}
        return cls(hub, instructor, course_id, course_project, students)

    async def api(self, method, path="", body=None, person=None):
        path = "/".join(["courses", self.id, path]).rstrip("/")
        return await (person or self.instructor).api(method, path, body)

    async def assignment(self, due=None):
        r = await self.api("POST", "assignments", {"path": "hw1", "due": due})
        assert r.status_code == 201, r.text
        return r.json()["assignments"][0]["id"]

    async def job(self, job_id, timeout=300):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            r = await self.api("GET", f"jobs/{job_id}")
            assert r.status_code == 200, r.text
            if r.json()["finished"]:
                return r.json()
            assert asyncio.get_running_loop().time() < deadline, r.json()
            await asyncio.sleep(0.3)

    async def step(self, hw, step):
        r = await self.api("POST", f"assignments/{hw}/{step}", {})
        assert r.status_code == 202, r.text
        job = await self.job(r.json()["id"])
        assert job["failed"] == [], job
        return job

    async def work(self, hw):
        """Each student's status for hw, by name."""
        r = await self.api("GET")
        assert r.status_code == 200, r.text
        return {s["name"]: s["work"][str(hw)] for s in r.json()["students"]}

    async def wait_until_collected(self, hw, names, timeout=120):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            work = await self.work(hw)
            if all(work[n]["due_collected"] for n in names):
                return work
            assert asyncio.get_running_loop().time() < deadline, work
            await asyncio.sleep(0.3)

    async def deadline_jobs(self):
        r = await self.api("GET", "jobs")
        assert r.status_code == 200, r.text
        return [j for j in r.json() if j["trigger"] == "deadline"]

    def file(self, project, path):
        """A file of a project on the local node's disk, or None."""
        full = os.path.join(self.hub.root, "data", "projects", project, path)
        if not os.path.exists(full):
            return None
        with open(full) as f:
            return f.read()

    async def write(self, name, path, content):
        person, _, project = self.students[name]
        await put_file(self.hub, person, project, path, content)


async def put_file(hub, person, project, path, content):
    body = {"type": "directory"} if content is None else {
        "type": "file", "format": "text", "content": content}  # fmt: skip
    r = await person.client.put(hub.project_url(project, f"api/contents/{path}"), json=body)
    assert r.status_code in (200, 201), r.text


async def test_each_student_is_collected_at_their_deadline_and_late_work_apart(hub):
    course = await Course.make(hub, 3)
    ana, ben, cy = course.students
    hw = await course.assignment(due=utc_in(3600))
    await course.step(hw, "assign")
    for name in course.students:
        person, _, project = course.students[name]
        await person.start_project(project)
        assert "(your extension)" not in course.file(project, "hw1/DUE_DATE.txt")
        await course.write(name, "hw1/answer.md", f"{name}: g = 9.8\n")

    # cy is given a week; their DUE_DATE.txt says so
    cy_id, cy_project = course.students[cy][1:]
    r = await course.api("PUT", f"assignments/{hw}/extensions/{cy_id}", {"due": utc_in(7 * 86400)})
    assert r.status_code == 200, r.text
    assert r.json()["extension"] == r.json()["due"]
    await course.job(r.json()["job"]["id"])
    assert "(your extension)" in course.file(cy_project, "hw1/DUE_DATE.txt")

    # the due date comes forward to a few seconds from now: ana's and ben's files say
    # so (not cy's, whose own date stands), and the hub collects them at that moment
    due = utc_in(4)
    r = await course.api("PATCH", f"assignments/{hw}", {"due": due})
    assert r.status_code == 200, r.text
    notes = await course.job(r.json()["job"]["id"])
    assert sorted(notes["succeeded"]) == sorted([ana, ben]), notes
    ana_project = course.students[ana][2]
    assert parse(due).strftime("%Y-%m-%d %H:%M") in course.file(ana_project, "hw1/DUE_DATE.txt")
    assert "(your extension)" in course.file(cy_project, "hw1/DUE_DATE.txt")

    work = await course.wait_until_collected(hw, [ana, ben])
    for name in (ana, ben):
        # not before the deadline
        assert parse(work[name]["due_collected"]) >= parse(due), work[name]
        assert not work[name]["late"]
        collected = course.file(course.course_project, f"hw1-collect/{name}/answer.md")
        assert collected == f"{name}: g = 9.8\n"
    assert work[cy]["due_collected"] is None
    assert course.file(course.course_project, f"hw1-collect/{cy}/answer.md") is None
    (job,) = [j for j in await course.deadline_jobs() if j["finished"]]
    assert job["started_by"] is None and job["step"] == "collect"
    assert sorted(job["succeeded"]) == sorted([ana, ben])

    # ana keeps working after her deadline; cy's extension ends in a few seconds
    await course.write(ana, "hw1/answer.md", "ana: g = 9.81 (late)\n")
    cy_due = utc_in(3)
    r = await course.api("PUT", f"assignments/{hw}/extensions/{cy_id}", {"due": cy_due})
    assert r.status_code == 200, r.text
    work = await course.wait_until_collected(hw, [cy])
    assert parse(work[cy]["due_collected"]) >= parse(cy_due)
    assert course.file(course.course_project, f"hw1-collect/{cy}/answer.md") == f"{cy}: g = 9.8\n"

    # collecting again after the deadlines takes only what changed since, apart
    job = await course.step(hw, "collect")
    work = await course.work(hw)
    assert work[ana]["late"] and work[ana]["late_collected"]
    assert not work[ben]["late"] and not work[cy]["late"]
    assert course.file(course.course_project, f"hw1-collect-late/{ana}/answer.md") == (
        "ana: g = 9.81 (late)\n"
    )
    # the work taken at the deadline stays as it was
    assert course.file(course.course_project, f"hw1-collect/{ana}/answer.md") == (
        f"{ana}: g = 9.8\n"
    )
    assert course.file(course.course_project, f"hw1-collect-late/{ben}/answer.md") is None
    outputs = {s["name"]: s["output"] for s in job["students"]}
    assert "nothing changed" in outputs[ben] and "hw1-collect-late" in outputs[ana]

    # the grades spreadsheet says who was late
    r = await course.api("GET", "grades.csv")
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert {name: rows[name]["hw1 late"] for name in course.students} == {
        ana: "late", ben: "", cy: ""}  # fmt: skip
    for person, _, project in course.students.values():
        await person.stop_project(project)
    await course.instructor.stop_project(course.course_project)


async def test_extensions_refuse_what_is_not_one(hub):
    course = await Course.make(hub, 1)
    (name,) = course.students
    person, student_id, _ = course.students[name]
    hw = await course.assignment(due="2099-01-01T00:00:00Z")
    r = await course.api("POST", "assignments", {"path": "notes", "kind": "handout"})
    handout = next(a["id"] for a in r.json()["assignments"] if a["path"] == "notes")
    url = f"assignments/{hw}/extensions/{student_id}"

    for body, status, says in [
        ({"due": "next friday"}, 400, "2026-12-01T17:00:00Z"),
        ({"due": None}, 400, "DELETE"),
        ({}, 400, "due"),
        ({"due": "2099-02-01T00:00:00Z", "grade": "A"}, 400, "grade"),
    ]:
        r = await course.api("PUT", url, body)
        assert r.status_code == status and says in r.json()["message"], (body, r.text)
    r = await course.api("PUT", f"assignments/{handout}/extensions/{student_id}",
                         {"due": "2099-02-01T00:00:00Z"})  # fmt: skip
    assert r.status_code == 400 and "Handouts" in r.json()["message"]
    r = await course.api("PUT", f"assignments/{hw}/extensions/999999", {"due": utc_in(60)})
    assert r.status_code == 404 and "No such student" in r.json()["message"]
    # a student cannot give themselves more time
    r = await course.api("PUT", url, {"due": "2099-02-01T00:00:00Z"}, person=person)
    assert r.status_code == 404
    r = await course.api("POST", "assignments", {"path": "hw2-collect-late"})
    assert r.status_code == 400 and "collect-late" in r.json()["message"]

    r = await course.api("PUT", url, {"due": "2099-02-01T17:00:00+01:00"})
    assert r.status_code == 200, r.text
    # not assigned yet: no DUE_DATE.txt to rewrite
    assert r.json()["due"] == "2099-02-01T16:00:00Z" and r.json()["job"] is None
    assert (await course.work(hw))[name]["extension"] == "2099-02-01T16:00:00Z"
    r = await course.api("DELETE", url)
    assert r.status_code == 200, r.text
    assert r.json()["extension"] is None and r.json()["due"] == "2099-01-01T00:00:00Z"
    await course.instructor.stop_project(course.course_project)


async def test_a_hub_down_at_the_deadline_collects_when_it_is_back(hub_root):
    hub = HubProcess(
        os.path.join(hub_root, "deadlines-" + secrets.token_hex(3)),
        "c.SMCHub.snapshot_interval = 0\nc.SMCHub.deadline_interval = 1\n",
    )
    await hub.start()
    try:
        course = await Course.make(hub, 2)
        hw = await course.assignment(due=utc_in(3600))
        await course.step(hw, "assign")
        for name, (person, _, project) in course.students.items():
            await person.start_project(project)
            await course.write(name, "hw1/answer.md", f"{name}'s answer\n")
            await person.stop_project(project)
        await hub.stop()
        # the deadline passes while the hub is down
        engine = create_engine(hub.db_url)
        then = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=5)
        # through the table's DateTime column, which stores times as the hub reads them
        # (a bare parameter would be stored in the driver's format, on SQLite a string
        # that compares differently)
        assignments = orm.Assignment.__table__
        with engine.begin() as db:
            db.execute(update(assignments).where(assignments.c.id == hw).values(due=then))
        engine.dispose()
        await hub.start()
        # signed in again: stopping the hub closed everyone's clients
        course.instructor = await hub.person(course.instructor.name)
        course.students = {
            name: (await hub.person(name), *rest) for name, (_, *rest) in course.students.items()
        }

        work = await course.wait_until_collected(hw, list(course.students))
        for name in course.students:
            assert course.file(course.course_project, f"hw1-collect/{name}/answer.md") == (
                f"{name}'s answer\n"
            )
            # collected after the deadline, as the course page shows
            assert parse(work[name]["due_collected"]) > parse(work[name]["due"])
        (job,) = await course.deadline_jobs()
        job = await course.job(job["id"])
        assert job["failed"] == [] and job["started_by"] is None
        # the servers it started for the collection are stopped again
        for person, _, project in course.students.values():
            await person.wait_for_state(project, "stopped")
    finally:
        await hub.stop()
        remove_accounts_under(hub.root)
