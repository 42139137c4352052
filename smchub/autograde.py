"""Autograded assignments: nbgrader's notebooks, released without solutions or hidden
tests, and graded inside each student's own project.

An assignment whose folder holds notebooks with nbgrader's cell metadata is autograded.
This module is the hub's side: the instructor's settings, the commands, reading and
storing the scores. The work is done by three programs (smchub.grader, `python -m
smchub.grader release|grade|feedback`), each run through a project server's exec
endpoint, so that no notebook is opened, let alone run, in the hub:

- release, in the course project, as the instructor: nbgrader's generate_assignment
  preprocessors, applied to each such notebook, write the student version into
  .smchub/release/<path>/ (what assign copies out instead of <path>) and the grading
  version into .smchub/grading/<path>/: solutions cleared as in the student version but
  the hidden tests kept, which is what nbgrader's gradebook keeps of the source
  (SaveCells) for restoring cells before grading. It prints each notebook's graded cells
  and their points: the hub trusts only these, never the grader's word, for what can be
  scored and out of how much.
- grade, in a student's project, as the student: nbgrader's own generate_assignment and
  autograde apps on a course folder made for the occasion in a hidden folder of their
  project (the grading version as the source, their collected notebooks as the
  submission), each notebook under `timeout`, then the scores read from that gradebook
  and printed as JSON. It also writes a feedback-safe copy of each autograded notebook
  (feedback_safe: hidden tests out of sources and outputs), which the hub keeps in the
  course project (<path>-autograded/<student>/). The folder is removed afterwards, by
  the program (all but those copies) and again by the hub.
- feedback, in a student's project, as the student, at return: nbgrader's
  GenerateFeedback renders the HTML feedback on those copies, with the hub's scores and
  comments, from a throwaway gradebook that knows the assignment from the student
  version only. Nothing secret is in that folder, and rendering runs no code.

The trade-off of grading as the student (CoCalc's too): the student's code runs under
their own limits and can reach nothing of the instructor's, but the account is theirs.
For the seconds the grading takes, the grading version (hidden tests, never solutions)
is in their project, in a folder made 0700, which keeps out other accounts and not them;
their code, run by the grader, could read it, or tamper with the grader's files. The hub
bounds what tampering can win: points are clamped to each cell's maximum from the
instructor's release, cells the release does not list are ignored, and a notebook
without a believable result scores zero.
"""

import json
import math
import posixpath
from dataclasses import dataclass

from .grader import KILL_AFTER
from .projects import InvalidInput

# hidden folders of a project that the step writes; GRADING_ROOT in a student's project
# only while their work is graded
RELEASE_ROOT = ".smchub/release"
SOURCE_ROOT = ".smchub/grading"
GRADING_ROOT = ".smchub/autograde"
# in a student's project while their feedback is rendered at return: nothing secret
FEEDBACK_ROOT = ".smchub/feedback"
# the instructor's defaults, and the bounds of what they may set: a whole grading runs
# in one exec call, whose timeout the localhub caps (LocalHub.exec_timeout_max)
CELL_TIMEOUT = 30
NOTEBOOK_TIMEOUT = 120
EXEC_TIMEOUT_MAX = 600
# seconds the grading needs besides running notebooks (starting Python, nbgrader's
# generate step, reading the gradebook)
OVERHEAD = 60
# what a notebook gets when no score came back for it
NO_RESULT = "the grader gave no result for this notebook"


class AutogradeFailed(Exception):
    """Releasing or grading could not be done; the message says why."""


# --- the instructor's settings ----------------------------------------------------


def check_settings(value):
    """The (cell_timeout, notebook_timeout) of a PATCH's {"autograde": {...}}, checked;
    either may be left out (None: the default). InvalidInput says what to fix."""
    if value is None:
        return None, None
    if not isinstance(value, dict) or not set(value) <= {"cell_timeout", "notebook_timeout"}:
        raise InvalidInput(
            'autograde must be {"cell_timeout": seconds, "notebook_timeout": seconds}, '
            "either left out for its default, or null for both defaults"
        )
    most = EXEC_TIMEOUT_MAX - OVERHEAD
    limits = {"cell_timeout": most, "notebook_timeout": most}
    checked = []
    for key in ("cell_timeout", "notebook_timeout"):
        seconds = value.get(key)
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or not 1 <= seconds <= limits[key]
        ):
            raise InvalidInput(
                f"autograde.{key} must be a number of seconds from 1 to {limits[key]}, "
                f"not {seconds!r}"
            )
        checked.append(None if seconds is None else float(seconds))
    cell, notebook = checked
    if cell is not None and notebook is not None and cell > notebook:
        raise InvalidInput("autograde.cell_timeout cannot be longer than notebook_timeout")
    return cell, notebook


def timeouts(assignment):
    """The assignment's (cell, notebook) timeouts in seconds, defaults filled in."""
    cell = assignment.autograde_cell_timeout or CELL_TIMEOUT
    notebook = assignment.autograde_notebook_timeout or NOTEBOOK_TIMEOUT
    return min(cell, notebook), notebook


def settings_model(assignment):
    cell, notebook = timeouts(assignment)
    return {"cell_timeout": cell, "notebook_timeout": notebook}


# --- the commands the hub runs in projects ----------------------------------------


def project_python():
    """The interpreter, in the project, that runs this module's programs."""
    # Not the hub's sys.executable: that path exists on the hub's machine, not in a
    # container or pod. Every backend puts the environment of the project server's own
    # interpreter, the one that runs smchub's localhub extension, first on the server's
    # PATH, which exec's commands inherit: local nodes the hub's (LocalBackend.base_env),
    # the project image /opt/smchub/bin (docker/Dockerfile.project, also on Swarm and
    # Kubernetes). A venv always has python3, so the name finds that interpreter, with
    # smchub and nbgrader, on every kind of node.
    return "python3"


def release_folder(assignment):
    """Where the student version of an autograded assignment is, in the course project."""
    return posixpath.join(RELEASE_ROOT, assignment.path)


def source_folder(assignment):
    """Where its grading version (hidden tests, no solutions) is, in the course project."""
    return posixpath.join(SOURCE_ROOT, assignment.path)


def grading_folder(token):
    """The throwaway nbgrader course folder in a student's project."""
    return posixpath.join(GRADING_ROOT, token)


def feedback_folder(token):
    """The throwaway nbgrader course folder in which a student's feedback is rendered."""
    return posixpath.join(FEEDBACK_ROOT, token)


def autograded_folder(assignment, student):
    """Where the feedback-safe copies of the student's autograded notebooks are kept, in
    the course project (beside <path>-collect, as nbgrader keeps its autograded/)."""
    return f"{assignment.path}-autograded/{student.name}"


def detect_command(assignment):
    """The exec body that tells (exit code 0) whether the assignment folder holds a
    notebook with nbgrader cells. Plain grep, so that assignments of projects whose image
    has no nbgrader go out as before."""
    return {
        "command": "grep",
        "args": ["-rlqs", "--include=*.ipynb", '"nbgrader"', "--", assignment.path],
        "timeout": 60,
    }


def release_command(assignment):
    """The exec body that makes the student and grading versions in the course project."""
    return {
        "command": project_python(),
        "args": [
            "-I",
            "-m",
            "smchub.grader",
            "release",
            assignment.path,
            release_folder(assignment),
            source_folder(assignment),
        ],  # fmt: skip
        "timeout": 120,
    }


def grade_command(folder, notebooks, cell_timeout, notebook_timeout):
    """The exec body that grades the notebooks in `folder` of a student's project, and
    the seconds it may take: `timeout` kills it (and what it started) past them, and
    each notebook past notebook_timeout."""
    total = min(EXEC_TIMEOUT_MAX - 10, OVERHEAD + notebook_timeout * max(1, len(notebooks)))
    return {
        "command": "timeout",
        "args": [
            "-k",
            str(KILL_AFTER),
            f"{total:g}",
            project_python(),
            "-I",
            "-m",
            "smchub.grader",
            "grade",
            folder,
            f"{cell_timeout:g}",
            f"{notebook_timeout:g}",
            *notebooks,
        ],  # fmt: skip
        "timeout": total + KILL_AFTER + 5,
        "max_output": 1024 * 1024,
    }, total


def prepare_command(folder, root=GRADING_ROOT):
    """The exec body that makes the grading folder, which only the project's account may
    open, before anything is copied into it. It first removes any grading folder a hub
    stopped in the middle of grading left behind, hidden tests and all (two autograde
    jobs at once for one student would fail one another: a retry mends that). The same
    for a feedback folder, under FEEDBACK_ROOT."""
    return {
        "command": 'rm -rf -- "$1" && mkdir -p -m 0700 -- "$2"',
        "args": [root, folder],
        "bash": True,
        "timeout": 60,
    }


def cleanup_command(folder):
    return {"command": "rm", "args": ["-rf", "--", folder], "timeout": 60}


def feedback_command(folder):
    """The exec body that renders the feedback in `folder` of a student's project."""
    return {
        "command": project_python(),
        "args": ["-I", "-m", "smchub.grader", "feedback", folder],
        "timeout": 120,
    }


def feedback_scores(rows):
    """The scores and comments of a student's graded cells (orm.AutogradeScore rows) as
    the feedback program reads them: {notebook: {cell_id: {...}}}."""
    notebooks = {}
    for row in rows:
        notebooks.setdefault(row.notebook, {})[row.cell_id] = {
            "points": row.points,
            "manual_points": row.manual_points,
            "comment": row.comment,
        }
    return json.dumps({"notebooks": notebooks})


# --- reading what the programs printed --------------------------------------------


@dataclass
class GradedCell:
    """A cell the instructor's release says is scored, out of max_points; `manual` when a
    person must grade it (a written answer, a task)."""

    notebook: str
    cell_id: str
    max_points: float
    manual: bool


@dataclass
class CellScore:
    notebook: str
    cell_id: str
    points: float | None
    max_points: float
    needs_manual_grade: bool
    error: str | None = None


def _last_json(stdout, what):
    """The JSON object on the last line of a program's output."""
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise AutogradeFailed(f"{what} printed no result: {stdout[-300:]!r}")
    return result


def parse_release(stdout):
    """The graded cells of an assignment, from the release program's output; [] if it
    holds no nbgrader notebook (then it is copied out as it is)."""
    result = _last_json(stdout, "the release")
    cells = []
    for notebook, entries in result.get("notebooks", {}).items():
        for entry in entries:
            cells.append(GradedCell(notebook, str(entry["cell_id"]),
                                    float(entry["max_points"]), bool(entry["manual"])))  # fmt: skip
    return cells


def _number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def scores_from(stdout, cells, timed_out=None):
    """Every graded cell's score, from what the grader printed in the student's project.

    Only the cells of the instructor's release count, each clamped to its maximum: what
    the student's account printed cannot add cells or points. A notebook with no result
    (killed at its timeout, its kernel dead, or its output unreadable) scores zero on its
    autograded cells; written answers still need a person.
    """
    try:
        result = _last_json(stdout, "the grader") if timed_out is None else {}
    except AutogradeFailed:
        result = {}
    notebooks = result.get("notebooks") if isinstance(result.get("notebooks"), dict) else {}
    scores = []
    for cell in cells:
        graded = notebooks.get(cell.notebook)
        reported = graded.get("cells", {}) if isinstance(graded, dict) else {}
        got = reported.get(cell.cell_id) if isinstance(reported, dict) else None
        if timed_out is not None:
            error = timed_out
        elif not isinstance(graded, dict):
            error = NO_RESULT
        else:
            error = graded.get("error") if isinstance(graded.get("error"), str) else None
        points = got.get("points") if isinstance(got, dict) else None
        if not _number(points):
            points = None
        needs = isinstance(got, dict) and got.get("needs_manual_grade") is True
        if cell.manual:
            # a written answer: nbgrader scores one left as it was given 0, with no one
            # needed; anything else waits for a person, whatever the grader claims
            unchanged = points == 0 and isinstance(got, dict) and not needs
            points, needs = (0.0, False) if unchanged else (None, True)
        elif points is None:
            points = 0.0
        if points is not None:
            points = min(max(float(points), 0.0), cell.max_points)
        scores.append(CellScore(cell.notebook, cell.cell_id, points, cell.max_points,
                                needs, error[:500] if error else None))  # fmt: skip
    return scores


def store_scores(db, work, scores, when):
    """Replace the student's autograde scores for the assignment, keeping what a person
    graded by hand on the same cells; the caller commits."""
    from . import orm
    from .grading import carry_over

    rows = [
        orm.AutogradeScore(notebook=s.notebook, cell_id=s.cell_id, points=s.points,
                           max_points=s.max_points, needs_manual_grade=s.needs_manual_grade,
                           error=s.error, graded=when)
        for s in scores
    ]  # fmt: skip
    carry_over(list(work.autograde_scores), rows)
    work.autograde_scores[:] = rows
