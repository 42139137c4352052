"""Confinement of client paths to the project home (pure functions, no server)."""

import os

import pytest

from smchub.extensions.localhub.paths import (
    PathRefused,
    clean_relative,
    is_inside,
    resolve_in_home,
)


@pytest.mark.parametrize(
    "path, clean",
    [
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a", "a"),
        ("a/b/", "a/b"),
        ("a/./b", "a/b"),
        ("a//b", "a/b"),
        ("a/../b", "b"),
        ("a/..", ""),
        ("..a/b..", "..a/b.."),
    ],
)
def test_clean_relative(path, clean):
    assert clean_relative(path) == clean


@pytest.mark.parametrize(
    "path, message",
    [
        ("..", "escapes the project home"),
        ("../x", "escapes the project home"),
        ("a/../../x", "escapes the project home"),
        ("a/b/../../..", "escapes the project home"),
        ("/etc/passwd", "not absolute"),
        ("/", "not absolute"),
        ("a\0b", "NUL byte"),
        (None, "must be a string"),
        (["a"], "must be a string"),
    ],
)
def test_clean_relative_refuses(path, message):
    with pytest.raises(PathRefused, match=message):
        clean_relative(path)


def test_is_inside():
    assert is_inside("/h/p", "/h/p")
    assert is_inside("/h/p/x", "/h/p")
    assert not is_inside("/h/px", "/h/p")
    assert not is_inside("/h", "/h/p")
    assert is_inside("/anything", "/")


def test_resolve_inside(tmp_path):
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    (home / "sub" / "f").write_text("x")
    os.symlink("sub/f", home / "link")
    real_home = os.path.realpath(home)
    assert resolve_in_home(str(home), "") == real_home
    assert resolve_in_home(str(home), "sub/f") == os.path.join(real_home, "sub", "f")
    # a link that stays inside resolves to its target
    assert resolve_in_home(str(home), "link") == os.path.join(real_home, "sub", "f")
    # a path that does not exist yet can still be named, to be created
    assert resolve_in_home(str(home), "new/deeper") == os.path.join(real_home, "new", "deeper")


def test_resolve_home_behind_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "home")
    assert resolve_in_home(str(tmp_path / "home"), "x") == str(tmp_path / "real" / "x")


def test_resolve_refuses_links_out(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, home / "out")
    os.symlink("..", home / "up")
    os.symlink(outside / "nothing-yet", home / "dangling")
    (home / "sub").mkdir()
    for path in ["out", "out/file", "up", "up/outside", "dangling", "sub/../out/x"]:
        with pytest.raises(PathRefused, match="through a symbolic link"):
            resolve_in_home(str(home), path)
    real_home = os.path.realpath(home)
    # out and back in again through the home's parent is still inside
    assert resolve_in_home(str(home), "up/home/sub") == os.path.join(real_home, "sub")
    # ".." applies to the text, as in a URL, before any link is followed
    assert resolve_in_home(str(home), "out/../sub") == os.path.join(real_home, "sub")


def test_resolve_refuses_lexical_escape_before_touching_disk(tmp_path):
    with pytest.raises(PathRefused, match="escapes the project home: '../home2'"):
        resolve_in_home(str(tmp_path / "home"), "../home2")
