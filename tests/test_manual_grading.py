"""Manual grading of an autograded assignment through the API: the answers to one
question side by side, a person's points and comments, overrides with a reason, totals
per student and per question, and the grades CSV's per-question columns."""

import csv
import io

import nbformat
import pytest
from nbformat.v4 import new_output

from .test_autograde import ANSWERS, answered, source_notebook
from .test_deadlines import Course, put_file

pytestmark = pytest.mark.timeout(600)

KINDS = ("right", "wrong", "deleted")
# what a student's own run of the test cell left in their notebook: a traceback coloured
# by IPython, a page of HTML with a script, and a plot
ESC = "\x1b"
TRACEBACK = [
    f"{ESC}[0;31mAssertionError{ESC}[0m",
    f"{ESC}[0;32m----> 1{ESC}[0m assert square(2) == 4",
]
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
    "rkJggg=="
)


def with_outputs(text):
    """The wrong answer's notebook with the outputs of the student's own run."""
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_square":
            cell.outputs = [
                new_output("error", ename="AssertionError", evalue="", traceback=TRACEBACK),
                new_output("display_data", data={
                    "text/html": "<script>steal()</script>", "text/plain": "<IPython.HTML>"}),
                new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
            ]  # fmt: skip
    return nbformat.writes(nb)


@pytest.fixture
async def graded(hub):
    """A class of three whose hw1 was autograded: right, wrong, and one who deleted the
    test cell."""
    course = await Course.make(hub, len(KINDS))
    await put_file(hub, course.instructor, course.course_project, "hw1/square.ipynb",
                   source_notebook())  # fmt: skip
    hw = await course.assignment()
    await course.step(hw, "assign")
    names = dict(zip(KINDS, course.students, strict=True))
    for kind, name in names.items():
        person, _, project = course.students[name]
        text = answered(course.file(project, "hw1/square.ipynb"), kind)
        await person.start_project(project)
        await course.write(
            name, "hw1/square.ipynb", with_outputs(text) if kind == "wrong" else text
        )
    await course.step(hw, "collect")
    await course.step(hw, "autograde")
    yield course, hw, names
    for person, _, project in course.students.values():
        await person.stop_project(project)
    await course.instructor.stop_project(course.course_project)


def cells_of(entry):
    return {c["cell_id"]: c for c in entry["autograde"]["cells"]}


async def test_grade_by_hand_override_and_export(graded):
    course, hw, names = graded
    assert set(ANSWERS) >= set(KINDS)
    sid = {kind: course.students[name][1] for kind, name in names.items()}

    r = await course.api("GET", f"assignments/{hw}/scores")
    assert r.status_code == 200, r.text
    scores = r.json()
    questions = {q["cell_id"]: q for q in scores["questions"]}
    assert set(questions) == {"test_square", "why"}
    # the written answer waits for a person for the one who wrote one; the others'
    # unchanged answers got nbgrader's zero
    assert questions["why"]["waiting"] == 1 and questions["why"]["max_points"] == 3
    # the deleted test cell waits for a person too
    assert questions["test_square"]["waiting"] == 1
    assert questions["test_square"]["total"] == 2 and questions["test_square"]["students"] == 3
    by_id = {s["id"]: s for s in scores["students"]}
    assert by_id[sid["right"]]["autograde"]["score"] == 2
    assert by_id[sid["right"]]["autograde"]["needs_manual_grade"]

    # the answers to the written question, side by side
    r = await course.api("GET", f"assignments/{hw}/answers?notebook=square&cell_id=why")
    assert r.status_code == 200, r.text
    answers = {a["student"]["id"]: a for a in r.json()["answers"]}
    assert set(answers) == set(sid.values())
    right = answers[sid["right"]]
    assert right["cell"]["source"] == "Because it multiplies x by itself."
    assert right["score"]["waiting"] and right["error"] is None
    # the test cell: the wrong answer's own outputs, as text and image only
    r = await course.api("GET", f"assignments/{hw}/answers?notebook=square&cell_id=test_square")
    answers = {a["student"]["id"]: a for a in r.json()["answers"]}
    outputs = answers[sid["wrong"]]["cell"]["outputs"]
    assert outputs[0] == {"type": "error", "text": "AssertionError\n----> 1 assert square(2) == 4"}
    assert outputs[1] == {"type": "text", "text": "<IPython.HTML>"}
    assert outputs[2] == {"type": "image", "mime": "image/png", "data": PNG}
    assert "steal()" not in r.text
    assert "deleted" in answers[sid["deleted"]]["error"] and answers[sid["deleted"]]["cell"] is None
    r = await course.api("GET", f"assignments/{hw}/answers?notebook=square")
    assert r.status_code == 400 and "cell_id" in r.json()["message"]

    # a person grades the written answer
    url = f"assignments/{hw}/scores/{sid['right']}/square/why"
    r = await course.api("PUT", url, {"points": 2.5, "comment": "Say why x*x is the square."})
    assert r.status_code == 200, r.text
    assert r.json()["autograde"]["score"] == 4.5
    assert not r.json()["autograde"]["needs_manual_grade"]
    why = cells_of(r.json())["why"]
    assert why["manual_points"] == 2.5 and why["graded_by"] == course.instructor.name
    assert why["comment"] == "Say why x*x is the square." and why["override_reason"] is None

    # bad input gets a clear 400, and changes nothing
    wrong_test = f"assignments/{hw}/scores/{sid['wrong']}/square/test_square"
    for body, words in [
        ({"points": 4}, "from 0 to 2"),
        ({"points": -1}, "from 0 to 2"),
        ({"points": "2"}, "must be a number"),
        ({"points": True}, "must be a number"),
        ({"points": 1, "grade": 1}, "the body must be"),
        ([1], "the body must be"),
        ({"points": 1, "comment": 5}, "comment must be text"),
        # overriding the autograder's zero needs a reason
        ({"points": 1}, "say why"),
        ({"points": 1, "reason": "   "}, "say why"),
    ]:
        r = await course.api("PUT", wrong_test, body)
        assert r.status_code == 400 and words in r.json()["message"], (body, r.text)
    r = await course.api(
        "PUT", f"assignments/{hw}/scores/{sid['wrong']}/square/nope", {"points": 0}
    )
    assert r.status_code == 404 and "autograde" in r.json()["message"]
    r = await course.api("GET", f"assignments/{hw}/scores")
    wrong = {s["id"]: s for s in r.json()["students"]}[sid["wrong"]]
    assert cells_of(wrong)["test_square"]["manual_points"] is None

    # an override, with its reason on record
    r = await course.api("PUT", wrong_test, {"points": 1, "reason": "x + x is right for 2"})
    assert r.status_code == 200, r.text
    test_cell = cells_of(r.json())["test_square"]
    assert test_cell["points"] == 1 and test_cell["auto_points"] == 0
    assert test_cell["override_reason"] == "x + x is right for 2"
    # the deleted test cell: a person's zero needs no reason (nbgrader asked for one)
    r = await course.api("PUT", f"assignments/{hw}/scores/{sid['deleted']}/square/test_square",
                         {"points": 0, "comment": "Do not delete the tests."})  # fmt: skip
    assert r.status_code == 200, r.text

    # a student's own token cannot grade, nor read the scores
    student = course.students[names["right"]][0]
    r = await course.api("PUT", url, {"points": 3}, person=student)
    assert r.status_code == 404
    r = await course.api("GET", f"assignments/{hw}/scores", person=student)
    assert r.status_code == 404

    # graded again by the autograder, the person's grading stays
    r = await course.api("POST", f"assignments/{hw}/autograde", {"students": [sid["right"]]})
    job = await course.job(r.json()["id"])
    assert job["failed"] == [], job
    r = await course.api("GET", f"assignments/{hw}/scores")
    scores = r.json()
    right = {s["id"]: s for s in scores["students"]}[sid["right"]]
    assert cells_of(right)["why"]["manual_points"] == 2.5 and right["autograde"]["score"] == 4.5
    questions = {q["cell_id"]: q for q in scores["questions"]}
    assert questions["why"]["waiting"] == 0 and questions["test_square"]["waiting"] == 0
    assert questions["test_square"]["total"] == 3  # 2 + the override's 1 + 0

    # the CSV: totals, a column per question, the comments
    r = await course.instructor.api("GET", f"courses/{course.id}/grades.csv")
    assert r.status_code == 200, r.text
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert list(rows[names["right"]])[2:] == [
        "hw1", "hw1 total", "hw1 max", "hw1 square:test_square", "hw1 square:why", "hw1 comments"
    ]  # fmt: skip
    assert rows[names["right"]]["hw1 total"] == "4.5" and rows[names["right"]]["hw1 max"] == "5"
    assert rows[names["right"]]["hw1 square:why"] == "2.5"
    assert rows[names["right"]]["hw1 comments"] == "why: Say why x*x is the square."
    assert rows[names["wrong"]]["hw1 square:test_square"] == "1"
    assert rows[names["deleted"]]["hw1 comments"] == "test_square: Do not delete the tests."

    # and a person can give a cell back to the autograder
    r = await course.api("PUT", wrong_test, {"points": None})
    assert r.status_code == 200 and cells_of(r.json())["test_square"]["points"] == 0
