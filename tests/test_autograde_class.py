"""Autograding a class of 100 on the local node: a few students at a time
(c.SMCHub.course_parallelism, at its default), one student whose project cannot start
failed with the reason while the other 99 are graded, then that student retried alone
once the cause is fixed.

It takes 6.5 to 7.5 minutes on 2 cores shared with other work (assign 150-170 s, most of
it the snapshot taken of each project before; collect about 20 s; autograde 220-250 s):
grading is CPU-bound, about 4.4 s of CPU per student (benchmarks/README.md, "Autograding a
class", says where it goes)."""

import os
import threading
import time

import pytest

from smchub import orm
from smchub.app import SMCHub

from .test_autograde import answered, home, source_notebook
from .test_deadlines import Course, put_file

pytestmark = pytest.mark.timeout(1500)

CLASS_SIZE = 100
# one student in ten answers wrong, so each score is seen to be the student's own
WRONG_EVERY = 10
# an admin's slip: a memory quota in KB typed as MB, more than any node holds
TOO_MUCH_MEMORY_MB = 1_000_000
# the grading program, as the hub runs it in each student's project (autograde.grade_command)
GRADER = b"\0-m\0smchub.grader\0grade\0"


class GradersWatch(threading.Thread):
    """Counts, every 50 ms, the grading programs running as the given Unix accounts (the
    class's projects): what the parallelism bound allows to run at once is seen from
    outside the hub. A thread, so that reading /proc never holds the hub's event loop."""

    def __init__(self, uids):
        super().__init__(daemon=True)
        self.uids = set(uids)
        self.samples = []
        self.halt = threading.Event()

    def running(self):
        graders = {}  # pid: parent's pid
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.stat(f"/proc/{pid}").st_uid not in self.uids:
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{pid}/stat", "rb") as f:
                    parent = f.read().rsplit(b")", 1)[1].split()[1].decode()
            except (OSError, IndexError):
                continue  # it ended meanwhile
            # `timeout` runs the grader with the same arguments: the Python process counts
            if GRADER in cmdline and not cmdline.startswith(b"timeout\0"):
                graders[pid] = parent
        # a grader's child between fork and exec still shows the grader's command line
        return sum(1 for parent in graders.values() if parent not in graders)

    def run(self):
        while not self.halt.wait(0.05):
            self.samples.append(self.running())

    def stop(self):
        self.halt.set()
        self.join()


def most_at_once(intervals):
    """The largest number of (start, end) intervals that overlap at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in events:  # an end sorts before a start at the same moment
        now += step
        most = max(most, now)
    return most


def answer_on_disk(course, project, kind):
    """The student writes their answer into the notebook assign gave them, as the
    project's own account (their project is stopped: no server to go through)."""
    path = os.path.join(home(course, project), "hw1", "square.ipynb")
    with open(path) as f:
        given = f.read()
    with open(path, "w") as f:
        f.write(answered(given, kind))
    owner = os.stat(home(course, project))
    os.chown(path, owner.st_uid, owner.st_gid)


@pytest.fixture
async def course(hub):
    course = await Course.make(hub, CLASS_SIZE)
    yield course
    # whatever a failed assertion left running
    for _, _, project in [*course.students.values(), (None, None, course.course_project)]:
        user = hub.app.servers.cached_user(project)
        if user is not None and user.spawner.active:
            await hub.app.servers.stop(user, wait=True)


async def test_a_class_of_100_is_autograded_a_few_at_a_time_and_one_failure_retried(course):
    hub = course.hub
    took = {}
    tic = time.monotonic()
    await put_file(hub, course.instructor, course.course_project, "hw1/square.ipynb",
                   source_notebook())  # fmt: skip
    hw = await course.assignment()
    # the default 30 s per cell is for a class's machines; here 100 gradings share 2 cores
    # with the rest of the suite, and a right answer cut at its timeout scores 0 (CI met it)
    r = await course.api("PATCH", f"assignments/{hw}",
                         {"autograde": {"cell_timeout": 120, "notebook_timeout": 480}})  # fmt: skip
    assert r.status_code == 200, r.text
    await course.step(hw, "assign")
    took["assign"] = time.monotonic() - tic
    names = list(course.students)
    kinds = {name: "wrong" if i % WRONG_EVERY == 3 else "right" for i, name in enumerate(names)}
    for name in names:
        answer_on_disk(course, course.students[name][2], kinds[name])
    tic = time.monotonic()
    await course.step(hw, "collect")
    took["collect"] = time.monotonic() - tic

    # the admin gives one student's project a memory quota no node can hold
    broken = names[len(names) // 2]
    _, broken_id, broken_project = course.students[broken]
    r = await hub.admin.api("PATCH", f"projects/{broken_project}",
                            {"quotas": {"memory_mb": TOO_MUCH_MEMORY_MB}})  # fmt: skip
    assert r.status_code == 200, r.text

    uids = {os.stat(home(course, project)).st_uid for _, _, project in course.students.values()}
    assert len(uids) == CLASS_SIZE, "each project runs as an account of its own"
    watch = GradersWatch(uids)
    watch.start()
    tic = time.monotonic()
    try:
        r = await course.api("POST", f"assignments/{hw}/autograde", {})
        assert r.status_code == 202, r.text
        job = await course.job(r.json()["id"], timeout=1200)
    finally:
        watch.stop()
    took["autograde"] = time.monotonic() - tic

    # 99 graded; the one whose project cannot start failed, saying why and what it needs
    assert job["outcome"] == "completed" and job["total"] == CLASS_SIZE, job["failed"]
    assert len(job["succeeded"]) == CLASS_SIZE - 1 and broken not in job["succeeded"]
    (failure,) = job["failed"]
    assert failure["student"] == broken_id and failure["name"] == broken, failure
    assert failure["error"].startswith("the project could not start: "), failure
    assert f"the project needs {TOO_MUCH_MEMORY_MB} MB" in failure["error"], failure
    work = await course.work(hw)
    assert work[broken]["error"] == f"autograde: {failure['error']}", work[broken]
    assert work[broken]["autograde"] is None, work[broken]
    for name in names:
        if name == broken:
            continue
        graded = work[name]["autograde"]
        assert graded is not None and not work[name]["error"], (name, work[name])
        cells = {c["cell_id"]: c for c in graded["cells"]}
        expected = 2 if kinds[name] == "right" else 0
        assert cells["test_square"]["points"] == expected, (name, kinds[name], graded)
        assert cells["test_square"]["error"] is None, (name, graded)

    # never more graders at once than c.SMCHub.course_parallelism, and more than one:
    # seen in /proc, and in the job's own record of when each student started and ended
    bound = hub.app.course_parallelism
    assert bound == SMCHub.course_parallelism.default_value, "meant for the default admins get"
    assert 1 < max(watch.samples) <= bound, sorted(set(watch.samples))
    entries = hub.db.query(orm.CourseJobStudent).filter_by(job_id=job["id"]).all()
    assert all(e.started and e.finished for e in entries)
    assert 1 < most_at_once([(e.started, e.finished) for e in entries]) <= bound
    # the servers the job started are stopped again; the hidden tests went with them
    users = [hub.app.servers.cached_user(p) for _, _, p in course.students.values()]
    assert [u.name for u in users if u is not None and u.spawner.active] == []
    for _, _, project in course.students.values():
        grading = os.path.join(home(course, project), ".smchub", "autograde")
        assert not os.path.isdir(grading) or os.listdir(grading) == [], project

    # the admin sets the quota back; the instructor retries that student alone
    usual = {"quotas": {"memory_mb": hub.app.default_quotas["memory_mb"]}}
    r = await hub.admin.api("PATCH", f"projects/{broken_project}", usual)
    assert r.status_code == 200, r.text
    tic = time.monotonic()
    r = await course.api("POST", f"assignments/{hw}/autograde", {"students": [broken_id]})
    assert r.status_code == 202, r.text
    again = await course.job(r.json()["id"])
    took["retry"] = time.monotonic() - tic
    assert again["failed"] == [] and again["succeeded"] == [broken], again
    work = (await course.work(hw))[broken]
    assert not work["error"] and work["autograde"]["score"] == 2, work
    print(f"\n{CLASS_SIZE} students, course_parallelism {bound}: "
          + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in took.items())
          + f"; graders at once (sampled) {max(watch.samples)}")  # fmt: skip
