"""Assign, collect and return: the steps of a course, run for one student or a class.

Each step copies folders between the course project and a student's project through
their servers (smchub.servers.ProjectServers.copy), starting servers that are not
running and stopping them again afterwards. A bulk step runs a few students at a time
(c.SMCHub.course_parallelism), carries on past failures, records per-student status
and errors in the database, and reports its progress as a job.
"""

import asyncio
import posixpath
import uuid
from collections import OrderedDict

from . import orm
from .courses import give_project, grade_markdown, work_for
from .servers import ServerError

STEPS = ("assign", "collect", "return")


def work_row(db, student, assignment):
    """The student's status row for the assignment, made (and committed) if missing."""
    work = work_for(student, assignment)
    if work is None:
        work = orm.StudentAssignment(student=student, assignment=assignment, comments="")
        db.add(work)
        db.commit()
    return work


class StepFailed(Exception):
    """A step could not be done for one student; the message says why."""


def collect_folder(assignment, student):
    return f"{assignment.path}-collect/{student.name}"


def graded_folder(assignment):
    head, tail = posixpath.split(assignment.path)
    return posixpath.join(head, f"graded-{tail}")


class Job:
    """A step for several students, as the course page follows it."""

    def __init__(self, course, assignment, step, students):
        # not guessable, and unique across restarts (a counter would repeat ids)
        self.id = uuid.uuid4().hex
        self.course_id = course.id
        self.assignment_id = assignment.id
        self.step = step
        self.students = [s.id for s in students]
        self.names = {s.id: s.name for s in students}
        self.done = []
        self.failed = {}
        self.finished = False
        self.task = None

    def model(self):
        return {
            "id": self.id,
            "step": self.step,
            "assignment": self.assignment_id,
            "total": len(self.students),
            "done": len(self.done),
            "succeeded": [self.names[i] for i in self.done if i not in self.failed],
            "failed": [
                {"student": i, "name": self.names[i], "error": error}
                for i, error in self.failed.items()
            ],
            "finished": self.finished,
        }


class CourseJobs:
    """The hub's running and recent course jobs, by id.

    Finished jobs beyond the newest `keep` are dropped (their results stay in the
    database, in each student's status), so a hub running for months holds a bounded
    number. Running jobs are always kept.
    """

    def __init__(self, keep=100):
        self.keep = keep
        self._jobs = OrderedDict()

    def add(self, job):
        self._jobs[job.id] = job
        finished = [i for i, j in self._jobs.items() if j.finished]
        for job_id in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[job_id]

    def get(self, job_id):
        return self._jobs.get(job_id)

    def __len__(self):
        return len(self._jobs)


class CourseWork:
    """Runs steps with the hub's own services: its database and project servers."""

    def __init__(self, app, parallelism):
        self.db = app.db
        self.log = app.log
        self.servers = app.servers
        self.snapshots = app.snapshots
        self.parallelism = parallelism

    async def _running(self, project_id, started):
        """The project's JupyterHub user with its server up (noting if we started it)."""
        user = self.servers.user_for(self.db.get(orm.Project, project_id))
        if not user.spawner.ready:
            started.add(project_id)
            try:
                await self.servers.ensure_running(user)
            except ServerError as e:
                raise StepFailed(f"the project could not start: {e.message}")
        return user

    async def _write_file(self, user, path, text):
        try:
            await self.servers.write_file(user, path, text)
        except ServerError as e:
            raise StepFailed(e.message)

    async def _copy(self, source, path, target, target_path, backup):
        try:
            return await self.servers.copy(
                source, path, target, target_path, contents=True, backup=backup
            )
        except ServerError as e:
            raise StepFailed(e.message)

    async def step_for(self, step, course, assignment, student, course_user, started):
        if student.user is None or student.project_id is None:
            raise StepFailed("has not signed up yet, so has no project")
        # the status row exists before anything is awaited: other students' steps share
        # this database session and commit in between
        work_row(self.db, student, assignment)
        student_user = await self._running(student.project_id, started)
        work = work_for(student, assignment)
        if step in ("assign", "return"):
            # what the step writes into the student's project can be undone (a failed
            # snapshot is recorded on the project and does not stop the step)
            await self.snapshots.take(self.db.get(orm.Project, student.project_id), "course")
        if step == "assign":
            await self._copy(course_user, assignment.path, student_user, assignment.path, True)
            if assignment.due:
                await self._write_file(
                    student_user,
                    f"{assignment.path}/DUE_DATE.txt",
                    f"{assignment.path} is due {assignment.due.isoformat(' ', 'minutes')} UTC\n",
                )
            work.assigned = orm.now()
        elif step == "collect":
            if work.assigned is None:
                raise StepFailed("was not assigned this yet")
            target = collect_folder(assignment, student)
            await self._copy(student_user, assignment.path, course_user, target, True)
            work.collected = orm.now()
        elif step == "return":
            if work.collected is None:
                raise StepFailed("has no collected work to return")
            if work.graded is None:
                raise StepFailed("has no grade yet")
            folder = collect_folder(assignment, student)
            await self._write_file(
                course_user,
                f"{folder}/GRADE.md",
                grade_markdown(course, assignment, student, work),
            )
            await self._copy(course_user, folder, student_user, graded_folder(assignment), True)
            work.returned = orm.now()
        work.error = None
        self.db.commit()

    async def run(self, job, course, assignment, students):
        """Run `job`: every student, a few at a time; never stops at a failure."""
        started = set()
        gate = asyncio.Semaphore(self.parallelism)
        try:
            course_user = await self._running(course.project_id, started)
            if job.step == "collect":
                # every student's work lands in the course project: one snapshot before
                await self.snapshots.take(self.db.get(orm.Project, course.project_id), "course")
        except StepFailed as e:
            for student in students:
                job.failed[student.id] = f"the course project: {e}"
                job.done.append(student.id)
            job.finished = True
            return

        async def one(student):
            async with gate:
                mine = set()
                try:
                    await self.step_for(job.step, course, assignment, student, course_user, mine)
                except Exception as e:
                    message = str(e) if isinstance(e, StepFailed) else f"{type(e).__name__}: {e}"
                    self.log.warning("Course %s: %s %s for %s failed: %s", course.id,
                                     job.step, assignment.path, student.name, message)  # fmt: skip
                    job.failed[student.id] = message
                    work = work_row(self.db, student, assignment)
                    work.error = f"{job.step}: {message}"
                    self.db.commit()
                finally:
                    job.done.append(student.id)
                    await self._stop(mine)

        try:
            await asyncio.gather(*(one(s) for s in students))
        finally:
            await self._stop(started)
            job.finished = True

    async def _stop(self, project_ids):
        """Stop servers this job started (students' servers it needed for a moment)."""
        for project_id in list(project_ids):
            project_ids.discard(project_id)
            user = self.servers.cached_user(project_id)
            if user is not None and user.spawner.active and not user.spawner.pending:
                try:
                    await self.servers.stop(user, wait=True)
                except Exception as e:
                    self.log.warning("Could not stop project %s after a course step: %s",
                                     project_id, e)  # fmt: skip


def start_step(app, course, assignment, step, students, owner):
    """Start `step` for `students` in the background; returns its job (in app.course_jobs).

    Students who have signed up get their course project first (made, owned by `owner`,
    if they had none), so the step has somewhere to copy to.
    """
    for student in students:
        if student.user is not None:
            give_project(app, course, student, owner)
    job = Job(course, assignment, step, students)
    work = CourseWork(app, app.course_parallelism)
    job.task = asyncio.ensure_future(work.run(job, course, assignment, students))
    app.course_jobs.add(job)
    return job
