"""Software environments (c.SMCHub.environments): checked at start, listed, chosen for a
project and a course through the API, and taking effect at the next start of a real
project server on a local node (its kernels)."""

import json
import os
import shlex
import shutil
import sys

import pytest

from smchub.app import SMCHub
from smchub.environments import check_environments

from .hubfixture import run_in_kernel, running_hub

pytestmark = pytest.mark.timeout(300)

# a kernel the host has installed for every account, in Jupyter's system folder
# (where Debian's sagemath-jupyter and r-cran-irkernel put theirs), made by the test
HOST_KERNEL = "smchub-test-host-kernel"
HOST_KERNELS = "/usr/local/share/jupyter/kernels"

# environments of one local node: the first offers only the Python kernel; the second
# only a kernel its projects have in their own homes (made by the test); the third the
# host's kernel
ENVIRONMENTS = [
    {"name": "python", "display_name": "Python", "description": "Python only",
     "kernels": ["python3"], "default": True},
    {"name": "bash", "display_name": "Shell", "description": "a project's own kernel",
     "kernels": ["home-kernel"], "image": "smchub/full:1"},
    {"name": "host", "display_name": "The host's", "description": "installed on the host",
     "kernels": [HOST_KERNEL]},
]  # fmt: skip


@pytest.fixture(scope="module")
async def env_hub(hub_root):
    async with running_hub(
        os.path.join(hub_root, "environments"), SMCHub__environments=ENVIRONMENTS
    ) as running:
        yield running


@pytest.mark.parametrize(
    "value, message",
    [
        ([{"display_name": "x"}], "name must be a short slug"),
        ([{"name": "Full Sage"}], "name must be a short slug"),
        ([{"name": "a", "default": True}, {"name": "a"}], "given twice: a"),
        ([{"name": "a"}, {"name": "b"}], "exactly one environment must say default"),
        ([{"name": "a", "image": {"podman": "x"}}], "unknown node kind(s) 'podman'"),
        ([{"name": "a", "kernels": "python3"}], "kernels must be a non-empty list"),
        ([{"name": "a", "imgae": "x"}], "unknown key(s) 'imgae'"),
    ],
)
def test_a_bad_environment_list_is_refused_with_what_to_fix(value, message):
    with pytest.raises(ValueError) as info:
        SMCHub(environments=value)
    assert "c.SMCHub.environments" in str(info.value) and message in str(info.value)


def test_no_environments_is_the_minimal_default():
    (minimal,) = check_environments([])
    assert (minimal.name, minimal.default, minimal.images, minimal.kernels) == (
        "minimal", True, None, None,
    )  # fmt: skip
    # one image for every kind of container node, or one per kind
    (full,) = check_environments([{"name": "full", "image": "smchub/full:1"}])
    assert full.default and full.image_for("docker") == full.image_for("kubernetes")
    assert full.image_for("local") is None


async def test_the_default_hub_offers_one_environment(hub):
    person = await hub.person()
    r = await person.api("GET", "environments")
    assert r.status_code == 200, r.text
    assert [e["name"] for e in r.json()] == ["minimal"] and r.json()[0]["default"]
    project = await person.create_project("Plain")
    assert project["environment"] == "minimal" and project["running_environment"] is None


async def test_environments_are_listed_and_admins_see_what_they_run(env_hub):
    person = await env_hub.person()
    r = await person.api("GET", "environments")
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"name": "python", "display_name": "Python", "description": "Python only",
         "default": True},
        {"name": "bash", "display_name": "Shell", "description": "a project's own kernel",
         "default": False},
        {"name": "host", "display_name": "The host's", "description": "installed on the host",
         "default": False},
    ]  # fmt: skip
    admin = await env_hub.person("admin", admin=True)
    r = await admin.api("GET", "environments")
    bash = r.json()[1]
    assert bash["kernels"] == ["home-kernel"]
    assert bash["images"] == {k: "smchub/full:1" for k in ("docker", "swarm", "kubernetes")}


async def test_an_unknown_environment_is_refused_with_the_valid_names(env_hub):
    person = await env_hub.person()
    r = await person.api("POST", "projects", {"title": "Sage", "environment": "sage"})
    assert r.status_code == 400
    assert r.json()["message"] == "unknown environment 'sage'; this hub offers: python, bash, host"
    project = await person.create_project("Kept")
    r = await person.api("PATCH", f"projects/{project['id']}", {"environment": 3})
    assert r.status_code == 400 and "python, bash, host" in r.json()["message"]
    r = await person.api("GET", f"projects/{project['id']}")
    assert r.json()["environment"] == "python"


async def kernelspecs(person, project_id):
    r = await person.client.get(person.hub.project_url(project_id, "api/kernelspecs"))
    assert r.status_code == 200, r.text
    return r.json()


async def add_home_kernel(person, project_id):
    """A kernelspec of the project's own, in its home (a shell running `cat`)."""
    spec = {"argv": ["/bin/cat", "{connection_file}"], "display_name": "Home", "language": "sh"}
    folder = ".local/share/jupyter/kernels/home-kernel"
    command = f"mkdir -p {folder} && echo {shlex.quote(json.dumps(spec))} > {folder}/kernel.json"
    r = await person.client.post(
        person.hub.project_url(project_id, "smc/api/exec"),
        json={"command": command, "bash": True},
    )
    assert r.status_code == 200 and r.json()["exit_code"] == 0, r.text


async def test_a_project_takes_its_environment_at_its_next_start(env_hub):
    person = await env_hub.person()
    project = (await person.create_project("Kernels"))["id"]
    running = await person.start_project(project)
    assert running["environment"] == running["running_environment"] == "python"
    await add_home_kernel(person, project)
    # the home's kernel is installed, but this environment offers only Python
    specs = await kernelspecs(person, project)
    assert sorted(specs["kernelspecs"]) == ["python3"] and specs["default"] == "python3"

    r = await person.api("PATCH", f"projects/{project}", {"environment": "bash"})
    assert r.status_code == 200, r.text
    # chosen, and not yet running: the server runs what it started with
    assert (r.json()["environment"], r.json()["running_environment"]) == ("bash", "python")
    assert sorted((await kernelspecs(person, project))["kernelspecs"]) == ["python3"]

    await person.stop_project(project)
    running = await person.start_project(project)
    assert running["environment"] == running["running_environment"] == "bash"
    specs = await kernelspecs(person, project)
    assert sorted(specs["kernelspecs"]) == ["home-kernel"] and specs["default"] == "home-kernel"
    # a local node runs no image: nothing was pinned
    admin = await env_hub.person("admin", admin=True)
    r = await admin.api("GET", f"projects/{project}")
    assert r.json()["environment_pin"] is None
    await person.stop_project(project)


@pytest.fixture
def host_kernel():
    """A Python kernel installed on the host for all (as an admin installs Sage's or
    R's), removed afterwards."""
    folder = os.path.join(HOST_KERNELS, HOST_KERNEL)
    os.makedirs(folder, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "The host's Python", "language": "python"}  # fmt: skip
    with open(os.path.join(folder, "kernel.json"), "w") as f:
        json.dump(spec, f)
    os.chmod(folder, 0o755)
    yield
    shutil.rmtree(folder, ignore_errors=True)


async def test_a_local_project_runs_a_kernel_the_host_installed(env_hub, host_kernel):
    person = await env_hub.person()
    project = (await person.create_project("Host kernel", environment="host"))["id"]
    await person.start_project(project)
    specs = await kernelspecs(person, project)
    assert sorted(specs["kernelspecs"]) == [HOST_KERNEL] and specs["default"] == HOST_KERNEL
    # it runs, as the project's own account
    out = await run_in_kernel(person, project, "import os; print(os.getuid())", kernel=HOST_KERNEL)
    assert int(out) == os.stat(os.path.join(env_hub.app.projects_root, project)).st_uid
    await person.stop_project(project)


async def test_a_project_created_with_an_environment_starts_with_it(env_hub):
    person = await env_hub.person()
    project = await person.create_project("Shell from the start", environment="bash")
    assert project["environment"] == "bash"
    running = await person.start_project(project["id"])
    assert running["running_environment"] == "bash"
    assert sorted((await kernelspecs(person, project["id"]))["kernelspecs"]) == []
    await person.stop_project(project["id"])


async def test_a_courses_students_get_the_courses_environment(env_hub):
    teacher, student = await env_hub.person(), await env_hub.person()
    course_project = (await teacher.create_project("Logic (course)"))["id"]
    r = await teacher.api("POST", "courses", {"project": course_project, "title": "Logic"})
    assert r.status_code == 201, r.text
    course = r.json()["id"]
    assert r.json()["settings"]["environment"] is None  # the hub's default
    r = await teacher.api("PATCH", f"courses/{course}", {"settings": {"environment": "nope"}})
    assert r.status_code == 400 and "python, bash, host" in r.json()["message"]
    r = await teacher.api("PATCH", f"courses/{course}", {"settings": {"environment": "bash"}})
    assert r.status_code == 200 and r.json()["settings"]["environment"] == "bash", r.text
    r = await teacher.api("POST", f"courses/{course}/students", {"students": [student.name]})
    assert r.status_code == 200, r.text
    (place,) = r.json()["course"]["students"]
    project = place["project"]

    r = await student.api("GET", f"projects/{project}")
    assert (r.json()["environment"], r.json()["environment_from_course"]) == ("bash", True)
    # the course decides, not the student
    r = await student.api("PATCH", f"projects/{project}", {"environment": "python"})
    assert r.status_code == 409 and "course's settings" in r.json()["message"]
    running = await student.start_project(project)
    assert running["running_environment"] == "bash"
    assert (await kernelspecs(student, project))["kernelspecs"] == {}
    await student.stop_project(project)

    # a change of the course's reaches its students at their next start
    r = await teacher.api("PATCH", f"courses/{course}", {"settings": {"environment": "python"}})
    assert r.status_code == 200, r.text
    running = await student.start_project(project)
    assert running["running_environment"] == "python"
    assert sorted((await kernelspecs(student, project))["kernelspecs"]) == ["python3"]
    await student.stop_project(project)
