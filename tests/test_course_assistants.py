"""Teaching assistants as viewers of students' projects (issue 18, item 4): the course
setting `assistants_view_only`.

Through the real hub, proxy and a student's project server: with the setting on, every
teacher of the course but the course project's owner is a viewer of each student's
project, those made before the setting and those made after; such an assistant reads
the student's files (JupyterLab is told they are read-only) and is refused writes and
kernels, while the owner and the student keep writing. Turning the setting off gives the
assistant write access back, on the running server, without signing in again.
"""

import pytest

from .test_revocation import MARGIN, REVOCATION_DELAY, start_trusting_briefly
from .test_viewer import NOTE, eventually

pytestmark = pytest.mark.timeout(300)


async def set_settings(person, course_id, settings):
    r = await person.api("PATCH", f"courses/{course_id}", {"settings": settings})
    assert r.status_code == 200, r.text
    return r.json()["settings"]


async def roles(person, pid):
    r = await person.api("GET", f"projects/{pid}")
    assert r.status_code == 200, r.text
    return {c["name"]: c["role"] for c in r.json()["collaborators"]}


async def add_student(teacher, course_id, student):
    r = await teacher.api("POST", f"courses/{course_id}/students", {"students": student.name})
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["result"] == "added", result
    return result["project"]


async def test_assistants_only_view_students_projects(hub):
    instructor, ta, early, late = [await hub.person() for _ in range(4)]
    course_project = (await instructor.create_project("Viewing 101 (course)"))["id"]
    await ta.join(instructor, course_project)
    r = await instructor.api("POST", "courses", {"project": course_project, "title": "Viewing 101"})
    assert r.status_code == 201, r.text
    course_id = r.json()["id"]
    assert r.json()["settings"]["assistants_view_only"] is False
    early_pid = await add_student(instructor, course_id, early)
    assert await roles(instructor, early_pid) == {
        instructor.name: "owner", early.name: "collaborator", ta.name: "collaborator",
    }  # fmt: skip

    r = await instructor.api(
        "PATCH", f"courses/{course_id}", {"settings": {"assistants_view_only": "yes"}}
    )
    assert r.status_code == 400 and "assistants_view_only must be true or false" in r.text
    settings = await set_settings(instructor, course_id, {"assistants_view_only": True})
    assert settings["assistants_view_only"] is True
    # the project made before the setting follows it; one made after is born with it,
    # owned by the course project's owner even when the assistant added the student
    assert await roles(instructor, early_pid) == {
        instructor.name: "owner", early.name: "collaborator", ta.name: "viewer",
    }  # fmt: skip
    late_pid = await add_student(ta, course_id, late)
    assert await roles(instructor, late_pid) == {
        instructor.name: "owner", late.name: "collaborator", ta.name: "viewer",
    }  # fmt: skip
    # the assistant still teaches: the course and its project are theirs as before
    assert (await ta.api("GET", f"courses/{course_id}")).status_code == 200
    assert (await roles(ta, course_project))[ta.name] == "collaborator"

    url = hub.project_url
    await start_trusting_briefly(hub, instructor, early_pid)
    try:
        r = await early.client.put(url(early_pid, "api/contents/answer.txt"), json=NOTE)
        assert r.status_code == 201, r.text
        # the assistant reads, and JupyterLab is told the file is read-only
        r = await ta.client.get(url(early_pid, "api/contents/answer.txt"))
        assert r.status_code == 200 and r.json()["content"] == "changed", r.text
        assert r.json()["writable"] is False
        # but writes nothing and runs nothing
        r = await ta.client.put(url(early_pid, "api/contents/answer.txt"), json=NOTE)
        assert r.status_code == 403, r.text
        r = await ta.client.post(url(early_pid, "api/kernels"), json={"name": "python3"})
        assert r.status_code == 403, r.text
        # the course project's owner and the student keep writing
        for person in (instructor, early):
            r = await person.client.get(url(early_pid, "api/contents/answer.txt"))
            assert r.json()["writable"] is True, person.name
            r = await person.client.put(url(early_pid, "api/contents/mine.txt"), json=NOTE)
            assert r.status_code == 200 or r.status_code == 201, r.text

        # off again: the assistant writes on the running server, without signing in again
        settings = await set_settings(instructor, course_id, {"assistants_view_only": False})
        assert settings["assistants_view_only"] is False
        for pid in (early_pid, late_pid):
            assert (await roles(instructor, pid))[ta.name] == "collaborator"

        async def assistant_writes():
            r = await ta.client.put(url(early_pid, "api/contents/ta.txt"), json=NOTE)
            return r.status_code == 201

        assert await eventually(assistant_writes, REVOCATION_DELAY + MARGIN) is not None
        r = await ta.client.get(url(early_pid, "api/contents/answer.txt"))
        assert r.json()["writable"] is True
        r = await ta.client.post(url(early_pid, "api/kernels"), json={"name": "python3"})
        assert r.status_code == 201, r.text
        r = await ta.client.delete(url(early_pid, f"api/kernels/{r.json()['id']}"))
        assert r.status_code == 204, r.text
    finally:
        await instructor.stop_project(early_pid)
