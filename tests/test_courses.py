"""Courses through the API: students, assign, collect, grade, return, handouts, CSV."""

import asyncio
import csv
import io

import pytest

from smchub import orm

pytestmark = pytest.mark.timeout(900)


async def wait_for_job(instructor, course_id, job, timeout=600):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await instructor.api("GET", f"courses/{course_id}/jobs/{job['id']}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["finished"]:
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.3)


async def run_step(instructor, course_id, assignment_id, step, students=None):
    body = {} if students is None else {"students": students}
    r = await instructor.api(
        "POST", f"courses/{course_id}/assignments/{assignment_id}/{step}", body
    )
    assert r.status_code == 202, r.text
    return await wait_for_job(instructor, course_id, r.json())


async def read(person, project_id, path):
    r = await person.client.get(f"/user/{project_id}/api/contents/{path}")
    return r.json().get("content") if r.status_code == 200 else None


@pytest.fixture
async def course(hub):
    """An instructor with a TA, a course project holding hw1/ and notes/, a course."""
    instructor = await hub.person()
    ta = await hub.person()
    project = (await instructor.create_project("Math 101 (course)"))["id"]
    await instructor.api("PUT", f"projects/{project}/collaborators/{ta.name}")
    await instructor.start_project(project)
    await instructor.execute(
        project,
        "import os\nos.makedirs('hw1/data', exist_ok=True)\n"
        "open('hw1/problems.md', 'w').write('1. Prove it.\\n')\n"
        "open('hw1/data/values.csv', 'w').write('x\\n1\\n')\n"
        "os.makedirs('notes', exist_ok=True)\nopen('notes/week1.md', 'w').write('Welcome')\n",
    )
    r = await instructor.api("POST", "courses", {"project": project, "title": "Math 101"})
    assert r.status_code == 201, r.text
    yield instructor, ta, project, r.json()["id"]
    await instructor.stop_project(project)


async def test_a_course_end_to_end(hub, course):
    instructor, ta, course_project, course_id = course
    students = [await hub.person() for _ in range(2)]
    late_email = "late.student@example.org"
    pasted = f"{students[0].name}\n{students[1].name}, {late_email}; nobody-like-this"
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": pasted})
    assert r.status_code == 200, r.text
    results = {x["entry"]: x for x in r.json()["results"]}
    assert results[students[0].name]["result"] == "added"
    assert results[late_email]["result"] == "pending"
    assert results["nobody-like-this"]["result"] == "error"
    assert "add them by email" in results["nobody-like-this"]["message"]

    # each student has a project titled after them and the course, shared with the teachers
    projects = (await students[0].api("GET", "projects")).json()
    (mine,) = [p for p in projects if p["title"] == f"{students[0].name} – Math 101"]
    names = {c["name"] for c in mine["collaborators"]}
    assert names == {students[0].name, instructor.name, ta.name}

    # the late student signs up with the email they were added by, and gets their project
    late = await hub.person(email=late_email)
    projects = (await late.api("GET", "projects")).json()
    assert [p["title"] for p in projects] == [f"{late.name} – Math 101"]
    everyone = [*students, late]

    r = await instructor.api(
        "POST", f"courses/{course_id}/assignments", {"path": "hw1", "due": "2026-12-01T17:00:00Z"}
    )
    assert r.status_code == 201, r.text
    hw1 = next(a for a in r.json()["assignments"] if a["path"] == "hw1")["id"]
    model = (await instructor.api("GET", f"courses/{course_id}")).json()
    ids = {s["name"]: s["id"] for s in model["students"]}
    project_of = {s["name"]: s["project"] for s in model["students"]}

    job = await run_step(ta, course_id, hw1, "assign")  # a TA can run steps too
    assert job["failed"] == [] and job["done"] == 3
    student = students[0]
    pid = project_of[student.name]
    await student.start_project(pid)
    assert await read(student, pid, "hw1/problems.md") == "1. Prove it.\n"
    assert "2026-12-01 17:00" in await read(student, pid, "hw1/DUE_DATE.txt")
    # the student works on it
    r = await student.client.put(
        f"/user/{pid}/api/contents/hw1/problems.md",
        json={"type": "file", "format": "text", "content": "1. Proved: QED\n"},
    )
    assert r.status_code == 200
    # assigning again never overwrites the student's work: it is kept as a backup
    job = await run_step(instructor, course_id, hw1, "assign", [ids[student.name]])
    assert job["failed"] == []
    assert await read(student, pid, "hw1/problems.md~") == "1. Proved: QED\n"
    await student.stop_project(pid)

    job = await run_step(instructor, course_id, hw1, "collect")
    assert job["failed"] == []
    collected = await read(instructor, course_project, f"hw1-collect/{student.name}/problems.md~")
    assert collected == "1. Proved: QED\n"
    # collecting again is safe
    assert (await run_step(instructor, course_id, hw1, "collect"))["failed"] == []

    for who, grade in [(student, "A"), (students[1], "B+"), (late, "C")]:
        r = await instructor.api(
            "PUT", f"courses/{course_id}/assignments/{hw1}/grades/{ids[who.name]}",
            {"grade": grade, "comments": f"Comments for {who.name}"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
    job = await run_step(instructor, course_id, hw1, "return")
    assert job["failed"] == []
    await student.start_project(pid)
    grade_md = await read(student, pid, "graded-hw1/GRADE.md")
    assert "Grade: A" in grade_md and f"Comments for {student.name}" in grade_md
    assert await read(student, pid, "graded-hw1/problems.md~") == "1. Proved: QED\n"
    await student.stop_project(pid)
    assert (await run_step(instructor, course_id, hw1, "return"))["failed"] == []

    status = (await instructor.api("GET", f"courses/{course_id}")).json()
    for s in status["students"]:
        work = s["work"][str(hw1)]
        assert work["assigned"] and work["collected"] and work["returned"] and not work["error"]

    # grades as CSV
    r = await instructor.api("GET", f"courses/{course_id}/grades.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["student"]: row["hw1"] for row in rows} == {
        student.name: "A",
        students[1].name: "B+",
        late.name: "C",
    }
    assert {row["email"] for row in rows} >= {late_email}

    # removing a student keeps their project
    r = await instructor.api("DELETE", f"courses/{course_id}/students/{ids[late.name]}")
    assert r.status_code == 200
    assert late.name not in {s["name"] for s in r.json()["students"]}
    assert (await late.api("GET", f"projects/{project_of[late.name]}")).status_code == 200
    assert everyone


async def test_handouts_go_out_and_never_come_back(hub, course):
    instructor, ta, course_project, course_id = course
    student = await hub.person()
    await instructor.api("POST", f"courses/{course_id}/students", {"students": [student.name]})
    r = await instructor.api(
        "POST", f"courses/{course_id}/assignments", {"path": "notes", "kind": "handout"}
    )
    notes = next(a for a in r.json()["assignments"] if a["path"] == "notes")["id"]
    job = await run_step(instructor, course_id, notes, "assign")
    assert job["failed"] == []
    for step in ("collect", "return"):
        r = await instructor.api("POST", f"courses/{course_id}/assignments/{notes}/{step}", {})
        assert r.status_code == 400 and "Handouts" in r.json()["message"]
    pid = (await student.api("GET", "projects")).json()[0]["id"]
    await student.start_project(pid)
    assert await read(student, pid, "notes/week1.md") == "Welcome"
    await student.stop_project(pid)


async def test_course_access_and_bad_input(hub, course):
    instructor, ta, course_project, course_id = course
    stranger = await hub.person()
    student = await hub.person()
    await instructor.api("POST", f"courses/{course_id}/students", {"students": [student.name]})
    for person in (stranger, student):
        assert (await person.api("GET", f"courses/{course_id}")).status_code == 404
        r = await person.api("POST", f"courses/{course_id}/students", {"students": "x"})
        assert r.status_code == 404
    r = await stranger.api("POST", "courses", {"project": course_project, "title": "Mine"})
    assert r.status_code == 404
    for body in [{"path": "../escape"}, {"path": "/abs"}, {"path": ""},
                 {"path": "hw1", "kind": "x"}, {"path": "hw2", "due": "soon"},
                 {"path": "x-collect"}]:  # fmt: skip
        r = await instructor.api("POST", f"courses/{course_id}/assignments", body)
        assert r.status_code == 400, (body, r.text)
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": 5})
    assert r.status_code == 400
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": " ,, "})
    assert r.status_code == 400
    courses = (await ta.api("GET", "courses")).json()
    assert [c["id"] for c in courses] == [course_id]


async def test_a_class_of_100_with_a_failing_student(hub, course):
    instructor, ta, course_project, course_id = course
    people = [await hub.person() for _ in range(100)]
    r = await instructor.api(
        "POST", f"courses/{course_id}/students", {"students": [p.name for p in people]}
    )
    assert r.status_code == 200
    assert {x["result"] for x in r.json()["results"]} == {"added"}
    model = r.json()["course"]
    r = await instructor.api("POST", f"courses/{course_id}/assignments", {"path": "hw1"})
    hw1 = r.json()["assignments"][0]["id"]
    # one student's project cannot start: no node has room for what it asks
    broken = model["students"][37]
    project = hub.db.get(orm.Project, broken["project"])
    project.quota_overrides = {"memory_mb": 10_000_000}
    hub.db.commit()

    job = await run_step(instructor, course_id, hw1, "assign")
    assert job["total"] == 100 and job["done"] == 100
    assert [f["name"] for f in job["failed"]] == [broken["name"]]
    assert "no compute node can take this project" in job["failed"][0]["error"]
    status = (await instructor.api("GET", f"courses/{course_id}")).json()
    errors = {s["name"]: s["work"][str(hw1)]["error"] for s in status["students"]}
    assert errors[broken["name"]].startswith("assign: ")
    assert sum(1 for e in errors.values() if e) == 1
    # no student server is left running
    running = [p for p in (await instructor.api("GET", "projects")).json()
               if p["state"] != "stopped" and p["id"] != course_project]  # fmt: skip
    assert running == []

    # fixed, and retried for just that student
    project.quota_overrides = {}
    hub.db.commit()
    job = await run_step(instructor, course_id, hw1, "assign", [broken["id"]])
    assert job["total"] == 1 and job["failed"] == []
    status = (await instructor.api("GET", f"courses/{course_id}")).json()
    assert all(s["work"][str(hw1)]["assigned"] for s in status["students"])
    assert not any(s["work"][str(hw1)]["error"] for s in status["students"])


async def test_course_pages(hub, course):
    instructor, ta, course_project, course_id = course
    student = await hub.person()
    await instructor.api("POST", f"courses/{course_id}/students", {"students": [student.name]})
    for person, expected in [(instructor, 200), (ta, 200), (student, 404), (hub.admin, 200)]:
        browser = await person.browser()
        r = await browser.get(f"/hub/courses/{course_id}")
        assert r.status_code == expected, person.name
        if expected == 200:
            assert "Math 101" in r.text and "students-table" in r.text
    r = await (await instructor.browser()).get("/hub/courses")
    assert r.status_code == 200 and "Math 101 (course)" in r.text
