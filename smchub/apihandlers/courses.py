"""REST API for courses: /hub/api/courses (instructors are the course project's
collaborators; admins may do everything)."""

from urllib.parse import quote

from tornado import web

from .. import autograde, orm
from ..course_mail import tell_added_students
from ..course_policy import apply_settings, check_settings
from ..courses import (
    KINDS,
    EnrolmentRefused,
    add_students,
    approve_claimant,
    check_assignment_path,
    check_due,
    check_grade,
    claim_enrolments,
    course_model,
    courses_taught_by,
    current_students,
    every_course,
    give_project,
    grades_csv,
    parse_student_list,
    work_for,
    work_model,
)
from ..coursework import (
    MAX_LISTED,
    check_command,
    find_job,
    job_model,
    recent_jobs,
    start_action,
    start_due_notes,
    start_peer_step,
    start_step,
    work_row,
)
from ..deadlines import sharing_the_date
from ..environments import check_choice, default_environment, set_environment
from ..grading import (
    answers,
    assignment_scores,
    check_manual_grade,
    find_score,
    set_manual_grade,
    work_scores,
)
from ..names import new_project_id
from ..peer_review import PEER_STEPS, PeerReviewRefused, check_peer_review, set_peer_review
from ..projects import InvalidInput, check_title
from ..scopes import ALL_COURSES_SCOPE, READ_ALL_COURSES_SCOPE
from .base import SMCAPIHandler, service_errors


class CourseAPIHandlerBase(SMCAPIHandler):
    def find_course(self, course_id, caller, write=True):
        """The course `caller` teaches (or any course, with the scope for every course),
        to read (write=False) or run; or 404."""
        course = self.db.get(orm.Course, course_id) if len(course_id) <= 36 else None
        if course is None or course.deleted or course.project.deleted:
            raise web.HTTPError(404, f"No such course: {course_id}")
        if self.may(ALL_COURSES_SCOPE if write else READ_ALL_COURSES_SCOPE):
            return course
        if caller.id is None or course.project.collaborator(caller.id) is None:
            if self.may(READ_ALL_COURSES_SCOPE):
                raise web.HTTPError(
                    403,
                    "This token may read every course but not run them; that needs the "
                    f"{ALL_COURSES_SCOPE} scope.",
                )
            raise web.HTTPError(404, f"No such course: {course_id}")
        return course

    def projects_owner(self, course, caller):
        """Who owns the projects made for the course's students: the caller, or for a
        service (no person) the course project's owner."""
        return caller.orm_user or course.project.owner

    def find_assignment(self, course, assignment_id):
        for assignment in course.assignments:
            if str(assignment.id) == assignment_id:
                return assignment
        raise web.HTTPError(404, f"No such assignment or handout: {assignment_id}")

    def find_student(self, course, student_id):
        for student in course.students:
            if str(student.id) == str(student_id) and not student.removed:
                return student
        raise web.HTTPError(404, f"No such student in this course: {student_id}")

    def chosen_students(self, course, wanted):
        """The students a job's body names by id, or every student when it names none."""
        if wanted is None:
            return [s for s in course.students if not s.removed]
        if isinstance(wanted, list) and all(isinstance(i, int) for i in wanted):
            return [self.find_student(course, i) for i in wanted]
        raise web.HTTPError(400, "students must be a list of student ids (or left out: all)")


class CourseClaimAPIHandler(SMCAPIHandler):
    """The caller takes the course places reserved for their email.

    Places are claimed by this POST, never by a GET. The projects page posts it when it
    loads, and every sign-in lands there, so a person who signs up or signs in finds
    their places at once; one already signed in finds places added since at their next
    visit to the page. API clients post it themselves. An unverified address only
    marks the person as the place's claimant, for an instructor to approve.
    """

    def post(self):
        person = self.current_person()
        given = claim_enrolments(self.smchub, person.orm_user)
        self.write_json({"projects": self.project_models(given)})


class CourseListAPIHandler(CourseAPIHandlerBase):
    def get(self):
        caller = self.current_caller()
        if self.get_argument("all", "") not in ("", "0", "false"):
            if not self.may(READ_ALL_COURSES_SCOPE):
                raise web.HTTPError(
                    403, f"Listing every course needs the {READ_ALL_COURSES_SCOPE} scope."
                )
            courses = every_course(self.db)
        elif caller.person is None:
            raise web.HTTPError(
                400, "This token teaches no course of its own: list every course with ?all=1."
            )
        else:
            courses = courses_taught_by(self.db, caller.orm_user)
        self.write_json([course_model(c, details=False) for c in courses])

    def post(self):
        person = self.current_caller()
        model = self.json_object_body({"project", "title"}, required=("project", "title"))
        if not isinstance(model["project"], str):
            raise web.HTTPError(400, "project must be the id of the course's project")
        project = self.find_project(model["project"], person)
        try:
            title = check_title(model["title"])
        except InvalidInput as e:
            self.invalid(e)
        course = orm.Course(id=new_project_id(), project=project, title=title)
        self.db.add(course)
        self.db.commit()
        self.log.info("%s made course %s (%r) in project %s", person.name, course.id, title,
                      project.id)  # fmt: skip
        self.write_json(course_model(course), status=201)


class CourseAPIHandler(CourseAPIHandlerBase):
    def get(self, course_id):
        person = self.current_caller()
        self.write_json(course_model(self.find_course(course_id, person, write=False)))

    def patch(self, course_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        model = self.json_object_body({"title", "settings"})
        changes = model.get("settings")
        environment = None
        try:
            title = check_title(model["title"]) if "title" in model else course.title
            if isinstance(changes, dict) and "environment" in changes:
                # the students' projects' environment: checked against the hub's list
                changes = {k: v for k, v in changes.items() if k != "environment"}
                environment = check_choice(
                    self.smchub.environment_choices, model["settings"]["environment"]
                )
            settings = check_settings(course, changes) if "settings" in model else None
        except InvalidInput as e:
            self.invalid(e)
        course.title = title
        current = course.environment or default_environment(self.smchub.environment_choices).name
        if environment is not None and environment != current:
            # students' projects take it (and pin it anew) at their next start; the same one
            # again (the page sends it with every save) keeps the course's pin
            set_environment(course, environment)
        if settings is not None:
            apply_settings(self.smchub, course, settings)
        self.db.commit()
        if settings is not None:
            self.log.info("%s set course %s's settings: %s", person.name, course.id,
                          model["settings"])  # fmt: skip
            # a window opened, closed or changed reaches running students' servers now
            self.smchub.exam_windows.enforce()
        self.write_json(course_model(course))

    def delete(self, course_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        course.deleted = True
        self.db.commit()
        self.set_status(204)
        self.finish()


class StudentListAPIHandler(CourseAPIHandlerBase):
    """Add students by username or email, many at once (smchub.courses.add_students)."""

    def post(self, course_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        model = self.json_object_body({"students"}, required=("students",))
        try:
            entries = parse_student_list(model["students"])
        except InvalidInput as e:
            self.invalid(e)
        owner = self.projects_owner(course, person)
        results = add_students(self.smchub, course, entries, owner)
        tell_added_students(self.smchub.mailer, course, results, self.hub.base_url)
        self.log.info("%s added %d students to course %s", person.name, len(entries), course.id)
        self.write_json({"results": results, "course": course_model(course)})


class StudentAPIHandler(CourseAPIHandlerBase):
    def delete(self, course_id, student_id):
        """Remove a student from the course; their project stays theirs."""
        person = self.current_caller()
        course = self.find_course(course_id, person)
        student = self.find_student(course, student_id)
        student.removed = True
        self.db.commit()
        self.write_json(course_model(course))


class StudentApprovalAPIHandler(CourseAPIHandlerBase):
    """An instructor gives a place reserved for an email to the person claiming it."""

    def post(self, course_id, student_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        student = self.find_student(course, student_id)
        try:
            approve_claimant(student)
        except EnrolmentRefused as e:
            raise web.HTTPError(409, str(e)) from None
        self.db.commit()
        give_project(self.smchub, course, student, self.projects_owner(course, person))
        self.log.info("%s approved %s for course %s (place for %s)", person.name,
                      student.user.name, course.id, student.email)  # fmt: skip
        self.write_json(course_model(course))


class AssignmentListAPIHandler(CourseAPIHandlerBase):
    def post(self, course_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        model = self.json_object_body({"path", "kind", "due"}, required=("path",))
        kind = model.get("kind", "assignment")
        if kind not in KINDS:
            raise web.HTTPError(400, f"kind must be {' or '.join(KINDS)}")
        try:
            path = check_assignment_path(model["path"])
            due = check_due(model.get("due"))
        except InvalidInput as e:
            self.invalid(e)
        if any(a.path == path for a in course.assignments):
            raise web.HTTPError(409, f"{path} is already an assignment or handout of this course")
        assignment = orm.Assignment(course=course, path=path, kind=kind, due=due)
        self.db.add(assignment)
        self.db.commit()
        self.write_json(course_model(course), status=201)


class AssignmentAPIHandler(CourseAPIHandlerBase):
    def patch(self, course_id, assignment_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        assignment = self.find_assignment(course, assignment_id)
        model = self.json_object_body({"due", "peer_review", "autograde"})
        try:
            due = check_due(model.get("due"))
            if "peer_review" in model:
                peer_k = check_peer_review(assignment, model["peer_review"])
            if "autograde" in model:
                timeouts = autograde.check_settings(model["autograde"])
        except InvalidInput as e:
            self.invalid(e)
        if "autograde" in model:
            assignment.autograde_cell_timeout, assignment.autograde_notebook_timeout = timeouts
            self.db.commit()
        if "peer_review" in model:
            try:
                set_peer_review(self.db, assignment, peer_k)
            except PeerReviewRefused as e:
                raise web.HTTPError(409, str(e)) from None
        job = None
        if "due" in model and due != assignment.due:
            # students without an extension of their own get the new date in their
            # DUE_DATE.txt; the deadline timer collects at the new date
            assignment.due = due
            self.db.commit()
            students = sharing_the_date(assignment)
            job = start_due_notes(self.smchub, course, assignment, students, person.orm_user)
        self.write_json({**course_model(course), "job": job_model(job) if job else None})

    def delete(self, course_id, assignment_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        self.db.delete(self.find_assignment(course, assignment_id))
        self.db.commit()
        self.write_json(course_model(course))


class ExtensionAPIHandler(CourseAPIHandlerBase):
    """A student's own deadline for an assignment: PUT {"due"} sets it, DELETE gives them
    the assignment's again. Their DUE_DATE.txt is rewritten (a job, in the answer) and
    the hub collects their work at that deadline instead of the assignment's."""

    def put(self, course_id, assignment_id, student_id):
        person = self.current_caller()
        course, assignment, student = self._find(course_id, assignment_id, student_id, person)
        model = self.json_object_body({"due"}, required=("due",))
        try:
            due = check_due(model["due"])
        except InvalidInput as e:
            self.invalid(e)
        if due is None:
            raise web.HTTPError(
                400, "due must be a date and time like 2026-12-01T17:00:00Z; to end an "
                "extension, DELETE it"
            )  # fmt: skip
        self._set(course, assignment, student, due, person)

    def delete(self, course_id, assignment_id, student_id):
        person = self.current_caller()
        course, assignment, student = self._find(course_id, assignment_id, student_id, person)
        self._set(course, assignment, student, None, person)

    def _find(self, course_id, assignment_id, student_id, person):
        course = self.find_course(course_id, person)
        assignment = self.find_assignment(course, assignment_id)
        if assignment.kind != "assignment":
            raise web.HTTPError(400, "Handouts have no deadlines, so no extensions.")
        return course, assignment, self.find_student(course, student_id)

    def _set(self, course, assignment, student, due, person):
        work = work_row(self.db, student, assignment)
        job = None
        if work.due != due:
            work.due = due
            self.db.commit()
            job = start_due_notes(self.smchub, course, assignment, [student], person.orm_user)
            self.log.info("%s set %s's deadline for %s of course %s to %s", person.name,
                          student.name, assignment.path, course.id, due)  # fmt: skip
        self.write_json(
            {
                "student": student.id,
                "assignment": assignment.id,
                **work_model(work, assignment),
                "job": job_model(job) if job else None,
            }
        )


class StepAPIHandler(CourseAPIHandlerBase):
    """Run assign, collect or return for some students or all; answers 202 with a job.
    The peer steps (peer_review.py) run for the reviewers among them."""

    async def post(self, course_id, assignment_id, step):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        assignment = self.find_assignment(course, assignment_id)
        if assignment.kind == "handout" and step != "assign":
            raise web.HTTPError(400, "Handouts are copied out, never collected or returned.")
        model = self.json_object_body({"students"})
        students = self.chosen_students(course, model.get("students"))
        if step in PEER_STEPS:
            try:
                job = start_peer_step(self.smchub, course, assignment, step, students,
                                      person.orm_user)  # fmt: skip
            except InvalidInput as e:
                self.invalid(e)
            except PeerReviewRefused as e:
                raise web.HTTPError(409, str(e)) from None
        else:
            job = start_step(self.smchub, course, assignment, step, students, person.orm_user)
        self.log.info("%s started %s of %s for %d students of course %s", person.name, step,
                      assignment.path, len(students), course.id)  # fmt: skip
        self.write_json(job_model(job), status=202)


class ActionAPIHandler(CourseAPIHandlerBase):
    """Start, stop, or run a command in (exec) every student's project, or some students';
    answers 202 with a job. Exec takes {"command": shell command, "timeout": seconds}."""

    async def post(self, course_id, action):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        if action == "exec":
            model = self.json_object_body({"students", "command", "timeout"}, ("command",))
            try:
                command, timeout = check_command(model["command"], model.get("timeout"))
            except InvalidInput as e:
                self.invalid(e)
        else:
            model = self.json_object_body({"students"})
            command = timeout = None
        students = self.chosen_students(course, model.get("students"))
        job = start_action(self.smchub, course, action, students, person.orm_user, command,
                           timeout)  # fmt: skip
        self.log.info("%s started %s for %d students of course %s", person.name, action,
                      len(students), course.id)  # fmt: skip
        self.write_json(job_model(job), status=202)


class JobListAPIHandler(CourseAPIHandlerBase):
    """The course's jobs of the last `days` days (default 7), newest first, at most
    `limit` (default and most: 100), each with every student's result."""

    def get(self, course_id):
        person = self.current_caller()
        course = self.find_course(course_id, person, write=False)
        days = self._number("days", 7, 1, 3650)
        limit = int(self._number("limit", MAX_LISTED, 1, MAX_LISTED))
        self.write_json([job_model(job) for job in recent_jobs(self.db, course, days, limit)])

    def _number(self, name, default, least, most):
        value = self.get_query_argument(name, None)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is None or not least <= number <= most:
            raise web.HTTPError(400, f"{name} must be a number from {least:g} to {most:g}")
        return number


class JobAPIHandler(CourseAPIHandlerBase):
    def get(self, course_id, job_id):
        person = self.current_caller()
        course = self.find_course(course_id, person, write=False)
        job = find_job(self.db, course, job_id)
        if job is None:
            raise web.HTTPError(404, f"No such job: {job_id}")
        self.write_json(job_model(job))


class GradeAPIHandler(CourseAPIHandlerBase):
    def put(self, course_id, assignment_id, student_id):
        person = self.current_caller()
        course = self.find_course(course_id, person)
        assignment = self.find_assignment(course, assignment_id)
        if assignment.kind != "assignment":
            raise web.HTTPError(400, "Handouts are not graded.")
        student = self.find_student(course, student_id)
        model = self.json_object_body({"grade", "comments"})
        try:
            grade, comments = check_grade(model)
        except InvalidInput as e:
            self.invalid(e)
        work = work_row(self.db, student, assignment)
        work.grade = grade or None
        work.comments = comments
        work.graded = orm.now() if grade else None
        self.db.commit()
        self.write_json(course_model(course))


class ScoresAPIHandler(CourseAPIHandlerBase):
    """An autograded assignment's scores: per question and per student, with what people
    graded by hand."""

    def get(self, course_id, assignment_id):
        course = self.find_course(course_id, self.current_caller(), write=False)
        assignment = self.find_assignment(course, assignment_id)
        works = [(s, work_for(s, assignment)) for s in current_students(course) if not s.removed]
        self.write_json(assignment_scores(assignment, works))


class CellScoreAPIHandler(CourseAPIHandlerBase):
    """A person grades one cell of a student's autograded notebook: points (null gives
    the cell back to the autograder's score), a comment, and a reason when the points
    override an automatic score."""

    def put(self, course_id, assignment_id, student_id, notebook, cell_id):
        caller = self.current_caller()
        course = self.find_course(course_id, caller)
        assignment = self.find_assignment(course, assignment_id)
        student = self.find_student(course, student_id)
        work = work_for(student, assignment)
        row = find_score(work, notebook, cell_id)
        if row is None:
            raise web.HTTPError(
                404,
                f"{student.name} has no autograded score for {cell_id} of {notebook} in "
                f"{assignment.path}: autograde their collected work first",
            )
        body = self.get_json_body()
        try:
            points, comment, reason = check_manual_grade(row, body)
        except InvalidInput as e:
            self.invalid(e)
        set_manual_grade(row, points, comment, reason, caller.name, orm.now())
        self.db.commit()
        self.log.info("%s graded %s of %s/%s for %s: %s", caller.name, cell_id, assignment.path,
                      notebook, student.name, points)  # fmt: skip
        self.write_json({"id": student.id, "name": student.name, "autograde": work_scores(work)})


class AnswersAPIHandler(CourseAPIHandlerBase):
    """Every student's answer to one question (?notebook=&cell_id=), from their collected
    notebook, beside their score: what a person grades from."""

    async def get(self, course_id, assignment_id):
        course = self.find_course(course_id, self.current_caller(), write=False)
        assignment = self.find_assignment(course, assignment_id)
        notebook = self.get_argument("notebook", "")
        cell_id = self.get_argument("cell_id", "")
        if not notebook or not cell_id:
            raise web.HTTPError(400, "Say which question: ?notebook=<name>&cell_id=<grade id>")
        works = [(s, work_for(s, assignment)) for s in current_students(course) if not s.removed]
        works = [(s, w) for s, w in works if find_score(w, notebook, cell_id) is not None]
        with service_errors():
            found = await answers(self.smchub.servers, course, assignment, works, notebook,
                                  cell_id)  # fmt: skip
        self.write_json({"notebook": notebook, "cell_id": cell_id, "answers": found})


class GradesCSVHandler(CourseAPIHandlerBase):
    def get(self, course_id):
        person = self.current_caller()
        course = self.find_course(course_id, person, write=False)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        name = "".join(c if c.isalnum() else "-" for c in course.title) or "course"
        # an ASCII name for old clients, and the course's own (RFC 6266's filename*) for
        # the rest: a header holds no other characters (a title in Cyrillic was a 500)
        ascii_name = "".join(c if c.isascii() else "-" for c in name)
        self.set_header(
            "Content-Disposition",
            f'attachment; filename="{ascii_name}-grades.csv"; '
            f"filename*=UTF-8''{quote(name + '-grades.csv')}",
        )
        self.finish(grades_csv(course))


default_handlers = [
    (r"/api/courses", CourseListAPIHandler),
    (r"/api/courses/claim", CourseClaimAPIHandler),
    (r"/api/courses/([^/]+)", CourseAPIHandler),
    (r"/api/courses/([^/]+)/students", StudentListAPIHandler),
    (r"/api/courses/([^/]+)/students/([0-9]+)", StudentAPIHandler),
    (r"/api/courses/([^/]+)/students/([0-9]+)/approve", StudentApprovalAPIHandler),
    (r"/api/courses/([^/]+)/assignments", AssignmentListAPIHandler),
    (r"/api/courses/([^/]+)/assignments/([0-9]+)", AssignmentAPIHandler),
    (
        r"/api/courses/([^/]+)/assignments/([0-9]+)/(assign|collect|autograde|return|peer|peer-collect)",
        StepAPIHandler,
    ),
    (r"/api/courses/([^/]+)/assignments/([0-9]+)/grades/([0-9]+)", GradeAPIHandler),
    (r"/api/courses/([^/]+)/assignments/([0-9]+)/extensions/([0-9]+)", ExtensionAPIHandler),
    (r"/api/courses/([^/]+)/assignments/([0-9]+)/scores", ScoresAPIHandler),
    (
        r"/api/courses/([^/]+)/assignments/([0-9]+)/scores/([0-9]+)/([^/]+)/([^/]+)",
        CellScoreAPIHandler,
    ),
    (r"/api/courses/([^/]+)/assignments/([0-9]+)/answers", AnswersAPIHandler),
    (r"/api/courses/([^/]+)/actions/(start|stop|exec)", ActionAPIHandler),
    (r"/api/courses/([^/]+)/jobs", JobListAPIHandler),
    (r"/api/courses/([^/]+)/jobs/([^/]+)", JobAPIHandler),
    (r"/api/courses/([^/]+)/grades\.csv", GradesCSVHandler),
]
