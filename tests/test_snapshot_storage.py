"""The snapshot repository under load and faults: deduplication across a class, a burst of
stops, a hub killed in the middle of a snapshot, a lock left by a killed restic.

These test restic's storage through the hub, not the database: they run once (the
Makefile's NO_DATABASE), on SQLite.
"""

import asyncio
import os
import signal
import subprocess

import psutil
import pytest

from smchub import orm
from smchub.restic import Restic

from .hubfixture import RunningHub, remove_project_accounts
from .hubprocess import HubProcess

pytestmark = pytest.mark.timeout(900)

HANDOUT_MB = 50


def folder_size(path):
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


def write_handout(home, data):
    """The course's handout in a student's home, owned by the student's account."""
    path = os.path.join(home, "handout.bin")
    with open(path, "wb") as f:
        f.write(data)
    stat = os.stat(home)
    os.chown(path, stat.st_uid, stat.st_gid)


async def test_a_class_of_20_stopping_at_once_is_snapshotted_and_deduplicated(hub_root):
    hub = RunningHub(
        os.path.join(hub_root, "snapshot-class"),
        SMCHub__snapshot_interval=0,
        SMCHub__max_running_per_person=0,
        # twenty small servers fit on this machine's local node
        SMCHub__default_quotas={"cpu": 0.1, "memory_mb": 200},
    )
    await hub.start()
    try:
        instructor = await hub.person()
        pids = [(await instructor.create_project(f"Student {i}"))["id"] for i in range(20)]
        await asyncio.gather(*(instructor.start_project(pid) for pid in pids))
        repository = hub.app.snapshot_repository_location
        await hub.app.snapshots.restic.ensure_ready()
        before = folder_size(repository)
        handout = os.urandom(HANDOUT_MB * 2**20)
        for pid in pids:
            write_handout(os.path.join(hub.app.projects_root, pid), handout)

        # all twenty stop at once; each is snapshotted, a few at a time
        await asyncio.gather(*(instructor.api("POST", f"projects/{pid}/stop") for pid in pids))
        for _ in range(600):
            rows = hub.db.query(orm.Snapshot).filter(orm.Snapshot.project_id.in_(pids)).all()
            hub.db.expire_all()
            if len({row.project_id for row in rows}) == len(pids):
                break
            await asyncio.sleep(0.5)
        assert {row.project_id for row in rows} == set(pids)
        assert {row.trigger for row in rows} == {"stop"}
        for pid in pids:
            listed = (await instructor.api("GET", f"projects/{pid}/snapshots")).json()
            assert listed["error"] is None, listed

        grown = folder_size(repository) - before
        print(f"20 x {HANDOUT_MB} MB handout: the repository grew by {grown / 2**20:.1f} MB")
        assert grown < 1.5 * HANDOUT_MB * 2**20
    finally:
        await hub.stop()
        remove_project_accounts(hub.project_ids())


async def test_a_lock_left_by_a_killed_restic_is_cleared(tmp_path):
    """restic killed mid-backup leaves its lock; forget and prune still run after it."""
    restic = Restic(str(tmp_path / "repo"), str(tmp_path / "password"), str(tmp_path / "cache"))
    await restic.ensure_ready()
    home = tmp_path / "home"
    home.mkdir()
    for i in range(40):
        (home / f"f{i}.bin").write_bytes(os.urandom(4 * 2**20))
    env = {**os.environ, **restic.env()}
    proc = subprocess.Popen(
        ["restic", *restic.backup_args("p1", "stop")], cwd=home, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    locks = tmp_path / "repo" / "locks"
    for _ in range(200):
        if any(locks.iterdir()):
            break
        await asyncio.sleep(0.05)
    assert any(locks.iterdir()), "restic never took its lock"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(locks.iterdir()), "the killed restic left no lock behind"

    # an exclusive operation clears the stale lock and goes on
    await restic.forget_by_policy({"last": 1})
    await restic.prune()
    assert not any(locks.iterdir())


async def test_the_hub_killed_during_a_snapshot_then_the_next_one_works(hub_root):
    hub = HubProcess(os.path.join(hub_root, "snapshot-killed"), "c.SMCHub.snapshot_interval = 0\n")
    await hub.start()
    pids = []
    try:
        ada = await hub.person()
        r = await ada.api("POST", "projects", {"title": "Big"})
        pid = r.json()["id"]
        pids.append(pid)
        r = await ada.api("POST", f"projects/{pid}/start")
        await hub.wait_for_state(ada, pid, "running")
        home = os.path.join(hub.root, "data", "projects", pid)
        for i in range(30):
            with open(os.path.join(home, f"part{i}.bin"), "wb") as f:
                f.write(os.urandom(8 * 2**20))

        # snapshot now: kill the hub while its restic runs
        request = asyncio.ensure_future(ada.api("POST", f"projects/{pid}/snapshots"))
        hub_process = psutil.Process(hub.proc.pid)
        restic = None
        for _ in range(200):
            found = [p for p in hub_process.children() if p.name() == "restic"]
            if found:
                restic = found[0]
                break
            await asyncio.sleep(0.05)
        assert restic is not None, "the hub never ran restic"
        os.kill(hub.proc.pid, signal.SIGKILL)
        hub.proc.wait()
        request.cancel()
        # restic dies with the hub that ran it (it would otherwise hold its lock on)
        restic.wait(timeout=10)

        await hub.start()
        await hub.wait_for_state(ada, pid, "running", timeout=120)
        ada = await hub.person(ada.name)
        r = await ada.api("POST", f"projects/{pid}/snapshots")
        assert r.status_code == 201, r.text
        assert r.json()["files_new"] >= 30
    finally:
        await hub.stop()
        remove_project_accounts(pids)
