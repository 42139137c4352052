"""Feedback on autograded work: return writes nbgrader's HTML feedback, with each cell's
score and the grader's comments, next to the graded notebook in the student's project,
and GRADE.md with the totals; neither the hidden tests nor the solutions reach it."""

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from smchub.grader import HIDDEN_OUTPUT, feedback_safe

from .test_autograde import CELL_TIMEOUT, HIDDEN, SOLUTION, answered, files_holding, home
from .test_autograde import source_notebook as source
from .test_deadlines import Course, put_file

pytestmark = pytest.mark.timeout(600)

# right: full marks on the test, its written answer waits for a person; wrong: fails
# the hidden test, whose traceback quotes it; deleted: the test cell gone, which nbgrader
# leaves to a person
KINDS = ("right", "wrong", "deleted")
RED = "\x1b[31m"


def test_the_feedback_copy_shows_no_hidden_test():
    test_cell = new_code_cell(
        "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(3) == 9  # the hidden one\n"
        "### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1, "locked": True,
                               "solution": False, "schema_version": 3}},  # fmt: skip
        outputs=[new_output("error", ename="AssertionError", evalue="",
                            traceback=[f"----> 3 assert f(3) {RED}=={RED} 9  # the hidden one"])],
    )  # fmt: skip
    # the student's code, run after the tests, echoes them (IPython keeps every cell's
    # source in In), coloured; another output only shares a short line with them
    echo = new_code_cell(
        "print(In[-2])",
        outputs=[new_output("stream", name="stdout",
                            text=f"{RED}assert{RED} f(3) == 9  # the hidden one\n"),
                 new_output("execute_result", data={"text/plain": "assert f(1) == 1"},
                            execution_count=3)],
    )  # fmt: skip
    # an answer holding nbgrader's marker with no end: nothing of it is kept
    odd = new_markdown_cell("### BEGIN HIDDEN TESTS\nmy answer")
    nb = new_notebook(cells=[test_cell, echo, odd])

    safe = feedback_safe(nb)
    text = nbformat.writes(safe)
    assert "hidden one" not in text and "f(3)" not in text, text
    assert safe.cells[0].source == "assert f(1) == 1"
    assert safe.cells[0].outputs[0].traceback == ["AssertionError: "]
    assert safe.cells[1].outputs[0].text == HIDDEN_OUTPUT
    # the visible test is no secret
    assert safe.cells[1].outputs[1].data["text/plain"] == "assert f(1) == 1"
    assert safe.cells[2].source == ""


@pytest.fixture
async def course(hub):
    course = await Course.make(hub, len(KINDS))
    yield course
    for person, _, project in course.students.values():
        await person.stop_project(project)
    await course.instructor.stop_project(course.course_project)


async def test_return_writes_feedback_and_totals_without_the_tests(course):
    hub = course.hub
    await put_file(hub, course.instructor, course.course_project, "hw1/square.ipynb", source())
    hw = await course.assignment()
    timeouts = {"cell_timeout": CELL_TIMEOUT, "notebook_timeout": 90}
    r = await course.api("PATCH", f"assignments/{hw}", {"autograde": timeouts})
    assert r.status_code == 200, r.text
    await course.step(hw, "assign")
    names = dict(zip(KINDS, course.students, strict=True))  # kind -> student name
    for kind, name in names.items():
        person, _, project = course.students[name]
        await person.start_project(project)
        given = course.file(project, "hw1/square.ipynb")
        await course.write(name, "hw1/square.ipynb", answered(given, kind))
    await course.step(hw, "collect")
    await course.step(hw, "autograde")

    # the course project keeps each student's autograded notebook, safe to show them
    copies = os.path.join(home(course, course.course_project), "hw1-autograded")
    assert sorted(os.listdir(copies)) == sorted(names.values())
    for name in names.values():
        assert os.listdir(os.path.join(copies, name)) == ["square.ipynb"]
    assert files_holding(copies, HIDDEN) == [] and files_holding(copies, SOLUTION) == []
    assert files_holding(copies, "AssertionError") == [f"{names['wrong']}/square.ipynb"]
    # graded again, a student's copies are replaced, not added to
    ids = {kind: course.students[name][1] for kind, name in names.items()}
    stale = f"hw1-autograded/{names['wrong']}/old.ipynb"
    await put_file(hub, course.instructor, course.course_project, stale, "{}")
    r = await course.api("POST", f"assignments/{hw}/autograde", {"students": [ids["wrong"]]})
    job = await course.job(r.json()["id"])
    assert job["failed"] == [], job
    assert os.listdir(os.path.join(copies, names["wrong"])) == ["square.ipynb"]

    # returned before a person graded what waits for one: those students are told which
    # cells; the wrong answer, with nothing waiting, goes back without a letter grade
    r = await course.api("POST", f"assignments/{hw}/return", {})
    job = await course.job(r.json()["id"])
    failed = {f["name"]: f["error"] for f in job["failed"]}
    assert failed == {
        names["right"]: "square/why still wait for a person to grade them",
        names["deleted"]: "square/test_square still wait for a person to grade them",
    }, job
    assert job["succeeded"] == [names["wrong"]], job

    grades = [
        ("right", "why", {"points": 3, "comment": "Clear and right."}),
        ("wrong", "why", {"points": 0, "comment": "Say why it works."}),
        ("wrong", "test_square", {"points": 1, "comment": "Odd ones fail.", "reason": "partly"}),
        ("deleted", "test_square", {"points": 1, "comment": "Never delete the test cell."}),
    ]
    for kind, cell, body in grades:
        r = await course.api("PUT", f"assignments/{hw}/scores/{ids[kind]}/square/{cell}", body)
        assert r.status_code == 200, r.text
    await course.step(hw, "return")

    expected = {"right": "5.0 / 5.0", "wrong": "1.0 / 5.0", "deleted": "1.0 / 5.0"}
    totals = {"right": "5 of 5", "wrong": "1 of 5", "deleted": "1 of 5"}
    for kind, name in names.items():
        project = course.students[name][2]
        feedback = course.file(project, "graded-hw1/square.html")
        assert feedback is not None, kind
        assert f"square (Score: {expected[kind]})" in feedback, (kind, feedback[:3000])
        grade = course.file(project, "graded-hw1/GRADE.md")
        assert f"- Score: {totals[kind]}\n" in grade, grade
        assert f"## square.ipynb: {totals[kind]}\n" in grade, grade
        # the collected notebook goes back as before
        assert course.file(project, "graded-hw1/square.ipynb") is not None
    right, wrong, deleted = (course.students[names[k]][2] for k in KINDS)
    # nbgrader shows the comments on answers; GRADE.md has them all
    assert "Clear and right." in course.file(right, "graded-hw1/square.html")
    assert "| why | 3 | 3 | Clear and right. |" in course.file(right, "graded-hw1/GRADE.md")
    assert "Say why it works." in course.file(wrong, "graded-hw1/square.html")
    assert "| test_square | 1 | 2 | Odd ones fail. |" in course.file(wrong, "graded-hw1/GRADE.md")
    assert "| test_square | 1 | 2 | Never delete the test cell. |" in course.file(
        deleted, "graded-hw1/GRADE.md"
    )
    # the failed hidden test shows as its error, without its source
    assert "AssertionError" in course.file(wrong, "graded-hw1/square.html")

    for name in course.students:
        root = home(course, course.students[name][2])
        assert files_holding(root, HIDDEN) == [], name
        assert files_holding(root, SOLUTION) == [], name
        assert not os.listdir(os.path.join(root, ".smchub", "feedback")), name
    # the source stays the instructor's, in the course project only
    assert HIDDEN in course.file(course.course_project, "hw1/square.ipynb")
