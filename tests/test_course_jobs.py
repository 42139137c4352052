"""Course jobs live in the database: a hub stopped (SIGTERM) or killed (SIGKILL) in the
middle of assigning to a class of 30 takes the job up again when it is back, or, when it
cannot, says exactly which students to run again; the course lists its recent jobs."""

import asyncio
import os
import secrets
import signal
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from .hubfixture import remove_accounts_under
from .hubprocess import HubProcess

pytestmark = pytest.mark.timeout(900)

CLASS_SIZE = 30
PROBLEMS = "1. Prove it.\n"


class Class:
    """A hub process with an instructor, a TA and a course of 30 students."""

    def __init__(self, hub, course_id, course_project, students):
        self.hub = hub
        self.course_id = course_id
        self.course_project = course_project
        self.students = students  # name -> {"id": student id, "project": project id}

    async def instructor(self):
        return await self.hub.person("teacher")

    async def api(self, person, method, path="", body=None):
        return await person.api(method, "/".join(["courses", self.course_id, path]).rstrip("/"),
                                body)  # fmt: skip

    async def assignment(self, path):
        """A new assignment: a small folder of the course project."""
        teacher = await self.instructor()
        # a hub stopped with SIGTERM stopped it
        await teacher.start_project(self.course_project)
        for name, body in [
            (path, {"type": "directory"}),
            (f"{path}/problems.md", {"type": "file", "format": "text", "content": PROBLEMS}),
            (f"{path}/values.csv", {"type": "file", "format": "text", "content": "x\n1\n"}),
        ]:
            url = self.hub.project_url(self.course_project, f"api/contents/{name}")
            r = await teacher.client.put(url, json=body)
            assert r.status_code in (200, 201), r.text
        r = await self.api(teacher, "POST", "assignments", {"path": path})
        assert r.status_code == 201, r.text
        return next(a["id"] for a in r.json()["assignments"] if a["path"] == path)

    async def job(self, person, job_id):
        r = await self.api(person, "GET", f"jobs/{job_id}")
        assert r.status_code == 200, r.text
        return r.json()

    async def wait_for(self, person, job_id, done=None, timeout=600):
        """The job once it has finished (or has `done` students done), polled as the
        course page does."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            job = await self.job(person, job_id)
            if job["finished"] or (done is not None and job["done"] >= done):
                return job
            assert asyncio.get_running_loop().time() < deadline, job
            await asyncio.sleep(0.2)

    def home_file(self, name, path):
        """A file of a student's project home, on the local node's disk."""
        project = self.students[name]["project"]
        full = os.path.join(self.hub.root, "data", "projects", project, path)
        if not os.path.exists(full):
            return None
        with open(full) as f:
            return f.read()

    def backups(self, name, folder):
        home = os.path.join(self.hub.root, "data", "projects", self.students[name]["project"])
        found = []
        for parent, _, files in os.walk(os.path.join(home, folder)):
            found += [os.path.join(parent, f) for f in files if f.endswith("~")]
        return found

    async def running_student_projects(self):
        teacher = await self.instructor()
        projects = (await teacher.api("GET", "projects")).json()
        ours = {s["project"] for s in self.students.values()}
        return [p["id"] for p in projects if p["id"] in ours and p["state"] != "stopped"]

    async def restart(self, how, while_down=None):
        """Stop the hub as an admin would (SIGTERM) or as a crash does (SIGKILL, the hub
        process alone: its project servers and proxy are left behind), then start it."""
        if how == signal.SIGTERM:
            await self.hub.stop()
        else:
            self.hub.proc.send_signal(signal.SIGKILL)
            self.hub.proc.wait()
        if while_down is not None:
            while_down()
        await self.hub.start()

    def make_old(self, job_id, days):
        """As if the job had run `days` days ago (the hub is down)."""
        engine = create_engine(self.hub.db_url)
        then = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=days)
        with engine.begin() as db:
            db.execute(
                text("update smc_course_jobs set created = :t, finished = :t where id = :i"),
                {"t": then, "i": job_id},
            )
        engine.dispose()


@pytest.fixture(scope="module")
async def a_class(hub_root):
    hub = HubProcess(
        os.path.join(hub_root, "jobs-" + secrets.token_hex(3)),
        # the test follows jobs across restarts, not the snapshot timer; the class's
        # snapshots two at a time, as snapshot_parallelism's help advises for classes
        "c.SMCHub.snapshot_interval = 0\nc.SMCHub.snapshot_parallelism = 2\n",
    )
    await hub.start()
    try:
        admin = await hub.person("admin")
        teacher = await hub.person("teacher")
        names = [f"student{i:02d}" for i in range(CLASS_SIZE)]
        r = await admin.api("POST", "users", {"usernames": names})
        assert r.status_code == 201, r.text
        course_project = (await teacher.create_project("Math 101 (course)"))["id"]
        r = await teacher.api("POST", "courses", {"project": course_project, "title": "Math 101"})
        assert r.status_code == 201, r.text
        course_id = r.json()["id"]
        r = await teacher.api("POST", f"courses/{course_id}/students", {"students": names})
        assert r.status_code == 200, r.text
        students = {
            s["name"]: {"id": s["id"], "project": s["project"]}
            for s in r.json()["course"]["students"]
        }
        assert len(students) == CLASS_SIZE and all(s["project"] for s in students.values())
        yield Class(hub, course_id, course_project, students)
    finally:
        await hub.stop()
        remove_accounts_under(hub.root)


async def start_assign(a_class, person, assignment):
    r = await a_class.api(person, "POST", f"assignments/{assignment}/assign", {})
    assert r.status_code == 202, r.text
    return r.json()["id"]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_a_restarted_hub_finishes_an_assign(a_class, how):
    teacher = await a_class.instructor()
    hw = await a_class.assignment(f"hw-{how.name.lower()}")
    job_id = await start_assign(a_class, teacher, hw)
    partway = await a_class.wait_for(teacher, job_id, done=4)
    assert not partway["finished"], "the job ended before the hub could be stopped"

    await a_class.restart(how)

    teacher = await a_class.instructor()
    job = await a_class.wait_for(teacher, job_id)
    assert job["outcome"] == "completed" and job["restarts"] == 1, job
    assert job["failed"] == [] and job["done"] == job["total"] == CLASS_SIZE
    assert sorted(job["succeeded"]) == sorted(a_class.students)
    # every student has the assignment, and a copy cut short and done again made no
    # backups: identical files are left alone
    course = (await a_class.api(teacher, "GET")).json()
    for student in course["students"]:
        work = student["work"][str(hw)]
        assert work["assigned"] and not work["error"], student
        assert a_class.home_file(student["name"], f"hw-{how.name.lower()}/problems.md") == PROBLEMS
        assert a_class.backups(student["name"], f"hw-{how.name.lower()}") == []
    # the servers the job started are stopped again, those a killed hub left included
    assert await a_class.running_student_projects() == []
    listed = (await a_class.api(teacher, "GET", "jobs")).json()
    assert listed[0]["id"] == job_id and listed[0]["restarts"] == 1


async def test_a_job_that_cannot_go_on_lists_the_students_to_retry(a_class):
    teacher = await a_class.instructor()
    ta = await a_class.hub.person("assistant")
    await ta.join(teacher, a_class.course_project)
    # a job of long ago, for the restarted hub to forget
    old_hw = await a_class.assignment("hw-old")
    first = next(iter(a_class.students.values()))["id"]
    r = await a_class.api(teacher, "POST", f"assignments/{old_hw}/assign", {"students": [first]})
    hw = await a_class.assignment("hw-abandoned")
    old_job = (await a_class.wait_for(teacher, r.json()["id"]))["id"]
    job_id = await start_assign(a_class, ta, hw)
    await a_class.wait_for(teacher, job_id, done=4)
    # the TA who started it stops teaching the course, then the hub crashes
    r = await teacher.api("DELETE", f"projects/{a_class.course_project}/collaborators/assistant")
    assert r.status_code == 200, r.text
    await a_class.restart(signal.SIGKILL, while_down=lambda: a_class.make_old(old_job, 31))
    # finished over c.SMCHub.course_job_retention_days (30) ago: pruned at start
    assert (await a_class.api(teacher, "GET", f"jobs/{old_job}")).status_code == 404

    teacher = await a_class.instructor()
    job = await a_class.wait_for(teacher, job_id)
    assert job["outcome"] == "abandoned" and "assistant, who started it" in job["reason"], job
    failed = {f["name"]: f for f in job["failed"]}
    assert failed and len(job["succeeded"]) + len(failed) == CLASS_SIZE
    course = (await a_class.api(teacher, "GET")).json()
    for student in course["students"]:
        work = student["work"][str(hw)]
        if student["name"] in failed:
            assert "the hub restarted during this job" in failed[student["name"]]["error"]
            assert failed[student["name"]]["error"].endswith("retry")
            assert work["error"].startswith("assign: the hub restarted") and not work["assigned"]
        else:
            assert work["assigned"] and not work["error"]
            assert a_class.home_file(student["name"], "hw-abandoned/problems.md") == PROBLEMS

    # the instructor retries exactly those, as the course page's button does
    retry = [f["student"] for f in job["failed"]]
    r = await a_class.api(teacher, "POST", f"assignments/{hw}/assign", {"students": retry})
    assert r.status_code == 202, r.text
    again = await a_class.wait_for(teacher, r.json()["id"])
    assert again["failed"] == [] and sorted(again["succeeded"]) == sorted(failed)
    course = (await a_class.api(teacher, "GET")).json()
    assert all(s["work"][str(hw)]["assigned"] for s in course["students"])
    assert not any(s["work"][str(hw)]["error"] for s in course["students"])
    assert await a_class.running_student_projects() == []


async def test_only_instructors_list_the_jobs(a_class):
    teacher = await a_class.instructor()
    stranger = await a_class.hub.person("stranger")
    admin = await a_class.hub.person("admin")
    r = await a_class.api(teacher, "GET", "jobs")
    assert r.status_code == 200, r.text
    jobs = r.json()
    created = [j["created"] for j in jobs]
    assert created == sorted(created, reverse=True)
    assert all(len(j["students"]) == j["total"] for j in jobs)
    assert all({"student", "name", "state", "error"} <= set(j["students"][0]) for j in jobs)
    assert (await a_class.api(admin, "GET", "jobs")).status_code == 200
    # neither a stranger nor a former TA learns that the course exists
    for person in (stranger, await a_class.hub.person("assistant")):
        assert (await a_class.api(person, "GET", "jobs")).status_code == 404
        if jobs:
            r = await a_class.api(person, "GET", f"jobs/{jobs[0]['id']}")
            assert r.status_code == 404
    for query in ("days=soon", "days=0", "limit=1000"):
        r = await a_class.api(teacher, "GET", f"jobs?{query}")
        assert r.status_code == 400 and "must be a number" in r.json()["message"], query
    assert len((await a_class.api(teacher, "GET", "jobs?limit=1")).json()) == min(1, len(jobs))
    page = await (await teacher.browser()).get(f"/hub/courses/{a_class.course_id}")
    assert page.status_code == 200 and 'id="jobs"' in page.text
