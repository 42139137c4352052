"""Snapshots of local projects: taken when a project stops, on demand and on a timer,
browsed, downloaded and restored by its collaborators, and a deleted project undeleted.

Everything goes through the real hub, its real project servers and Debian's restic.
"""

import asyncio
import gzip
import io
import os
import tarfile

import pytest

from .hubfixture import RunningHub, remove_project_accounts

pytestmark = pytest.mark.timeout(300)

MAKE_WORK = """
import os
os.makedirs("notes/old", exist_ok=True)
open("notes/a.txt", "w").write("first draft\\n")
open("notes/old/b.txt", "w").write("kept for later\\n")
open("essay.md", "w").write("# Essay\\n")
os.symlink("/etc", "etc-link")
print("ok")
"""


@pytest.fixture(scope="module")
async def shub(hub_root):
    root = os.path.join(hub_root, "snapshots")
    # two local nodes, so that a project can move between them
    nodes = [
        {"name": "local", "backend": "local", "cpu": 8, "memory_mb": 64000},
        {
            "name": "local-b",
            "backend": "local",
            "cpu": 8,
            "memory_mb": 64000,
            "options": {"projects_root": os.path.join(root, "b", "projects")},
        },
    ]
    running = RunningHub(
        root,
        SMCHub__snapshot_interval=0,
        SMCHub__max_running_per_person=0,
        SMCHub__compute_nodes=nodes,
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
        remove_project_accounts(running.project_ids())


async def snapshots(person, pid):
    r = await person.api("GET", f"projects/{pid}/snapshots")
    assert r.status_code == 200, r.text
    return r.json()


async def wait_for_snapshot(person, pid, count, timeout=60):
    """The project's snapshots once it has `count` (the stop snapshot is in the background)."""
    for _ in range(int(timeout * 5)):
        listed = await snapshots(person, pid)
        if len(listed["snapshots"]) >= count and not listed["running"]:
            return listed
        await asyncio.sleep(0.2)
    raise AssertionError(f"project {pid} has {listed}, not {count} snapshots")


async def project_with_work(person):
    pid = (await person.create_project("Thesis"))["id"]
    await person.start_project(pid)
    assert (await person.execute(pid, MAKE_WORK)).strip() == "ok"
    return pid


async def read_file(person, pid, path):
    return (await person.execute(pid, f"print(open({path!r}).read(), end='')")).rstrip("\n")


async def test_a_stop_takes_a_snapshot_that_brings_back_deleted_and_changed_work(shub):
    ada = await shub.person()
    pid = await project_with_work(ada)
    await ada.stop_project(pid)
    listed = await wait_for_snapshot(ada, pid, 1)
    snap = listed["snapshots"][0]
    assert snap["trigger"] == "stop"
    assert snap["files_new"] >= 3
    assert listed["error"] is None

    await ada.start_project(pid)
    await ada.execute(
        pid,
        "import os, shutil; shutil.rmtree('notes/old'); "
        "open('notes/a.txt', 'w').write('second draft\\n')",
    )
    r = await ada.api(
        "POST", f"projects/{pid}/snapshots/{snap['short_id']}/restore", {"path": "notes"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["kept"] == ["notes/a.txt~"]
    assert await read_file(ada, pid, "notes/old/b.txt") == "kept for later"
    assert await read_file(ada, pid, "notes/a.txt") == "first draft"
    assert await read_file(ada, pid, "notes/a.txt~") == "second draft"
    # and the person sees the kept copy in the file browser (jupyter-server hides name~)
    r = await ada.client.get(shub.project_url(pid, "api/contents/notes"))
    assert "a.txt~" in [entry["name"] for entry in r.json()["content"]]
    # restored files belong to the project's own account
    owners = await ada.execute(
        pid, "import os; print(os.stat('notes/old/b.txt').st_uid == os.getuid())"
    )
    assert owners.strip() == "True"


async def test_browse_download_and_snapshot_now(shub):
    ada = await shub.person()
    pid = await project_with_work(ada)
    r = await ada.api("POST", f"projects/{pid}/snapshots")
    assert r.status_code == 201, r.text
    snap = r.json()
    assert snap["trigger"] == "manual"
    sid = snap["id"]

    r = await ada.api("GET", f"projects/{pid}/snapshots/{sid}/files")
    assert r.status_code == 200, r.text
    names = {e["name"]: e["type"] for e in r.json()["entries"]}
    assert names["notes"] == "dir" and names["essay.md"] == "file"
    assert names["etc-link"] == "symlink"
    r = await ada.api("GET", f"projects/{pid}/snapshots/{sid}/files", params={"path": "notes"})
    assert [e["path"] for e in r.json()["entries"]] == ["notes/old", "notes/a.txt"]

    r = await ada.api("GET", f"projects/{pid}/snapshots/{sid}/files/notes/a.txt")
    assert r.status_code == 200 and r.content == b"first draft\n"
    assert "a.txt" in r.headers["content-disposition"]
    r = await ada.api("GET", f"projects/{pid}/snapshots/{sid}/files/notes")
    assert r.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(r.content))) as tar:
        members = {m.name.lstrip("./") for m in tar.getmembers() if m.isfile()}
    assert {"notes/a.txt", "notes/old/b.txt"} <= {m if m.startswith("notes") else "notes/" + m
                                                  for m in members}  # fmt: skip

    r = await ada.api("GET", f"projects/{pid}/snapshots/{sid}/files/nothing-here")
    assert r.status_code == 404 and "has no nothing-here" in r.json()["message"]


async def test_restore_into_a_stopped_project_and_to_another_name(shub):
    ada = await shub.person()
    pid = await project_with_work(ada)
    await ada.stop_project(pid)
    sid = (await wait_for_snapshot(ada, pid, 1))["snapshots"][0]["id"]
    r = await ada.api(
        "POST",
        f"projects/{pid}/snapshots/{sid}/restore",
        {"path": "essay.md", "target_path": "restored/essay-then.md"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["files"] == 1
    assert (await ada.wait_for_state(pid, "stopped"))["state"] == "stopped"
    await ada.start_project(pid)
    assert await read_file(ada, pid, "restored/essay-then.md") == "# Essay"


async def test_restore_paths_cannot_leave_the_snapshot_or_the_home(shub):
    ada = await shub.person()
    pid = await project_with_work(ada)
    sid = (await ada.api("POST", f"projects/{pid}/snapshots")).json()["id"]
    url = f"projects/{pid}/snapshots/{sid}/restore"
    for body, words in [
        ({"path": "../../etc/passwd"}, "'..'"),
        ({"path": "/etc/passwd"}, "relative"),
        ({"path": "notes", "target_path": "../elsewhere"}, "'..'"),
        ({"path": "etc-link"}, "symlink"),
        ({"path": "etc-link/passwd"}, "has no"),
        ({"path": "essay.md", "target_path": ""}, "whole home"),
    ]:
        r = await ada.api("POST", url, body)
        assert r.status_code in (400, 404), (body, r.text)
        assert words in r.json()["message"], (body, r.text)
    # a folder planted as a link in the home is not followed by a restore
    await ada.execute(pid, "import os; os.symlink('/root', 'planted')")
    r = await ada.api("POST", url, {"path": "notes/a.txt", "target_path": "planted/a.txt"})
    assert r.status_code == 400, r.text
    assert "symbolic link" in r.json()["message"]
    assert not os.path.exists("/root/a.txt")


async def test_only_collaborators_reach_snapshots(shub):
    ada = await shub.person()
    bob = await shub.person()
    eve = await shub.person()
    pid = await project_with_work(ada)
    r = await ada.api("PUT", f"projects/{pid}/collaborators/{bob.name}")
    assert r.status_code == 202, r.text
    invitation = (await bob.api("GET", "invitations")).json()[0]["id"]
    assert (await bob.api("POST", f"invitations/{invitation}/accept")).status_code == 200
    sid = (await ada.api("POST", f"projects/{pid}/snapshots")).json()["id"]
    other = await project_with_work(eve)
    other_sid = (await eve.api("POST", f"projects/{other}/snapshots")).json()["id"]

    paths = [
        ("GET", f"projects/{pid}/snapshots", None),
        ("POST", f"projects/{pid}/snapshots", None),
        ("GET", f"projects/{pid}/snapshots/{sid}/files", None),
        ("GET", f"projects/{pid}/snapshots/{sid}/files/essay.md", None),
        ("POST", f"projects/{pid}/snapshots/{sid}/restore", {"path": "essay.md"}),
    ]
    for method, path, body in paths:
        for person, expected in [(ada, 2), (bob, 2), (shub.admin, 2), (eve, 404)]:
            r = await person.api(method, path, body)
            ok = r.status_code // 100 == 2 if expected == 2 else r.status_code == expected
            assert ok, (person.name, method, path, r.status_code, r.text)
        r = await shub.anonymous().api(method, path, body)
        assert r.status_code == 403, (method, path, r.text)
    # a snapshot of another project is not reachable through this one
    r = await ada.api("GET", f"projects/{pid}/snapshots/{other_sid}/files")
    assert r.status_code == 404
    for bad in ["x" * 5000, "zzzzzzzz", "1234"]:
        r = await ada.api("GET", f"projects/{pid}/snapshots/{bad}/files")
        assert r.status_code == 404, r.text


async def test_interval_snapshots_are_kept_only_when_files_changed(shub):
    ada = await shub.person()
    pid = await project_with_work(ada)
    app = shub.app
    # the first is kept; the next, with nothing changed, is not
    assert await app.snapshots.take(_project(app, pid), "interval") is not None
    assert await app.snapshots.take(_project(app, pid), "interval") is None
    await ada.execute(pid, "open('essay.md', 'a').write('more\\n')")
    row = await app.snapshots.take(_project(app, pid), "interval")
    assert row is not None and row.files_changed >= 1
    listed = await snapshots(ada, pid)
    assert [s["trigger"] for s in listed["snapshots"]] == ["interval", "interval"]


def home_of(shub, pid):
    app = shub.app
    return app.backend_for(_project(app, pid).node).home_for(pid)


def _project(app, pid):
    from smchub import orm

    return app.db.get(orm.Project, pid)


async def test_a_deleted_project_comes_back_with_its_files(shub):
    ada = await shub.person()
    bob = await shub.person()
    pid = await project_with_work(ada)
    r = await ada.api("PUT", f"projects/{pid}/collaborators/{bob.name}")
    invitation = (await bob.api("GET", "invitations")).json()[0]["id"]
    assert (await bob.api("POST", f"invitations/{invitation}/accept")).status_code == 200
    assert (await ada.api("DELETE", f"projects/{pid}")).status_code == 204
    assert (await ada.api("GET", f"projects/{pid}")).status_code == 404

    deleted = (await ada.api("GET", "projects/deleted")).json()["projects"]
    assert [(p["id"], p["title"]) for p in deleted] == [(pid, "Thesis")]
    assert deleted[0]["snapshots"] >= 1
    # only its owner sees it there, and only its owner (or an admin) brings it back
    assert (await bob.api("GET", "projects/deleted")).json()["projects"] == []
    assert (await bob.api("POST", f"projects/{pid}/undelete")).status_code == 404

    # its home is gone from the node: the snapshot brings the files back
    home = home_of(shub, pid)
    os.rename(home, home + ".lost")
    r = await ada.api("POST", f"projects/{pid}/undelete")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == pid
    assert (await ada.api("GET", "projects/deleted")).json()["projects"] == []
    await bob.start_project(pid)
    assert await read_file(bob, pid, "notes/old/b.txt") == "kept for later"
    assert (await ada.api("POST", f"projects/{pid}/undelete")).status_code == 404


async def test_a_move_takes_a_snapshot_before_the_home_leaves(shub):
    ada = await shub.person()
    pid = await project_with_work(ada)
    node = (await ada.api("GET", f"projects/{pid}")).json()["node"]
    other = "local-b" if node == "local" else "local"
    r = await shub.admin.api("POST", f"projects/{pid}/move", {"node": other})
    assert r.status_code == 200, r.text
    listed = await snapshots(ada, pid)
    assert [s["trigger"] for s in listed["snapshots"]] == ["move"]
    assert listed["snapshots"][0]["node"] == node
    # after the move, a restore goes to the home on the new node
    await ada.execute(pid, "import os; os.remove('essay.md')")
    sid = listed["snapshots"][0]["id"]
    r = await ada.api("POST", f"projects/{pid}/snapshots/{sid}/restore", {"path": "essay.md"})
    assert r.status_code == 200, r.text
    assert await read_file(ada, pid, "essay.md") == "# Essay"
    assert home_of(shub, pid).startswith(os.path.dirname(shub.app.backend_for(other).projects_root))


async def test_a_snapshot_that_fails_never_stops_a_project(hub_root):
    """The repository cannot be written: projects still start and stop, and its page and
    the metrics show the failure."""
    hub = RunningHub(
        os.path.join(hub_root, "snapshots-broken"),
        SMCHub__snapshot_interval=0,
        SMCHub__snapshot_repository="/dev/null/no-repository-here",
    )
    await hub.start()
    try:
        ada = await hub.person()
        pid = (await ada.create_project("Still works"))["id"]
        await ada.start_project(pid)
        await ada.stop_project(pid)
        for _ in range(100):
            listed = await snapshots(ada, pid)
            if listed["error"]:
                break
            await asyncio.sleep(0.2)
        assert listed["snapshots"] == []
        assert "/dev/null/no-repository-here" in listed["error"]["message"]
        await ada.start_project(pid)
        r = await ada.api("POST", f"projects/{pid}/snapshots")
        assert r.status_code == 503 and "The snapshot failed" in r.json()["message"]
        await ada.stop_project(pid)
        metrics = (await hub.admin.client.get("/hub/metrics")).text
        failed = [
            line
            for line in metrics.splitlines()
            if line.startswith("smchub_snapshots_total") and 'outcome="failed"' in line
        ]
        assert failed and sum(float(line.split()[-1]) for line in failed) >= 2
    finally:
        await hub.stop()
        remove_project_accounts(hub.project_ids())


async def test_projects_cannot_read_the_repository_or_its_password(shub):
    ada = await shub.person()
    pid = await project_with_work(ada)
    assert (await ada.api("POST", f"projects/{pid}/snapshots")).status_code == 201
    app = shub.app
    paths = [
        app.snapshot_repository_location,
        os.path.join(app.snapshot_repository_location, "config"),
        app.snapshot_password_location,
        os.path.join(os.path.abspath(app.data_dir), "snapshot-cache"),
    ]
    for path in paths:
        assert os.path.exists(path), path
    probe = (
        "import os\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        os.listdir(path) if os.path.isdir(path) else open(path).read()\n"
        "        print('READ', path)\n"
        "    except PermissionError:\n"
        "        print('refused')\n"
    )
    assert (await ada.execute(pid, probe)).split() == ["refused"] * len(paths)


async def test_a_repository_that_went_away_is_not_silently_made_anew(hub_root):
    """Snapshots exist, then the repository's storage goes away (an unmounted share):
    the next snapshot fails visibly instead of starting an empty repository there."""
    root = os.path.join(hub_root, "snapshots-unmounted")
    hub = RunningHub(root, SMCHub__snapshot_interval=0)
    await hub.start()
    try:
        ada = await hub.person()
        pid = await project_with_work(ada)
        assert (await ada.api("POST", f"projects/{pid}/snapshots")).status_code == 201
        repository = hub.app.snapshot_repository_location
        os.rename(repository, repository + ".away")
        hub.app.snapshots.restic._ready = None  # as after a hub restart
        r = await ada.api("POST", f"projects/{pid}/snapshots")
        assert r.status_code == 503, r.text
        assert "is missing" in r.json()["message"]
        assert not os.path.exists(repository)
        os.rename(repository + ".away", repository)
        assert (await ada.api("POST", f"projects/{pid}/snapshots")).status_code == 201
        assert len((await snapshots(ada, pid))["snapshots"]) == 2
    finally:
        await hub.stop()
        remove_project_accounts(hub.project_ids())


async def test_daily_upkeep_applies_the_policy_and_ends_deleted_projects(hub_root):
    root = os.path.join(hub_root, "snapshots-upkeep")
    # a deleted project may come back for about 2 seconds
    hub = RunningHub(
        root,
        SMCHub__snapshot_interval=0,
        SMCHub__snapshot_keep={"last": 2},
        SMCHub__deleted_retention_days=2 / 86400,
    )
    await hub.start()
    try:
        ada = await hub.person()
        kept = await project_with_work(ada)
        for i in range(4):
            await ada.execute(kept, f"open('essay.md', 'a').write('{i}')")
            assert (await ada.api("POST", f"projects/{kept}/snapshots")).status_code == 201
        gone = await project_with_work(ada)
        assert (await ada.api("DELETE", f"projects/{gone}")).status_code == 204
        await asyncio.sleep(2.5)
        assert (await ada.api("GET", "projects/deleted")).json()["projects"] == []
        assert (await ada.api("POST", f"projects/{gone}/undelete")).status_code == 404

        await hub.app.snapshots.maintain()
        listed = (await snapshots(ada, kept))["snapshots"]
        assert len(listed) == 2
        in_repository = await hub.app.snapshots.restic.snapshots()
        assert {s["id"] for s in in_repository} == {s["id"] for s in listed}
    finally:
        await hub.stop()
        remove_project_accounts(hub.project_ids())
