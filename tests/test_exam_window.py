"""A course's settings for its students' projects (issue 18, item 3): whether students
share them, and an exam window that takes terminals and downloads away.

Through the real hub, proxy and project servers: settings are checked and shown by the
course API; a student who may share adds a collaborator; while the window is open the
student's server (restarted by the hub as the window opens) refuses terminals, exec and
every download route to everyone, JupyterLab still opens and saves files, and the
instructor's own course project keeps everything; after the window the hub's timer
restarts the student's server with everything back. On a Docker node (under
tests/services/with-docker.sh), a server started during a window without network is on
Docker's internal exam network, and back on the projects' network after the window.
"""

import asyncio
import json
import os
import re
import time
from datetime import datetime, timedelta, timezone

import docker
import pytest

from .hubprocess import HubProcess
from .test_revocation import open_terminal

pytestmark = pytest.mark.timeout(300)

NOTE = {"type": "file", "format": "text", "content": "my answer"}
NOTEBOOK = {
    "type": "notebook",
    "format": "json",
    "content": {
        "cells": [{"cell_type": "markdown", "source": "# Exam", "metadata": {}}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
}


def utc(seconds_from_now):
    when = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def course(hub):
    """An instructor teaching "Exam 101" to one student.

    Returns (instructor, student, course id, course project id, student's project id)."""
    instructor, student = await hub.person(), await hub.person()
    course_project = (await instructor.create_project("Exam 101 (course)"))["id"]
    r = await instructor.api("POST", "courses", {"project": course_project, "title": "Exam 101"})
    assert r.status_code == 201, r.text
    course_id = r.json()["id"]
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": student.name})
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    return instructor, student, course_id, course_project, result["project"]


async def set_settings(person, course_id, settings):
    r = await person.api("PATCH", f"courses/{course_id}", {"settings": settings})
    assert r.status_code == 200, r.text
    return r.json()["settings"]


async def test_settings_are_checked_and_shown(hub, course):
    instructor, student, course_id, _, _ = course
    r = await instructor.api("GET", f"courses/{course_id}")
    assert r.json()["settings"] == {
        "students_can_share": False, "assistants_view_only": False, "exam_start": None,
        "exam_end": None,
        "no_terminals": False, "no_downloads": False, "no_network": False, "exam_open": False,
        "environment": None,
    }  # fmt: skip

    async def refused(settings):
        r = await instructor.api("PATCH", f"courses/{course_id}", {"settings": settings})
        assert r.status_code == 400, r.text
        return r.json()["message"]

    assert "unknown course setting 'no_kernels'" in await refused({"no_kernels": True})
    assert "no_terminals must be true or false" in await refused({"no_terminals": "yes"})
    assert "students_can_share must be true or false" in await refused({"students_can_share": 1})
    message = await refused({"exam_start": "tomorrow", "exam_end": utc(60)})
    assert "exam_start must be a date and time like 2026-12-01T17:00:00Z" in message
    assert "needs both exam_start and exam_end" in await refused({"exam_start": utc(60)})
    message = await refused({"exam_start": utc(600), "exam_end": utc(60)})
    assert "exam_end" in message and "must be after exam_start" in message
    assert "settings must be an object" in await refused(["no_network"])

    # times may carry their own offset; a partial update changes only what it names
    await set_settings(instructor, course_id, {
        "exam_start": "2030-01-01T10:00:00+01:00", "exam_end": "2030-01-01T09:30:00Z",
    })  # fmt: skip
    assert await set_settings(instructor, course_id, {"no_network": True}) == {
        "students_can_share": False, "assistants_view_only": False,
        "exam_start": "2030-01-01T09:00:00Z",
        "exam_end": "2030-01-01T09:30:00Z", "no_terminals": False, "no_downloads": False,
        "no_network": True, "exam_open": False, "environment": None,
    }  # fmt: skip
    # and nothing a refused update named was kept
    assert "must be after" in await refused(
        {"exam_end": "2030-01-01T08:00:00Z", "no_network": False}
    )
    r = await instructor.api("GET", f"courses/{course_id}")
    assert r.json()["settings"]["no_network"] is True


async def test_students_can_share_when_the_course_says_so(hub, course):
    instructor, student, course_id, _, pid = course
    friend = await hub.person()
    r = await student.api("PUT", f"projects/{pid}/collaborators/{friend.name}")
    assert r.status_code == 403, r.text

    await set_settings(instructor, course_id, {"students_can_share": True})
    assert (await student.api("GET", f"projects/{pid}")).json()["sharing"]["allowed"]
    await friend.join(student, pid)
    r = await student.api("POST", f"projects/{pid}/invites", {})
    assert r.status_code == 201, r.text
    # only instructors change a course's settings
    r = await student.api("PATCH", f"courses/{course_id}", {"settings": {"no_network": True}})
    assert r.status_code == 404, r.text


async def eventually(check, timeout=90):
    """Wait until `check()` (async) is true; raises if it never is."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.5)


def page_config(html):
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      html, re.S)  # fmt: skip
    return json.loads(found.group(1))


async def test_an_exam_window_takes_terminals_and_downloads_away(hub, course):
    instructor, student, course_id, course_project, pid = course
    url = hub.project_url
    await student.start_project(pid)
    await instructor.start_project(course_project)
    try:
        for path, body in (("answer.txt", NOTE), ("exam.ipynb", NOTEBOOK)):
            r = await student.client.put(url(pid, f"api/contents/{path}"), json=body)
            assert r.status_code == 201, r.text
        before = await student.client.get(url(pid, "api/status"))
        terminal = await open_terminal(hub, student, pid)

        settings = await set_settings(instructor, course_id, {
            "exam_start": utc(-60), "exam_end": utc(600), "no_terminals": True,
            "no_downloads": True,
        })  # fmt: skip
        assert settings["exam_open"] is True

        # the hub restarts the student's running server with the window's restrictions:
        # the terminal the student had open goes with it
        async def restarted():
            r = await student.client.get(url(pid, "api/status"))
            return r.status_code == 200 and r.json()["started"] != before.json()["started"]

        await eventually(restarted)
        assert await closes(terminal)

        downloads = {
            "files": "files/answer.txt",
            "files, download": "files/answer.txt?download=1",
            "view": "view/answer.txt",
            "nbconvert": "nbconvert/script/exam.ipynb?download=true",
            "raw": "smc/raw/answer.txt",
            "archive": "smc/api/archive?path=answer.txt",
        }
        for person in (student, instructor):
            got = {
                k: (await person.client.get(url(pid, p))).status_code for k, p in downloads.items()
            }
            assert got == dict.fromkeys(downloads, 403), (person.name, got)
            r = await person.client.post(url(pid, "smc/api/exec"), json={"command": "true"})
            assert r.status_code == 403, r.text
            # no terminals at all: JupyterLab offers none
            r = await person.client.post(url(pid, "api/terminals"))
            assert r.status_code == 404, r.text
        r = await student.client.post(url(pid, "nbconvert/html"), json={})
        assert r.status_code == 403
        # JupyterLab still opens, reads and saves the student's files
        page = await student.open_project(pid, "lab")
        assert page.status_code == 200
        assert page_config(page.text)["terminalsAvailable"] is False
        r = await student.client.get(url(pid, "api/contents/answer.txt"))
        assert r.status_code == 200 and r.json()["content"] == "my answer"
        r = await student.client.put(url(pid, "api/contents/answer2.txt"), json=NOTE)
        assert r.status_code == 201, r.text
        # the instructor's own course project is no exam
        (await open_terminal(hub, instructor, course_project)).close()
        r = await instructor.client.put(url(course_project, "api/contents/key.txt"), json=NOTE)
        assert r.status_code == 201
        r = await instructor.client.get(url(course_project, "files/key.txt"))
        assert r.status_code == 200 and r.text == "my answer"

        # the window ends a few seconds from now; the hub's timer gives everything back
        await set_settings(instructor, course_id, {"exam_end": utc(3)})

        async def terminals_back():
            r = await student.client.post(url(pid, "api/terminals"))
            return r.status_code == 200

        await eventually(terminals_back, timeout=3 + hub.app.exam_check_interval + 60)
        (await open_terminal(hub, student, pid)).close()
        r = await student.client.get(url(pid, "files/answer.txt"))
        assert r.status_code == 200 and r.text == "my answer"
        r = await student.client.get(url(pid, "smc/raw/answer2.txt"))
        assert r.status_code == 200
        r = await instructor.api("GET", f"courses/{course_id}")
        assert r.json()["settings"]["exam_open"] is False
    finally:
        await instructor.stop_project(pid)
        await instructor.stop_project(course_project)


async def closes(ws, timeout=30):
    """Whether the websocket closes (after what it had buffered) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
        if message is None:
            return True
    return False


DOCKER_HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")
# the projects' and the exam's networks, on TEST-NET-2 (no other test uses them)
NETWORKS = {"smchub-test-exam-projects": "198.51.100.16/28", "smchub-test-exam": "198.51.100.0/28"}


@pytest.fixture
async def docker_hub(hub_root):
    if not DOCKER_HOSTS or not IMAGE:
        pytest.skip("needs a test Docker Engine (tests/services/with-docker.sh starts them)")
    (projects, projects_subnet), (exam, exam_subnet) = NETWORKS.items()
    node = {"name": "dock", "backend": "docker", "url": DOCKER_HOSTS[0], "cpu": 2,
            "memory_mb": 2000, "options": {"image": IMAGE, "network": projects,
            "network_subnet": projects_subnet, "exam_network": exam,
            "exam_network_subnet": exam_subnet}}  # fmt: skip
    hub = HubProcess(
        os.path.join(hub_root, "docker-exam"),
        f"c.SMCHub.compute_nodes = {[node]!r}\n"
        "c.SMCHub.default_quotas = {'memory_mb': 500, 'cpu': 0.5}\n"
        "c.SMCHub.exam_check_interval = 2\n"
        "c.ProjectSpawner.start_timeout = 120\n"
        "c.ProjectSpawner.http_timeout = 120\n",
    )
    engine = docker.DockerClient(base_url=DOCKER_HOSTS[0])
    await hub.start()
    try:
        yield hub, engine
    finally:
        await hub.stop()
        # the engines are the tests' own (with-docker.sh): every project on them is a test's
        for container in engine.containers.list(all=True, filters={"label": "smchub.project"}):
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": "smchub.project"}):
            volume.remove(force=True)
        for name in NETWORKS:
            for network in engine.networks.list(names=[name]):
                network.remove()
        engine.close()


async def test_an_exam_without_network_on_a_docker_node(docker_hub):
    hub, engine = docker_hub
    instructor, student = await hub.person(), await hub.person()
    course_project = (await instructor.create_project("Exam 102 (course)"))["id"]
    r = await instructor.api("POST", "courses", {"project": course_project, "title": "Exam 102"})
    course_id = r.json()["id"]
    r = await instructor.api("POST", f"courses/{course_id}/students", {"students": student.name})
    (result,) = r.json()["results"]
    pid = result["project"]

    def networks():
        """The networks of the student's server container."""
        (container,) = engine.containers.list(filters={"label": f"smchub.project={pid}"})
        return set(container.attrs["NetworkSettings"]["Networks"])

    await set_settings(instructor, course_id, {
        "exam_start": utc(-60), "exam_end": utc(600), "no_network": True,
    })  # fmt: skip
    # a server started during the window is on the internal exam network alone (Docker's
    # iptables rules, on an engine that manages them, forward nothing out of it: the test
    # engines do not, so only the placement is checked here); the hub reaches it, and it
    # the hub (JupyterLab opens, through OAuth)
    await student.start_project(pid)
    try:
        assert networks() == {"smchub-test-exam"}
        assert engine.networks.get("smchub-test-exam").attrs["Internal"] is True
        assert (await student.open_project(pid, "lab")).status_code == 200

        # once the window is over, the hub's timer gives the server its network back
        await set_settings(instructor, course_id, {"exam_end": utc(1)})

        async def back_on_the_projects_network():
            try:
                return networks() == {"smchub-test-exam-projects"}
            except (ValueError, docker.errors.APIError):  # restarting: no container, or gone
                return False

        await eventually(back_on_the_projects_network, timeout=120)
        await student.wait_for_state(pid, "running")
        assert (await student.open_project(pid, "lab")).status_code == 200
    finally:
        await student.stop_project(pid)
