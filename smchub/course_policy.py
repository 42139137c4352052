"""What students may do with the projects a course made for them.

A student's project for a course (CourseStudent.project_id) holds work that is collected
and graded, so only the course's instructors (the course project's collaborators) bring
people into it, by name or by invite link; the student, and anyone an instructor added,
cannot, unless the course's setting `students_can_share` lets them. The policy holds
while the student is in a live course: removed from the course, the project is theirs
like any other.

A course may also set an exam window (UTC start and end) with restrictions for its
students' projects while it is open: no terminals, no downloads, no network. The hub
decides at every start of a student's project server which restrictions hold, and the
server enforces them for its whole life (extensions/localhub/authorizer.py; the node's
backend for the network). ExamWindows, run by the app on a timer and after every change
of a course's settings, restarts each running server whose restrictions are no longer
those of the moment, so a window opening or closing reaches servers already running.

The course project's collaborators teach the course and are collaborators of every
student's project. With the setting `assistants_view_only`, all of them but the course
project's owner (the teaching assistants) are viewers there instead: they read the
students' work and change nothing. Turning it on or off changes their roles in every
student's project at once; running servers follow within the revocation delay, as
for any role change (projects.set_role).
"""

import asyncio
from datetime import datetime, timezone

from jupyterhub.utils import utcnow

from . import orm
from .extensions.localhub.permissions import DOWNLOADS, NETWORK, TERMINALS
from .projects import COLLABORATOR, OWNER, PROJECT_ONLY, VIEWER, InvalidInput, set_role
from .servers import ServiceError

# the settings' names in the API, and the course's column and restriction of each flag
SHARING = "students_can_share"
ASSISTANTS = "assistants_view_only"
EXAM_START, EXAM_END = "exam_start", "exam_end"
EXAM_FLAGS = {
    "no_terminals": ("exam_no_terminals", TERMINALS),
    "no_downloads": ("exam_no_downloads", DOWNLOADS),
    "no_network": ("exam_no_network", NETWORK),
}
SETTINGS = (SHARING, ASSISTANTS, EXAM_START, EXAM_END, *EXAM_FLAGS)
TIME_EXAMPLE = "2026-12-01T17:00:00Z"


class SharingRefused(ServiceError):
    """Someone may not bring people into a project; the message says who can."""

    def __init__(self, message):
        super().__init__(403, message)


def course_place(db, project_id):
    """The place, in a live course, of the student whose course project this is; or None."""
    return (
        db.query(orm.CourseStudent)
        .join(orm.Course, orm.Course.id == orm.CourseStudent.course_id)
        .join(orm.Project, orm.Project.id == orm.Course.project_id)
        .filter(
            orm.CourseStudent.project_id == project_id,
            orm.CourseStudent.removed.isnot(True),
            orm.Course.deleted.isnot(True),
            orm.Project.deleted.isnot(True),
        )
        .first()
    )


def _refusing_place(db, project, person_id):
    """The course place that keeps the person with `person_id` from adding people to
    `project`, or None if they may. A None `person_id` (someone gone) may not."""
    place = course_place(db, project.id)
    if place is None or place.course.students_can_share:
        return None
    if person_id is not None and place.course.project.collaborator(person_id) is not None:
        return None
    return place


def sharing_refusal(db, project, person_id):
    """Why the person with `person_id` may not bring people into `project`, or None."""
    place = _refusing_place(db, project, person_id)
    if place is None:
        return None
    whose = "your" if place.user_id == person_id else f"{place.name}'s"
    return (
        f"This is {whose} project for the course {place.course.title}; only the course's "
        "instructors add people to it. Ask one of them to add whoever should join."
    )


def check_may_add_people(db, project, person_id):
    """Refuse (SharingRefused) unless the person may invite people into `project` or
    make invite links for it."""
    reason = sharing_refusal(db, project, person_id)
    if reason is not None:
        raise SharingRefused(reason)


def check_made_by_instructor(db, project, maker, what):
    """Refuse (SharingRefused) to let anyone in by `what` ("This invite link", "This
    invitation") unless its `maker` (a User, None if gone) may add people to `project`
    now: it speaks for them, and a student's may predate the policy or the course."""
    if maker is not None and maker.admin:
        return
    place = _refusing_place(db, project, maker.id if maker is not None else None)
    if place is not None:
        raise SharingRefused(
            f"{what} was not made by an instructor of the course {place.course.title}, and "
            f"only the course's instructors add people to {place.name}'s project for it. "
            "Ask one of them to add you."
        )


def student_project_ids(db, project_ids):
    """Those of `project_ids` that a course made for a student (owned by whoever added
    the student, used by the student)."""
    if not project_ids:
        return set()
    rows = db.query(orm.CourseStudent.project_id).filter(
        orm.CourseStudent.project_id.in_(list(project_ids))
    )
    return {project_id for (project_id,) in rows}


# --- course settings ------------------------------------------------------------------


def naive_utc(text):
    """A date and time like 2026-12-01T17:00:00Z (UTC unless it names a zone) as the
    naive UTC datetime the tables hold; ValueError (or AttributeError, not text) if not.

    Due dates are read with it too (courses.check_due): courses imports this module."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


def _check_time(name, value):
    """An exam window's start or end (naive UTC); None for null."""
    if value is None:
        return None
    try:
        return naive_utc(value)
    except (AttributeError, ValueError):
        raise InvalidInput(
            f"{name} must be a date and time like {TIME_EXAMPLE} (UTC unless it says), or null"
        ) from None


def check_settings(course, changes):
    """The course's settings after `changes` (some settings, by their API names), as
    {name: value}; raises InvalidInput naming what is wrong and how to fix it."""
    if not isinstance(changes, dict):
        raise InvalidInput(f"settings must be an object with some of: {', '.join(SETTINGS)}")
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise InvalidInput(
            f"unknown course setting {', '.join(map(repr, unknown))}; "
            f"the settings are {', '.join(SETTINGS)}"
        )
    settings = settings_of(course)
    for name, value in changes.items():
        if name in (EXAM_START, EXAM_END):
            settings[name] = _check_time(name, value)
        elif isinstance(value, bool):
            settings[name] = value
        else:
            raise InvalidInput(f"{name} must be true or false, not {value!r}")
    start, end = settings[EXAM_START], settings[EXAM_END]
    if (start is None) != (end is None):
        raise InvalidInput(
            "an exam window needs both exam_start and exam_end (set both, or both to null)"
        )
    if start is not None and end <= start:
        raise InvalidInput(
            f"exam_end ({end.isoformat()}Z) must be after exam_start ({start.isoformat()}Z)"
        )
    return settings


def settings_of(course):
    """{name: value} of the course's settings (times as naive UTC datetimes)."""
    settings = {
        SHARING: bool(course.students_can_share),
        ASSISTANTS: bool(course.assistants_view_only),
        EXAM_START: course.exam_start,
        EXAM_END: course.exam_end,
    }
    for name, (column, _) in EXAM_FLAGS.items():
        settings[name] = bool(getattr(course, column))
    return settings


def apply_settings(app, course, settings):
    """Write settings checked by check_settings onto the course; not committed, unless
    `assistants_view_only` changes: then the teachers' roles in the students' projects
    change too, committed with the course."""
    assistants_change = bool(course.assistants_view_only) != settings[ASSISTANTS]
    course.students_can_share = settings[SHARING]
    course.assistants_view_only = settings[ASSISTANTS]
    course.exam_start = settings[EXAM_START]
    course.exam_end = settings[EXAM_END]
    for name, (column, _) in EXAM_FLAGS.items():
        setattr(course, column, settings[name])
    if assistants_change:
        set_teacher_roles_everywhere(app, course)


def settings_model(course, now=None):
    """The course's settings as the API shows them, with whether the window is open."""
    model = settings_of(course)
    for name in (EXAM_START, EXAM_END):
        if model[name] is not None:
            model[name] = model[name].isoformat() + "Z"
    model["exam_open"] = exam_open(course, now or utcnow(with_tz=False))
    # the software environment of its students' projects (null: the hub's default); set
    # apart from the other settings, with environments.set_environment
    model["environment"] = course.environment
    return model


# --- teachers in students' projects -----------------------------------------------------


def teacher_role(course, person_id):
    """The role in the course's students' projects of its teacher with `person_id`: the
    course project's owner always collaborates; with `assistants_view_only`, every other
    teacher only views."""
    if not course.assistants_view_only:
        return COLLABORATOR
    owner = course.project.owner
    return COLLABORATOR if owner is not None and owner.id == person_id else VIEWER


def set_teacher_roles(app, course, project, student_id):
    """Give each teacher of `course` who is in `project` (the project of the student
    whose user id is `student_id`) the role teacher_role says; commits what changes.

    Whoever owns the project keeps owning it (a teacher who added students before the
    setting was on may), and the student stays a collaborator even if they also teach.
    """
    project_user = None
    for teacher in course.project.collaborators:
        here = project.collaborator(teacher.user_id)
        if teacher.user_id == student_id or here is None or here.role == OWNER:
            continue
        role = teacher_role(course, teacher.user_id)
        if here.role != role:
            project_user = project_user or app.servers.user_for(project)
            set_role(app.db, project, project_user, teacher.user, role)


def set_teacher_roles_everywhere(app, course):
    """set_teacher_roles in the projects of all the course's current students."""
    students = {s.project_id: s.user_id for s in course.students if s.project_id and not s.removed}
    if not students:
        return
    projects = (
        app.db.query(orm.Project)
        .options(*PROJECT_ONLY)
        .filter(orm.Project.id.in_(list(students)), orm.Project.deleted.isnot(True))
    )
    for project in projects.all():
        set_teacher_roles(app, course, project, students[project.id])
    app.log.info(
        "Teachers of course %s other than its owner are now %s of its students' projects",
        course.id, "viewers" if course.assistants_view_only else "collaborators",
    )  # fmt: skip


# --- exam windows -----------------------------------------------------------------------


def exam_open(course, now: datetime) -> bool:
    """Whether the course's exam window is open at `now` (naive UTC): start <= now < end."""
    start, end = course.exam_start, course.exam_end
    return start is not None and end is not None and start <= now < end


def exam_restrictions(course, now: datetime) -> frozenset:
    """What the course's exam window takes away in its students' projects at `now`."""
    if not exam_open(course, now):
        return frozenset()
    return frozenset(
        restriction for (column, restriction) in EXAM_FLAGS.values() if getattr(course, column)
    )


def restrictions_by_project(db, project_ids, now: datetime):
    """{project id: restrictions} for those of `project_ids` that are students' projects
    of live courses whose exam window is open at `now` (a project in two such courses
    gets both courses' restrictions)."""
    if not project_ids:
        return {}
    rows = (
        db.query(orm.CourseStudent.project_id, orm.Course)
        .join(orm.Course, orm.Course.id == orm.CourseStudent.course_id)
        .join(orm.Project, orm.Project.id == orm.Course.project_id)
        .filter(
            orm.CourseStudent.project_id.in_(list(project_ids)),
            orm.CourseStudent.removed.isnot(True),
            orm.Course.deleted.isnot(True),
            orm.Project.deleted.isnot(True),
            orm.Course.exam_start <= now,
            orm.Course.exam_end > now,
        )
    )
    found = {}
    for project_id, course in rows:
        restrictions = exam_restrictions(course, now)
        if restrictions:
            found[project_id] = found.get(project_id, frozenset()) | restrictions
    return found


def restrictions_for_project(db, project_id, now=None) -> frozenset:
    """What an exam window takes away in `project` if its server starts `now`."""
    now = now or utcnow(with_tz=False)
    return restrictions_by_project(db, [project_id], now).get(project_id, frozenset())


class ExamWindows:
    """Keeps every running server's exam restrictions those of the moment.

    Made by the app (`app.exam_windows`); `enforce()` runs on a timer
    (c.SMCHub.exam_check_interval) and after every change of a course's settings. A
    server whose restrictions (ProjectSpawner.exam_restrictions, kept in its state across
    hub restarts) differ from what the windows say now is stopped and started again: a
    student cannot keep a terminal, a download route or the network by staying connected,
    and gets them back when the window closes. Its people's pages reconnect to the new
    server; their kernels restart.
    """

    def __init__(self, app):
        self.app = app
        self._enforcing = None
        # a round waiting for the one under way: later calls join it
        self._queued = None
        self._rounds = set()

    def enforce(self):
        """Restart the servers whose restrictions are out of date (in the background);
        returns the future of the round that will. With a round under way, one more
        follows it (so a change made meanwhile is never missed), shared by every call
        until it begins."""
        if self._queued is not None and not self._queued.done():
            return self._queued
        previous = self._enforcing
        self._enforcing = round_ = asyncio.ensure_future(self._enforce_after(previous))
        if previous is not None and not previous.done():
            self._queued = round_
        self._rounds.add(round_)
        round_.add_done_callback(self._rounds.discard)
        return round_

    async def close(self):
        """The hub is stopping: restart nothing more (the next start enforces again)."""
        rounds = list(self._rounds)
        for round_ in rounds:
            round_.cancel()
        if rounds:
            await asyncio.wait(rounds)

    async def _enforce_after(self, previous):
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        if self._queued is asyncio.current_task():
            self._queued = None
        await self._enforce()

    def out_of_date(self, now):
        """(user, restrictions it should have) for every running server whose exam
        restrictions are not those of `now`."""
        running = {}
        for user in list(self.app.users.values()):
            spawner = user.spawners.get("")
            if spawner is not None and spawner.ready and not spawner.pending:
                running[user.name] = user
        wanted = restrictions_by_project(self.app.db, list(running), now)
        for name, user in running.items():
            want = wanted.get(name, frozenset())
            if frozenset(user.spawner.exam_restrictions) != want:
                yield user, want

    async def _enforce(self):
        stale = list(self.out_of_date(utcnow(with_tz=False)))
        if not stale:
            return
        limit = asyncio.Semaphore(max(1, self.app.course_parallelism))

        async def restart(user, want):
            async with limit:
                self.app.log.info(
                    "Restarting project %s: its exam restrictions are now %s (were %s)",
                    user.name, sorted(want) or "none", user.spawner.exam_restrictions or "none",
                )  # fmt: skip
                try:
                    await self.app.servers.stop(user, wait=True)
                    await self.app.servers.ensure_running(user)
                except Exception as e:
                    self.app.log.error(
                        "Could not restart project %s for its exam window: %s", user.name, e
                    )

        await asyncio.gather(*(restart(user, want) for user, want in stale))
