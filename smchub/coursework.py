"""Assign, collect and return: the steps of a course, run for one student or a class;
and the class-wide actions: start, stop, or run a command in every student's project.

Each step copies folders between the course project and a student's project through
their servers (smchub.servers.ProjectServers.copy), starting servers that are not
running and stopping them again afterwards. Actions need no assignment and no course
server: start leaves each student's server running, stop stops it, and exec runs a
shell command through the project's localhub (POST smc/api/exec), starting a stopped
server for it and stopping it again. A step or action for several students is a job: it
runs a few students at a time (c.SMCHub.course_parallelism) and carries on past
failures. The job, each student's state in it and their errors are rows
(orm.CourseJob, orm.CourseJobStudent) written as things happen, so a hub stopped in the
middle takes the job up again at its next start, or says which students to run again.
"""

import asyncio
import contextlib
import functools
import math
import posixpath
import uuid
from datetime import timedelta
from urllib.parse import quote

import httpx
from jupyterhub.utils import isoformat

from . import autograde, grader, grading, orm, peer_review
from .courses import give_project, grade_markdown, own_due, work_for
from .deadlines import DEADLINE, due_text, students_to_tell
from .metrics import COURSE_STEP_FAILURES
from .peer_review import PEER_STEPS, PeerReviewRefused
from .projects import InvalidInput
from .servers import ServerError

# the steps that copy between the course project and students' projects; the peer
# steps send collected work to reviewers and bring their feedback back (peer_review.py)
# "autograde" grades collected nbgrader notebooks in each student's project (autograde.py)
COPY_STEPS = ("assign", "collect", "return", "autograde", *PEER_STEPS)
# "due" rewrites DUE_DATE.txt in students' projects after their due date changed
STEPS = (*COPY_STEPS, "due")
ACTIONS = ("start", "stop", "exec")
UNFINISHED = ("pending", "running")
FINISHED = ("done", "failed")
# what an instructor reads beside each student a restarted hub could not take up again
NOT_RESUMED = "the hub restarted during this job and could not resume it ({}); retry"
# the most jobs one listing returns
MAX_LISTED = 100
# an exec job's command: its longest, and its timeout's default and largest, which are the
# localhub's own (LocalHub.exec_timeout and exec_timeout_max)
COMMAND_MAX = 10_000
EXEC_TIMEOUT = 30
EXEC_TIMEOUT_MAX = 600
# bytes of each student's output kept: its end, where a failing command says why
OUTPUT_TAIL = 4096
# the command as the localhub runs it: stderr joins stdout, so the output reads as in a
# terminal, and tail keeps the end (the exec endpoint itself keeps the start);
# pipefail makes the exit code the command's rather than tail's
EXEC_SCRIPT = f'set -o pipefail; bash -c "$1" 2>&1 | tail -c {OUTPUT_TAIL}'
# a digest of a folder's files (names and contents), to tell whether a student changed
# their work after the deadline's collection took it; "absent" if there is no folder.
# It runs as the student, who could forge it, but only to their own loss: the work they
# had at the deadline was collected at the deadline either way
DIGEST_SCRIPT = (
    '[ -d "$1" ] || { echo absent; exit 0; }; cd -- "$1" && '
    "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum"
)
# what an instructor reads beside a student whose command a restarted hub cut short
EXEC_CUT_SHORT = (
    "the hub restarted while the command ran, so it may or may not have finished; "
    "it is not run twice by itself: retry if it should run again"
)


def check_command(command, timeout):
    """An exec job's command and timeout as given, checked; InvalidInput says what to fix."""
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("command must be a non-empty string: the shell command to run")
    if len(command) > COMMAND_MAX:
        raise InvalidInput(f"command is {len(command)} characters long; the limit is {COMMAND_MAX}")
    if "\0" in command:
        raise InvalidInput("command must not contain NUL characters")
    if timeout is None:
        return command, float(EXEC_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or not 0 < timeout <= EXEC_TIMEOUT_MAX
    ):
        raise InvalidInput(
            f"timeout must be a number of seconds above 0 and at most {EXEC_TIMEOUT_MAX}"
        )
    return command, float(timeout)


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


def late_folder(assignment, student):
    """Where work changed after the student's deadline is collected, beside the on-time."""
    return f"{assignment.path}-collect-late/{student.name}"


def graded_folder(assignment):
    head, tail = posixpath.split(assignment.path)
    return posixpath.join(head, f"graded-{tail}")


def _time(value):
    return isoformat(value) if value else None


def job_model(job):
    """A job as the API and the course page show it; exec jobs with each student's exit
    code and the end of their output."""
    entries = job.students
    return {
        "id": job.id,
        "step": job.step,
        "assignment": job.assignment_id,
        "path": job.assignment_path or None,
        "command": job.command,
        "timeout": job.command_timeout,
        "started_by": job.started_by.name if job.started_by is not None else None,
        # "person" (started_by) or "deadline" (the hub, at the students' deadlines)
        "trigger": job.trigger,
        "created": _time(job.created),
        "total": len(entries),
        "done": sum(1 for e in entries if e.state in FINISHED),
        "succeeded": [e.name for e in entries if e.state == "done"],
        "failed": [
            {"student": e.student_id, "name": e.name, "error": e.error, "exit_code": e.exit_code}
            for e in entries
            if e.state == "failed"
        ],
        "finished": job.finished is not None,
        "finished_at": _time(job.finished),
        # "completed" (every student ran), "abandoned" (see reason), null while running
        "outcome": job.outcome,
        "reason": job.reason,
        "restarts": job.restarts,
        "students": [
            {
                "student": e.student_id,
                "name": e.name,
                "state": e.state,
                "error": e.error,
                "exit_code": e.exit_code,
                "output": e.output,
            }
            for e in entries
        ],
    }


def describe(job):
    """The job in a few words, for the log: "collect hw1", "exec"."""
    return f"{job.step} {job.assignment_path}".strip()


def find_job(db, course, job_id):
    """The course's job with this id, or None."""
    job = db.get(orm.CourseJob, job_id) if len(job_id) <= 32 else None
    return job if job is not None and job.course_id == course.id else None


def recent_jobs(db, course, days, limit=MAX_LISTED):
    """The course's jobs started in the last `days` days, newest first."""
    since = orm.now() - timedelta(days=days)
    return (
        db.query(orm.CourseJob)
        .filter(orm.CourseJob.course_id == course.id, orm.CourseJob.created >= since)
        .order_by(orm.CourseJob.created.desc(), orm.CourseJob.id)
        .limit(min(limit, MAX_LISTED))
        .all()
    )


class CourseWork:
    """Runs a job with the hub's own services: its database and project servers."""

    def __init__(self, app):
        self.db = app.db
        self.log = app.log
        self.servers = app.servers
        self.snapshots = app.snapshots
        self.parallelism = app.course_parallelism
        # the graded cells of the job's autograded assignment, from its release in the
        # course project at the job's start; [] for any other assignment
        self.graded_cells = []

    async def _running(self, project_id, row, started_flag):
        """The project's JupyterHub user with its server up.

        If this starts the server, `row.<started_flag>` says so, committed before the
        start: a hub stopped meanwhile still stops the server once the job is done.
        """
        user = self.servers.user_for(self.db.get(orm.Project, project_id))
        if not user.spawner.ready:
            setattr(row, started_flag, True)
            self.db.commit()
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

    async def step_for(self, step, course, assignment, entry, course_user):
        """Do `step` for the entry's student; the caller commits what it changed.

        Doing it again is safe: copies keep what the target changed as name~ and leave
        identical files alone, so a step cut short by a restart is simply done again.
        """
        student = entry.student
        if student.user is None or student.project_id is None:
            raise StepFailed("has not signed up yet, so has no project")
        # the status row exists before anything is awaited: other students' steps share
        # this database session and commit in between
        work_row(self.db, student, assignment)
        student_user = await self._running(student.project_id, entry, "server_started")
        work = work_for(student, assignment)
        if step in ("assign", "return", "peer"):
            # what the step writes into the student's project can be undone (a failed
            # snapshot is recorded on the project and does not stop the step)
            await self.snapshots.take(self.db.get(orm.Project, student.project_id), "course")
        if step == "assign":
            # an autograded assignment goes out as its student version, never the source
            source = autograde.release_folder(assignment) if self.graded_cells else assignment.path
            await self._copy(course_user, source, student_user, assignment.path, True)
            if own_due(assignment, work):
                await self._write_due(student_user, assignment, work)
            work.assigned = orm.now()
        elif step == "due":
            if work.assigned is not None:
                await self._write_due(student_user, assignment, work)
        elif step == "collect":
            if work.assigned is None:
                raise StepFailed("was not assigned this yet")
            await self._collect(student_user, course_user, assignment, entry, work)
        elif step == "return":
            if work.collected is None:
                raise StepFailed("has no collected work to return")
            # autograded work goes back with its scores, letter grade or not, once no
            # cell waits for a person
            autograded = bool(work.autograde_scores)
            waiting = grading.waiting_for_a_person(work)
            if waiting:
                cells = ", ".join(sorted(f"{r.notebook}/{r.cell_id}" for r in waiting))
                raise StepFailed(f"{cells} still wait for a person to grade them")
            if work.graded is None and not autograded:
                raise StepFailed("has no grade yet")
            folder = collect_folder(assignment, student)
            await self._write_file(
                course_user,
                f"{folder}/GRADE.md",
                grade_markdown(course, assignment, student, work),
            )
            await self._copy(course_user, folder, student_user, graded_folder(assignment), True)
            if autograded:
                await self._return_autograded(course_user, student_user, assignment, entry,
                                              work)  # fmt: skip
            await self._return_feedback(course_user, student_user, assignment, student)
            work.returned = orm.now()
        elif step == "autograde":
            if work.collected is None:
                raise StepFailed("has no collected work to autograde")
            await self._autograde(course_user, student_user, assignment, entry, work)
        elif step == "peer":
            await self._send_for_review(course_user, student_user, assignment, entry)
        elif step == "peer-collect":
            await self._collect_feedback(course_user, student_user, assignment, entry)
        work.error = None

    async def _release(self, course_user, assignment):
        """Make the student and grading versions of an autograded assignment in the course
        project (autograde.release_command); the graded cells, [] if it is none."""
        try:
            found = await self.servers.exec(course_user, autograde.detect_command(assignment), 60)
            if found["exit_code"] != 0:
                return []
            body = autograde.release_command(assignment)
            result = await self.servers.exec(course_user, body, body["timeout"])
        except ServerError as e:
            raise StepFailed(e.message)
        if result["exit_code"] != 0 or result["timed_out"]:
            why = (result["stderr"].strip().splitlines() or ["no reason given"])[-1]
            raise StepFailed(f"could not make the student version of {assignment.path}: {why}")
        try:
            return autograde.parse_release(result["stdout"])
        except autograde.AutogradeFailed as e:
            raise StepFailed(str(e))

    async def _autograde(self, course_user, student_user, assignment, entry, work):
        """Grade the student's collected notebooks in their own project, with the hidden
        tests there only while it runs; their scores replace the earlier ones."""
        cells = self.graded_cells
        if not cells:
            raise StepFailed(f"{assignment.path} has no notebooks with nbgrader cells to grade")
        notebooks = sorted({c.notebook for c in cells})
        folder = autograde.grading_folder(uuid.uuid4().hex)
        cell_timeout, notebook_timeout = autograde.timeouts(assignment)
        body, total = autograde.grade_command(folder, notebooks, cell_timeout, notebook_timeout)
        try:
            made = await self.servers.exec(student_user, autograde.prepare_command(folder), 60)
            if made["exit_code"] != 0:
                raise StepFailed(f"could not make {folder}: {made['stderr'][-300:]}")
            # nbgrader's course folder: the collected work as the submission, the grading
            # version (hidden tests, no solutions) as the source
            submitted = f"{folder}/submitted/{grader.NB_STUDENT}/{grader.NB_ASSIGNMENT}"
            source = f"{folder}/source/{grader.NB_ASSIGNMENT}"
            await self.servers.copy(course_user, collect_folder(assignment, entry.student),
                                    student_user, submitted, contents=True)  # fmt: skip
            await self.servers.copy(course_user, autograde.source_folder(assignment),
                                    student_user, source, contents=True)  # fmt: skip
            result = await self.servers.exec(student_user, body, body["timeout"])
            # only a grader that ran to its end wrote its feedback copies whole
            finished = result["exit_code"] == 0 and not result["timed_out"]
            copies_in = folder if finished else None
            await self._keep_feedback_copies(course_user, student_user, assignment,
                                             entry.student, copies_in)  # fmt: skip
        except ServerError as e:
            raise StepFailed(e.message)
        finally:
            # the grader removes the folder itself; this is for when it was killed
            await self._remove_quietly(student_user, folder, entry.student)
        timed_out = None
        if result["timed_out"] or result["exit_code"] in (124, 137):
            timed_out = grader.TIMED_OUT.format(total)
        elif result["exit_code"] != 0:
            why = (result["stderr"].strip().splitlines() or ["no reason given"])[-1]
            raise StepFailed(f"the grader failed (exit code {result['exit_code']}): {why}")
        scores = autograde.scores_from(result["stdout"], cells, timed_out)
        autograde.store_scores(self.db, work, scores, orm.now())
        got = sum(s.points or 0 for s in scores)
        entry.output = f"{got:g} of {sum(s.max_points for s in scores):g} points"
        errors = sorted({s.error for s in scores if s.error})
        if errors:
            entry.output += f" ({'; '.join(errors)})"

    async def _remove_quietly(self, student_user, folder, student):
        """Remove a throwaway folder from the student's project; a failure is logged, as
        the step's own outcome is what the instructor needs."""
        try:
            await self.servers.exec(student_user, autograde.cleanup_command(folder), 60)
        except ServerError as e:
            self.log.warning("Could not remove %s from project %s: %s", folder,
                             student.project_id, e.message)  # fmt: skip

    async def _keep_feedback_copies(self, course_user, student_user, assignment, student,
                                    folder):  # fmt: skip
        """Copy the feedback-safe copies of the student's autograded notebooks (the
        grader's FOR_FEEDBACK, hidden tests out) from the grading folder into the course
        project, where they replace those of an earlier grading: what return renders
        the feedback from, and instructors can open. With no folder (the grader did not
        finish), the earlier ones only go, as they no longer match the scores."""
        kept = autograde.autograded_folder(assignment, student)
        removed = await self.servers.exec(course_user, autograde.cleanup_command(kept), 60)
        if removed["exit_code"] != 0:
            raise StepFailed(f"could not replace {kept}: {removed['stderr'][-300:]}")
        copies = f"{folder}/{grader.FOR_FEEDBACK}" if folder else None
        if copies and await self._exists(student_user, copies):
            await self.servers.copy(student_user, copies, course_user, kept, contents=True)

    async def _exists(self, user, path):
        """Whether the project has something at `path`, hidden folders included (which
        the contents API, and so kind_of, does not show)."""
        body = {"command": "test", "args": ["-e", path], "timeout": 30}
        return (await self.servers.exec(user, body, 30))["exit_code"] == 0

    async def _return_autograded(self, course_user, student_user, assignment, entry, work):
        """Write nbgrader's HTML feedback on each of the student's autograded notebooks
        (its scores and comments per cell) beside their graded work.

        It is rendered in the student's project, as the student (feedback_command): all
        it is given is theirs to see (the student version, which has no hidden tests and
        no solutions, the feedback-safe copies of their autograded notebooks, their
        scores), so nothing of the instructor's is at stake there, and rendering runs
        none of the notebooks' code. Whatever they do to it changes only their own copy
        of the feedback; their scores stay in the hub.
        """
        student = entry.student
        release = autograde.release_folder(assignment)
        kept = autograde.autograded_folder(assignment, student)
        folder = autograde.feedback_folder(uuid.uuid4().hex)
        source = f"{folder}/source/{grader.NB_ASSIGNMENT}"
        graded = f"{folder}/autograded/{grader.NB_STUDENT}/{grader.NB_ASSIGNMENT}"
        try:
            body = autograde.prepare_command(folder, autograde.FEEDBACK_ROOT)
            made = await self.servers.exec(student_user, body, 60)
            if made["exit_code"] != 0:
                raise StepFailed(f"could not make {folder}: {made['stderr'][-300:]}")
            shown_any = False
            for notebook in sorted({r.notebook for r in work.autograde_scores}):
                name = f"{notebook}.ipynb"
                if not await self._exists(course_user, f"{release}/{name}"):
                    raise StepFailed(
                        f"the student version of {name} is not in the course project's "
                        f"{release}: autograde the assignment again"
                    )
                await self.servers.copy(course_user, f"{release}/{name}", student_user, source)
                shown = f"{kept}/{name}"
                if not await self._exists(course_user, shown):
                    # no autograded copy (its grading timed out or failed): the collected
                    # notebook, which has no hidden tests either, without outputs
                    shown = f"{collect_folder(assignment, student)}/{name}"
                    if not await self._exists(course_user, shown):
                        continue
                await self.servers.copy(course_user, shown, student_user, graded)
                shown_any = True
            if not shown_any:
                # GRADE.md has the scores; there is no notebook to show them on
                return
            scores = autograde.feedback_scores(work.autograde_scores)
            await self.servers.write_hidden_file(student_user, folder, grader.SCORES_FILE,
                                                 scores)  # fmt: skip
            body = autograde.feedback_command(folder)
            result = await self.servers.exec(student_user, body, body["timeout"])
            if result["exit_code"] != 0 or result["timed_out"]:
                why = (result["stderr"].strip().splitlines() or ["no reason given"])[-1]
                raise StepFailed(f"could not render the feedback: {why}")
            rendered = f"{folder}/feedback/{grader.NB_STUDENT}/{grader.NB_ASSIGNMENT}"
            target = graded_folder(assignment)
            await self.servers.copy(student_user, rendered, student_user, target, contents=True,
                                    backup=True)  # fmt: skip
        except ServerError as e:
            raise StepFailed(e.message)
        finally:
            await self._remove_quietly(student_user, folder, student)
        entry.output = f"feedback in {graded_folder(assignment)}"

    async def _send_for_review(self, course_user, student_user, assignment, entry):
        """Copy the works this student reviews into their project, each under its label
        with a FEEDBACK.md to write in. A copy already sent is not sent again, so a
        retry leaves the reviewer's feedback alone."""
        mine = peer_review.reviews(self.db, assignment, reviewer=entry.student)
        if not mine:
            raise StepFailed(
                "reviews no one's work: theirs was not collected when the reviews were paired"
            )
        for review in mine:
            if review.copied is not None:
                continue
            target = peer_review.review_copy(assignment, review)
            source = collect_folder(assignment, review.author)
            names = await self._folder_names(course_user, source)
            if names is None:
                raise StepFailed(
                    f"the collected work of {review.author.name} is not in the course "
                    f"project's {source}; collect it again, then retry"
                )
            # file by file, leaving out what names the author (GRADE.md), so no copy
            # ever holds it, not even for a moment
            for name in names:
                if name not in peer_review.NOT_SENT:
                    await self._copy_as(course_user, f"{source}/{name}", student_user, target)
            await self._write_file(
                student_user,
                f"{target}/{peer_review.FEEDBACK_FILE}",
                peer_review.feedback_template(assignment, review),
            )
            review.copied = orm.now()
            self.db.commit()
        entry.output = f"{len(mine)} works to review in {peer_review.review_folder(assignment)}"

    async def _collect_feedback(self, course_user, student_user, assignment, entry):
        """Copy the feedback this student wrote back into the course project, beside
        each author's other feedback; a FEEDBACK.md missing fails them, with where."""
        mine = peer_review.reviews(self.db, assignment, reviewer=entry.student)
        sent = [r for r in mine if r.copied is not None]
        if not sent:
            raise StepFailed("was sent no work to review yet; run the peer step first")
        missing = []
        for review in sent:
            path = f"{peer_review.review_copy(assignment, review)}/{peer_review.FEEDBACK_FILE}"
            try:
                kind = await self.servers.kind_of(student_user, path)
            except ServerError as e:
                raise StepFailed(e.message)
            if kind != "file":
                missing.append(path)
                continue
            folder = peer_review.feedback_folder(assignment, review.author)
            await self._copy_as(student_user, path, course_user, folder,
                                peer_review.feedback_name(review))  # fmt: skip
            review.feedback_collected = orm.now()
            self.db.commit()
        entry.output = f"collected {len(sent) - len(missing)} of {len(sent)} feedback files"
        if missing:
            raise StepFailed(f"no feedback file at {', '.join(missing)}")

    async def _return_feedback(self, course_user, student_user, assignment, student):
        """Return the peer feedback collected for the student's work into their graded
        folder, each file named by its reviewer's label only."""
        received = peer_review.reviews(self.db, assignment, author=student)
        if any(r.feedback_collected is not None for r in received):
            target = posixpath.join(graded_folder(assignment), peer_review.RETURNED_FOLDER)
            folder = peer_review.feedback_folder(assignment, student)
            await self._copy(course_user, folder, student_user, target, True)

    async def _copy_as(self, source, path, target, target_folder, name=None):
        """Copy a file or folder into target_folder (made if missing), as `name`."""
        try:
            return await self.servers.copy(source, path, target, target_folder, backup=True,
                                           name=name)  # fmt: skip
        except ServerError as e:
            raise StepFailed(e.message)

    async def _folder_names(self, user, path):
        """The names in a folder of the project (the contents API's listing, which leaves
        out hidden files such as .ipynb_checkpoints), or None if there is no folder."""
        url = self.servers.url(user, "api/contents/" + quote(path))
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                r = await client.get(url, headers=self.servers.headers(user))
        except httpx.HTTPError as e:
            raise StepFailed(f"the course project did not answer: {type(e).__name__} {e}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise StepFailed(f"could not list {path} ({r.status_code}): {r.text[:200]}")
        body = r.json()
        if body.get("type") != "directory":
            return None
        return sorted(item["name"] for item in body["content"])

    async def _write_due(self, student_user, assignment, work):
        await self._write_file(
            student_user, f"{assignment.path}/DUE_DATE.txt", due_text(assignment, work)
        )

    async def _digest(self, user, path):
        body = {"command": DIGEST_SCRIPT, "args": [path], "bash": True, "timeout": 120}
        try:
            result = await self.servers.exec(user, body, 120)
        except ServerError as e:
            raise StepFailed(f"could not read the work's files: {e.message}")
        if result["exit_code"] != 0 or result["timed_out"]:
            raise StepFailed(f"could not read the work's files: {result['stderr'][-300:]}")
        return result["stdout"].split()[0][:64]

    async def _collect(self, student_user, course_user, assignment, entry, work):
        """Collect the student's work: before their deadline (or with none), into the
        collect folder; the first collection at or after it is the deadline's (also
        when the hub was down at the deadline and catches up); after that, only work
        changed since goes, into the late folder, and the student is flagged late."""
        student = entry.student
        due = own_due(assignment, work)
        now = orm.now()
        if due is None or now < due:
            await self._copy(student_user, assignment.path, course_user,
                             collect_folder(assignment, student), True)  # fmt: skip
            work.collected = now
            return
        if work.due_collected is None or work.due_collected_for != due:
            # the digest first: a change made during the copy is then told apart as late
            digest = await self._digest(student_user, assignment.path)
            await self._copy(student_user, assignment.path, course_user,
                             collect_folder(assignment, student), True)  # fmt: skip
            work.collected = work.due_collected = now
            work.due_collected_for = due
            work.due_digest = digest
            work.late_collected = None
            return
        digest = await self._digest(student_user, assignment.path)
        if digest == work.due_digest:
            entry.output = "nothing changed since the deadline's collection"
            return
        late = late_folder(assignment, student)
        await self._copy(student_user, assignment.path, course_user, late, True)
        work.late_collected = now
        entry.output = f"changed after the deadline: collected into {late}"

    async def action_for(self, job, entry):
        """Do the class-wide action `job.step` for the entry's student; the caller commits."""
        student = entry.student
        if student.user is None or student.project_id is None:
            if job.step == "stop":
                return  # nothing of theirs can be running
            raise StepFailed("has not signed up yet, so has no project")
        if job.step == "start":
            user = self.servers.user_for(self.db.get(orm.Project, student.project_id))
            try:
                await self.servers.ensure_running(user)
            except ServerError as e:
                raise StepFailed(f"the project could not start: {e.message}")
        elif job.step == "stop":
            user = self.servers.cached_user(student.project_id)
            if user is not None:
                await self.servers.stop(user, wait=True)
        else:
            user = await self._running(student.project_id, entry, "server_started")
            await self._exec(user, job, entry)

    async def _exec(self, user, job, entry):
        """Run the job's command in the student's project; a non-zero exit fails them."""
        timeout = job.command_timeout
        body = {"command": EXEC_SCRIPT, "args": [job.command], "bash": True, "timeout": timeout}
        try:
            result = await self.servers.exec(user, body, timeout)
        except ServerError as e:
            raise StepFailed(e.message)
        entry.exit_code = result["exit_code"]
        entry.output = (result["stdout"] + result["stderr"])[-OUTPUT_TAIL:]
        if result["timed_out"]:
            raise StepFailed(f"timed out after {timeout:g} seconds, and was killed")
        if entry.exit_code != 0:
            raise StepFailed(f"exit code {entry.exit_code}")

    def fail(self, job, entry, message):
        """The step failed for this student: the job and their status say why."""
        entry.state = "failed"
        entry.error = message
        entry.finished = orm.now()
        COURSE_STEP_FAILURES.labels(job.step).inc()
        assignment = self.db.get(orm.Assignment, job.assignment_id) if job.assignment_id else None
        if assignment is not None:
            work_row(self.db, entry.student, assignment).error = f"{job.step}: {message}"

    async def _student(self, job, entry, course, assignment, course_user):
        entry.state = "running"
        entry.started = orm.now()
        entry.error = entry.exit_code = entry.output = None
        self.db.commit()
        try:
            if job.step in ACTIONS:
                await self.action_for(job, entry)
            else:
                await self.step_for(job.step, course, assignment, entry, course_user)
        except Exception as e:
            # the hub stopping cancels the job (CancelledError is no Exception): the
            # student stays "running", to be done again at the next start
            message = str(e) if isinstance(e, StepFailed) else f"{type(e).__name__}: {e}"
            self.log.warning("Course %s: %s for %s failed: %s", job.course_id, describe(job),
                             entry.name, message)  # fmt: skip
            self.fail(job, entry, message)
        else:
            entry.state = "done"
            entry.finished = orm.now()
        self.db.commit()

    async def run(self, job):
        """Run the job's students not done yet, a few at a time; never stops at a failure.

        Also stops the servers it started for students done before a restart. Cancelled
        (the hub stopping), it leaves every row as it is, for the next start.
        """
        course = self.db.get(orm.Course, job.course_id)
        assignment = self.db.get(orm.Assignment, job.assignment_id) if job.assignment_id else None
        todo = [e for e in job.students if e.state in UNFINISHED]
        with contextlib.ExitStack() as uses:
            course_user, course_failure = None, None
            # class-wide actions and due-date notes touch only the students' projects
            if todo and job.step in COPY_STEPS:
                uses.enter_context(self.servers.used_by_job(course.project_id))
                try:
                    course_user = await self._running(
                        course.project_id, job, "course_server_started"
                    )
                    if job.step in ("assign", "autograde"):
                        self.graded_cells = await self._release(course_user, assignment)
                    if job.step in ("collect", "peer-collect"):
                        # every student's work lands in the course project: one snapshot
                        # before
                        project = self.db.get(orm.Project, course.project_id)
                        await self.snapshots.take(project, "course")
                except StepFailed as e:
                    course_failure = f"the course project: {e}"
            await self._students(job, course, assignment, course_user, course_failure)
        if job.course_server_started:
            # collected work lands in the course project: its stop always takes a snapshot
            await self._stop(course.project_id, only_copied=False)
            job.course_server_started = False
        if job.finished is None:
            job.finished = orm.now()
            job.outcome = "completed"
        self.db.commit()

    async def _students(self, job, course, assignment, course_user, course_failure):
        """Each student's part of the job, a few at a time; the servers the job started
        for them stopped after."""
        gate = asyncio.Semaphore(self.parallelism)

        async def one(entry):
            async with gate:
                project_id = entry.student.project_id
                if entry.state in UNFINISHED:
                    if course_failure:
                        self.fail(job, entry, course_failure)
                        self.db.commit()
                    else:
                        with self.servers.used_by_job(project_id):
                            await self._student(job, entry, course, assignment, course_user)
                if entry.server_started and project_id:
                    await self._stop(project_id, only_copied=job.step in STEPS)
                    entry.server_started = False
                    self.db.commit()

        await asyncio.gather(
            *(one(e) for e in job.students if e.state in UNFINISHED or e.server_started)
        )

    async def _stop(self, project_id, only_copied):
        """Stop a server this job started (a student's, needed for a moment).

        `only_copied`: the job wrote nothing into the project but copies of the course
        project's files (a course step, not a command run in it). If no one else used the
        server meanwhile, its home is then as its last snapshot has it, give or take files
        the course project can give again: the stop takes no snapshot (Snapshots.
        stop_keeps_home), which for a class of students is most of a step's CPU.
        """
        while True:
            # another job's step may be using it (the server was up when that step came,
            # so that job will not stop it): the last step done, it stops
            await self.servers.unused_by_jobs(project_id)
            user = self.servers.cached_user(project_id)
            if user is None:
                return
            # a hub that restarted mid-job may still be checking a server the job started
            await self.servers.settled(user)
            if not user.spawner.active or user.spawner.pending:
                return
            keeps_home = only_copied and not await self.servers.used_by_others(user)
            # decided and begun with no wait between (servers.stop marks the server
            # pending at once): a step that came meanwhile is waited for
            if not self.servers.used_by_jobs(project_id) and not user.spawner.pending:
                break
        if keeps_home:
            self.snapshots.stop_keeps_home(project_id)
        try:
            await self.servers.stop(user, wait=True)
        except Exception as e:
            self.log.warning("Could not stop project %s after a course step: %s",
                             project_id, e)  # fmt: skip
        finally:
            # a stop that did not happen must not take the next one's snapshot away
            self.snapshots.forget_expected_stop(project_id)


class CourseJobs:
    """The hub's course jobs (`app.course_jobs`): started, taken up again after a
    restart, pruned once old. The jobs are rows; this holds the tasks running them."""

    def __init__(self, app):
        self.app = app
        self._tasks = {}

    @property
    def db(self):
        return self.app.db

    @property
    def log(self):
        return self.app.log

    def start(self, course, assignment, step, students, starter, command=None, timeout=None,
              trigger="person"):  # fmt: skip
        """Run `step` for `students` in the background; returns the job's row.

        A class-wide action has no assignment (None); exec has a command and timeout. The
        hub's own jobs (trigger "deadline") have no starter (None).
        """
        job = orm.CourseJob(
            id=uuid.uuid4().hex,
            course_id=course.id,
            assignment_id=assignment.id if assignment is not None else None,
            assignment_path=assignment.path if assignment is not None else "",
            step=step,
            command=command,
            command_timeout=timeout,
            started_by_id=starter.id if starter is not None else None,
            trigger=trigger,
            restarts=0,
            course_server_started=False,
        )
        # a student listed twice is run once
        unique = {s.id: s for s in students}.values()
        job.students = [
            orm.CourseJobStudent(student_id=s.id, name=s.name, state="pending",
                                 server_started=False)
            for s in unique
        ]  # fmt: skip
        self.db.add(job)
        self.db.commit()
        self._run(job)
        return job

    def _run(self, job):
        task = asyncio.ensure_future(CourseWork(self.app).run(job))
        self._tasks[job.id] = task
        task.add_done_callback(functools.partial(self._ended, job.id))

    def _ended(self, job_id, task):
        self._tasks.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            # left unfinished in the database: the next upkeep takes it up again
            self.log.error("Course job %s stopped: %r", job_id, task.exception(),
                           exc_info=task.exception())  # fmt: skip

    def is_running(self, job_id):
        return job_id in self._tasks

    def _why_not_resumable(self, job):
        course = self.db.get(orm.Course, job.course_id)
        if course is None or course.deleted or course.project.deleted:
            return "the course was deleted"
        if job.step in STEPS and (
            job.assignment_id is None or self.db.get(orm.Assignment, job.assignment_id) is None
        ):
            return f"{job.assignment_path} was deleted from the course"
        if job.trigger == DEADLINE:
            return None
        starter = job.started_by
        if starter is None:
            return "the person who started it no longer has an account"
        if not starter.admin and course.project.collaborator(starter.id) is None:
            return f"{starter.name}, who started it, no longer teaches this course"
        return None

    def resume_unfinished(self):
        """Take up the unfinished jobs no task runs: those a stopped hub left (at start),
        and any whose task died (on the upkeep timer).

        Students done stay done; the others, with any whose step was under way, are run
        again, except a command under way (exec), which is not run twice unasked: that
        student is failed with the reason, for a retry. A job that cannot go on (its
        course or assignment deleted, or whoever started it no longer teaching the course)
        is ended instead, its unfinished students failed with the reason, for an
        instructor to retry.
        """
        unfinished = self.db.query(orm.CourseJob).filter(orm.CourseJob.finished.is_(None))
        for job in unfinished.order_by(orm.CourseJob.created).all():
            if job.id in self._tasks:
                continue
            why = self._why_not_resumable(job)
            left = [e for e in job.students if e.state in UNFINISHED]
            if why:
                work = CourseWork(self.app)
                for entry in left:
                    work.fail(job, entry, NOT_RESUMED.format(why))
                job.finished = orm.now()
                job.outcome = "abandoned"
                job.reason = why
                self.log.warning("Course %s: %s not resumed (%s); %d students to retry",
                                 job.course_id, describe(job), why, len(left))  # fmt: skip
            else:
                work = CourseWork(self.app)
                for entry in left:
                    if job.step == "exec" and entry.state == "running":
                        work.fail(job, entry, EXEC_CUT_SHORT)
                    else:
                        entry.state = "pending"
                job.restarts += 1
                self.log.info("Course %s: resuming %s for %d of %d students", job.course_id,
                              describe(job), len(left), len(job.students))  # fmt: skip
            self.db.commit()
            # an abandoned job still stops the servers it had started
            self._run(job)

    def prune(self):
        """Forget finished jobs older than c.SMCHub.course_job_retention_days."""
        days = self.app.course_job_retention_days
        if not days:
            return
        cutoff = orm.now() - timedelta(days=days)
        old = (
            self.db.query(orm.CourseJob)
            .filter(orm.CourseJob.finished.isnot(None), orm.CourseJob.finished < cutoff)
            .all()
        )
        for job in old:
            self.db.delete(job)
        if old:
            self.db.commit()
            self.log.info("Forgot %d course jobs finished over %g days ago", len(old), days)

    def upkeep(self):
        """At start and then hourly: prune old jobs, take up unfinished ones."""
        self.prune()
        self.resume_unfinished()

    async def close(self, timeout=10):
        """The hub is stopping: stop the running jobs where they are. Their rows say which
        students were not done; the next start takes them up again."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


def start_step(app, course, assignment, step, students, starter):
    """Start `step` for `students` in the background; returns the job's row.

    Students who have signed up get their course project first (made, owned by
    `starter`, if they had none), so the step has somewhere to copy to.
    """
    for student in students:
        if student.user is not None:
            give_project(app, course, student, starter)
    return app.course_jobs.start(course, assignment, step, students, starter)


def start_peer_step(app, course, assignment, step, students, starter):
    """Start a peer step (PEER_STEPS) for those of `students` who review others' work;
    returns the job's row.

    "peer" pairs the students whose work is collected first, unless a pairing is stored
    (a retry sends the same works to the same reviewers). InvalidInput if peer feedback
    is off or too little work is collected; PeerReviewRefused if none of the students
    asked for reviews anyone's work.
    """
    if step == "peer":
        pairs = peer_review.ensure_pairing(app.db, assignment)
    else:
        pairs = peer_review.reviews(app.db, assignment)
        if not pairs:
            raise PeerReviewRefused(
                f"No work of {assignment.path} went out for peer review yet: run peer first."
            )
    reviewers = {r.reviewer_id for r in pairs}
    chosen = [s for s in students if s.id in reviewers]
    if not chosen:
        raise PeerReviewRefused(
            f"None of these students reviews work of {assignment.path}: only those whose "
            "work was collected when the reviews were paired do."
        )
    return start_step(app, course, assignment, step, chosen, starter)


def start_action(app, course, action, students, starter, command=None, timeout=None):
    """Start a class-wide action (ACTIONS) for `students` in the background; returns the
    job's row. `command` and `timeout` (seconds) are exec's, checked by check_command.

    As for steps, students who have signed up get their course project first, except
    for stop, which has nothing to do for a project that does not exist.
    """
    if action != "stop":
        for student in students:
            if student.user is not None:
                give_project(app, course, student, starter)
    return app.course_jobs.start(course, None, action, students, starter, command, timeout)


def start_due_notes(app, course, assignment, students, starter):
    """Rewrite DUE_DATE.txt in the projects of those `students` who were assigned the
    assignment, after their due date changed; returns the job's row, or None if no one
    has the file."""
    told = students_to_tell(assignment, students)
    if not told:
        return None
    return app.course_jobs.start(course, assignment, "due", told, starter)
