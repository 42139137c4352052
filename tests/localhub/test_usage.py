"""Limits from the environment and the usage figures behind smc/api/info (no server)."""

import os
import time

from smchub.extensions.localhub.limits import project_limits
from smchub.extensions.localhub.usage import (
    memory_cgroup_files,
    memory_report,
    read_cgroup_memory,
    tree_usage,
)

MIB = 1024 * 1024


def test_project_limits_from_environment():
    limits = project_limits(
        {
            "SMCHUB_PROJECT_ID": "0b5e5a4e-0000-4000-8000-000000000001",
            "SMCHUB_MEMORY_LIMIT_MB": "2000",
            "SMCHUB_CPU_LIMIT": "1.5",
            "SMCHUB_DISK_QUOTA_MB": "3000",
            "SMCHUB_LIMITS_ENFORCED": "1",
            "SMCHUB_LIMITS_NOTE": "cgroup limits applied",
        }
    )
    assert limits == {
        "project_id": "0b5e5a4e-0000-4000-8000-000000000001",
        "memory_mb": 2000,
        "cpu": 1.5,
        "disk_mb": 3000,
        "enforced": True,
        "note": "cgroup limits applied",
    }


def test_project_limits_unset_or_unusable():
    assert project_limits({}) == {
        "project_id": None,
        "memory_mb": None,
        "cpu": None,
        "disk_mb": None,
        "enforced": False,
        "note": "",
    }
    limits = project_limits(
        {
            "SMCHUB_MEMORY_LIMIT_MB": "lots",
            "SMCHUB_CPU_LIMIT": "0",
            "SMCHUB_DISK_QUOTA_MB": " ",
            "SMCHUB_LIMITS_ENFORCED": "yes",
        }
    )
    assert (limits["memory_mb"], limits["cpu"], limits["disk_mb"]) == (None, None, None)
    # only "1" means enforced
    assert limits["enforced"] is False


HOST_MOUNTS = """\
25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
"""


def test_cgroup_files_hybrid_host():
    proc_cgroup = "4:memory:/smchub/p1\n3:cpu,cpuacct:/smchub/p1\n0::/smchub/p1\n"
    assert memory_cgroup_files(proc_cgroup, HOST_MOUNTS) == [
        (
            "/sys/fs/cgroup/unified/smchub/p1/memory.current",
            "/sys/fs/cgroup/unified/smchub/p1/memory.max",
        ),
        (
            "/sys/fs/cgroup/memory/smchub/p1/memory.usage_in_bytes",
            "/sys/fs/cgroup/memory/smchub/p1/memory.limit_in_bytes",
        ),
    ]


def test_cgroup_files_in_a_container():
    # a container sees its own cgroup mounted at the hierarchy's root
    mounts = "40 30 0:30 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n"
    assert memory_cgroup_files("0::/docker/abc\n", mounts) == [
        ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.max")
    ]


def test_cgroup_files_without_memory_controller():
    assert memory_cgroup_files("3:cpu:/x\n", HOST_MOUNTS) == []


def test_read_cgroup_memory(tmp_path):
    (tmp_path / "v2.current").write_text("123456\n")
    (tmp_path / "v2.max").write_text("max\n")
    (tmp_path / "v1.usage").write_text("777\n")
    (tmp_path / "v1.limit").write_text("9223372036854771712\n")
    (tmp_path / "limited").write_text(f"{512 * MIB}\n")
    missing = (str(tmp_path / "nope"), str(tmp_path / "nope.max"))
    v2 = (str(tmp_path / "v2.current"), str(tmp_path / "v2.max"))
    v1 = (str(tmp_path / "v1.usage"), str(tmp_path / "v1.limit"))
    assert read_cgroup_memory([missing, v2, v1]) == (123456, None)
    assert read_cgroup_memory([v1]) == (777, None)
    assert read_cgroup_memory([(v1[0], str(tmp_path / "limited"))]) == (777, 512 * MIB)
    assert read_cgroup_memory([missing]) is None


def test_memory_report_prefers_the_projects_own_cgroup():
    # a cgroup with a limit is the project's
    assert memory_report(100, (5000, 8000), None, False) == {
        "used": 5000,
        "limit": 8000,
        "source": "cgroup",
    }
    # one without a limit counts only if the hub says it enforces limits
    assert memory_report(100, (5000, None), 2, True) == {
        "used": 5000,
        "limit": 2 * MIB,
        "source": "cgroup",
    }
    assert memory_report(100, (5000, None), 2, False) == {
        "used": 100,
        "limit": 2 * MIB,
        "source": "processes",
    }
    assert memory_report(100, None, None, True) == {
        "used": 100,
        "limit": None,
        "source": "processes",
    }


def test_tree_usage(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "big").write_bytes(os.urandom(MIB))
    (tmp_path / "small").write_bytes(b"x" * 10)
    os.link(tmp_path / "a" / "b" / "big", tmp_path / "hardlink")
    os.symlink("/usr", tmp_path / "link")
    used, complete = tree_usage(str(tmp_path), time.monotonic() + 10)
    assert complete
    # the big file once (not twice for its hard link, nothing of /usr), plus small things
    assert MIB <= used < MIB + 64 * 1024


def test_tree_usage_stops_at_its_deadline(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    assert tree_usage(str(tmp_path), time.monotonic() - 1) == (0, False)
