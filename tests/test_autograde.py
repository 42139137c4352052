"""Autograded assignments: an nbgrader notebook goes out without its solution or hidden
test; each student's collected notebook is graded in their own project with the hidden
test restored, and the per-cell scores come back through the API."""

import json
import os
import re
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from smchub.autograde import CellScore, GradedCell, scores_from

from .test_deadlines import Course, put_file

pytestmark = pytest.mark.timeout(900)

SOLUTION = "SECRET-SOLUTION"
HIDDEN = "SECRET-HIDDEN"
# long enough that a trivial cell finishes while the class's other gradings (and their
# kernels) share a loaded 2-core machine: at 4 s, a right answer once timed out in CI
CELL_TIMEOUT = 15
ANSWERS = {
    "right": "def square(x):\n    return x * x",
    "wrong": "def square(x):\n    return x + x",
    "loop": "def square(x):\n    while True:\n        pass",
    # a right answer, with the test cell deleted
    "deleted": "def square(x):\n    return x * x",
    # a wrong answer, with the (locked) test cell rewritten to pass
    "tampered": "def square(x):\n    return 0",
}


def nbgrader_cell(**flags):
    base = {"schema_version": 3, "solution": False, "grade": False, "locked": False,
            "task": False}  # fmt: skip
    return {"nbgrader": {**base, **flags}}


def source_notebook():
    """The instructor's notebook: a solution cell, a test cell with a visible and a
    hidden test (2 points), and a written answer a person grades (3 points)."""
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        }  # fmt: skip
    )
    nb.cells = [
        new_markdown_cell(
            "Write `square(x)`.", metadata=nbgrader_cell(locked=True, grade_id="intro")
        ),
        new_code_cell(
            f"def square(x):\n    ### BEGIN SOLUTION\n    return x * x  # {SOLUTION}\n"
            "    ### END SOLUTION",
            metadata=nbgrader_cell(solution=True, grade_id="answer"),
        ),
        new_code_cell(
            f"assert square(2) == 4\n### BEGIN HIDDEN TESTS\nassert square(3) == 9  # {HIDDEN}\n"
            "### END HIDDEN TESTS",
            metadata=nbgrader_cell(grade=True, locked=True, grade_id="test_square", points=2),
        ),
        new_markdown_cell(
            f"Why does it work?\n\n=== BEGIN MARK SCHEME ===\n{SOLUTION}\n=== END MARK SCHEME ===",
            metadata=nbgrader_cell(solution=True, grade=True, grade_id="why", points=3),
        ),
    ]
    return nbformat.writes(nb)


def answered(text, kind):
    """A student's notebook (as assign gave it) with their answer written in."""
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer":
            cell.source = ANSWERS[kind]
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "why" and kind == "right":
            cell.source = "Because it multiplies x by itself."
    if kind == "deleted":
        nb.cells = [c for c in nb.cells
                    if c.metadata.get("nbgrader", {}).get("grade_id") != "test_square"]  # fmt: skip
    if kind == "loop":
        nb.cells.insert(2, new_code_cell("square(1)"))
    if kind == "tampered":
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_square":
                cell.source = "assert True"
    return nbformat.writes(nb)


def files_holding(root, text):
    """The files under `root`, hidden ones included, whose contents hold `text`."""
    found = []
    for parent, _, files in os.walk(root):
        for name in files:
            path = os.path.join(parent, name)
            try:
                with open(path, errors="replace") as f:
                    if text in f.read():
                        found.append(os.path.relpath(path, root))
            except OSError:
                pass
    return found


def home(course, project):
    return os.path.join(course.hub.root, "data", "projects", project)


def test_what_the_grader_prints_cannot_add_cells_or_points():
    cells = [GradedCell("nb", "t1", 2.0, False), GradedCell("nb", "w", 3.0, True)]
    printed = json.dumps({"notebooks": {"nb": {"cells": {
        "t1": {"points": 50, "needs_manual_grade": False},
        "bonus": {"points": 100},
    }}}})  # fmt: skip
    assert scores_from(printed, cells) == [
        CellScore("nb", "t1", 2.0, 2.0, False),
        CellScore("nb", "w", None, 3.0, True),
    ]
    # a written answer the grader claims full points for still waits for a person; one
    # left as given scores nbgrader's zero, with no one needed
    claims = {"w": {"points": 3, "needs_manual_grade": False}}
    printed = json.dumps({"notebooks": {"nb": {"cells": claims}}})
    assert scores_from(printed, cells)[1] == CellScore("nb", "w", None, 3.0, True)
    claims = {"w": {"points": 0, "needs_manual_grade": False}}
    printed = json.dumps({"notebooks": {"nb": {"cells": claims}}})
    assert scores_from(printed, cells)[1] == CellScore("nb", "w", 0.0, 3.0, False)
    # no believable answer: autograded cells get zero, and say why
    for printed in ("", "not json", '{"notebooks": []}', '{"notebooks": {"nb": 1}}'):
        scores = scores_from(printed, cells)
        assert [s.points for s in scores] == [0.0, None], printed
        assert scores[0].error, printed
    timed_out = scores_from("", cells, timed_out="timed out after 60 seconds")
    assert timed_out[0].points == 0.0 and timed_out[0].error == "timed out after 60 seconds"


@pytest.fixture
async def course(hub):
    course = await Course.make(hub, len(ANSWERS))
    yield course
    for person, _, project in course.students.values():
        await person.stop_project(project)
    await course.instructor.stop_project(course.course_project)


async def test_autograde_end_to_end(course):
    hub = course.hub
    await put_file(hub, course.instructor, course.course_project, "hw1/square.ipynb",
                   source_notebook())  # fmt: skip
    hw = await course.assignment()

    for bad in [{"cell_timeout": 0}, {"cell_timeout": "5"}, {"notebook_timeout": 10_000},
                {"cell_timeout": 30, "notebook_timeout": 10}, {"x": 1}, 5]:  # fmt: skip
        r = await course.api("PATCH", f"assignments/{hw}", {"autograde": bad})
        assert r.status_code == 400 and "autograde" in r.json()["message"], (bad, r.text)
    settings = {"cell_timeout": CELL_TIMEOUT, "notebook_timeout": 90}
    r = await course.api("PATCH", f"assignments/{hw}", {"autograde": settings})
    assert r.status_code == 200, r.text
    assert r.json()["assignments"][0]["autograde"] == {"cell_timeout": CELL_TIMEOUT,
                                                       "notebook_timeout": 90}  # fmt: skip

    await course.step(hw, "assign")
    names = dict(zip(ANSWERS, course.students, strict=True))  # kind -> student name
    for kind, name in names.items():
        person, _, project = course.students[name]
        given = course.file(project, "hw1/square.ipynb")
        assert given is not None and "def square" in given
        # the student version: no solution, no hidden test, anywhere in their project
        assert files_holding(home(course, project), SOLUTION) == []
        assert files_holding(home(course, project), HIDDEN) == []
        assert course.file(project, "hw1/problems.md") == "1. Measure g.\n"
        await person.start_project(project)
        await course.write(name, "hw1/square.ipynb", answered(given, kind))
    # the source stays as the instructor wrote it
    assert HIDDEN in course.file(course.course_project, "hw1/square.ipynb")

    await course.step(hw, "collect")
    started = time.monotonic()
    r = await course.api("POST", f"assignments/{hw}/autograde", {})
    assert r.status_code == 202, r.text
    job = await course.job(r.json()["id"])
    took = time.monotonic() - started
    assert job["failed"] == [] and len(job["succeeded"]) == len(ANSWERS), job

    work = await course.work(hw)
    result = {kind: work[name]["autograde"] for kind, name in names.items()}
    for kind, graded in result.items():
        assert graded["max_score"] == 5, (kind, graded)
        cells = {c["cell_id"]: c for c in graded["cells"]}
        assert set(cells) == {"test_square", "why"}, (kind, graded)
        if kind == "right":
            # the written answer waits for a person
            assert cells["why"]["points"] is None and cells["why"]["needs_manual_grade"], graded
        else:
            # nbgrader scores an answer left as it was given zero, with no person needed
            assert cells["why"]["points"] == 0, (kind, graded)
    test_cell = {kind: {c["cell_id"]: c for c in g["cells"]}["test_square"]
                 for kind, g in result.items()}  # fmt: skip
    assert test_cell["right"]["points"] == 2 and not test_cell["right"]["needs_manual_grade"], (
        result["right"]
    )
    assert test_cell["wrong"]["points"] == 0, result["wrong"]
    # the loop is cut at the cell timeout; the test cell after it then fails
    assert test_cell["loop"]["points"] == 0
    # ... by the cell timeout: the notebook ran to its end, so it has scores of its own
    assert test_cell["loop"]["error"] is None, test_cell["loop"]
    # nbgrader restores the deleted test cell from the source, scores it 0 and flags it
    assert test_cell["deleted"]["points"] == 0 and test_cell["deleted"]["needs_manual_grade"]
    # nbgrader puts the locked test cell back as the instructor wrote it
    assert test_cell["tampered"]["points"] == 0
    assert result["right"]["score"] == 2 and result["wrong"]["score"] == 0
    # one student's loop cost them a cell timeout, not the class the notebook timeout
    assert took < 90 * len(ANSWERS), took

    # the hidden test was in their projects only while grading ran
    for name in course.students:
        project = course.students[name][2]
        assert files_holding(home(course, project), HIDDEN) == [], name
        assert not os.listdir(os.path.join(home(course, project), ".smchub", "autograde"))
        assert files_holding(home(course, project), SOLUTION) == [], name

    # graded again (after the instructor fixed something), the scores are replaced
    r = await course.api("POST", f"assignments/{hw}/autograde",
                         {"students": [course.students[names["right"]][1]]})  # fmt: skip
    job = await course.job(r.json()["id"])
    assert job["failed"] == [], job
    again = (await course.work(hw))[names["right"]]["autograde"]
    assert again["score"] == 2 and len(again["cells"]) == 2, again


async def test_autograde_needs_collected_nbgrader_work(course):
    hw = await course.assignment()
    await course.step(hw, "assign")
    r = await course.api("POST", f"assignments/{hw}/autograde", {})
    job = await course.job(r.json()["id"])
    # nothing collected yet: each student fails with why, for a retry
    assert {f["error"] for f in job["failed"]} == {"has no collected work to autograde"}, job
    await course.step(hw, "collect")
    r = await course.api("POST", f"assignments/{hw}/autograde", {})
    job = await course.job(r.json()["id"])
    assert {f["error"] for f in job["failed"]} == {
        "hw1 has no notebooks with nbgrader cells to grade"
    }, job


async def lab_page_config(person, project):
    """The page config JupyterLab's front end reads, from the project's lab page."""
    await person.start_project(project)
    r = await person.open_project(project, "lab")
    assert r.status_code == 200, r.status_code
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      r.text, re.S)  # fmt: skip
    assert found, r.text[:500]
    return json.loads(found.group(1))


async def test_only_instructors_are_offered_nbgrader_authoring(course):
    """Students see no Create Assignment toolbar in their course projects; no one sees
    nbgrader's formgrader, assignment list or validation, whose server sides are off
    (disabled in the environment by make setup)."""
    student, _, student_project = next(iter(course.students.values()))
    without_server = {
        f"@jupyter/nbgrader:{plugin}"
        for plugin in ("formgrader", "assignment-list", "course-list", "validate-assignment")
    }
    authoring = "@jupyter/nbgrader:create-assignment"
    for person, project, offered in ((course.instructor, course.course_project, True),
                                     (student, student_project, False)):  # fmt: skip
        disabled = set((await lab_page_config(person, project))["disabledExtensions"])
        assert without_server <= disabled, disabled
        assert (authoring not in disabled) == offered, (project, disabled)
        # the front end has the plugin: leaving it out is what hides it
        extensions = (await lab_page_config(person, project))["federated_extensions"]
        assert "@jupyter/nbgrader" in {e["name"] for e in extensions}


def test_a_notebook_past_its_time_is_stopped_with_its_kernel(tmp_path):
    """The grade program, run here as it runs in a project: a notebook whose cells each
    finish within the cell timeout but together outlast the notebook's is stopped at the
    notebook timeout, its kernel with it, and reported as timed out."""
    import subprocess
    import sys

    import psutil

    from smchub import grader

    course = tmp_path / "course"
    (course / "hw1").mkdir(parents=True)
    nb = nbformat.reads(source_notebook(), as_version=4)
    nb.cells.insert(2, new_code_cell("import time\ntime.sleep(2)"))
    nb.cells.insert(2, new_code_cell("import time\ntime.sleep(2)"))
    nbformat.write(nb, course / "hw1" / "square.ipynb")
    release = [sys.executable, "-I", "-m", "smchub.grader", "release", "hw1", "rel", "src"]
    subprocess.run(release, cwd=course, check=True, capture_output=True)
    folder = tmp_path / "grading"
    (folder / "source" / "assignment").mkdir(parents=True)
    (folder / "submitted" / "student" / "assignment").mkdir(parents=True)
    (folder / "source" / "assignment" / "square.ipynb").write_text(
        (course / "src" / "square.ipynb").read_text()
    )
    student = answered((course / "rel" / "square.ipynb").read_text(), "right")
    (folder / "submitted" / "student" / "assignment" / "square.ipynb").write_text(student)

    started = time.monotonic()
    grade = [sys.executable, "-I", "-m", "smchub.grader", "grade", str(folder), "3", "3",
             "square"]  # fmt: skip
    done = subprocess.run(grade, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"notebooks": {"square": {"error": grader.TIMED_OUT.format(3),
                                               "cells": {}}}}, result  # fmt: skip
    assert took < 3 + grader.KILL_AFTER + 15, took
    # no kernel of the grading outlives it (ipykernel leaves once its parent is gone)
    deadline = time.monotonic() + 10
    while True:
        left = [p for p in psutil.process_iter(["cmdline"])
                if any("ipykernel" in part for part in p.info["cmdline"] or [])
                and str(folder) in " ".join(p.info["cmdline"] or []) + str(_cwd(p))]  # fmt: skip
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == []
    # and the folder holds nothing of the hidden tests
    assert files_holding(folder, HIDDEN) == []


def _cwd(process):
    try:
        return process.cwd()
    except Exception:
        return ""
