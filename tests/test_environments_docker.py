"""Environments on a Docker node for real: a project's image is pinned at its first start
and kept when the name is moved to another image; a pinned image gone from the node
stops the start with what to do, and switching the environment starts it again."""

import io
import os
import secrets

import docker
import pytest

from .hubprocess import HubProcess

HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not HOSTS and not os.environ.get("CI"),
        reason="needs a test Docker Engine (tests/services/with-docker.sh starts it)",
    ),
]

# this file's projects network, on TEST-NET-3: a /28 of 203.0.113.128/25 (where tests pick
# subnets, docker/test-daemons.sh) that no other test uses
NETWORK, SUBNET = "smchub-test-environments", "203.0.113.240/28"
# a name of this run's own, moved from one image to another by the test
ALT = f"smchub-test/env-alt:{secrets.token_hex(4)}"


def derived_image(engine, tag, label):
    """A new image (an ID of its own) from the project image, built on the engine."""
    dockerfile = f"FROM {IMAGE}\nLABEL smchub.test.environment={label}\n"
    image, _ = engine.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, network_mode="host"
    )
    return image.id


@pytest.fixture(scope="module")
def engine():
    assert HOSTS and IMAGE, "SMCHUB_TEST_DOCKER_HOSTS and SMCHUB_TEST_PROJECT_IMAGE"
    client = docker.DockerClient(base_url=HOSTS[0])
    made = []
    yield client, made
    for container in client.containers.list(all=True, filters={"label": "smchub.project"}):
        container.remove(force=True)
    for volume in client.volumes.list(filters={"label": "smchub.project"}):
        volume.remove(force=True)
    for network in client.networks.list(names=[NETWORK]):
        network.remove()
    for image_id in made:
        try:
            client.images.remove(image_id, force=True)
        except docker.errors.NotFound:
            pass
    client.close()


@pytest.fixture(scope="module")
async def docker_hub(hub_root, engine):
    node = {"name": "dock0", "backend": "docker", "url": HOSTS[0], "cpu": 2, "memory_mb": 2000,
            "options": {"image": IMAGE, "network": NETWORK,
                        "network_subnet": SUBNET}}  # fmt: skip
    environments = [
        {"name": "standard", "display_name": "Standard", "default": True},
        {"name": "alt", "display_name": "Alternative", "image": {"docker": ALT}},
    ]
    config = (
        f"c.SMCHub.compute_nodes = {[node]!r}\n"
        f"c.SMCHub.environments = {environments!r}\n"
        "c.SMCHub.default_quotas = {'memory_mb': 500, 'cpu': 0.5}\n"
        "c.ProjectSpawner.start_timeout = 120\n"
        "c.ProjectSpawner.http_timeout = 120\n"
    )
    hub = HubProcess(os.path.join(hub_root, "docker-environments"), config)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


def server_image(engine, project_id):
    """The image ID of the project's server container (not of the helpers that snapshot
    its home after a stop, labelled smchub.role)."""
    found = engine.containers.list(filters={"label": f"smchub.project={project_id}"})
    (container,) = [c for c in found if "smchub.role" not in c.labels]
    return container.attrs["Image"]


async def test_a_pinned_image_outlives_its_name_and_a_missing_one_is_explained(docker_hub, engine):
    client, made = engine
    first = derived_image(client, ALT, "first")
    made.append(first)
    alice = await docker_hub.person("alice")
    project = (await alice.create_project("Pinned", environment="alt"))["id"]
    running = await alice.start_project(project)
    assert running["running_environment"] == "alt"
    assert server_image(client, project) == first
    admin = await docker_hub.person("admin")
    r = await admin.api("GET", f"projects/{project}")
    # built on the node, not pulled: pinned to its image ID
    assert r.json()["environment_pin"] == {"image": first, "from": ALT, "node_kind": "docker"}
    await alice.stop_project(project)

    # the admin moves the name to a new image: the project keeps the one it was pinned to
    second = derived_image(client, ALT, "second")
    made.append(second)
    assert second != first
    await alice.start_project(project)
    assert server_image(client, project) == first
    await alice.stop_project(project)

    # the pinned image goes away: the start is refused, saying what to do
    client.images.remove(first)
    r = await alice.api("POST", f"projects/{project}/start")
    assert r.status_code == 409, r.text
    message = r.json()["message"]
    assert f"pinned to image {first}" in message and "no longer has" in message
    assert "switch the project to another environment" in message
    assert (await alice.wait_for_state(project, "stopped"))["running_environment"] is None

    # switching to another environment drops the pin: the project starts again, from
    # the node's own image
    r = await alice.api("PATCH", f"projects/{project}", {"environment": "standard"})
    assert r.status_code == 200 and r.json()["environment"] == "standard", r.text
    running = await alice.start_project(project)
    assert running["running_environment"] == "standard"
    assert server_image(client, project) == client.images.get(IMAGE).id
    await alice.stop_project(project)

    # choosing "alt" again pins the image its name has now
    r = await alice.api("PATCH", f"projects/{project}", {"environment": "alt"})
    assert r.status_code == 200, r.text
    await alice.start_project(project)
    assert server_image(client, project) == second
    await alice.stop_project(project)


async def test_a_course_pins_its_environment_for_every_student(docker_hub, engine):
    client, made = engine
    before = derived_image(client, ALT, "course-before")
    made.append(before)
    teacher, ann, bo = [await docker_hub.person(n) for n in ("teacher", "ann", "bo")]
    course_project = (await teacher.create_project("Optics (course)"))["id"]
    r = await teacher.api("POST", "courses", {"project": course_project, "title": "Optics"})
    assert r.status_code == 201, r.text
    course = r.json()["id"]
    r = await teacher.api("PATCH", f"courses/{course}", {"settings": {"environment": "alt"}})
    assert r.status_code == 200, r.text
    r = await teacher.api("POST", f"courses/{course}/students", {"students": ["ann", "bo"]})
    assert r.status_code == 200, r.text
    projects = {s["name"]: s["project"] for s in r.json()["course"]["students"]}

    # the first student to start pins the course's image, for the whole class
    await ann.start_project(projects["ann"])
    assert server_image(client, projects["ann"]) == before
    await ann.stop_project(projects["ann"])
    after = derived_image(client, ALT, "course-after")
    made.append(after)
    running = await bo.start_project(projects["bo"])
    assert running["running_environment"] == "alt"
    assert server_image(client, projects["bo"]) == before
    await bo.stop_project(projects["bo"])
