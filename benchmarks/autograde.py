"""(h) Autograding a class, on smchub only (stock JupyterHub has no courses).

On a hub of its own, with c.SMCHub.course_parallelism at its default: the admin makes 50
JupyterHub users, a course project and a course with them as students (each place makes
a project). The course project gets an nbgrader notebook with 10 answer cells and 10
autograded test cells (each a visible and a hidden test, 1 point), which is assigned
through the API; each student's answer is written into their notebook on disk, as their
project's account (all right but one function, a different one per student, so each
scores 9 of 10); the class's work is collected. Then autograde for the class, timed from
the request until the job has finished, every student graded in their own project.

Measured while the job runs, every 100 ms on a thread of the bench:
- the node's memory: the PSS (/proc/<pid>/smaps_rollup, every 500 ms) summed over the
  hub's process and all its descendants (proxy, fork server, project servers, the
  graders, nbgrader, kernels, restic), at its peak; and how far MemAvailable fell below
  what it was before the job (the whole machine: other work on it shows there too);
- CPU seconds by kind of process (the grade program, the child it forks per notebook
  for nbgrader's autograde, nbgrader's alembic, the kernel, project servers, restic,
  the hub), from the last reading of each process before it ended: processes shorter
  than 100 ms, and each one's last 100 ms, are missed, so these are lower bounds.
"""

import asyncio
import os
import statistics
import threading
import time

import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from smchub.app import SMCHub

from .hubs import SMCHubUnderTest
from .memory import MIB, pss_bytes

STUDENTS = 50
TEST_CELLS = 10
ASSIGNMENT = "hw1"
NOTEBOOK = "functions.ipynb"
GRADER = "grade program"


class AutogradeHub(SMCHubUnderTest):
    kind = "smchub-autograde"

    def home(self, project_id):
        return os.path.join(self.root, "data", "projects", project_id)


# --- the assignment -------------------------------------------------------------------


def _nbgrader(**flags):
    base = {"schema_version": 3, "solution": False, "grade": False, "locked": False,
            "task": False}  # fmt: skip
    return {"nbgrader": {**base, **flags}}


def source_notebook():
    """The instructor's notebook: f1 ... f10 to write, each with a test cell of 1 point."""
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})  # fmt: skip
    nb.cells = [new_markdown_cell("Write f1 ... f10: fk(x) is k times x.",
                                  metadata=_nbgrader(locked=True, grade_id="intro"))]  # fmt: skip
    for k in range(1, TEST_CELLS + 1):
        nb.cells += [
            new_code_cell(f"def f{k}(x):\n    ### BEGIN SOLUTION\n    return {k} * x\n"
                          "    ### END SOLUTION",
                          metadata=_nbgrader(solution=True, grade_id=f"answer{k}")),
            new_code_cell(f"assert f{k}(1) == {k}\n### BEGIN HIDDEN TESTS\n"
                          f"assert f{k}(3) == {3 * k}\n### END HIDDEN TESTS",
                          metadata=_nbgrader(grade=True, locked=True, grade_id=f"test{k}",
                                             points=1)),
        ]  # fmt: skip
    return nbformat.writes(nb)


def answered(given, wrong):
    """The student's notebook: every function right except f<wrong>."""
    nb = nbformat.reads(given, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("answer"):
            k = int(grade_id.removeprefix("answer"))
            cell.source = f"def f{k}(x):\n    return {k + 1 if k == wrong else k} * x"
    return nbformat.writes(nb)


# --- what the node spends ---------------------------------------------------------------


def process_kind(cmdline):
    """What a process of the hub's tree is, from its command line."""
    line = " ".join(cmdline)
    if line.startswith("timeout "):
        return "timeout"
    for needle, kind in (
        ("smchub.autograde grade", GRADER),
        ("smchub.autograde release", "release program (course project)"),
        ("nbgrader generate_assignment", "nbgrader generate_assignment"),
        ("nbgrader autograde", "nbgrader autograde"),
        ("alembic", "alembic (nbgrader's gradebook)"),
        ("ipykernel", "kernel"),
        ("jupyterhub.singleuser", "project servers"),
        ("smchub.spawners.forkserver", "fork server"),
        ("restic", "restic (snapshots)"),
        ("configurable-http-proxy", "proxy"),
    ):
        if needle in line:
            return kind
    return os.path.basename(cmdline[0]) if cmdline else "?"


def _mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


class NodeWatch(threading.Thread):
    """Samples the hub's process tree: CPU per process (every 100 ms), PSS of the tree
    and MemAvailable (every 500 ms). A thread, so that reading /proc never waits on the
    bench's event loop, nor delays it."""

    def __init__(self, hub_pid):
        super().__init__(daemon=True)
        self.hub = psutil.Process(hub_pid)
        self.cpu = {}  # pid: (kind, CPU seconds at the last reading, parent's pid)
        self.pss_peak = 0
        self.available_low = None
        self.halt = threading.Event()

    def tick(self, with_memory):
        try:
            tree = self.hub.children(recursive=True)
        except psutil.Error:
            return
        pss = pss_bytes(self.hub.pid) if with_memory else 0
        for process in tree:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    kind = process_kind(process.cmdline())
                    parent = process.ppid()
            except psutil.Error:
                continue
            # a process ended but not yet reaped has no command line left, and its whole
            # CPU time: it keeps the kind it was seen as
            if kind == "?" and process.pid in self.cpu:
                kind = self.cpu[process.pid][0]
            self.cpu[process.pid] = (kind, times.user + times.system, parent)
            if with_memory:
                pss += pss_bytes(process.pid)
        if with_memory:
            self.pss_peak = max(self.pss_peak, pss)
            available = _mem_available()
            self.available_low = min(self.available_low or available, available)

    def run(self):
        ticks = 0
        while not self.halt.wait(0.1):
            self.tick(ticks % 5 == 0)
            ticks += 1

    def stop(self):
        self.halt.set()
        self.join()

    def cpu_by_kind(self):
        totals = {}
        for kind, seconds, parent in self.cpu.values():
            if kind == GRADER and self.cpu.get(parent, ("",))[0] == GRADER:
                # the grade program forks a child per notebook, which runs nbgrader's
                # autograde (its kernel is a process of its own)
                kind = "nbgrader autograde (fork of the grade program)"
            totals[kind] = totals.get(kind, 0.0) + seconds
        return totals


# --- the class --------------------------------------------------------------------------


async def _ok(response, expected=(200, 201, 202)):
    if response.status_code not in expected:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")  # fmt: skip
    return response.json() if response.content else None


async def _running(client, project_id):
    await _ok(await client.post(f"/hub/api/projects/{project_id}/start"))
    for _ in range(600):
        project = await _ok(await client.get(f"/hub/api/projects/{project_id}"))
        if project["state"] == "running":
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"project {project_id} did not start in 60 s")


async def _job(client, course_id, job, timeout=1800):
    """The job once finished, polled as the course page does."""
    deadline = time.monotonic() + timeout
    while not job["finished"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{job['step']} not finished after {timeout} s: {job['done']} done")
        await asyncio.sleep(0.3)
        job = await _ok(await client.get(f"/hub/api/courses/{course_id}/jobs/{job['id']}"))
    return job


async def _step(client, course_id, assignment_id, step):
    url = f"/hub/api/courses/{course_id}/assignments/{assignment_id}/{step}"
    tic = time.perf_counter()
    job = await _job(client, course_id, await _ok(await client.post(url, json={})))
    return job, time.perf_counter() - tic


def _write_answers(hub, students):
    """Each student's answer, written into the notebook assign gave them, as their
    project's account (their projects are stopped: no server to go through)."""
    for i, student in enumerate(students):
        home = hub.home(student["project"])
        path = os.path.join(home, ASSIGNMENT, NOTEBOOK)
        with open(path) as f:
            given = f.read()
        with open(path, "w") as f:
            f.write(answered(given, wrong=i % TEST_CELLS + 1))
        owner = os.stat(home)
        os.chown(path, owner.st_uid, owner.st_gid)


async def _class(hub, client, students):
    """The course with `students` students and the autograded assignment, collected."""
    names = [f"student{i:02d}" for i in range(students)]
    await _ok(await client.post("/hub/api/users", json={"usernames": names}))
    project = await _ok(await client.post("/hub/api/projects", json={"title": "A class"}))
    hub.servers.append(project["id"])
    made = {"project": project["id"], "title": "A class"}
    course = await _ok(await client.post("/hub/api/courses", json=made))
    answer = await _ok(await client.post(f"/hub/api/courses/{course['id']}/students",
                                         json={"students": names}))  # fmt: skip
    students = answer["course"]["students"]
    hub.servers += [s["project"] for s in students]
    await _running(client, project["id"])
    for path, body in ((ASSIGNMENT, {"type": "directory"}),
                       (f"{ASSIGNMENT}/{NOTEBOOK}", {"type": "file", "format": "text",
                                                     "content": source_notebook()})):  # fmt: skip
        await _ok(await client.put(hub.server_url(project["id"], f"api/contents/{path}"),
                                   json=body))  # fmt: skip
    course = await _ok(await client.post(f"/hub/api/courses/{course['id']}/assignments",
                                         json={"path": ASSIGNMENT}))  # fmt: skip
    assignment_id = course["assignments"][0]["id"]
    await _ok(await client.post(f"/hub/api/projects/{project['id']}/stop"))
    return course["id"], assignment_id, students


def _failed(job):
    return [f"{f['name']}: {f['error']}" for f in job["failed"]]


async def autograde_benchmark(root, students=STUDENTS):
    hub = AutogradeHub(os.path.join(root, "autograde"))
    results = {"students": students, "test_cells": TEST_CELLS}
    try:
        await hub.start()
        async with hub.client() as client:
            course_id, assignment_id, people = await _class(hub, client, students)
            # the default, which this hub keeps
            results["course_parallelism"] = SMCHub.course_parallelism.default_value
            job, results["assign_seconds"] = await _step(client, course_id, assignment_id,
                                                         "assign")  # fmt: skip
            if job["failed"]:
                raise RuntimeError(f"assign failed for {_failed(job)[:3]}")
            _write_answers(hub, people)
            job, results["collect_seconds"] = await _step(client, course_id, assignment_id,
                                                          "collect")  # fmt: skip
            if job["failed"]:
                raise RuntimeError(f"collect failed for {_failed(job)[:3]}")
            # what the machine had available before the job, over two seconds
            before = []
            for _ in range(5):
                before.append(_mem_available())
                await asyncio.sleep(0.4)
            hub_process = psutil.Process(hub.pid)
            hub_cpu = sum(hub_process.cpu_times()[:2])
            watch = NodeWatch(hub.pid)
            watch.start()
            results["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
            try:
                job, seconds = await _step(client, course_id, assignment_id, "autograde")
            finally:
                watch.stop()
            results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            results["wall_seconds"] = round(seconds, 1)
            results["failures"] = _failed(job)
            results["succeeded"] = len(job["succeeded"])
            course = await _ok(await client.get(f"/hub/api/courses/{course_id}"))
            scores = [s["work"][str(assignment_id)]["autograde"] for s in course["students"]]
            # each student wrote one function wrong: 9 of 10 for every one graded
            results["scores_as_expected"] = sum(
                1 for s in scores if s and s["score"] == TEST_CELLS - 1
            )
        cpu = watch.cpu_by_kind()
        cpu["hub"] = sum(hub_process.cpu_times()[:2]) - hub_cpu
        graded = max(results["succeeded"], 1)
        results["cpu_seconds"] = {k: round(v, 2) for k, v in sorted(cpu.items())}
        results["cpu_seconds_per_student"] = {k: round(v / graded, 3)
                                              for k, v in sorted(cpu.items())}  # fmt: skip
        results["cpu_seconds_total"] = round(sum(cpu.values()), 1)
        results["peak_pss_mib"] = round(watch.pss_peak / MIB, 1)
        baseline = statistics.median(before)
        drop = baseline - (watch.available_low if watch.available_low is not None else baseline)
        results["mem_available_drop_mib"] = round(max(drop, 0) / MIB, 1)
    finally:
        await hub.stop()
        hub.remove_accounts()
    return results
