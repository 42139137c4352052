"""Notes by email to people added to a course (when the hub sends email: smchub.mail).

A person added by username hears at the address their authenticator gave; a place
reserved for an email is announced to that address, with what to do to take it. Only
addresses the instructor typed, or the person's own, ever get a note, and no note names
another student.
"""

from .courses import person_email


def tell_added_students(mailer, course, results, hub_path):
    """Email each person `results` (of courses.add_students) added or reserved a place
    for; `hub_path` is the hub's base path, e.g. /hub/."""
    if not mailer.enabled:
        return
    students = {s.id: s for s in course.students}
    for result in results:
        student = students.get(result.get("student"))
        if student is None:
            continue
        if result["result"] == "added" and student.user is not None:
            _tell_enrolled(mailer, course, student, hub_path)
        elif result["result"] == "pending" and student.email and student.claimant is None:
            _tell_place(mailer, course, student.email, hub_path)


def _tell_enrolled(mailer, course, student, hub_path):
    address = person_email(student.user)
    if not address:
        return
    mailer.send_soon(
        address,
        f"You are in the course {course.title!r}",
        f"Hello {student.user.name},\n\n"
        f"You were added to the course {course.title!r}. Your project for it is on your "
        f"projects page:\n\n{mailer.link(hub_path + 'home')}\n\n"
        "Assignments appear in it as your instructors hand them out.\n",
    )


def _tell_place(mailer, course, email, hub_path):
    mailer.send_soon(
        email,
        f"A place for you in the course {course.title!r}",
        "Hello,\n\n"
        f"An instructor reserved a place for this address in the course {course.title!r}. "
        "To take it, sign up with this address (or sign in, if you have an account with "
        "it) and confirm the address with the link we send you:\n\n"
        f"{mailer.link(hub_path + 'signup')}\n\n"
        "Your project for the course then appears on your projects page.\n",
    )
