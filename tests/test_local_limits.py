"""Quotas on the local node: cgroup memory and CPU limits, applied at each start; idling."""

import asyncio
import os
import subprocess

import psutil
import pytest

from smchub.spawners import cgroups

needs_cgroups = pytest.mark.skipif(
    os.geteuid() != 0 or cgroups.detect()[0] is None,
    reason="needs root and writable cgroups",
)


def cgroup_memory_limit(project_id):
    version, roots = cgroups.detect()
    return cgroups.ProjectCgroup(version, roots, project_id).memory_limit_bytes()


@pytest.fixture(params=["forked", "new process"])
def how_started(request, hub):
    """Limits hold whether the local node forks project servers or starts new processes."""
    backend = hub.app.backend_for("local")
    backend.use_fork_server = request.param == "forked"
    yield request.param
    backend.use_fork_server = True


def check_started(hub, project_id, how):
    """The project's server was started the way the test asked, and is in its cgroup."""
    process = psutil.Process(hub.app.users[project_id].spawner.handle["pid"])
    backend = hub.app.backend_for("local")
    parent = backend.fork_server().pid if how == "forked" else os.getpid()
    assert process.ppid() == parent
    version, roots = cgroups.detect()
    assert process.pid in cgroups.ProjectCgroup(version, roots, project_id).pids()


@needs_cgroups
async def test_allocating_past_the_memory_limit_is_killed(hub, how_started):
    alice = await hub.person()
    pid = (await alice.create_project("Greedy"))["id"]
    r = await hub.admin.api("PATCH", f"projects/{pid}", {"quotas": {"memory_mb": 400}})
    assert r.status_code == 200
    await alice.start_project(pid)
    try:
        check_started(hub, pid, how_started)
        assert cgroup_memory_limit(pid) == 400 * 2**20
        # a child of the kernel touches 1 GB: the kernel's OOM killer stops it, and
        # only it (the biggest process in the project's group)
        out = await alice.execute(
            pid,
            "import subprocess, sys\n"
            "code = 'b = bytearray(1024 * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1'\n"
            "print(subprocess.run([sys.executable, '-c', code]).returncode)",
        )
        assert out.strip() == "-9"
        # a modest allocation is fine
        out = await alice.execute(pid, "b = bytearray(50 * 2**20); print(len(b))")
        assert out.strip() == str(50 * 2**20)
        assert (await alice.api("GET", f"projects/{pid}")).json()["state"] == "running"
    finally:
        await alice.stop_project(pid)
    # the group goes away with the project
    assert cgroup_memory_limit(pid) is None


@needs_cgroups
async def test_quotas_apply_at_the_next_start(hub, how_started):
    alice = await hub.person()
    pid = (await alice.create_project())["id"]
    await alice.start_project(pid)
    check_started(hub, pid, how_started)
    default_mb = hub.app.default_quotas["memory_mb"]
    assert cgroup_memory_limit(pid) == default_mb * 2**20
    r = await hub.admin.api("PATCH", f"projects/{pid}", {"quotas": {"memory_mb": 700, "cpu": 0.5}})
    assert r.json()["quotas"]["memory_mb"] == 700
    # the running server keeps what it started with
    assert cgroup_memory_limit(pid) == default_mb * 2**20
    await alice.stop_project(pid)
    await alice.start_project(pid)
    try:
        check_started(hub, pid, how_started)
        assert cgroup_memory_limit(pid) == 700 * 2**20
        version, roots = cgroups.detect()
        group = cgroups.ProjectCgroup(version, roots, pid)
        if version == "v1":
            quota = open(os.path.join(group.paths[1], "cpu.cfs_quota_us")).read().strip()
            assert quota == "50000"
        else:
            assert open(os.path.join(group.paths[0], "cpu.max")).read().split()[0] == "50000"
        # the project can see its limits (what its info page shows)
        out = await alice.execute(pid, "import os; print(os.environ['SMCHUB_MEMORY_LIMIT_MB'], "
                                       "os.environ['SMCHUB_LIMITS_ENFORCED'])")  # fmt: skip
        assert out.split() == ["700", "1"]
    finally:
        await alice.stop_project(pid)


async def test_idle_projects_stop_after_their_own_timeout(hub):
    alice = await hub.person()
    idle = (await alice.create_project("Idle"))["id"]
    forever = (await alice.create_project("Never idle"))["id"]
    await hub.admin.api("PATCH", f"projects/{idle}", {"quotas": {"idle_timeout_s": 4}})
    await hub.admin.api("PATCH", f"projects/{forever}", {"quotas": {"idle_timeout_s": 0}})
    await alice.start_project(idle)
    await alice.start_project(forever)
    try:
        # nobody uses it: the hub stops it a few seconds after its timeout
        stopped = await alice.wait_for_state(idle, "stopped", timeout=30)
        assert stopped["state"] == "stopped"
        assert (await alice.api("GET", f"projects/{forever}")).json()["state"] == "running"
    finally:
        await alice.stop_project(forever)


# A bounded fork bomb: children that sleep, forked until the kernel refuses (EAGAIN) or
# 2000 attempts; it holds them while the test looks at the node, then ends them all.
FORK_BOMB = """
import errno, os, signal, time
children, refused = [], None
for _ in range(2000):
    try:
        child = os.fork()
    except OSError as e:
        refused = errno.errorcode.get(e.errno)
        break
    if child == 0:
        time.sleep(120)
        os._exit(0)
    children.append(child)
time.sleep({hold})
for child in children:
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
print(len(children), refused)
"""


@needs_cgroups
async def test_a_fork_bomb_stops_at_the_pids_limit_and_spares_the_hub(hub, how_started):
    backend = hub.app.backend_for("local")
    default_limit = backend.pids_limit
    backend.pids_limit = limit = 100
    alice = await hub.person()
    pid = (await alice.create_project("Fork bomb"))["id"]
    await alice.start_project(pid)
    try:
        check_started(hub, pid, how_started)
        version, roots = cgroups.detect()
        group = cgroups.ProjectCgroup(version, roots, pid)
        assert group.pids_limit() == limit
        bomb = asyncio.ensure_future(alice.execute(pid, FORK_BOMB.format(hold=6), timeout=90))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while group.pids_current() < limit and not bomb.done() and loop.time() < deadline:
            await asyncio.sleep(0.2)
        # the project is at its limit: the hub still answers, and the node still forks
        assert group.pids_current() == limit
        r = await alice.api("GET", f"projects/{pid}")
        assert r.status_code == 200 and r.json()["state"] == "running"
        assert subprocess.run(["true"]).returncode == 0
        forked, refused = (await bomb).split()
        # the kernel's own threads and the server count too
        assert 0 < int(forked) < limit and refused == "EAGAIN"
        # and afterwards the project works again
        assert (await alice.execute(pid, "print(6 * 7)")).strip() == "42"
        assert (await alice.api("GET", "projects")).status_code == 200
    finally:
        backend.pids_limit = default_limit
        await alice.stop_project(pid)
    assert not group.pids()
