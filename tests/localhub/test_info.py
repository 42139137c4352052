"""GET smc/api/info."""

import asyncio
import json
import os
import sys

import pytest

from smchub.extensions.localhub.usage import own_cgroup_memory

pytestmark = pytest.mark.asyncio(loop_scope="function")

MIB = 1024 * 1024


async def info(api):
    r = await api("smc", "api", "info")
    assert r.code == 200, r.body
    return json.loads(r.body)


async def test_info_reports_the_project(api, home, monkeypatch):
    monkeypatch.setenv("SMCHUB_PROJECT_ID", "6f1c1a6e-0000-4000-8000-00000000abcd")
    monkeypatch.setenv("SMCHUB_MEMORY_LIMIT_MB", "100000")
    monkeypatch.setenv("SMCHUB_CPU_LIMIT", "0.5")
    monkeypatch.setenv("SMCHUB_DISK_QUOTA_MB", "3000")
    monkeypatch.setenv("SMCHUB_LIMITS_ENFORCED", "0")
    monkeypatch.setenv("SMCHUB_LIMITS_NOTE", "limits are recorded, not enforced")
    (home / "data").mkdir()
    (home / "data" / "blob").write_bytes(os.urandom(2 * MIB))

    # a child of the server, as a kernel or a terminal's shell would be
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(30)"
    )
    try:
        body = await info(api)
    finally:
        child.kill()
        await child.wait()

    assert body["project_id"] == "6f1c1a6e-0000-4000-8000-00000000abcd"
    processes = {p["pid"]: p for p in body["processes"]}
    assert body["processes"][0]["pid"] == os.getpid()
    assert child.pid in processes
    assert "time.sleep(30)" in processes[child.pid]["command"]
    for process in body["processes"]:
        assert set(process) == {"pid", "command", "cpu_percent", "rss"}
        assert process["rss"] > 0 and process["cpu_percent"] >= 0

    memory = body["memory"]
    if memory["source"] == "processes":
        assert memory["used"] == sum(p["rss"] for p in body["processes"])
        assert memory["limit"] == 100000 * MIB
    else:
        assert memory["source"] == "cgroup" and memory["used"] > 0

    assert body["disk"]["used"] >= 2 * MIB
    assert body["disk"]["complete"] is True
    assert body["disk"]["quota"] == 3000 * MIB
    assert 0 <= body["uptime"] < 60
    assert body["limits"] == {
        "enforced": False,
        "note": "limits are recorded, not enforced",
        "memory_mb": 100000,
        "cpu": 0.5,
        "disk_mb": 3000,
    }


async def test_info_without_limits(api, monkeypatch):
    for name in ["MEMORY_LIMIT_MB", "CPU_LIMIT", "DISK_QUOTA_MB", "LIMITS_ENFORCED", "PROJECT_ID"]:
        monkeypatch.delenv(f"SMCHUB_{name}", raising=False)
    body = await info(api)
    assert body["project_id"] is None
    assert body["disk"]["quota"] is None
    assert body["limits"]["enforced"] is False
    # this test process's cgroup, if readable, has no limit of its own
    if own_cgroup_memory() is None or own_cgroup_memory()[1] is None:
        assert body["memory"]["source"] == "processes"
        assert body["memory"]["limit"] is None


async def test_info_uses_the_cgroup_when_limits_are_enforced(api, monkeypatch):
    monkeypatch.setenv("SMCHUB_LIMITS_ENFORCED", "1")
    cgroup = own_cgroup_memory()
    body = await info(api)
    if cgroup is None:
        assert body["memory"]["source"] == "processes"
    else:
        assert body["memory"]["source"] == "cgroup"
        # the cgroup holds at least this process
        assert body["memory"]["used"] >= body["processes"][0]["rss"] // 2


async def test_info_lists_kernels_and_terminals(api, jp_serverapp):
    kernel_id = await jp_serverapp.kernel_manager.start_kernel(kernel_name="echo")
    r = await api("api", "terminals", method="POST", body="{}")
    assert r.code == 200, r.body
    terminal = json.loads(r.body)["name"]
    try:
        body = await info(api)
        assert body["kernels"] == [
            {
                "id": kernel_id,
                "name": "echo",
                "execution_state": body["kernels"][0]["execution_state"],
                "connections": 0,
            }
        ]
        assert body["terminals"] == [{"name": terminal}]
        # the kernel is one of the project's processes
        kernel_pid = jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid
        assert kernel_pid in {p["pid"] for p in body["processes"]}
    finally:
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id, now=True)
        await api("api", "terminals", terminal, method="DELETE")


async def test_disk_use_is_cached(api, home, localhub):
    before = (await info(api))["disk"]["used"]
    (home / "new").write_bytes(os.urandom(MIB))
    assert (await info(api))["disk"]["used"] == before
    localhub.disk_usage_max_age = 0
    assert (await info(api))["disk"]["used"] >= before + MIB


async def test_info_needs_authentication(api):
    r = await api("smc", "api", "info", headers={"Authorization": "token wrong"})
    assert r.code == 403
