"""A course's student projects: only the course's instructors bring people into them.

A student's project for a course holds their graded work, so the student cannot add
collaborators or make invite links for it; the instructors (the course project's
collaborators) still can, and the student's other projects are theirs to share.
"""

import pytest
from jupyterhub import orm as hub_orm

from smchub import orm
from smchub.projects import invite_person

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def course(hub):
    """An instructor with a TA teaching "Policy 101", and a student enrolled in it.

    Yields (instructor, ta, student, course id, the student's course project id). Nothing
    here runs a project server: the policy is the hub's.
    """
    instructor, ta, student = [await hub.person() for _ in range(3)]
    course_project = (await instructor.create_project("Policy 101 (course)"))["id"]
    await ta.join(instructor, course_project)
    r = await instructor.api("POST", "courses", {"project": course_project, "title": "Policy 101"})
    assert r.status_code == 201, r.text
    course_id = r.json()["id"]
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": student.name})
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["result"] == "added", result
    return instructor, ta, student, course_id, result["project"]


async def test_a_student_cannot_bring_people_into_their_course_project(hub, course):
    instructor, ta, student, _, pid = course
    friend = await hub.person()

    r = await student.api("PUT", f"projects/{pid}/collaborators/{friend.name}")
    assert r.status_code == 403, r.text
    message = r.json()["message"]
    assert "your project for the course Policy 101" in message
    assert "only the course's instructors" in message
    # nothing was asked of the friend, and the project lists no one invited
    assert (await friend.api("GET", "invitations")).json() == []
    assert (await student.api("GET", f"projects/{pid}")).json()["invited"] == []

    r = await student.api("POST", f"projects/{pid}/invites", {})
    assert r.status_code == 403, r.text
    assert "only the course's instructors" in r.json()["message"]
    assert (await student.api("GET", f"projects/{pid}/invites")).json() == []

    # the project page learns the same, to offer neither action
    model = (await student.api("GET", f"projects/{pid}")).json()
    assert model["sharing"] == {"allowed": False, "reason": message}
    # and the student is still in the project, with the instructors
    names = {c["name"] for c in model["collaborators"]}
    assert names == {student.name, instructor.name, ta.name}
    assert (await friend.api("GET", f"projects/{pid}")).status_code == 404


async def test_instructors_still_bring_people_in(hub, course):
    instructor, ta, student, _, pid = course
    grader, guest = await hub.person(), await hub.person()

    # the instructor owns the student's project; the TA only teaches the course
    assert (await instructor.api("GET", f"projects/{pid}")).json()["sharing"]["allowed"]
    await grader.join(instructor, pid)
    r = await ta.api("POST", f"projects/{pid}/invites", {"max_uses": 1})
    assert r.status_code == 201, r.text
    r = await guest.api("POST", f"invites/{r.json()['token']}")
    assert r.status_code == 200, r.text
    names = {c["name"] for c in r.json()["collaborators"]}
    assert {grader.name, guest.name} <= names
    # a grader they added is no instructor of the course: they cannot add people either
    r = await grader.api("POST", f"projects/{pid}/invites", {})
    assert r.status_code == 403, r.text
    assert f"{student.name}'s project for the course Policy 101" in r.json()["message"]
    # admins may do everything
    r = await hub.admin.api("POST", f"projects/{pid}/invites", {})
    assert r.status_code == 201, r.text


async def test_a_students_own_projects_are_unaffected(hub, course):
    _, _, student, _, _ = course
    friend, guest = await hub.person(), await hub.person()
    own = (await student.create_project("My own"))["id"]
    assert (await student.api("GET", f"projects/{own}")).json()["sharing"] == {
        "allowed": True,
        "reason": None,
    }
    await friend.join(student, own)
    r = await student.api("POST", f"projects/{own}/invites", {})
    assert r.status_code == 201, r.text
    assert (await guest.api("POST", f"invites/{r.json()['token']}")).status_code == 200


async def test_what_a_student_made_before_lets_no_one_in(hub, course):
    """A link or an invitation a student made before the policy (or before the project
    was theirs for a course) speaks for the student, so it is refused when used."""
    _, _, student, _, pid = course
    friend, guest = await hub.person(), await hub.person()
    db = hub.db
    project = db.get(orm.Project, pid)
    maker = hub_orm.User.find(db, student.name)
    invite, token = orm.Invite.new(project, maker)
    db.add(invite)
    db.commit()
    invitation = invite_person(db, project, hub_orm.User.find(db, friend.name), maker)

    r = await guest.api("POST", f"invites/{token}")
    assert r.status_code == 403, r.text
    assert "only the course's instructors" in r.json()["message"]
    r = await friend.api("POST", f"invitations/{invitation.id}/accept")
    assert r.status_code == 403, r.text
    assert "only the course's instructors" in r.json()["message"]
    for person in (guest, friend):
        assert (await person.api("GET", f"projects/{pid}")).status_code == 404


async def test_a_removed_student_shares_their_project_again(hub, course):
    """Removed from the course, the project stays theirs, and theirs to share."""
    instructor, _, student, course_id, pid = course
    model = (await instructor.api("GET", f"courses/{course_id}")).json()
    (place,) = model["students"]
    r = await instructor.api("DELETE", f"courses/{course_id}/students/{place['id']}")
    assert r.status_code == 200, r.text
    r = await student.api("POST", f"projects/{pid}/invites", {})
    assert r.status_code == 201, r.text
