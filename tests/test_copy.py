"""Copying files between projects through the hub, streamed from server to server."""

import psutil
import pytest

pytestmark = pytest.mark.timeout(600)

MAKE_TREE = """
import os
os.makedirs("course/week1/data", exist_ok=True)
open("course/README.md", "w").write("# Course\\n")
open("course/week1/notes.txt", "w").write("notes " * 1000)
open("course/week1/data/blob.bin", "wb").write(bytes(range(256)) * 4096)
os.symlink("notes.txt", "course/week1/latest.txt")
print("made")
"""

READ_TREE = """
import hashlib, os
for root, dirs, files in sorted(os.walk("{path}")):
    for name in sorted(files):
        p = os.path.join(root, name)
        print(os.path.relpath(p, "{path}"), os.path.islink(p),
              hashlib.sha256(open(p, "rb").read()).hexdigest()[:16])
"""


async def tree(person, pid, path):
    return sorted((await person.execute(pid, READ_TREE.format(path=path))).splitlines())


async def test_copy_a_folder_between_running_projects(hub):
    alice = await hub.person()
    source = (await alice.create_project("Source"))["id"]
    target = (await alice.create_project("Target"))["id"]
    await alice.start_project(source)
    await alice.start_project(target)
    try:
        assert (await alice.execute(source, MAKE_TREE)).strip() == "made"
        r = await alice.api(
            "POST",
            f"projects/{source}/copy",
            {"path": "course", "target_project": target, "target_path": "from-source"},
        )
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["files"] >= 4
        assert result["bytes"] >= 256 * 4096
        # a target that does not exist names the copy, as with cp -r
        assert result["target"]["path"] == "from-source"
        assert await tree(alice, target, "from-source") == await tree(alice, source, "course")
        # the symlink arrives as a symlink, pointing inside the copy
        listing = await tree(alice, target, "from-source")
        assert any(line.startswith("week1/latest.txt True") for line in listing)
    finally:
        await alice.stop_project(source)
        await alice.stop_project(target)


CP_CASES = """
import os
os.makedirs("hw/data", exist_ok=True)
os.makedirs("box", exist_ok=True)
open("a.txt", "w").write("A")
open("hw/q.md", "w").write("Q")
open("hw/data/x.csv", "w").write("x")
open("old.txt", "w").write("old")
print("made")
"""

LIST = """
import os
for root, dirs, files in sorted(os.walk(".")):
    if "/." in root or root.startswith("./."):
        continue
    for name in sorted(files):
        if not name.startswith("."):
            p = os.path.join(root, name)[2:]
            print(p, open(p).read())
"""


async def test_copy_follows_cp(hub):
    """target_path names the copy; an existing folder receives it inside; a file there is
    replaced and kept as name~; a folder never replaces a file."""
    alice = await hub.person()
    pid = (await alice.create_project("cp"))["id"]
    await alice.start_project(pid)

    async def copy(path, target_path):
        body = {"path": path, "target_project": pid, "target_path": target_path}
        return await alice.api("POST", f"projects/{pid}/copy", body)

    try:
        assert (await alice.execute(pid, CP_CASES)).strip() == "made"
        for path, target_path, landed in [
            ("a.txt", "b.txt", "b.txt"),  # file -> new name
            ("a.txt", "box", "box/a.txt"),  # file -> existing folder
            ("hw", "hw2", "hw2"),  # folder -> new name
            ("hw", "box", "box/hw"),  # folder -> existing folder
            ("a.txt", "old.txt", "old.txt"),  # file -> existing file: replaced, kept
        ]:
            r = await copy(path, target_path)
            assert r.status_code == 200, (path, target_path, r.text)
            assert r.json()["target"]["path"] == landed
        files = dict(line.split(" ", 1) for line in (await alice.execute(pid, LIST)).splitlines())
        assert files == {
            "a.txt": "A", "b.txt": "A", "old.txt": "A", "old.txt~": "old",
            "box/a.txt": "A", "box/hw/q.md": "Q", "box/hw/data/x.csv": "x",
            "hw/q.md": "Q", "hw/data/x.csv": "x", "hw2/q.md": "Q", "hw2/data/x.csv": "x",
        }  # fmt: skip
        r = await copy("hw", "a.txt")
        assert r.status_code == 409 and "cannot replace" in r.json()["message"], r.text
        r = await copy("nothing-here", "x")
        assert r.status_code == 404 and "nothing-here" in r.json()["message"], r.text
    finally:
        await alice.stop_project(pid)


async def test_copy_into_a_stopped_project_starts_it(hub):
    alice = await hub.person()
    source = (await alice.create_project("Source"))["id"]
    target = (await alice.create_project("Stopped target"))["id"]
    await alice.start_project(source)
    try:
        await alice.execute(source, MAKE_TREE)
        r = await alice.api(
            "POST",
            f"projects/{source}/copy",
            {"path": "course/README.md", "target_project": target},
        )
        assert r.status_code == 200, r.text
        assert r.json()["files"] == 1
        assert (await alice.api("GET", f"projects/{target}")).json()["state"] == "running"
        r = await alice.client.get(hub.project_url(target, "api/contents/README.md"))
        assert r.json()["content"] == "# Course\n"
    finally:
        await alice.stop_project(source)
        await alice.stop_project(target)


async def test_copy_needs_both_projects_and_good_paths(hub):
    alice = await hub.person()
    bob = await hub.person()
    source = (await alice.create_project("Mine"))["id"]
    theirs = (await bob.create_project("Theirs"))["id"]
    r = await alice.api("POST", f"projects/{source}/copy", {"path": "x", "target_project": theirs})
    assert r.status_code == 404
    r = await bob.api("POST", f"projects/{source}/copy", {"path": "x", "target_project": theirs})
    assert r.status_code == 404
    for body in [{"path": "x"}, {"path": 3, "target_project": source}, {"target_project": source},
                 {"path": "", "target_project": source}]:  # fmt: skip
        r = await alice.api("POST", f"projects/{source}/copy", body)
        assert r.status_code == 400, (body, r.text)
    await alice.start_project(source)
    try:
        r = await alice.api(
            "POST",
            f"projects/{source}/copy",
            {"path": "missing", "target_project": source, "target_path": "elsewhere"},  # fmt: skip
        )
        assert r.status_code == 404, r.text
        assert "missing" in r.json()["message"]
        r = await alice.api(
            "POST", f"projects/{source}/copy", {"path": "../../etc", "target_project": source}
        )
        assert r.status_code == 400, r.text
        r = await alice.api(
            "POST",
            f"projects/{source}/copy",
            {"path": ".", "target_project": source, "target_path": "/etc"},  # fmt: skip
        )
        assert r.status_code == 400, r.text
    finally:
        await alice.stop_project(source)


async def test_a_200_mb_folder_streams_through_the_hub(hub):
    alice = await hub.person()
    source = (await alice.create_project("Big"))["id"]
    target = (await alice.create_project("Big copy"))["id"]
    # room for the copy on disk and in memory: the server unpacking it is in a cgroup
    for pid in (source, target):
        await hub.admin.api("PATCH", f"projects/{pid}", {"quotas": {"memory_mb": 1000}})
        await alice.start_project(pid)
    try:
        out = await alice.execute(
            source,
            "import os\nos.makedirs('big')\n"
            "for i in range(20):\n"
            "    open(f'big/part{i}.bin', 'wb').write(os.urandom(10 * 2**20))\n"
            "print('ok')",
        )
        assert out.strip() == "ok"
        hub_process = psutil.Process()  # the hub runs in this process
        before = hub_process.memory_info().rss
        r = await alice.api(
            "POST", f"projects/{source}/copy", {"path": "big", "target_project": target}
        )
        assert r.status_code == 200, r.text
        grown = hub_process.memory_info().rss - before
        assert r.json()["bytes"] == 200 * 2**20
        assert r.json()["files"] == 20
        assert grown < 60 * 2**20, f"the hub grew by {grown / 2**20:.0f} MB"
        sums = await alice.execute(
            target, "import os; print(sum(os.path.getsize('big/' + f) for f in os.listdir('big')))"
        )
        assert int(sums) == 200 * 2**20
    finally:
        await alice.stop_project(source)
        await alice.stop_project(target)
