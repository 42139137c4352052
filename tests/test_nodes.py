"""Compute nodes: the admin API and page, the CLI, placement and draining, for real."""

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from smchub import orm

SMCHUB = os.path.join(os.path.dirname(sys.executable), "smchub")


@pytest.fixture
async def second_local_node(hub):
    """Another node running local processes, with its own folder of homes."""
    root = os.path.join(hub.root, "node-b")
    os.makedirs(root, mode=0o711, exist_ok=True)
    r = await hub.admin.api(
        "POST",
        "nodes",
        {"name": "local-b", "backend": "local", "cpu": 2, "memory_mb": 4000,
         "labels": {"zone": "b"}, "options": {"projects_root": os.path.join(root, "projects")}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    yield "local-b"
    for project in hub.db.query(orm.Project).filter_by(node="local-b"):
        project.deleted = True
    hub.db.commit()
    r = await hub.admin.api("DELETE", "nodes/local-b")
    assert r.status_code == 204, r.text


async def test_nodes_api_is_for_admins(hub):
    alice = await hub.person()
    for method, path in [("GET", "nodes"), ("POST", "nodes"), ("GET", "nodes/local"),
                         ("PATCH", "nodes/local"), ("DELETE", "nodes/local")]:  # fmt: skip
        r = await alice.api(method, path, {} if method in ("POST", "PATCH") else None)
        assert r.status_code == 403, (method, path)
    anonymous = hub.anonymous()
    assert (await anonymous.api("GET", "nodes")).status_code == 403
    await anonymous.close()


async def test_default_local_node_with_load(hub):
    alice = await hub.person()
    pid = (await alice.create_project())["id"]
    await alice.start_project(pid)
    try:
        r = await hub.admin.api("GET", "nodes/local")
        assert r.status_code == 200
        node = r.json()
        assert node["backend"] == "local" and node["state"] == "active"
        load = node["load"]
        assert load["running"] >= 1
        assert load["memory_allocated_mb"] >= 2000
        assert load["memory_capacity_mb"] == node["memory_mb"] > 0
        assert load["cpu_capacity"] == node["cpu"] > 0
        browser = await hub.admin.browser()
        page = await browser.get("/hub/nodes")
        assert page.status_code == 200 and 'data-node="local"' in page.text
    finally:
        await alice.stop_project(pid)
    r = await hub.admin.api("GET", "nodes/local")
    assert r.json()["load"]["running"] == load["running"] - 1


async def test_node_input_is_checked(hub):
    for body, message in [
        ({"name": "Bad Name", "backend": "local"}, "node name"),
        ({"name": "x1", "backend": "vm"}, "backend"),
        ({"name": "x1", "backend": "docker", "cpu": 2, "memory_mb": 1000}, "url"),
        ({"name": "x1", "backend": "docker", "url": "unix:///x"}, "capacity"),
        ({"name": "x1", "backend": "local", "cpu": -1}, "cpu"),
        ({"name": "x1", "backend": "local", "labels": {"a": 1}}, "labels"),
        ({"name": "x1", "backend": "local", "colour": "red"}, "Unknown field(s) colour"),
        ({"name": "local", "backend": "local"}, "already exists"),
    ]:
        r = await hub.admin.api("POST", "nodes", body)
        assert r.status_code in (400, 409), (body, r.text)
        assert message in r.json()["message"], (body, r.json())
    r = await hub.admin.api("PATCH", "nodes/local", {"state": "asleep"})
    assert r.status_code == 400
    r = await hub.admin.api("PATCH", "nodes/nowhere", {"state": "active"})
    assert r.status_code == 404


async def test_placement_labels_draining_and_stickiness(hub, second_local_node):
    alice = await hub.person()
    # a project that asks for zone=b can only go to local-b
    pid = (await alice.create_project("Zoned"))["id"]
    r = await hub.admin.api("PATCH", f"projects/{pid}", {"node_labels": {"zone": "b"}})
    assert r.status_code == 200, r.text
    running = await alice.start_project(pid)
    assert running["node"] == "local-b"
    home = os.path.join(hub.root, "node-b", "projects", pid)
    assert os.path.isdir(home)
    r = await alice.client.put(
        hub.project_url(pid, "api/contents/b.txt"),
        json={"type": "file", "format": "text", "content": "b"},
    )
    assert r.status_code in (200, 201)
    await alice.stop_project(pid)

    # draining local-b: the project's files are there, so it is refused, not moved
    r = await hub.admin.api("PATCH", "nodes/local-b", {"state": "draining"})
    assert r.status_code == 200 and r.json()["state"] == "draining"
    r = await alice.api("POST", f"projects/{pid}/start")
    assert r.status_code == 409, r.text
    assert "files are on node 'local-b'" in r.json()["message"]
    assert "draining" in r.json()["message"]
    assert (await alice.api("GET", f"projects/{pid}")).json()["state"] == "stopped"

    # a new project with the same labels: nothing fits, and the refusal says why
    other = (await alice.create_project("Also zoned"))["id"]
    await hub.admin.api("PATCH", f"projects/{other}", {"node_labels": {"zone": "b"}})
    r = await alice.api("POST", f"projects/{other}/start")
    assert r.status_code == 503, r.text
    message = r.json()["message"]
    assert "node 'local-b' is draining" in message
    assert "node 'local' lacks the labels zone=b" in message

    # back to active: the project goes home and finds its file
    await hub.admin.api("PATCH", "nodes/local-b", {"state": "active"})
    running = await alice.start_project(pid)
    assert running["node"] == "local-b"
    r = await alice.client.get(hub.project_url(pid, "api/contents/b.txt"))
    assert r.json()["content"] == "b"

    # a node that holds projects cannot be removed, and the refusal names them
    r = await hub.admin.api("DELETE", "nodes/local-b")
    assert r.status_code == 409
    assert pid in r.json()["message"]
    await alice.stop_project(pid)


async def test_new_projects_spread_over_nodes(hub, second_local_node):
    alice = await hub.person()
    # without labels, new projects may go to either node; many placements use both
    ids = [(await alice.create_project(f"S{i}"))["id"] for i in range(12)]
    chosen = []
    for pid in ids:
        project = hub.db.get(orm.Project, pid)
        node = hub.app.place_project(project, {"memory_mb": 100, "cpu": 0.1, "disk_mb": 1,
                                               "idle_timeout_s": 0})  # fmt: skip
        chosen.append(node.name)
    assert set(chosen) == {"local", "local-b"}


async def test_node_cli_on_the_hub_database(hub):
    config = os.path.join(hub.root, "cli_config.py")
    with open(config, "w") as f:
        f.write(textwrap.dedent(f"""
            c.JupyterHub.db_url = {hub.config.JupyterHub.db_url!r}
            c.SMCHub.data_dir = {hub.config.SMCHub.data_dir!r}
        """))  # fmt: skip

    def cli(*args):
        return subprocess.run(
            [SMCHUB, "node", *args, "-f", config], capture_output=True, text=True, timeout=60
        )

    out = await asyncio.to_thread(cli, "list")
    assert out.returncode == 0, out.stderr
    assert "local" in out.stdout and "NAME" in out.stdout
    # a local node: the hub's health check finds it answering (an engine that does not
    # exist would be marked down under the test's feet)
    out = await asyncio.to_thread(
        cli, "add", "cli-node", "--backend", "local", "--cpu", "2", "--memory-mb", "2048",
        "--label", "zone=c",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    r = await hub.admin.api("GET", "nodes/cli-node")
    assert r.status_code == 200
    assert r.json()["labels"] == {"zone": "c"} and r.json()["state"] == "active"
    out = await asyncio.to_thread(cli, "drain", "cli-node")
    assert out.returncode == 0, out.stderr
    assert (await hub.admin.api("GET", "nodes/cli-node")).json()["state"] == "draining"

    # a project whose files are on the node keeps it from being removed
    alice = await hub.person()
    pid = (await alice.create_project("Pinned"))["id"]
    project = hub.db.get(orm.Project, pid)
    project.node = "cli-node"
    hub.db.commit()
    out = await asyncio.to_thread(cli, "remove", "cli-node")
    assert out.returncode == 1
    assert pid in out.stderr
    project.deleted = True
    hub.db.commit()
    out = await asyncio.to_thread(cli, "remove", "cli-node")
    assert out.returncode == 0, out.stderr
    assert (await hub.admin.api("GET", "nodes/cli-node")).status_code == 404
    out = await asyncio.to_thread(cli, "drain", "no-such-node")
    assert out.returncode == 1 and "no such node" in out.stderr


async def test_spawn_progress_names_the_node(hub):
    alice = await hub.person()
    pid = (await alice.create_project())["id"]
    r = await alice.api("POST", f"projects/{pid}/start")
    assert r.status_code == 202
    messages = []
    # JupyterHub's own progress stream, which its spawn-pending page shows (a start that
    # is already over answers only its final event)
    async with alice.client.stream("GET", f"/hub/api/users/{pid}/server/progress") as stream:
        assert stream.status_code == 200
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                messages.append(line)
                if '"ready": true' in line:
                    break
    assert '"ready": true' in messages[-1]
    # what the spawner told the page along the way
    events = [e["message"] for e in hub.app.users[pid].spawner._events]
    assert events[0] == "Placed on node local"
    assert any("Waiting for the project server" in e for e in events)
    await alice.stop_project(pid)
