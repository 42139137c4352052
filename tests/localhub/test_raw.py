"""GET smc/raw/<path>."""

import json
import os

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def refused(api, path, code):
    # one string, so that the client keeps a leading or doubled slash as it is
    r = await api(f"smc/raw/{path}")
    assert r.code == code, r.body
    return json.loads(r.body)["message"]


@pytest.mark.parametrize(
    "name, content_type",
    [
        ("notes.txt", "text/plain"),
        ("page.html", "text/html"),
        ("picture.png", "image/png"),
        ("data.json", "application/json"),
        ("bundle.tar.gz", "application/gzip"),
        ("no-extension", "application/octet-stream"),
    ],
)
async def test_serves_bytes_with_a_guessed_type(api, home, name, content_type):
    content = os.urandom(3000)
    (home / "some folder").mkdir()
    (home / "some folder" / name).write_bytes(content)
    r = await api("smc", "raw", "some folder", name)
    assert r.code == 200
    assert r.body == content
    assert r.headers["Content-Type"] == content_type
    assert r.headers["Content-Length"] == "3000"


async def test_html_is_shown_not_run(api, home):
    (home / "page.html").write_text("<script>alert(1)</script>")
    r = await api("smc", "raw", "page.html")
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


async def test_large_file(api, home):
    content = os.urandom(3 * 1024 * 1024 + 17)
    (home / "big.bin").write_bytes(content)
    r = await api("smc", "raw", "big.bin")
    assert r.code == 200
    assert r.body == content


async def test_symlink_inside_the_home_is_followed(api, home):
    (home / "real.txt").write_text("here")
    os.symlink("real.txt", home / "alias.txt")
    r = await api("smc", "raw", "alias.txt")
    assert r.body == b"here"


async def test_missing_file(api):
    assert "no such file" in await refused(api, "nothing.txt", 404)


async def test_folder(api, home):
    (home / "sub").mkdir()
    assert "is a folder" in await refused(api, "sub", 400)
    assert "is a folder" in await refused(api, "", 400)


async def test_fifo_is_refused_without_hanging(api, home):
    os.mkfifo(home / "pipe")
    assert "not a regular file" in await refused(api, "pipe", 400)


async def test_escapes_are_refused(api, home, outside):
    os.symlink(outside / "secret.txt", home / "secret.txt")
    os.symlink(outside, home / "out")
    for path, message in [
        ("../outside/secret.txt", "path escapes the project home"),
        ("sub/../../outside/secret.txt", "path escapes the project home"),
        ("/etc/hostname", "must be relative to the project home"),
        ("secret.txt", "through a symbolic link"),
        ("out/secret.txt", "through a symbolic link"),
        ("a\0b", "NUL byte"),
    ]:
        message_sent = await refused(api, path, 400)
        assert message in message_sent
        assert "not for the project" not in message_sent


async def test_raw_needs_authentication(api, home):
    (home / "f.txt").write_text("private")
    r = await api("smc", "raw", "f.txt", headers={"Authorization": "token wrong"})
    assert r.code == 403
    assert b"private" not in r.body
