"""Courses: who is in them, what goes out to students, and how it is reported.

A course belongs to an instructor's project: that project's collaborators teach it and
its folders are what goes out to students. Pure functions and database changes (with
the hub's app where a student's project is made); copying files between projects is in
coursework.py.
"""

import csv
import io
import posixpath
import re

from jupyterhub import orm as hub_orm
from jupyterhub.utils import isoformat
from sqlalchemy import func
from sqlalchemy.orm import object_session, selectinload

from . import orm
from .autograde import settings_model as autograde_settings
from .course_policy import naive_utc, set_teacher_roles, settings_model
from .grading import effective_points
from .grading import questions as grading_questions
from .grading import work_scores as autograde_scores
from .names import is_project_name
from .peer_review import peer_model
from .projects import InvalidInput, add_collaborator, check_title, collaborator_lists, new_project

EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
MAX_STUDENTS_AT_ONCE = 1000
GRADE_MAX = 64
COMMENTS_MAX = 20_000
KINDS = ("assignment", "handout")


def parse_student_list(value):
    """Usernames and emails from a pasted list (lines, commas, semicolons or spaces)."""
    if isinstance(value, str):
        entries = re.split(r"[\s,;]+", value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        entries = value
    else:
        raise InvalidInput("students must be a list of usernames or emails, or pasted text")
    seen = []
    for entry in entries:
        entry = entry.strip()
        if entry and entry.lower() not in (s.lower() for s in seen):
            seen.append(entry)
    if not seen:
        raise InvalidInput("no usernames or emails found in students")
    if len(seen) > MAX_STUDENTS_AT_ONCE:
        raise InvalidInput(f"{len(seen)} students at once; the limit is {MAX_STUDENTS_AT_ONCE}")
    return seen


def is_email(entry):
    return bool(EMAIL_RE.match(entry))


def _info_email(info):
    email = info.get("email") if isinstance(info, dict) else None
    return email.lower() if isinstance(email, str) and email else None


def _info_verified(info):
    return isinstance(info, dict) and info.get("email_verified") is True


def person_email(user):
    """A person's email as their authenticator reported it (JupyterHub's user_info)."""
    return _info_email(user.user_info if user is not None else None)


def email_verified(user):
    """Whether the person's authenticator vouches for their email.

    OAuth/OIDC providers say so with the ``email_verified`` claim; an authenticator (or a
    post_auth_hook) that copies it into user_info makes the person's course places theirs
    at once. Anyone can sign up with any address, so an unverified one proves nothing.
    """
    return _info_verified(user.user_info if user is not None else None)


class PeopleFinder:
    """Who the entries of one pasted list name.

    Emails live in each person's user_info (JSON text no database index reaches), so the
    users table is read once, on the first email entry, for the whole list.
    """

    def __init__(self, db):
        self.db = db
        self._ids_by_email = None

    def _by_email(self):
        if self._ids_by_email is None:
            found, verified = {}, set()
            rows = self.db.query(hub_orm.User.id, hub_orm.User.user_info).filter(
                hub_orm.User.user_info.isnot(None)
            )
            for user_id, info in rows:
                email = _info_email(info)
                # two people may report one address; the one whose address is verified wins
                if not email or email in verified:
                    continue
                if email not in found or _info_verified(info):
                    found[email] = user_id
                if _info_verified(info):
                    verified.add(email)
            self._ids_by_email = found
        return self._ids_by_email

    def find(self, entry):
        """The person an entry names: a username, or the email someone signed up with."""
        if is_email(entry):
            user_id = self._by_email().get(entry.lower())
            return None if user_id is None else self.db.get(hub_orm.User, user_id)
        return hub_orm.User.find(self.db, entry.lower())


# the folders smchub makes beside an assignment's (coursework.py, peer_review.py): an
# assignment of that name would be overwritten by another's work
WORK_FOLDER_SUFFIXES = ("-collect", "-collect-late", "-peer-review", "-peer-feedback")


def check_assignment_path(value):
    """A folder of the course project, relative to its home."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("path must name a folder of the course project")
    path = posixpath.normpath(value.strip().strip("/"))
    if value.strip().startswith("/") or path.startswith("..") or path == "." or "\0" in path:
        raise InvalidInput("path must be a folder inside the course project, like hw1")
    if len(path) > 1024:
        raise InvalidInput("path is too long")
    if path == ".smchub" or path.startswith(".smchub/"):
        raise InvalidInput(".smchub is where smchub keeps the course's generated versions")
    if path.endswith(WORK_FOLDER_SUFFIXES) or path.startswith("graded-"):
        raise InvalidInput(
            "folders named *-collect, *-collect-late, *-peer-review, *-peer-feedback and "
            "graded-* are where smchub puts work"
        )
    return path


def check_due(value):
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput("due must be a date and time like 2026-12-01T17:00:00Z")
    try:
        return naive_utc(value)
    except ValueError:
        raise InvalidInput(f"due {value!r} is not a date and time like 2026-12-01T17:00:00Z")


def check_grade(model):
    grade = model.get("grade", "")
    comments = model.get("comments", "")
    if grade is None:
        grade = ""
    if not isinstance(grade, (str, int, float)) or isinstance(grade, bool):
        raise InvalidInput("grade must be text or a number")
    grade = str(grade).strip()
    if len(grade) > GRADE_MAX:
        raise InvalidInput(f"grade is longer than {GRADE_MAX} characters")
    if not isinstance(comments, str) or len(comments) > COMMENTS_MAX:
        raise InvalidInput(f"comments must be text of at most {COMMENTS_MAX} characters")
    return grade, comments


def student_project_title(student_name, course_title):
    return check_title(f"{student_name} – {course_title}"[:200])


def instructors(course):
    return [c.user for c in course.project.collaborators]


def work_for(student, assignment):
    for work in student.work:
        if work.assignment_id == assignment.id:
            return work
    return None


def _time(value):
    return isoformat(value) if value else None


def own_due(assignment, work):
    """The student's deadline: their extension, else the assignment's due date."""
    if work is not None and work.due is not None:
        return work.due
    return assignment.due


def work_model(work, assignment):
    """Where a student is with an assignment; `due` is their own deadline, `extension`
    set when it is theirs alone, `due_collected` when the hub took the work at it (late
    if the hub was down then), `late` once work changed afterwards was collected."""
    if work is None:
        return {"assigned": None, "collected": None, "graded": None, "returned": None,
                "grade": None, "comments": "", "error": None, "due": _time(assignment.due),
                "extension": None, "due_collected": None, "late_collected": None,
                "late": False, "autograde": None}  # fmt: skip
    return {
        "assigned": _time(work.assigned),
        "collected": _time(work.collected),
        "graded": _time(work.graded),
        "returned": _time(work.returned),
        "grade": work.grade,
        "comments": work.comments,
        "error": work.error,
        "due": _time(own_due(assignment, work)),
        "extension": _time(work.due),
        "due_collected": _time(work.due_collected),
        "late_collected": _time(work.late_collected),
        "late": work.late_collected is not None,
        # the last autograding's total and per-cell scores (autograde.py); null if none
        "autograde": autograde_scores(work),
    }


def student_model(student, assignments):
    """A student as instructors see them: `email` is only ever the address an instructor
    typed to reserve the place, never one from the person's account."""
    claimant = student.claimant if student.user is None else None
    # one pass over the student's work, not one per assignment (a class has 20 or more)
    work = {w.assignment_id: w for w in student.work}
    return {
        "id": student.id,
        "name": student.name,
        "username": student.user.name if student.user else None,
        "email": student.email,
        "project": student.project_id,
        "signed_up": student.user is not None,
        # someone signed up with the place's email, unverified: an instructor may approve
        "pending_match": {"name": claimant.name} if claimant is not None else None,
        "work": {str(a.id): work_model(work.get(a.id), a) for a in assignments},
    }


def assignment_model(assignment):
    return {
        "id": assignment.id,
        "path": assignment.path,
        "kind": assignment.kind,
        "due": _time(assignment.due),
        # null when off; else k, the pairing and each student's reviews (peer_review.py)
        "peer_review": peer_model(object_session(assignment), assignment),
        # the timeouts of grading an autograded assignment's notebooks, in seconds
        "autograde": autograde_settings(assignment),
    }


def course_model(course, details=True):
    model = {
        "id": course.id,
        "title": course.title,
        "project": course.project_id,
        "instructors": [u.name for u in instructors(course)],
        "created": _time(course.created),
    }
    if details:
        model["settings"] = settings_model(course)
        students = [s for s in current_students(course) if not s.removed]
        model["assignments"] = [assignment_model(a) for a in course.assignments]
        model["students"] = [student_model(s, course.assignments) for s in students]
    return model


def current_students(course):
    """The course's students with all their work, in two queries rather than one per
    student (a class of 300 would otherwise cost 300 round trips per page load)."""
    db = object_session(course)
    if db is None:
        return course.students
    return (
        db.query(orm.CourseStudent)
        .filter(orm.CourseStudent.course_id == course.id)
        .options(selectinload(orm.CourseStudent.work))
        .order_by(orm.CourseStudent.id)
        .all()
    )


# a cell starting with one of these is a formula to spreadsheets (OWASP's CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[-+]?[0-9]+(\.[0-9]+)?$")


def spreadsheet_cell(value):
    """`value` as a cell no spreadsheet evaluates: formulas get a leading quote.

    Plain numbers (a grade of -1) are no formula and stay numbers.
    """
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def has_deadline(assignment):
    """Whether the assignment has a due date, or a student has one for it."""
    if assignment.due is not None:
        return True
    works = (work_for(s, assignment) for s in assignment.course.students)
    return any(w is not None and w.due is not None for w in works)


def grades_csv(course):
    """One row per student, a grade column per assignment (handouts have none), and
    beside the grade of one with a deadline, whether the student's work was late. An
    autograded assignment adds its total, a column per question (a graded cell, as
    notebook:cell) and the comments.

    The email column holds only addresses the instructors typed themselves.
    """
    assignments = [a for a in course.assignments if a.kind == "assignment"]
    timed = {a.id for a in assignments if has_deadline(a)}
    students = [s for s in current_students(course) if not s.removed]
    # each autograded assignment's questions, in the order the scores API lists them
    asked = {}
    for a in assignments:
        works = [work_for(s, a) for s in students]
        rows = [r for w in works if w is not None for r in w.autograde_scores]
        if rows:
            asked[a.id] = [(q["notebook"], q["cell_id"]) for q in grading_questions(rows)]
    out = io.StringIO()
    writer = csv.writer(out)

    def row(cells):
        writer.writerow([spreadsheet_cell(cell) for cell in cells])

    header = ["student", "email"]
    for a in assignments:
        header += [a.path, f"{a.path} late"] if a.id in timed else [a.path]
        if a.id in asked:
            header += [f"{a.path} total", f"{a.path} max"]
            header += [f"{a.path} {notebook}:{cell}" for notebook, cell in asked[a.id]]
            header.append(f"{a.path} comments")
    row(header)
    for student in students:
        cells = [student.name, student.email or ""]
        for assignment in assignments:
            work = work_for(student, assignment)
            cells.append(work.grade if work and work.grade is not None else "")
            if assignment.id in timed:
                cells.append("late" if work and work.late_collected else "")
            if assignment.id in asked:
                cells += _autograde_cells(work, asked[assignment.id])
        row(cells)
    return out.getvalue()


def _number(value):
    return "" if value is None else f"{value:g}"


def _autograde_cells(work, questions):
    """A student's total, maximum, points per question and comments, for the CSV."""
    rows = {(r.notebook, r.cell_id): r for r in (work.autograde_scores if work else [])}
    if not rows:
        return ["", ""] + [""] * len(questions) + [""]
    scores = [effective_points(rows[q]) if q in rows else None for q in questions]
    comments = [f"{r.cell_id}: {r.comment}" for r in rows.values() if r.comment]
    if work.comments:
        comments.insert(0, work.comments)
    total = sum(p or 0 for p in scores)
    most = sum(r.max_points for r in rows.values())
    return [_number(total), _number(most), *map(_number, scores), "\n".join(comments)]


def grade_markdown(course, assignment, student, work):
    """The GRADE.md returned with a student's work: their grade and the comments, and for
    autograded work the score, overall and per notebook, with a row per graded cell."""
    rows = sorted(work.autograde_scores, key=lambda r: (r.notebook, r.cell_id))

    def score(rows):
        got = sum(effective_points(r) or 0 for r in rows)
        return f"{_number(got)} of {_number(sum(r.max_points for r in rows))}"

    def table_text(text):
        # one table cell: its lines joined, its bars no column separators
        lines = (text or "").replace("|", "\\|").splitlines()
        return "<br>".join(line.strip() for line in lines if line.strip())

    text = (
        f"# {assignment.path}: grade\n\n"
        f"- Course: {course.title}\n"
        f"- Student: {student.name}\n"
        f"- Grade: {work.grade or '(none)'}\n"
    )
    if rows:
        text += f"- Score: {score(rows)}\n"
    text += f"\n## Comments\n\n{work.comments or '(none)'}\n"
    notebooks = {}
    for row in rows:
        notebooks.setdefault(row.notebook, []).append(row)
    for notebook, cells in notebooks.items():
        text += (
            f"\n## {notebook}.ipynb: {score(cells)}\n\n"
            "| Cell | Points | Max | Comment |\n| --- | --- | --- | --- |\n"
        )
        for r in cells:
            points = _number(effective_points(r)) or "(not graded)"
            text += (
                f"| {table_text(r.cell_id)} | {points} | {_number(r.max_points)} "
                f"| {table_text(r.comment)} |\n"
            )
    return text


def courses_taught_by(db, person):
    return (
        db.query(orm.Course)
        .join(orm.Project, orm.Course.project_id == orm.Project.id)
        .join(orm.Collaborator, orm.Collaborator.project_id == orm.Project.id)
        .filter(orm.Collaborator.user_id == person.id, orm.Course.deleted.is_(False))
        .order_by(orm.Course.created.desc())
        .all()
    )


def every_course(db):
    """Every course on the hub whose project is not deleted, newest first."""
    return (
        db.query(orm.Course)
        .join(orm.Project, orm.Course.project_id == orm.Project.id)
        .filter(orm.Course.deleted.is_(False), orm.Project.deleted.isnot(True))
        .order_by(orm.Course.created.desc())
        .all()
    )


def course_overviews(db, since):
    """Every course (as every_course) with its size and how its jobs started since
    `since` failed, for admins: a few queries for the whole list, none per course.

    `failures` counts the students a step failed for; `last_failure` is the newest of
    them, with its reason (or None).
    """
    courses = every_course(db)
    instructors_of = collaborator_lists(db, [c.project_id for c in courses])
    students = dict(
        db.query(orm.CourseStudent.course_id, func.count())
        .filter(orm.CourseStudent.removed.isnot(True))
        .group_by(orm.CourseStudent.course_id)
    )
    sizes = {}
    for course_id, kind, count in db.query(
        orm.Assignment.course_id, orm.Assignment.kind, func.count()
    ).group_by(orm.Assignment.course_id, orm.Assignment.kind):
        sizes[course_id, kind] = count
    # each course's failed students, newest first, numbered: the first holds the count
    # of them all, so one query answers both for every course
    when = func.coalesce(orm.CourseJobStudent.finished, orm.CourseJob.created)
    by_course = {"partition_by": orm.CourseJob.course_id}
    failed = (
        db.query(
            orm.CourseJob.course_id.label("course_id"),
            orm.CourseJob.step.label("step"),
            orm.CourseJob.assignment_path.label("path"),
            orm.CourseJobStudent.name.label("student"),
            orm.CourseJobStudent.error.label("error"),
            when.label("at"),
            func.count().over(**by_course).label("failures"),
            func.row_number()
            .over(**by_course, order_by=(when.desc(), orm.CourseJob.id.desc()))
            .label("newest"),
        )
        .join(orm.CourseJobStudent, orm.CourseJobStudent.job_id == orm.CourseJob.id)
        .filter(orm.CourseJob.created >= since, orm.CourseJobStudent.state == "failed")
        .subquery()
    )
    failures = {row.course_id: row for row in db.query(failed).filter(failed.c.newest == 1)}
    overviews = []
    for course in courses:
        last = failures.get(course.id)
        overviews.append(
            {
                "id": course.id,
                "title": course.title,
                "project": course.project_id,
                "instructors": [name for name, _ in instructors_of[course.project_id]],
                "created": _time(course.created),
                "students": students.get(course.id, 0),
                "assignments": sizes.get((course.id, "assignment"), 0),
                "handouts": sizes.get((course.id, "handout"), 0),
                "failures": last.failures if last else 0,
                "last_failure": {
                    "step": last.step,
                    "path": last.path or None,
                    "student": last.student,
                    "error": last.error,
                    "at": _time(last.at),
                }
                if last
                else None,
            }
        )
    return overviews


def pending_enrolments(db, person):
    """Course places waiting for this person's email (added before they signed up)."""
    email = person_email(person)
    if not email:
        return []
    return (
        db.query(orm.CourseStudent)
        .filter(orm.CourseStudent.email == email, orm.CourseStudent.user_id.is_(None))
        .all()
    )


class EnrolmentRefused(Exception):
    """A course place cannot go to that person; the message says why."""


def is_student(course, person):
    return any(s.user_id == person.id and not s.removed for s in course.students)


def match_place(student, person):
    """Someone whose email is the place's: theirs if the address is verified, else noted
    as the place's claimant for an instructor to approve. True if the place is theirs now.
    """
    if email_verified(person):
        enrol(student, person)
        return True
    if student.claimant_id is None:
        student.claimant = person
    return False


def enrol(student, person):
    """The place is `person`'s (a verified email, an instructor's approval, a username)."""
    if is_student(student.course, person):
        raise EnrolmentRefused(f"{person.name} is already a student of this course")
    student.user_id = person.id
    student.user = person
    student.claimant = None


def approve_claimant(student):
    """An instructor's approval: the person claiming the place gets it. Returns them."""
    if student.user is not None:
        raise EnrolmentRefused(f"This place is already {student.user.name}'s.")
    person = student.claimant
    if person is None:
        raise EnrolmentRefused(
            f"No one is waiting for approval for {student.email}: the place goes to whoever "
            "signs up with that address once it is verified, or that you approve then."
        )
    enrol(student, person)
    return person


def give_project(app, course, student, owner):
    """The student's project for this course, with the student and every instructor in
    the role the course gives them there (course_policy.teacher_role).

    `owner` owns a new project, unless the course's assistants only view students'
    projects: then the course project's owner does, or an assistant who added the
    student would own it with full access."""
    people = [student.user, *instructors(course)]
    project = app.db.get(orm.Project, student.project_id) if student.project_id else None
    if project is None:
        if course.assistants_view_only:
            owner = course.project.owner or owner
        title = student_project_title(student.name, course.title)
        project = new_project(app, owner, title, collaborators=people)
        student.project_id = project.id
        app.db.commit()
    else:
        for person in people:
            add_collaborator(app, project, person)
    set_teacher_roles(app, course, project, student.user_id)
    return project


def claim_enrolments(app, person):
    """Course places waiting for a person's email: theirs if their address is verified,
    else they are noted as the place's claimant for an instructor to approve.

    Returns the projects of the places that became theirs.
    """
    given = []
    for student in pending_enrolments(app.db, person):
        course = student.course
        if course.deleted or student.removed or is_student(course, person):
            continue
        if not match_place(student, person):
            app.db.commit()
            continue
        app.db.commit()
        owner = course.project.owner or person
        given.append(give_project(app, course, student, owner))
        app.log.info("%s joined course %s by their verified email", person.name, course.id)
    return given


def add_students(app, course, entries, owner):
    """Add the entries of a pasted list (usernames or emails) to the course; one result
    per entry ("added", "already", "pending" or "error", with a message for people).

    A username enrols that person. An email reserves a place, which goes to someone
    whose address their authenticator verified, or waits for an instructor to approve
    whoever signed up with it. `owner` owns the students' new projects.
    """
    people = PeopleFinder(app.db)
    results = [_add_student(app, course, entry, people, owner) for entry in entries]
    app.db.commit()
    return results


def _add_student(app, course, entry, people, owner):
    user = people.find(entry)
    if user is not None and is_project_name(user.name):
        return {"entry": entry, "result": "error", "message": "that is a project, not a person"}
    if is_email(entry):
        return _add_email(app, course, entry, entry.lower(), user, owner)
    if user is None:
        message = f"no one is called {entry!r}; add them by email instead"
        return {"entry": entry, "result": "error", "message": message}
    existing = next((s for s in course.students if s.user_id == user.id), None)
    if existing is not None and not existing.removed:
        give_project(app, course, existing, owner)
        return {"entry": entry, "result": "already", "student": existing.id}
    student = existing or orm.CourseStudent(course=course)
    student.removed = False
    enrol(student, user)
    app.db.add(student)
    app.db.commit()
    project = give_project(app, course, student, owner)
    return {"entry": entry, "result": "added", "student": student.id, "project": project.id}


def _add_email(app, course, entry, email, user, owner):
    existing = next((s for s in course.students if s.email == email), None)
    if existing is not None and not existing.removed:
        if existing.user is not None:
            give_project(app, course, existing, owner)
        return {"entry": entry, "result": "already", "student": existing.id}
    if user is not None and is_student(course, user):
        # enrolled by username already; their address stays unrevealed
        return {"entry": entry, "result": "already"}
    student = existing or orm.CourseStudent(course=course, email=email)
    student.removed = False
    app.db.add(student)
    if user is not None and match_place(student, user):
        app.db.commit()
        project = give_project(app, course, student, owner)
        return {"entry": entry, "result": "added", "student": student.id,
                "project": project.id}  # fmt: skip
    # one commit for the whole list (see add_students): a class list may be long
    app.db.flush()
    if student.claimant is not None:
        return {"entry": entry, "result": "pending", "student": student.id,
                "claimant": student.claimant.name,
                "message": f"{student.claimant.name} signed up with this email, which no "
                           "one has verified; approve them to enrol them"}  # fmt: skip
    return {"entry": entry, "result": "pending", "student": student.id,
            "message": "added when someone signs up with this email and verifies it, "
                       "or you approve them"}  # fmt: skip
