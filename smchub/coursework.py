"""Assign, collect and return: the steps of a course, run for one student or a class.

Each step copies folders between the course project and a student's project through
their servers (apihandlers.files.copy_between_servers), starting servers that are not
running and stopping them again afterwards. A bulk step runs a few students at a time
(c.SMCHub.course_parallelism), carries on past failures, records per-student status
and errors in the database, and reports its progress as a job.
"""

import asyncio
import itertools
import posixpath

import httpx
from tornado import web

from . import orm
from .apihandlers.files import copy_between_servers, server_headers, server_url
from .courses import grade_markdown, work_for

STEPS = ("assign", "collect", "return")
_job_ids = itertools.count(1)


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
        self.id = next(_job_ids)
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


class CourseWork:
    """Runs steps with a handler's access to the hub (spawning, the database)."""

    def __init__(self, handler, parallelism):
        self.handler = handler
        self.db = handler.db
        self.log = handler.log
        self.parallelism = parallelism

    async def _running(self, project_id, started):
        """The project's JupyterHub user with its server up (noting if we started it)."""
        user = self.handler.project_user(self.db.get(orm.Project, project_id))
        if not user.spawner.ready:
            started.add(project_id)
            try:
                await self.handler.ensure_running(user)
            except web.HTTPError as e:
                raise StepFailed(f"the project could not start: {e.log_message}")
        return user

    async def _write_file(self, user, path, text):
        async with httpx.AsyncClient(timeout=60) as client:
            r = await client.put(
                server_url(user, f"api/contents/{path}"),
                json={"type": "file", "format": "text", "content": text},
                headers=server_headers(user),
            )
        if r.status_code not in (200, 201):
            raise StepFailed(f"could not write {path}: {r.status_code} {r.text[:200]}")

    async def _copy(self, source, path, target, target_path, backup):
        try:
            return await copy_between_servers(
                source, path, target, target_path, contents=True, backup=backup
            )
        except web.HTTPError as e:
            raise StepFailed(e.log_message or str(e))

    async def step_for(self, step, course, assignment, student, course_user, started):
        if student.user is None or student.project_id is None:
            raise StepFailed("has not signed up yet, so has no project")
        # the status row exists before anything is awaited: other students' steps share
        # this database session and commit in between
        work_row(self.db, student, assignment)
        student_user = await self._running(student.project_id, started)
        work = work_for(student, assignment)
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
            user = self.handler.users.get(project_id)
            if user is not None and user.spawner.active and not user.spawner.pending:
                try:
                    await self.handler.stop_single_user(user)
                except Exception as e:
                    self.log.warning("Could not stop project %s after a course step: %s",
                                     project_id, e)  # fmt: skip
