"""GET smc/api/archive, and round trips through PUT."""

import io
import json
import os
import stat
import tarfile

import pytest
from tornado.simple_httpclient import HTTPStreamClosedError

pytestmark = pytest.mark.asyncio(loop_scope="function")


def get_archive(api, path, **params):
    return api("smc", "api", "archive", params={"path": path, **params})


def put_archive(api, path, body, **kwargs):
    return api("smc", "api", "archive", params={"path": path}, method="PUT", body=body, **kwargs)


def members(body):
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
        return {m.name: m for m in tar.getmembers()}


def snapshot(root):
    """Everything under `root`: files with content and mode, links with target, folders."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                tree[relative] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                tree[relative] = ("dir",)
            else:
                with open(path, "rb") as f:
                    tree[relative] = ("file", f.read(), stat.S_IMODE(st.st_mode))
    return tree


@pytest.fixture
def project(home, outside):
    """A folder with nested files, an empty folder, and links in and out of it."""
    src = home / "src"
    (src / "nested" / "deep").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "a.txt").write_text("alpha")
    (src / "nested" / "naïve ☃.txt").write_text("snow")
    (src / "nested" / "deep" / "b.bin").write_bytes(os.urandom(100_000))
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink("nested/deep/b.bin", src / "link-to-file")
    os.symlink("nested", src / "link-to-folder")
    os.symlink(src / "a.txt", src / "absolute-link-inside")
    os.symlink(outside / "secret.txt", src / "link-out")
    os.symlink("../..", src / "nested" / "link-up-out")
    return src


async def test_folder_round_trip(api, home, project):
    r = await get_archive(api, "src")
    assert r.code == 200, r.body
    assert r.headers["Content-Type"] == "application/x-tar"
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"src.tar\"; filename*=UTF-8''src.tar"
    )
    # a.txt, b.bin, naïve ☃.txt, run.sh and the three links that stay inside
    assert r.headers["X-SMC-Files"] == "7"
    assert r.headers["X-SMC-Bytes"] == str(5 + 100_000 + 4 + 18)
    # the link to the secret and the one climbing out of src
    assert r.headers["X-SMC-Skipped"] == "2"
    stored = members(r.body)
    assert set(stored) == {
        "src",
        "src/a.txt",
        "src/run.sh",
        "src/empty",
        "src/nested",
        "src/nested/deep",
        "src/nested/deep/b.bin",
        "src/nested/naïve ☃.txt",
        "src/link-to-file",
        "src/link-to-folder",
        "src/absolute-link-inside",
    }
    # an absolute link into the tree is stored relative, so it unpacks anywhere
    assert stored["src/absolute-link-inside"].linkname == "a.txt"

    r = await put_archive(api, "copy/here", r.body)
    assert r.code == 200, r.body
    assert json.loads(r.body) == {
        "path": "copy/here",
        "files": 7,
        "bytes": 5 + 100_000 + 4 + 18,
    }

    expected = snapshot(project)
    del expected["link-out"], expected["nested/link-up-out"]
    expected["absolute-link-inside"] = ("link", "a.txt")
    assert snapshot(home / "copy" / "here" / "src") == expected
    assert (home / "copy" / "here" / "src" / "link-to-folder" / "deep" / "b.bin").exists()


async def test_gzip_round_trip(api, home, project):
    r = await get_archive(api, "src", compression="gz")
    assert r.code == 200
    assert r.headers["Content-Type"] == "application/gzip"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="src.tar.gz"')
    assert r.body[:2] == b"\x1f\x8b"
    r = await put_archive(api, "unzipped", r.body)
    assert r.code == 200, r.body
    assert (home / "unzipped" / "src" / "a.txt").read_text() == "alpha"
    assert snapshot(home / "unzipped" / "src")["run.sh"][2] == 0o755


async def test_names_beyond_ascii(api, home):
    (home / "Übung 作业").mkdir()
    (home / "Übung 作业" / "résumé.txt").write_text("r")
    r = await get_archive(api, "Übung 作业")
    assert r.code == 200
    assert r.headers["Content-Disposition"] == (
        'attachment; filename="_bung __.tar"; '
        "filename*=UTF-8''%C3%9Cbung%20%E4%BD%9C%E4%B8%9A.tar"
    )
    assert set(members(r.body)) == {"Übung 作业", "Übung 作业/résumé.txt"}


async def test_single_file(api, home):
    (home / "notes.md").write_text("# notes")
    r = await get_archive(api, "notes.md")
    assert r.code == 200
    assert r.headers["X-SMC-Files"] == "1"
    assert list(members(r.body)) == ["notes.md"]


async def test_whole_home_has_no_top_folder(api, home):
    (home / "one.txt").write_text("1")
    (home / "sub").mkdir()
    (home / "sub" / "two.txt").write_text("2")
    r = await get_archive(api, ".")
    assert r.code == 200
    assert r.headers["Content-Disposition"].startswith('attachment; filename="home.tar"')
    assert set(members(r.body)) == {"one.txt", "sub", "sub/two.txt"}


async def test_special_files_are_skipped(api, home):
    (home / "box").mkdir()
    os.mkfifo(home / "box" / "fifo")
    (home / "box" / "plain").write_text("p")
    r = await get_archive(api, "box")
    assert r.headers["X-SMC-Skipped"] == "1"
    assert set(members(r.body)) == {"box", "box/plain"}


async def test_set_id_bits_are_not_packed(api, home):
    (home / "tool").write_text("#!/bin/sh\n")
    os.chmod(home / "tool", 0o4755)
    r = await get_archive(api, "tool")
    assert members(r.body)["tool"].mode == 0o755


async def test_size_limit_is_checked_before_streaming(api, home, localhub):
    (home / "big").mkdir()
    for i in range(3):
        (home / "big" / f"{i}.bin").write_bytes(b"x" * 600)
    localhub.archive_max_bytes = 1000
    r = await get_archive(api, "big")
    assert r.code == 413
    message = json.loads(r.body)["message"]
    assert "the limit is 1000 bytes" in message
    localhub.archive_max_bytes = 1800
    assert (await get_archive(api, "big")).code == 200


async def test_bad_requests(api, home, outside):
    os.symlink(outside, home / "out")
    for params, code, message in [
        ({"path": "missing"}, 404, "no such file or folder"),
        ({"path": ".."}, 400, "path escapes the project home"),
        ({"path": "/etc"}, 400, "must be relative to the project home"),
        ({"path": "out"}, 400, "through a symbolic link"),
        ({"path": ".", "compression": "zip"}, 400, "unknown compression 'zip'"),
        ({}, 400, "missing query argument: path"),
    ]:
        r = await api("smc", "api", "archive", params=params)
        assert r.code == code, (params, r.body)
        assert message in json.loads(r.body)["message"]


async def test_archive_needs_authentication(api, home):
    (home / "f.txt").write_text("private")
    r = await api(
        "smc",
        "api",
        "archive",
        params={"path": "f.txt"},
        headers={"Authorization": "token wrong"},
    )
    assert r.code == 403
    assert b"private" not in r.body


async def test_vanishing_file_cuts_the_transfer(api, home, monkeypatch):
    # a file that disappears between the scan and the packing: the client must not get
    # what looks like a complete archive
    from smchub.extensions.localhub import archive, tarpack

    (home / "box").mkdir()
    (home / "box" / "stays").write_bytes(b"s" * 10)
    (home / "box" / "goes").write_bytes(b"g" * 10)

    def scan_then_delete(*args):
        packing = tarpack.scan_tree(*args)
        os.unlink(home / "box" / "goes")
        return packing

    monkeypatch.setattr(archive, "scan_tree", scan_then_delete)
    with pytest.raises(HTTPStreamClosedError):
        await get_archive(api, "box")


async def test_contents_of_a_folder_without_the_folder(api, home):
    (home / "hw").mkdir()
    (home / "hw" / "q.txt").write_text("q")
    r = await api("smc", "api", "archive", params={"path": "hw", "contents": "1"})
    assert r.code == 200
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        assert tar.getnames() == ["q.txt"]
    (home / "file.txt").write_text("f")
    r = await api("smc", "api", "archive", params={"path": "file.txt", "contents": "1"})
    assert r.code == 400
