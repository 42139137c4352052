"""Confinement of request paths to the project home.

Every path a client sends is relative to the home (the server's root_dir). The checks are
lexical first, so the common mistakes get a precise message, then real: the path is resolved
through symbolic links and must still be inside the home. As in a URL, ``..`` applies to
the text ("out/../b" is "b"), before any link is followed.
"""

import os
import posixpath


class PathRefused(ValueError):
    """A client path that cannot be used.

    The message completes a sentence whose subject is the path's name:
    "path escapes the project home", "cwd is not a string".
    """


def is_inside(path: str, root: str) -> bool:
    """Whether the absolute, normalised `path` is `root` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def clean_relative(path: str) -> str:
    """Normalise a client path relative to the home: "" for the home itself.

    Refuses NUL bytes, absolute paths and ``..`` components that climb out of the home.
    """
    if not isinstance(path, str):
        raise PathRefused("must be a string")
    if "\0" in path:
        raise PathRefused("contains a NUL byte")
    if path.startswith("/"):
        raise PathRefused(f"must be relative to the project home, not absolute: {path!r}")
    normal = posixpath.normpath(path) if path else "."
    if normal == ".." or normal.startswith("../"):
        raise PathRefused(f"escapes the project home: {path!r}")
    return "" if normal == "." else normal


def resolve_in_home(home: str, path: str) -> str:
    """The real absolute path of `path` inside `home`, symbolic links resolved.

    The path need not exist (so it can name something to create), but whatever part of it
    exists must not lead out of the home through a symbolic link.
    """
    relative = clean_relative(path)
    real_home = os.path.realpath(home)
    real = os.path.realpath(os.path.join(real_home, relative))
    if not is_inside(real, real_home):
        raise PathRefused(f"escapes the project home through a symbolic link: {path!r}")
    return real
