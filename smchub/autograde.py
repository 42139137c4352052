"""Autograded assignments: nbgrader's notebooks, released without solutions or hidden
tests, and graded inside each student's own project.

An assignment whose folder holds notebooks with nbgrader's cell metadata is autograded.
Three programs this module is (`python -m smchub.autograde release|grade|feedback`),
each run through a project server's exec endpoint, so that no notebook is opened, let
alone run, in the hub:

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

import functools
import json
import math
import os
import posixpath
import shutil
import signal
import sys
import time
from dataclasses import dataclass

from .grading import ANSI
from .projects import InvalidInput

# hidden folders of a project that the step writes; GRADING_ROOT in a student's project
# only while their work is graded
RELEASE_ROOT = ".smchub/release"
SOURCE_ROOT = ".smchub/grading"
GRADING_ROOT = ".smchub/autograde"
# in a student's project while their feedback is rendered at return: nothing secret
FEEDBACK_ROOT = ".smchub/feedback"
# in the grading folder, the autograded notebooks made safe to show their student (hidden
# tests out), which the hub copies into the course project before removing the folder
FOR_FEEDBACK = "for-feedback"
# in the feedback folder: the scores and comments the feedback shows
SCORES_FILE = "scores.json"
# what replaces an output that shows part of the hidden tests in those copies
HIDDEN_OUTPUT = "[output hidden from the feedback: it showed part of the hidden tests]\n"
# a line of the hidden tests shorter than this tells too little to give a test away,
# and would hide every output that merely shares it ("pass", "else:")
HIDDEN_LINE_MIN = 8
# nbgrader's names inside the throwaway course folder: its assignment and student ids
NB_ASSIGNMENT = "assignment"
NB_STUDENT = "student"
# the instructor's defaults, and the bounds of what they may set: a whole grading runs
# in one exec call, whose timeout the localhub caps (LocalHub.exec_timeout_max)
CELL_TIMEOUT = 30
NOTEBOOK_TIMEOUT = 120
EXEC_TIMEOUT_MAX = 600
# seconds the grading needs besides running notebooks (starting Python, nbgrader's
# generate step, reading the gradebook)
OVERHEAD = 60
# seconds `timeout` waits after TERM before KILL
KILL_AFTER = 5
# what a notebook gets when no score came back for it
TIMED_OUT = "timed out after {:g} seconds"
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
            "smchub.autograde",
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
            "smchub.autograde",
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
        "args": ["-I", "-m", "smchub.autograde", "feedback", folder],
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


# --- the programs, run in projects -------------------------------------------------


def _has_nbgrader_cells(nb):
    return any("nbgrader" in cell.get("metadata", {}) for cell in nb.cells)


def _generate(nb):
    """The (student, grading) versions of a source notebook, as generate_assignment
    makes them; the grading one is what its SaveCells stores, before hidden tests go."""
    import copy

    from nbgrader import preprocessors as pp

    resources = {}
    for step in (pp.LockCells, pp.ClearSolutions, pp.ClearOutput, pp.CheckCellMetadata,
                 pp.ComputeChecksums):  # fmt: skip
        nb, resources = step().preprocess(nb, resources)
    grading = copy.deepcopy(nb)
    for step in (pp.ClearHiddenTests, pp.ClearMarkScheme, pp.ComputeChecksums,
                 pp.CheckCellMetadata):  # fmt: skip
        nb, resources = step().preprocess(nb, resources)
    return nb, grading


def _graded_cells(nb):
    from nbgrader import utils

    return [
        {"cell_id": cell.metadata["nbgrader"]["grade_id"],
         "max_points": float(cell.metadata["nbgrader"].get("points", 0)),
         "manual": utils.is_task(cell) or utils.is_solution(cell)}
        for cell in nb.cells
        if utils.is_grade(cell) or utils.is_task(cell)
    ]  # fmt: skip


def _replace(folder, made):
    if os.path.lexists(folder):
        shutil.rmtree(folder)
    os.makedirs(os.path.dirname(folder) or ".", exist_ok=True)
    os.rename(made, folder)


def release(path, release_dir, source_dir):
    """Write the student and grading versions of the assignment folder `path`."""
    import nbformat

    if not os.path.isdir(path):
        raise SystemExit(f"{path} is no folder of the course project")
    if os.path.normpath(path).split(os.sep)[0] == ".smchub":
        # the versions are written under .smchub: never into the folder being read
        raise SystemExit(f"{path} is a folder smchub writes; choose another assignment folder")
    new_release, new_source = release_dir + ".new", source_dir + ".new"
    for folder in (new_release, new_source):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, mode=0o700)
    notebooks = {}
    for top, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        for name in files:
            relative = os.path.relpath(os.path.join(top, name), path)
            target = os.path.join(new_release, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            nb = None
            if name.endswith(".ipynb"):
                nb = nbformat.read(os.path.join(top, name), as_version=4)
            if nb is None or not _has_nbgrader_cells(nb):
                shutil.copy2(os.path.join(top, name), target)
                continue
            if os.sep in relative:
                # nbgrader grades the notebooks at the top of an assignment only
                raise SystemExit(f"{relative}: notebooks with nbgrader cells must be at the "
                                 f"top of the assignment folder, not in a subfolder")  # fmt: skip
            student, grading = _generate(nb)
            nbformat.write(student, target)
            nbformat.write(grading, os.path.join(new_source, relative))
            notebooks[relative[: -len(".ipynb")]] = _graded_cells(grading)
    _replace(release_dir, new_release)
    _replace(source_dir, new_source)
    print(json.dumps({"notebooks": notebooks}))


def _autograde_notebook(coursedir, name, cell_timeout, notebook_timeout):
    """Autograde one notebook with nbgrader's Autograde converter in a child process of
    its own (forked: nbgrader is imported once for every notebook), killed with what it
    started past `notebook_timeout`; its exit code, or None if it was killed."""
    from nbgrader.converters import Autograde
    from traitlets.config import Config

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # a process group of its own, which the kernel it starts leaves (jupyter_client
            # gives kernels a session of their own) but follows out: ipykernel exits when
            # its parent is gone
            os.setpgid(0, 0)
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
            config = Config()
            config.Execute.timeout = int(cell_timeout)
            coursedir.notebook_id = name
            Autograde(coursedir=coursedir, force=True, create_student=True, config=config).start()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + notebook_timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for signal_number, wait in ((signal.SIGTERM, KILL_AFTER), (signal.SIGKILL, None)):
        try:
            os.killpg(pid, signal_number)
        except ProcessLookupError:
            pass
        ended = time.monotonic() + (wait or 0)
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done or time.monotonic() > ended:
                break
            time.sleep(0.05)
        if done:
            break
    if not done:
        os.waitpid(pid, 0)
    return None


def _alembic_head():
    """The schema version nbgrader stamps a new gradebook with, read in this process:
    nbgrader asks a new `alembic` process for it (`alembic heads`), which cost as much
    CPU as the rest of a small grading."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", os.path.join(os.path.dirname(nbgrader.__file__),
                                                           "alembic"))  # fmt: skip
    return ScriptDirectory.from_config(config).get_current_head()


def _installation_only(folder):
    """Make nbgrader and Jupyter, run in a student's project, read their config, kernels
    and templates from the installation only, not from the student's home (their own code
    runs in the kernel either way)."""
    os.environ["JUPYTER_CONFIG_DIR"] = os.path.join(folder, "config")
    os.environ["JUPYTER_DATA_DIR"] = os.path.join(folder, "data")
    os.environ.pop("JUPYTER_PATH", None)
    os.environ.pop("JUPYTER_CONFIG_PATH", None)
    # a new gradebook gets its schema version from this process, not from an alembic
    # command found on the student's PATH
    import nbgrader.api

    nbgrader.api.get_alembic_version = functools.cache(_alembic_head)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def _strings(value):
    """Every string in an output (its text, data and metadata)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def feedback_safe(nb):
    """The autograded notebook `nb` (changed in place) made safe to show its student:
    hidden tests removed from the sources by nbgrader's own ClearHiddenTests, the errors
    of the cells that had them reduced to `ename: evalue` (a traceback quotes the lines
    around the one that failed), and any output that still holds a line of the hidden
    tests, once its ANSI colours are stripped, replaced by HIDDEN_OUTPUT (the student's
    code, run beside the tests, could echo them, as IPython's `In` holds every cell run).

    This keeps the tests from being shown by accident. A student's code set on copying
    them out could encode them first; it could also read them while it ran: grading as
    the student has that cost either way (see the module's docstring).
    """
    from nbformat.v4 import new_output
    from nbgrader.preprocessors import ClearHiddenTests

    clear = ClearHiddenTests(enforce_metadata=False)
    hidden, tested = set(), set()
    for index, cell in enumerate(nb.cells):
        before = cell.source
        try:
            clear.preprocess_cell(cell, {}, index)
        except RuntimeError:
            # markers nbgrader cannot pair (nested, or no end): none of the source stays
            cell.source = ""
        if cell.source != before:
            tested.add(index)
            kept = set(cell.source.splitlines())
            hidden.update(
                line.strip()
                for line in before.splitlines()
                if line not in kept and len(line.strip()) >= HIDDEN_LINE_MIN
            )
    for index, cell in enumerate(nb.cells):
        outputs = []
        for output in cell.get("outputs", []):
            if index in tested and output.get("output_type") == "error":
                ename, evalue = str(output.get("ename", "")), str(output.get("evalue", ""))
                output = new_output("error", ename=ename, evalue=evalue,
                                    traceback=[f"{ename}: {evalue}"])  # fmt: skip
            text = ANSI.sub("", "\n".join(_strings(output)))
            if any(line in text for line in hidden):
                output = new_output("stream", name="stdout", text=HIDDEN_OUTPUT)
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs
    return nb


def _write_feedback_copies(folder, notebooks):
    """Write the feedback-safe copy of each autograded notebook into FOR_FEEDBACK of the
    grading folder. A notebook that cannot be made safe gets no copy (the feedback then
    shows the collected one) rather than one that may show the tests."""
    import nbformat

    target = os.path.join(folder, FOR_FEEDBACK)
    try:
        # whatever the student's code put there while it ran goes first
        _remove(target)
        os.makedirs(target)
    except OSError as e:
        # the scores still count; the feedback will show the collected notebooks
        print(f"no copies for the feedback: {e}", file=sys.stderr)
        return
    for name in notebooks:
        graded = os.path.join(folder, "autograded", NB_STUDENT, NB_ASSIGNMENT, f"{name}.ipynb")
        try:
            nb = feedback_safe(nbformat.read(graded, as_version=4))
            nbformat.write(nb, os.path.join(target, f"{name}.ipynb"))
        except Exception as e:
            print(f"{name}: no copy for the feedback: {type(e).__name__}: {e}", file=sys.stderr)


def grade(folder, cell_timeout, notebook_timeout, notebooks):
    """Grade the submission in `folder` (source/ and submitted/ laid out as nbgrader's
    course folder wants them) and print each notebook's scores."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    folder = os.path.abspath(folder)
    _installation_only(folder)
    os.chdir(folder)
    coursedir = CourseDirectory(root=folder, db_url=f"sqlite:///{folder}/gradebook.db",
                                assignment_id=NB_ASSIGNMENT, student_id=NB_STUDENT)  # fmt: skip
    result = {}
    try:
        try:
            # nbgrader's generate_assignment, in this process: it records the grading
            # version's cells (hidden tests included) in the gradebook autograde restores
            # them from
            GenerateAssignment(coursedir=coursedir, force=True).start()
        except Exception as e:
            raise SystemExit(f"nbgrader could not read the grading version of the notebooks: {e}")
        for name in notebooks:
            code = _autograde_notebook(coursedir, name, cell_timeout, notebook_timeout)
            if code is None:
                result[name] = {"error": TIMED_OUT.format(notebook_timeout), "cells": {}}
            elif code != 0:
                result[name] = {"error": f"nbgrader autograde exited with {code}", "cells": {}}
            else:
                result[name] = {"cells": {}}
        with Gradebook(f"sqlite:///{folder}/gradebook.db") as gradebook:
            for name, graded in result.items():
                if "error" in graded:
                    continue
                try:
                    submitted = gradebook.find_submission_notebook(name, NB_ASSIGNMENT, NB_STUDENT)
                except MissingEntry:
                    graded["error"] = "not submitted"
                    continue
                for g in submitted.grades:
                    # not g.score, which counts a cell no one scored yet as 0
                    points = g.manual_score if g.manual_score is not None else g.auto_score
                    graded["cells"][g.name] = {
                        "points": points,
                        "max_points": g.max_score,
                        "needs_manual_grade": bool(g.needs_manual_grade),
                    }
        _write_feedback_copies(folder, [n for n, g in result.items() if "error" not in g])
        print(json.dumps({"notebooks": result}))
    finally:
        # the hidden tests are in source/, autograded/ and the gradebook: none outlives
        # the grading; the feedback copies, which hold none, wait for the hub to copy
        # them out (it removes the folder afterwards, also when this was killed)
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            if name != FOR_FEEDBACK:
                _remove(os.path.join(folder, name))


def feedback(folder):
    """Render nbgrader's HTML feedback for the notebooks in `folder`'s
    autograded/<student>/<assignment>/ into feedback/<student>/<assignment>/, with the
    scores and comments of SCORES_FILE, and print the names written.

    nbgrader's GenerateFeedback reads the scores from a gradebook: this one is made for
    the occasion, its cells learnt by nbgrader's generate_assignment from the student
    version in source/ (no hidden tests, no solutions), the scores set on its
    submission. Rendering runs none of the notebooks' code.
    """
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import GenerateAssignment, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    folder = os.path.abspath(folder)
    _installation_only(folder)
    with open(os.path.join(folder, SCORES_FILE)) as f:
        given = json.load(f)["notebooks"]
    db_url = f"sqlite:///{folder}/gradebook.db"
    coursedir = CourseDirectory(root=folder, db_url=db_url, assignment_id=NB_ASSIGNMENT)
    GenerateAssignment(coursedir=coursedir, force=True).start()
    with Gradebook(db_url) as gradebook:
        gradebook.add_student(NB_STUDENT)
        gradebook.add_submission(NB_ASSIGNMENT, NB_STUDENT)
        for notebook, cells in given.items():
            for cell_id, score in cells.items():
                try:
                    grade = gradebook.find_grade(cell_id, notebook, NB_ASSIGNMENT, NB_STUDENT)
                except MissingEntry:
                    continue  # a cell the release no longer has
                grade.auto_score = score["points"]
                grade.manual_score = score["manual_points"]
                grade.needs_manual_grade = False
                try:
                    # nbgrader keeps (and shows) comments on answers and tasks only
                    comment = gradebook.find_comment(cell_id, notebook, NB_ASSIGNMENT,
                                                     NB_STUDENT)  # fmt: skip
                except MissingEntry:
                    continue
                comment.manual_comment = score["comment"]
        gradebook.db.commit()
    coursedir.student_id = NB_STUDENT
    GenerateFeedback(coursedir=coursedir, force=True).start()
    written = os.path.join(folder, "feedback", NB_STUDENT, NB_ASSIGNMENT)
    print(json.dumps({"feedback": sorted(os.listdir(written))}))


def main(argv):
    command, *args = argv
    if command == "release":
        release(*args)
    elif command == "grade":
        folder, cell_timeout, notebook_timeout, *notebooks = args
        grade(folder, float(cell_timeout), float(notebook_timeout), notebooks)
    elif command == "feedback":
        feedback(*args)
    else:
        raise SystemExit(f"unknown command {command!r}: release, grade or feedback")


if __name__ == "__main__":
    main(sys.argv[1:])
