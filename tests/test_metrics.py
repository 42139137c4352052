"""smchub's own Prometheus metrics at /hub/metrics, beside JupyterHub's (issue 19, item 5),
read as Prometheus would after real starts, stops, snapshots and a failing class action."""

import asyncio
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .hubfixture import running_hub


@pytest.fixture
async def own_hub(hub_root):
    """A hub of its own: the project counts below are the whole hub's."""
    async with running_hub(os.path.join(hub_root, "metrics-hub")) as running:
        yield running


async def scrape(person):
    """{(sample name, frozenset of labels): value} of the hub's metrics."""
    r = await person.client.get("/hub/metrics")
    assert r.status_code == 200, r.text
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


async def wait_for_job(person, course_id, job):
    deadline = asyncio.get_running_loop().time() + 180
    while not job["finished"]:
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.3)
        r = await person.api("GET", f"courses/{course_id}/jobs/{job['id']}")
        job = r.json()
    return job


async def test_metrics_follow_projects_nodes_snapshots_and_course_steps(own_hub):
    hub = own_hub
    admin = hub.admin
    before = await scrape(admin)
    # JupyterHub's own metrics are still there
    assert any(name == "jupyterhub_running_servers" for name, _ in before)
    starts = value(before, "smchub_project_start_duration_seconds_count", node="local")
    stops = value(before, "smchub_project_stop_duration_seconds_count", node="local")

    alice = await hub.person("alice")
    running = (await alice.create_project("Running"))["id"]
    await alice.create_project("Never started")
    await alice.start_project(running)

    during = await scrape(admin)
    assert value(during, "smchub_projects", state="running", node="local") == 1
    # a project never started has no home node yet
    assert value(during, "smchub_projects", state="stopped", node="") == 1
    assert value(during, "smchub_project_start_duration_seconds_count", node="local") == starts + 1
    assert value(during, "smchub_project_start_duration_seconds_sum", node="local") > 0
    assert value(during, "smchub_node_running_projects", node="local", backend="local") == 1
    memory = value(during, "smchub_node_allocated", node="local", backend="local",
                   resource="memory_mb")  # fmt: skip
    assert memory > 0
    capacity = value(during, "smchub_node_capacity", node="local", backend="local",
                     resource="memory_mb")  # fmt: skip
    assert capacity >= memory
    assert value(during, "smchub_node_up", node="local", backend="local", state="active") == 1

    await alice.stop_project(running)
    after = await scrape(admin)
    assert value(after, "smchub_projects", state="running", node="local") == 0
    assert value(after, "smchub_projects", state="stopped", node="local") == 1
    assert value(after, "smchub_project_stop_duration_seconds_count", node="local") == stops + 1
    assert value(after, "smchub_node_running_projects", node="local", backend="local") == 0
    # stopping takes a snapshot, in the background; once it is there, it is seconds old
    for _ in range(300):
        r = await alice.api("GET", f"projects/{running}/snapshots")
        if r.json()["snapshots"]:
            break
        await asyncio.sleep(0.1)
    after = await scrape(admin)
    assert value(after, "smchub_snapshot_age_seconds_bucket", le="3600.0") == 1
    assert value(after, "smchub_snapshot_age_seconds_gcount") == 1

    # a class-wide command failing for a student counts as a course step failure
    course_project = (await alice.create_project("Course"))["id"]
    r = await alice.api("POST", "courses", {"project": course_project, "title": "Metrics 101"})
    assert r.status_code == 201, r.text
    course_id = r.json()["id"]
    await hub.person("sam")
    r = await alice.api("POST", f"courses/{course_id}/students", {"students": ["sam"]})
    assert r.status_code == 200, r.text
    failures = value(after, "smchub_course_step_failures_total", step="exec")
    r = await alice.api("POST", f"courses/{course_id}/actions/exec", {"command": "exit 3"})
    assert r.status_code == 202, r.text
    job = await wait_for_job(alice, course_id, r.json())
    assert [f["exit_code"] for f in job["failed"]] == [3]
    last = await scrape(admin)
    assert value(last, "smchub_course_step_failures_total", step="exec") == failures + 1


async def test_only_metrics_readers_scrape(hub):
    person = await hub.person("curious")
    r = await person.client.get("/hub/metrics")
    assert r.status_code == 403
