"""Autograding when the course project and the students' projects are containers on a
Docker node (Swarm runs the same image): the release runs in the course project's
container, each grading in the student's own, with the image's interpreter and nbgrader."""

import json
import os
import time

import docker
import pytest

from .hubprocess import HubProcess
from .test_autograde import HIDDEN, SOLUTION, answered, source_notebook
from .test_deadlines import Course, put_file

DOCKER_HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")
# the projects' network, in 203.0.113.128/25 where tests pick subnets (docker/test-daemons.sh),
# a /28 no other test uses
NETWORK, SUBNET = "smchub-test-autograde", "203.0.113.192/28"

pytestmark = pytest.mark.timeout(600)

# nbgrader's JupyterLab plugins that the image disables and locks (its authoring toolbar,
# create-assignment, stays), and where the image's JupyterLab keeps that setting
NBGRADER_OFF = {
    f"@jupyter/nbgrader:{plugin}"
    for plugin in ("formgrader", "assignment-list", "course-list", "validate-assignment", "menu")
}
PAGE_CONFIG = (
    'cd "$(python3 -c "import sys; print(sys.prefix)")" && '
    "cat etc/jupyter/labconfig/page_config.json"
)


@pytest.fixture
async def docker_hub(hub_root):
    if not DOCKER_HOSTS or not IMAGE:
        pytest.skip("needs a test Docker Engine (tests/services/with-docker.sh starts them)")
    node = {"name": "dock", "backend": "docker", "url": DOCKER_HOSTS[0], "cpu": 2,
            "memory_mb": 2000, "options": {"image": IMAGE, "network": NETWORK,
                                           "network_subnet": SUBNET}}  # fmt: skip
    hub = HubProcess(
        os.path.join(hub_root, "docker-autograde"),
        f"c.SMCHub.compute_nodes = {[node]!r}\n"
        "c.SMCHub.default_quotas = {'memory_mb': 600, 'cpu': 0.5}\n"
        "c.ProjectSpawner.start_timeout = 120\n"
        "c.ProjectSpawner.http_timeout = 120\n",
    )
    engine = docker.DockerClient(base_url=DOCKER_HOSTS[0])
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
        # the engines are the tests' own (with-docker.sh): every project on them is a test's
        for container in engine.containers.list(all=True, filters={"label": "smchub.project"}):
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": "smchub.project"}):
            volume.remove(force=True)
        for network in engine.networks.list(names=[NETWORK]):
            network.remove()
        engine.close()


async def run(hub, person, project, script, *args):
    """Run a bash script in the project's container; its result."""
    body = {"command": script, "args": list(args), "bash": True}
    r = await person.client.post(hub.project_url(project, "smc/api/exec"), json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def files_holding(hub, person, project, text):
    """The files of the project's home, hidden ones included, that hold `text`."""
    result = await run(hub, person, project, 'grep -rlF -- "$1" . || test $? = 1', text)
    assert result["exit_code"] == 0, result
    return result["stdout"].split()


async def read_text(hub, person, project, path):
    r = await person.client.get(
        hub.project_url(project, f"api/contents/{path}?type=file&format=text&content=1")
    )
    assert r.status_code == 200, r.text
    return r.json()["content"]


async def test_autograde_in_containers(docker_hub):
    hub = docker_hub
    course = await Course.make(hub, 2)
    right, wrong = course.students
    await put_file(hub, course.instructor, course.course_project, "hw1/square.ipynb",
                   source_notebook())  # fmt: skip
    hw = await course.assignment()
    await course.step(hw, "assign")

    for name, kind in ((right, "right"), (wrong, "wrong")):
        person, _, project = course.students[name]
        await person.start_project(project)
        # the image's project server: nbgrader's formgrader and exchange are off for
        # students, in the server and in JupyterLab
        r = await person.client.get(hub.project_url(project, "formgrader"))
        assert r.status_code == 404, r.status_code
        found = await run(hub, person, project, PAGE_CONFIG)
        assert found["exit_code"] == 0, found
        page_config = json.loads(found["stdout"])
        for key in ("disabledExtensions", "lockedExtensions"):
            assert {p for p, on in page_config[key].items() if on} == NBGRADER_OFF, page_config
        # the student version: no solution, no hidden test, anywhere in their project
        given = await read_text(hub, person, project, "hw1/square.ipynb")
        assert "def square" in given
        assert await files_holding(hub, person, project, SOLUTION) == []
        assert await files_holding(hub, person, project, HIDDEN) == []
        await course.write(name, "hw1/square.ipynb", answered(given, kind))

    await course.step(hw, "collect")
    started = time.monotonic()
    r = await course.api("POST", f"assignments/{hw}/autograde", {})
    assert r.status_code == 202, r.text
    job = await course.job(r.json()["id"])
    took = time.monotonic() - started
    assert job["failed"] == [] and len(job["succeeded"]) == 2, job

    work = await course.work(hw)
    test_cell = {
        name: {c["cell_id"]: c for c in work[name]["autograde"]["cells"]}["test_square"]
        for name in (right, wrong)
    }
    assert test_cell[right]["points"] == 2 and test_cell[right]["error"] is None, test_cell
    assert test_cell[wrong]["points"] == 0, test_cell
    assert took < 120, took

    # graded and done: the hidden test is gone from their containers again
    for name in (right, wrong):
        person, _, project = course.students[name]
        assert await files_holding(hub, person, project, HIDDEN) == [], name
        assert await files_holding(hub, person, project, SOLUTION) == [], name
        await person.stop_project(project)
    await course.instructor.stop_project(course.course_project)
