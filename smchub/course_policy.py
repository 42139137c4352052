"""What students may do with the projects a course made for them.

A student's project for a course (CourseStudent.project_id) holds work that is collected
and graded, so only the course's instructors (the course project's collaborators) bring
people into it, by name or by invite link; the student, and anyone an instructor added,
cannot. The policy holds while the student is in a live course: removed from the course,
the project is theirs like any other. For now it is the same for every course; a course
setting that lets students share would be read here.
"""

from . import orm
from .servers import ServiceError


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
    if place is None:
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
