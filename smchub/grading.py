"""Grading autograded assignments by hand: a person's points and comment on a graded
cell, totals per student and per question, and the students' answers to one question
side by side.

nbgrader's autograding (autograde.py) leaves some cells to a person (written answers,
a test cell the student deleted); instructors may also override an automatic score,
with a reason that stays on record. A person's grading lives on the cell's score row
and outlives autograding the notebook again.
"""

import asyncio
import math
import re

from jupyterhub.utils import isoformat

from .grader import ANSI
from .projects import InvalidInput

COMMENT_MAX = 10_000
REASON_MAX = 1_000
# what the answers view shows of a student's cell: the cell's source, and its outputs
# as text or images only (HTML and scripts of a student's notebook never reach the
# hub's origin), each cut at these sizes
SOURCE_MAX = 20_000
TEXT_MAX = 10_000
IMAGE_MAX = 500_000
IMAGE_TYPES = ("image/png", "image/jpeg")


def effective_points(row):
    """The cell's points as they count: a person's, else the automatic ones (None: not
    scored yet)."""
    return row.manual_points if row.manual_points is not None else row.points


def waiting_for_a_person(work):
    """The work's cells that need a person and have not had one yet."""
    rows = list(work.autograde_scores) if work is not None else []
    return [r for r in rows if r.needs_manual_grade and r.manual_points is None]


def is_override(row):
    """Whether a person's points on this cell would replace a score the autograder was
    sure of (so a reason is asked for)."""
    return row.points is not None and not row.needs_manual_grade


def carry_over(old_rows, new_rows):
    """Keep a person's grading on the cells graded again (autograde.store_scores)."""
    kept = {(r.notebook, r.cell_id): r for r in old_rows}
    for row in new_rows:
        old = kept.get((row.notebook, row.cell_id))
        if old is None or old.manually_graded is None:
            continue
        for name in ("manual_points", "comment", "override_reason", "graded_by",
                     "manually_graded"):  # fmt: skip
            setattr(row, name, getattr(old, name))
        if row.manual_points is not None:
            row.manual_points = min(row.manual_points, row.max_points)


def check_manual_grade(row, body):
    """(points, comment, reason) of a PUT on a cell's score, checked against the cell."""
    if not isinstance(body, dict) or not set(body) <= {"points", "comment", "reason"}:
        raise InvalidInput('the body must be {"points": number or null, "comment": text, '
                           '"reason": text}')  # fmt: skip
    points = body.get("points")
    comment = body.get("comment") or ""
    reason = body.get("reason") or ""
    if points is not None:
        if (
            isinstance(points, bool)
            or not isinstance(points, (int, float))
            or not math.isfinite(points)
        ):
            raise InvalidInput(f"points must be a number from 0 to {row.max_points:g}, or null")
        if not 0 <= points <= row.max_points:
            raise InvalidInput(
                f"points must be from 0 to {row.max_points:g} (the most {row.cell_id} gives), "
                f"not {points:g}"
            )
    if not isinstance(comment, str) or len(comment) > COMMENT_MAX:
        raise InvalidInput(f"comment must be text of at most {COMMENT_MAX} characters")
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise InvalidInput(f"reason must be text of at most {REASON_MAX} characters")
    reason = reason.strip()
    if points is not None and is_override(row) and points != row.points and not reason:
        raise InvalidInput(
            f"{row.cell_id} was autograded ({row.points:g} of {row.max_points:g}): say why "
            "you override it (reason)"
        )
    return (float(points) if points is not None else None), comment, reason


def set_manual_grade(row, points, comment, reason, who, when):
    """Record a person's grading of the cell; the caller commits."""
    row.manual_points = points
    row.comment = comment or None
    row.override_reason = reason if points is not None and is_override(row) else None
    row.graded_by = who
    row.manually_graded = when


def cell_model(row):
    return {
        "notebook": row.notebook,
        "cell_id": row.cell_id,
        # as it counts (a person's, else the autograder's)
        "points": effective_points(row),
        "auto_points": row.points,
        "manual_points": row.manual_points,
        "max_points": row.max_points,
        # nbgrader said a person must look at it
        "needs_manual_grade": row.needs_manual_grade,
        # ... and no one has yet
        "waiting": row.needs_manual_grade and row.manual_points is None,
        "comment": row.comment,
        "override_reason": row.override_reason,
        "graded_by": row.graded_by,
        "manually_graded": isoformat(row.manually_graded) if row.manually_graded else None,
        "error": row.error,
    }


def work_scores(work):
    """A student's graded cells and totals, or None if never autograded."""
    rows = sorted(work.autograde_scores, key=lambda r: (r.notebook, r.cell_id)) if work else []
    if not rows:
        return None
    return {
        "score": sum(effective_points(r) or 0 for r in rows),
        "max_score": sum(r.max_points for r in rows),
        "needs_manual_grade": any(r.needs_manual_grade and r.manual_points is None for r in rows),
        "graded": isoformat(max(r.graded for r in rows)),
        "cells": [cell_model(r) for r in rows],
    }


def question_key(row):
    return (row.notebook, row.cell_id)


def questions(rows):
    """Each graded cell of the assignment as a question: its maximum, how many students
    it waits on a person for, and the mean of the scores it has."""
    by_cell = {}
    for row in rows:
        by_cell.setdefault(question_key(row), []).append(row)
    result = []
    for (notebook, cell_id), cells in sorted(by_cell.items()):
        scored = [effective_points(r) for r in cells if effective_points(r) is not None]
        result.append({
            "notebook": notebook,
            "cell_id": cell_id,
            "max_points": max(r.max_points for r in cells),
            # answers nbgrader left to a person (any student's)
            "manual": any(r.needs_manual_grade for r in cells),
            "students": len(cells),
            "waiting": sum(r.needs_manual_grade and r.manual_points is None for r in cells),
            "total": sum(scored),
            "mean": sum(scored) / len(scored) if scored else None,
        })  # fmt: skip
    return result


def assignment_scores(assignment, works):
    """Per-question and per-student scores of an autograded assignment, from each
    student's (student, work) pair (work None: nothing yet)."""
    entries, rows = [], []
    for student, work in works:
        if work is not None:
            rows.extend(work.autograde_scores)
        entries.append({
            "id": student.id,
            "name": student.name,
            "grade": work.grade if work else None,
            "comments": work.comments if work else "",
            "autograde": work_scores(work),
        })  # fmt: skip
    return {
        "assignment": {"id": assignment.id, "path": assignment.path},
        "questions": questions(rows),
        "students": entries,
    }


def find_score(work, notebook, cell_id):
    """The work's score row for the cell, or None."""
    for row in work.autograde_scores if work is not None else []:
        if row.notebook == notebook and row.cell_id == cell_id:
            return row
    return None


def answer_path(assignment, student, notebook):
    """Where the student's collected notebook is, in the course project."""
    # here, not at the top: coursework imports courses, which imports this module
    from .coursework import collect_folder

    return f"{collect_folder(assignment, student)}/{notebook}.ipynb"


def _text(value):
    text = "".join(value) if isinstance(value, list) else value
    return text if isinstance(text, str) else ""


def _cut(text, most):
    return text if len(text) <= most else text[:most] + f"\n… ({len(text) - most} more characters)"


def shown_output(output):
    """An output of a student's cell as the answers view may show it: text or an image;
    None for what it does not show (HTML, scripts, widgets)."""
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind == "stream":
        return {"type": "text", "text": _cut(_text(output.get("text")), TEXT_MAX)}
    if kind == "error":
        traceback = output.get("traceback") or []
        lines = [ANSI.sub("", line) for line in traceback if isinstance(line, str)]
        text = "\n".join(lines) or f"{output.get('ename')}: {output.get('evalue')}"
        return {"type": "error", "text": _cut(text, TEXT_MAX)}
    if kind in ("execute_result", "display_data"):
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        for mime in IMAGE_TYPES:
            image = _text(data.get(mime)).replace("\n", "")
            if image and len(image) <= IMAGE_MAX and re.fullmatch(r"[A-Za-z0-9+/=]+", image):
                return {"type": "image", "mime": mime, "data": image}
        if "text/plain" in data:
            return {"type": "text", "text": _cut(_text(data["text/plain"]), TEXT_MAX)}
    return None


def answer_cell(notebook_json, cell_id):
    """The cell with nbgrader's grade_id `cell_id` in a student's notebook, as the answers
    view shows it; None if the student's notebook has no such cell (deleted)."""
    cells = notebook_json.get("cells") if isinstance(notebook_json, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        if isinstance(nbgrader, dict) and nbgrader.get("grade_id") == cell_id:
            outputs = [shown_output(o) for o in cell.get("outputs") or []]
            return {
                "cell_type": cell.get("cell_type"),
                "source": _cut(_text(cell.get("source")), SOURCE_MAX),
                "outputs": [o for o in outputs if o is not None],
            }
    return None


# a collected notebook bigger than this is not read for the answers view
NOTEBOOK_MAX = 20 * 1024 * 1024
# students' notebooks read at once from the course project's server
READ_AT_ONCE = 8


async def answers(servers, course, assignment, works, notebook, cell_id):
    """Each student's answer to one question, read from their collected notebook in the
    course project (whose server is started if it is not running), with their score.

    Nothing of the notebook runs: the hub reads its JSON and keeps the cell's source and
    its text and image outputs.
    """
    from .servers import ServerError

    user = servers.user_for(course.project)
    await servers.ensure_running(user)
    gate = asyncio.Semaphore(READ_AT_ONCE)

    async def one(student, work):
        row = find_score(work, notebook, cell_id)
        entry = {"student": {"id": student.id, "name": student.name},
                 "cell": None, "error": None,
                 "score": cell_model(row) if row is not None else None}  # fmt: skip
        path = answer_path(assignment, student, notebook)
        async with gate:
            try:
                found = await servers.read_notebook(user, path, NOTEBOOK_MAX)
            except ServerError as e:
                entry["error"] = e.message
                return entry
        if found is None:
            entry["error"] = f"no collected notebook at {path}"
        else:
            entry["cell"] = answer_cell(found, cell_id)
            if entry["cell"] is None:
                entry["error"] = f"{notebook}.ipynb has no cell {cell_id} (the student deleted it)"
        return entry

    return await asyncio.gather(*(one(student, work) for student, work in works))
