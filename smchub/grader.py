"""The programs autograding runs in projects: `python -m smchub.grader release|grade|feedback`.

smchub.autograde (in the hub) runs them through a project server's exec endpoint, so that
no notebook is opened, let alone run, in the hub; its docstring says what each does and
why grading runs as the student. This module is kept apart from the hub's: it imports
only the standard library, and nbgrader where a program needs it, because it starts once
for every student graded, and importing the hub's modules there (JupyterHub,
SQLAlchemy, httpx) cost 0.4 s of CPU each time.
"""

import functools
import json
import os
import re
import shutil
import signal
import sys
import time

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
# seconds `timeout` waits after TERM before KILL (the hub's exec and the grader's own)
KILL_AFTER = 5
# what a notebook gets when its grading ran out of time
TIMED_OUT = "timed out after {:g} seconds"
# an ANSI escape sequence (colours in tracebacks)
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


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
