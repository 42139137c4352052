"""PUT smc/api/archive: what is unpacked, and everything that is refused."""

import asyncio
import gzip
import json
import os
import stat
import subprocess
import tarfile

import pytest

from .tarfiles import member, tar_bytes

pytestmark = pytest.mark.asyncio(loop_scope="function")

GOOD = (member("target/ok.txt"), b"fine")


def put_archive(api, path, body, **kwargs):
    return api("smc", "api", "archive", params={"path": path}, method="PUT", body=body, **kwargs)


def open_files_under(root):
    """Files this process (the server) holds open under `root`, unnamed spools included."""
    real = os.path.realpath(root) + "/"
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(real):
            held.append(target)
    return held


def listing(root):
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, dirs, files in os.walk(root)
        for name in dirs + files
    )


async def test_unpacks_into_a_new_folder(api, home):
    body = tar_bytes(
        [
            (member("top/a.txt"), b"A"),
            # members may come without their folders
            (member("top/x/y/z.txt"), b"Z"),
            (member("top/tool", mode=0o4777), b"#!/bin/sh\n"),
            (member("top/dir", tarfile.DIRTYPE, mode=0o2777), None),
            (member("top/hard", tarfile.LNKTYPE, linkname="top/a.txt"), None),
            (member("top/soft", tarfile.SYMTYPE, linkname="x/y/z.txt"), None),
        ]
    )
    r = await put_archive(api, "new/place", body)
    assert r.code == 200, r.body
    assert json.loads(r.body) == {"path": "new/place", "files": 5, "bytes": 1 + 1 + 10}
    top = home / "new" / "place" / "top"
    assert (top / "a.txt").read_bytes() == b"A"
    assert (top / "x" / "y" / "z.txt").read_bytes() == b"Z"
    assert os.readlink(top / "soft") == "x/y/z.txt"
    assert os.stat(top / "hard").st_ino == os.stat(top / "a.txt").st_ino
    # no set-id, sticky or world-writable bits
    assert stat.S_IMODE(os.stat(top / "tool").st_mode) == 0o775
    assert stat.S_IMODE(os.stat(top / "dir").st_mode) == 0o775
    assert open_files_under(home) == []


async def test_unpacks_gzip_and_into_the_home(api, home):
    body = gzip.compress(tar_bytes([(member("hello.txt"), b"hi")]))
    r = await put_archive(api, ".", body)
    assert r.code == 200, r.body
    assert (home / "hello.txt").read_bytes() == b"hi"


async def test_replaces_files_but_never_writes_through_links(api, home, outside):
    target = home / "target"
    target.mkdir()
    (target / "ok.txt").write_text("old")
    os.symlink(outside / "secret.txt", target / "was-a-link")
    body = tar_bytes([GOOD, (member("target/was-a-link"), b"new")])
    r = await put_archive(api, ".", body)
    assert r.code == 200, r.body
    assert (target / "ok.txt").read_text() == "fine"
    # the link itself was replaced; what it pointed to is untouched
    assert not os.path.islink(target / "was-a-link")
    assert (target / "was-a-link").read_text() == "new"
    assert (outside / "secret.txt").read_text() == "not for the project"


def refusals(outside):
    """(members, phrase of the message) pairs; each puts a good member first."""
    return [
        ([(member("../evil.txt"), b"x")], "contains '..'"),
        ([(member("target/../../evil.txt"), b"x")], "contains '..'"),
        ([(member("/tmp/evil.txt"), b"x")], "is an absolute path"),
        ([(member(f"{outside}/evil.txt"), b"x")], "is an absolute path"),
        (
            [(member("target/up", tarfile.SYMTYPE, linkname="../../.."), None)],
            "points outside the target folder",
        ),
        (
            [(member("target/etc", tarfile.SYMTYPE, linkname="/etc"), None)],
            "points to an absolute path",
        ),
        (
            [(member("target/hard", tarfile.LNKTYPE, linkname="/etc/passwd"), None)],
            "is an absolute path",
        ),
        (
            [(member("target/hard", tarfile.LNKTYPE, linkname="../outside/secret.txt"), None)],
            "contains '..'",
        ),
        (
            [(member("target/hard", tarfile.LNKTYPE, linkname="target/later.txt"), None)],
            "not a file stored earlier in the archive",
        ),
        ([(member("target/tty", tarfile.CHRTYPE), None)], "is a device"),
        ([(member("target/disk", tarfile.BLKTYPE), None)], "is a device"),
        ([(member("target/fifo", tarfile.FIFOTYPE), None)], "is a FIFO"),
        (
            # the classic: a link to outside, then a file written through it
            [
                (member("target/door", tarfile.SYMTYPE, linkname="."), None),
                (member("target/door/x.txt"), b"x"),
            ],
            "lies inside 'target/door', which the archive makes a symlink",
        ),
        (
            # each link looks harmless alone; together "b" lands above the target
            [
                (member("target/a", tarfile.SYMTYPE, linkname="."), None),
                (member("target/b", tarfile.SYMTYPE, linkname="a/../.."), None),
            ],
            "climbs out of another link of the archive",
        ),
        (
            [(member("target/f"), b"x"), (member("target/f/g"), b"y")],
            "lies inside 'target/f', which the archive makes a file",
        ),
        (
            [(member("target/d/e"), b"x"), (member("target/d"), b"y")],
            "would replace a folder with a file",
        ),
    ]


@pytest.mark.parametrize("case", range(len(refusals("/x"))))
async def test_unsafe_archives_are_refused_and_nothing_is_written(api, home, outside, case):
    bad_members, phrase = refusals(outside)[case]
    r = await put_archive(api, "dest", tar_bytes([GOOD, *bad_members]))
    assert r.code == 400, r.body
    message = json.loads(r.body)["message"]
    assert message.startswith("archive refused, nothing was written: ")
    assert phrase in message
    # not even the good member, nor the target folder
    assert listing(home) == []
    assert listing(outside) == ["secret.txt"]
    assert not (home.parent / "evil.txt").exists()
    assert open_files_under(home) == []


async def test_existing_link_out_of_the_target_is_not_written_through(api, home, outside):
    os.symlink(outside, home / "dest")
    r = await put_archive(api, ".", tar_bytes([(member("dest/x.txt"), b"x")]))
    assert r.code == 400
    assert "symbolic link that leads out of the target folder" in json.loads(r.body)["message"]
    assert listing(outside) == ["secret.txt"]


async def test_link_through_an_existing_link_out_is_refused(api, home, outside):
    (home / "dest").mkdir()
    os.symlink(outside, home / "dest" / "out")
    body = tar_bytes([(member("peek", tarfile.SYMTYPE, linkname="out/secret.txt"), None)])
    r = await put_archive(api, "dest", body)
    assert r.code == 400
    assert "through an existing link" in json.loads(r.body)["message"]
    assert not os.path.lexists(home / "dest" / "peek")


async def test_an_existing_folder_is_not_replaced(api, home):
    (home / "dest" / "keep").mkdir(parents=True)
    (home / "dest" / "keep" / "precious").write_text("p")
    r = await put_archive(api, "dest", tar_bytes([(member("keep"), b"flat")]))
    assert r.code == 400
    assert "would replace the existing folder 'keep'" in json.loads(r.body)["message"]
    assert (home / "dest" / "keep" / "precious").read_text() == "p"


@pytest.mark.parametrize(
    "body, phrase",
    [
        (b"this is not a tar archive at all" * 40, "not a tar archive"),
        (b"", "not a tar archive"),
        # cut inside the data of its only file
        (tar_bytes([(member("big.bin"), b"x" * 5000)])[:2000], "damaged"),
        (gzip.compress(tar_bytes([(member("big.bin"), os.urandom(50_000))]))[:20_000], "damaged"),
    ],
    ids=["garbage", "empty", "truncated", "truncated-gzip"],
)
async def test_unreadable_archives(api, home, body, phrase):
    r = await put_archive(api, "dest", body)
    assert r.code == 400, r.body
    assert phrase in json.loads(r.body)["message"]
    assert listing(home) == []


async def test_target_is_confined_and_must_be_a_folder(api, home, outside):
    (home / "file.txt").write_text("x")
    os.symlink(outside, home / "out")
    body = tar_bytes([GOOD])
    for path, message in [
        ("..", "path escapes the project home"),
        ("/tmp", "must be relative to the project home"),
        ("out", "through a symbolic link"),
        ("file.txt", "must name a folder"),
    ]:
        r = await put_archive(api, path, body)
        assert r.code == 400, (path, r.body)
        assert message in json.loads(r.body)["message"]
    assert listing(outside) == ["secret.txt"]


async def test_declared_size_over_the_limit(api, home, localhub):
    localhub.archive_max_upload = 1000
    r = await put_archive(api, "dest", tar_bytes([(member("a.bin"), b"x" * 5000)]))
    assert r.code == 413
    assert "the upload is 10240 bytes; the limit is 1000 bytes" in json.loads(r.body)["message"]
    assert listing(home) == []


async def test_streamed_size_over_the_limit(api, home, localhub):
    # no Content-Length: the body arrives in chunks and is cut off at the limit
    localhub.archive_max_upload = 100_000

    async def produce(write):
        for _ in range(100):
            await write(b"\0" * 10_000)

    r = await api(
        "smc", "api", "archive", params={"path": "dest"}, method="PUT", body_producer=produce
    )
    assert r.code == 413
    assert "went past the limit of 100000 bytes" in json.loads(r.body)["message"]
    assert listing(home) == []
    # the part spooled before the limit was reached is gone too
    assert open_files_under(home) == []


async def test_upload_needs_authentication(api, home):
    r = await put_archive(api, "dest", tar_bytes([GOOD]), headers={"Authorization": "token wrong"})
    assert r.code == 403
    assert listing(home) == []


async def test_backup_keeps_changed_files_and_skips_identical_ones(api, home):
    first = tar_bytes([(member("hw/q1.txt"), b"question 1"), (member("hw/q2.txt"), b"question 2")])
    r = await put_archive(api, "course", first)
    assert r.code == 200
    # the student answers q1; the instructor then sends the folder again, with q3
    (home / "course" / "hw" / "q1.txt").write_bytes(b"my answer")
    again = tar_bytes(
        [
            (member("hw/q1.txt"), b"question 1"),
            (member("hw/q2.txt"), b"question 2"),
            (member("hw/q3.txt"), b"question 3"),
        ]
    )
    r = await api(
        "smc", "api", "archive", params={"path": "course", "backup": "1"}, method="PUT", body=again
    )
    assert r.code == 200, r.body
    result = json.loads(r.body)
    # q2 was identical: left alone; q1 differed: kept as q1.txt~ before being replaced
    assert result["files"] == 2
    assert result["backed_up"] == ["hw/q1.txt~"]
    hw = home / "course" / "hw"
    assert (hw / "q1.txt~").read_bytes() == b"my answer"
    assert (hw / "q1.txt").read_bytes() == b"question 1"
    assert (hw / "q3.txt").read_bytes() == b"question 3"
    # a second change gets a numbered backup, never overwriting the first
    (hw / "q1.txt").write_bytes(b"my second answer")
    r = await api(
        "smc", "api", "archive", params={"path": "course", "backup": "1"}, method="PUT", body=again
    )
    assert json.loads(r.body)["backed_up"] == ["hw/q1.txt.~1~"]
    assert (hw / "q1.txt~").read_bytes() == b"my answer"
    assert (hw / "q1.txt.~1~").read_bytes() == b"my second answer"


def sparse_tar(tmp_path, expanded_bytes):
    """A small tar (GNU tar --sparse) whose one member expands to `expanded_bytes`."""
    source = tmp_path / "sparse-source"
    source.mkdir()
    with open(source / "holes.bin", "wb") as f:
        f.write(b"data")
        f.truncate(expanded_bytes)
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", "-cSf", str(archive), "-C", str(source), "holes.bin"], check=True)
    return archive.read_bytes()


async def test_a_sparse_member_is_refused(api, home, tmp_path):
    # collect lets a student send the instructor's project any archive: 10 KB must not
    # become 100 MB on the instructor's disk
    body = sparse_tar(tmp_path, 100 * 1024 * 1024)
    assert len(body) < 64 * 1024
    r = await put_archive(api, "collected", body)
    assert r.code == 400, r.body
    message = json.loads(r.body)["message"]
    assert "holes.bin" in message and "sparse" in message and "nothing was written" in message
    assert listing(home) == []


async def test_expanded_size_is_capped_by_the_disk_quota(api, home, monkeypatch):
    # the hub tells the project its disk quota in the server's environment
    monkeypatch.setenv("SMCHUB_DISK_QUOTA_MB", "2")
    (home / "already.bin").write_bytes(b"\1" * 512 * 1024)
    # 3 MB of zeros compress to a few KB: the body is small, what it expands to is not
    bomb = tar_bytes(
        [(member("bomb/a.txt"), b"small"), (member("bomb/zeros.bin"), b"\0" * 3 * 1024 * 1024)],
        compression="gz",
    )
    assert len(bomb) < 64 * 1024
    r = await put_archive(api, "dest", bomb)
    assert r.code == 413, r.body
    message = json.loads(r.body)["message"]
    assert "disk quota" in message and "2 MB" in message and "nothing was written" in message
    assert listing(home) == ["already.bin"]

    # what fits beside what the home holds already is unpacked
    fits = tar_bytes([(member("ok/one.bin"), b"\0" * 1024 * 1024)], compression="gz")
    r = await put_archive(api, "dest", fits)
    assert r.code == 200, r.body
    assert (home / "dest" / "ok" / "one.bin").stat().st_size == 1024 * 1024


async def test_archives_sent_at_once_cannot_pass_the_quota_together(api, home, monkeypatch):
    # each fits the quota alone; measured against the same free room, both would pass
    monkeypatch.setenv("SMCHUB_DISK_QUOTA_MB", "3")
    archives = [
        tar_bytes([(member(f"part{i}/data.bin"), os.urandom(2 * 1024 * 1024))]) for i in range(2)
    ]
    results = await asyncio.gather(*(put_archive(api, "dest", body) for body in archives))
    assert sorted(r.code for r in results) == [200, 413], [r.body for r in results]
    assert sum(1 for _ in (home / "dest").iterdir()) == 1
