"""(f) Project snapshots, on smchub only (stock JupyterHub has no snapshots).

On a hub of its own (a fresh restic repository, no snapshots on a timer), through the
REST API as the admin who owns every project:

- a 1 GiB home (1,000 files of 1 MiB): its first snapshot, then, three times, 1% of it
  rewritten (10 files) and a snapshot taken with POST /hub/api/projects/<id>/snapshots,
  timed until it answers 201 (or, past the hub's 10 s wait, until the snapshot is done);
- a 100 MB folder (100 files of 1 MiB), snapshotted, deleted from the home and put back
  with POST .../snapshots/<sid>/restore, against the same folder copied into another
  running project of the same person with POST /hub/api/projects/<id>/copy; three of
  each, alternately, median;
- 100 projects holding the same course files (20 files of 1 MiB), each started (ten at a
  time), given the files and stopped: each stop takes a snapshot, as in production. The
  figure is how much the repository folder grew, against one and 100 copies of the files.

Files are random bytes (nothing to compress, no repeats within or between files except
the course files the 100 projects share): the repository cannot shrink them by any means
other than the deduplication measured. The bench writes them straight into the homes as
root and gives them to the home's owner, as a project's own writes would leave them.
"""

import asyncio
import os
import shutil
import statistics
import time

from .hubs import SMCHubUnderTest

MIB = 2**20
HOME_FILES = 1000  # 1 GiB of 1 MiB files
CHANGED_FILES = 10  # 1% of them
FOLDER_FILES = 100  # the 100 MB folder
COURSE_FILES = 20  # the course's 20 MiB of handouts
COURSE_PROJECTS = 100
BATCH = 10


class SnapshotHub(SMCHubUnderTest):
    """smchub as in the other parts, with its own repository and no interval snapshots."""

    kind = "smchub-snapshots"

    def settings(self):
        settings = super().settings()
        # only the snapshots the bench asks for (and those of stops): one on a timer could
        # land in a timed window and hold the repository
        settings["c.SMCHub.snapshot_interval"] = 0
        return settings

    @property
    def repository(self):
        return os.path.join(self.root, "data", "snapshots")

    def home(self, project_id):
        return os.path.join(self.root, "data", "projects", project_id)


# --- files ---------------------------------------------------------------------------


def _owner(home):
    st = os.stat(home)
    return st.st_uid, st.st_gid


def write_random_files(folder, indexes, owner, size=MIB):
    """(Re)write files <index>.bin of fresh random bytes, owned by `owner`."""
    os.makedirs(folder, exist_ok=True)
    os.chown(folder, *owner)
    for i in indexes:
        path = os.path.join(folder, f"{i:04d}.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        os.chown(path, *owner)


def copy_folder(source, target, owner):
    shutil.copytree(source, target)
    for folder, _, files in os.walk(target):
        os.chown(folder, *owner)
        for name in files:
            os.chown(os.path.join(folder, name), *owner)


def folder_bytes(folder):
    """Bytes of the files under `folder` (their lengths, as restic's own files are)."""
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except FileNotFoundError:
                pass
    return total


# --- the hub's API -----------------------------------------------------------------


async def wait_snapshots_idle(client, project_id, timeout=600):
    """GET .../snapshots until none is queued or running; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(f"/hub/api/projects/{project_id}/snapshots")
        r.raise_for_status()
        body = r.json()
        if not body["running"]:
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"project {project_id}: a snapshot still running after {timeout}s")
        await asyncio.sleep(0.1)


async def snapshot_now(client, project_id):
    """POST .../snapshots, timed until the snapshot is done; (seconds, its model)."""
    before = (await wait_snapshots_idle(client, project_id))["snapshots"]
    tic = time.perf_counter()
    r = await client.post(f"/hub/api/projects/{project_id}/snapshots", json={})
    if r.status_code == 201:
        return time.perf_counter() - tic, r.json()
    if r.status_code != 202:
        raise RuntimeError(f"snapshot: {r.status_code} {r.text[:300]}")
    # longer than the hub waits before answering: follow it to its end
    body = await wait_snapshots_idle(client, project_id)
    elapsed = time.perf_counter() - tic
    if len(body["snapshots"]) <= len(before):
        raise RuntimeError(f"snapshot failed: {body.get('error')}")
    return elapsed, body["snapshots"][0]


async def started(hub, client):
    """A new project, running; its id."""
    name = await hub.create_server(client)
    ok, _, error = await hub.start_until_ready(client, name)
    if not ok:
        raise RuntimeError(f"project {name} did not start: {error}")
    return name


def _snapshot_figures(seconds, model):
    return {
        "seconds": round(seconds, 3),
        "files_new": model["files_new"],
        "files_changed": model["files_changed"],
        "bytes_added": model["bytes_added"],
    }


# --- the three measurements ----------------------------------------------------------


async def incremental_snapshot(hub, client, runs):
    """A 1 GiB home: first snapshot, then `runs` snapshots each after 1% changed."""
    project = await started(hub, client)
    home = hub.home(project)
    data = os.path.join(home, "data")
    owner = _owner(home)
    await asyncio.to_thread(write_random_files, data, range(HOME_FILES), owner)
    seconds, model = await snapshot_now(client, project)
    result = {"home_bytes": folder_bytes(home), "full": _snapshot_figures(seconds, model)}
    incremental = []
    for run in range(runs):
        # a different 1% each time, so every run finds files it has not seen change
        first = run * CHANGED_FILES
        changed = range(first, first + CHANGED_FILES)
        await asyncio.to_thread(write_random_files, data, changed, owner)
        seconds, model = await snapshot_now(client, project)
        incremental.append(_snapshot_figures(seconds, model))
    result["incremental"] = incremental
    result["incremental_median_seconds"] = round(
        statistics.median(r["seconds"] for r in incremental), 3
    )
    # its stop takes a snapshot too: done before the next measurement starts
    await hub.stop_servers(client, [project])
    await wait_snapshots_idle(client, project)
    return result


async def restore_against_copy(hub, client, rounds):
    """A 100 MB folder: restore from a snapshot against a copy between two projects."""
    source, target = await started(hub, client), await started(hub, client)
    source_folder = os.path.join(hub.home(source), "folder")
    target_folder = os.path.join(hub.home(target), "folder")
    await asyncio.to_thread(
        write_random_files, source_folder, range(FOLDER_FILES), _owner(hub.home(source))
    )
    seconds, snapshot = await snapshot_now(client, source)
    result = {"folder_bytes": folder_bytes(source_folder), "snapshot_seconds": round(seconds, 3)}
    restores, copies = [], []
    for _ in range(rounds):
        await asyncio.to_thread(shutil.rmtree, source_folder)
        tic = time.perf_counter()
        r = await client.post(
            f"/hub/api/projects/{source}/snapshots/{snapshot['id']}/restore",
            json={"path": "folder"},
        )
        elapsed = time.perf_counter() - tic
        if r.status_code != 200 or r.json()["files"] != FOLDER_FILES:
            raise RuntimeError(f"restore: {r.status_code} {r.text[:300]}")
        restores.append(round(elapsed, 3))
        if os.path.exists(target_folder):
            await asyncio.to_thread(shutil.rmtree, target_folder)
        tic = time.perf_counter()
        r = await client.post(
            f"/hub/api/projects/{source}/copy",
            json={"path": "folder", "target_project": target, "target_path": "."},
        )
        elapsed = time.perf_counter() - tic
        if r.status_code != 200 or r.json()["files"] != FOLDER_FILES:
            raise RuntimeError(f"copy: {r.status_code} {r.text[:300]}")
        if folder_bytes(target_folder) != result["folder_bytes"]:
            raise RuntimeError("the copy did not land in the target project's folder/")
        copies.append(round(elapsed, 3))
    result.update(
        {
            "restore_seconds": restores,
            "copy_seconds": copies,
            "restore_median_seconds": statistics.median(restores),
            "copy_median_seconds": statistics.median(copies),
        }
    )
    await hub.stop_servers(client, [source, target])
    for project in (source, target):
        await wait_snapshots_idle(client, project)
    return result


async def shared_course(hub, client, workdir, projects, batch):
    """`projects` projects holding the same course files, each snapshotted at its stop;
    how much the repository grew."""
    course = os.path.join(workdir, "course")
    await asyncio.to_thread(write_random_files, course, range(COURSE_FILES), (0, 0))
    course_bytes = folder_bytes(course)
    size_before = folder_bytes(hub.repository)
    tic = time.perf_counter()
    names = [await hub.create_server(client) for _ in range(projects)]
    failures = []
    for i in range(0, projects, batch):
        group = names[i : i + batch]
        outcomes = await asyncio.gather(*(hub.start_until_ready(client, n) for n in group))
        for name, (ok, _, error) in zip(group, outcomes, strict=True):
            if not ok:
                failures.append(error)
                continue
            home = hub.home(name)
            await asyncio.to_thread(copy_folder, course, os.path.join(home, "course"), _owner(home))
        # each stop snapshots its home (one at a time: c.SMCHub.snapshot_parallelism),
        # while the next batch starts
        await hub.stop_servers(client, group)
    bytes_added, snapshotted = 0, 0
    for name in names:
        body = await wait_snapshots_idle(client, name)
        for snapshot in body["snapshots"]:
            bytes_added += snapshot["bytes_added"]
            snapshotted += 1
    growth = folder_bytes(hub.repository) - size_before
    return {
        "projects": projects,
        "course_bytes": course_bytes,
        "snapshots": snapshotted,
        "start_failures": len(failures),
        "errors": sorted(set(failures))[:5],
        "repository_bytes_before": size_before,
        "repository_growth_bytes": growth,
        "bytes_added_reported": bytes_added,
        "growth_per_one_copy": round(growth / course_bytes, 3),
        "growth_per_all_copies": round(growth / (projects * course_bytes), 4),
        "seconds": round(time.perf_counter() - tic, 1),
    }


async def snapshot_benchmark(root, runs=3, rounds=3, projects=COURSE_PROJECTS, batch=BATCH):
    hub = SnapshotHub(os.path.join(root, "snapshots"))
    results = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    await hub.start()
    try:
        async with hub.client() as client:
            # the hub's first snapshot makes the repository (restic init): not in a figure
            first = await started(hub, client)
            seconds, _ = await snapshot_now(client, first)
            results["first_snapshot_with_init_seconds"] = round(seconds, 3)
            await hub.stop_servers(client, [first])
            await wait_snapshots_idle(client, first)
            results["home_1gib"] = await incremental_snapshot(hub, client, runs)
            results["restore_100mb"] = await restore_against_copy(hub, client, rounds)
            results["shared_course"] = await shared_course(hub, client, root, projects, batch)
    finally:
        await hub.stop()
        hub.remove_accounts()
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results
