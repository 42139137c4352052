"""Deadlines that act: the hub collects each student's work at their own deadline.

An assignment's due date, or a student's extension of it (StudentAssignment.due), is the
moment the hub collects that student's work by itself. Every c.SMCHub.deadline_interval
seconds, and once at start (which catches up on deadlines that passed while the hub was
down), it looks for assigned work whose deadline has passed and that no collection has
been started for at that deadline, and starts one collect job per assignment for those
students (a course job whose trigger is "deadline"; coursework.py does the collecting).

The job is marked on each student's row (due_collected_for) in the same commit that
makes it, so a deadline is acted on once: a student the job fails for is listed in it
for an instructor to collect again by hand, rather than retried every minute. A due date
moved later collects again at the new deadline.
"""

from sqlalchemy import func, or_

from . import orm
from .courses import own_due, work_for

DEADLINE = "deadline"


def due_text(assignment, work):
    """What DUE_DATE.txt in a student's project says."""
    due = own_due(assignment, work)
    if due is None:
        return f"{assignment.path} has no due date.\n"
    extended = work is not None and work.due is not None
    return (
        f"{assignment.path} is due {due.isoformat(' ', 'minutes')} UTC"
        + (" (your extension)" if extended else "")
        + ".\nThe course collects your work in this folder then, by itself.\n"
    )


def work_past_due(db, now):
    """Assigned work whose deadline has passed with no collection started for it."""
    due = func.coalesce(orm.StudentAssignment.due, orm.Assignment.due)
    return (
        db.query(orm.StudentAssignment)
        .join(orm.Assignment, orm.Assignment.id == orm.StudentAssignment.assignment_id)
        .join(orm.CourseStudent, orm.CourseStudent.id == orm.StudentAssignment.student_id)
        .join(orm.Course, orm.Course.id == orm.Assignment.course_id)
        .join(orm.Project, orm.Project.id == orm.Course.project_id)
        .filter(
            orm.Assignment.kind == "assignment",
            orm.StudentAssignment.assigned.isnot(None),
            orm.CourseStudent.removed.isnot(True),
            orm.Course.deleted.isnot(True),
            orm.Project.deleted.isnot(True),
            due.isnot(None),
            due <= now,
            or_(
                orm.StudentAssignment.due_collected_for.is_(None),
                orm.StudentAssignment.due_collected_for != due,
            ),
        )
        .all()
    )


class Deadlines:
    """The hub's deadline timer (`app.deadlines`); runs the same with or without a
    request, at start and then every c.SMCHub.deadline_interval seconds."""

    def __init__(self, app):
        self.app = app

    def check(self):
        """Start the collections that deadlines passed since the last check call for."""
        try:
            self._check()
        except Exception:
            # the next check tries again; a hub starting up still starts
            self.app.db.rollback()
            self.app.log.exception("Could not act on deadlines")

    def _check(self):
        app = self.app
        db = app.db
        by_assignment = {}
        for work in work_past_due(db, orm.now()):
            by_assignment.setdefault(work.assignment_id, []).append(work)
        for works in by_assignment.values():
            assignment = works[0].assignment
            for work in works:
                # a collection for this deadline, begun afresh (one made at an earlier
                # due date, since moved, no longer counts)
                work.due_collected_for = own_due(assignment, work)
                work.due_collected = work.due_digest = work.late_collected = None
            students = [w.student for w in works]
            # one commit with the job's rows: a hub stopped after it resumes the job
            job = app.course_jobs.start(
                assignment.course, assignment, "collect", students, None, trigger=DEADLINE
            )
            app.log.info("Course %s: %s is due for %d students; collecting (job %s)",
                         assignment.course_id, assignment.path, len(students),
                         job.id)  # fmt: skip


def students_to_tell(assignment, students):
    """Those of `students` who were assigned the assignment, so have a DUE_DATE.txt to
    rewrite after their due date changed."""
    return [
        s
        for s in students
        if not s.removed
        and s.project_id is not None
        and (work := work_for(s, assignment)) is not None
        and work.assigned is not None
    ]


def sharing_the_date(assignment):
    """The assignment's students whose deadline is its due date (no extension)."""
    return [
        s
        for s in assignment.course.students
        if (work := work_for(s, assignment)) is None or work.due is None
    ]
