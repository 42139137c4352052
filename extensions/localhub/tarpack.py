"""Packing a file or folder of the home into a tar stream.

The tree is scanned first, so the size limit is enforced and the counts are known before a
byte is sent; then the entries are written, in a thread, to a file object (a pipe).
"""

import os
import stat
import tarfile
from dataclasses import dataclass, field

from .paths import is_inside


class ArchiveTooLarge(ValueError):
    """The tree holds more bytes than the archive may carry."""


@dataclass(slots=True)
class Entry:
    """One thing to pack: `path` on disk, stored as `name`."""

    path: str
    name: str
    kind: str  # "dir", "file" or "symlink"
    size: int = 0
    linkname: str = ""


@dataclass
class Packing:
    """The scan of a tree: what will be packed, and what was left out."""

    entries: list[Entry] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: int = 0


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def scan_tree(root: str, name: str, max_bytes: int) -> Packing:
    """What packing `root` (a real path) under the archive name `name` would store.

    Folders are walked without following symbolic links. A symbolic link is stored only if
    it resolves inside `root`, and then with a relative target (so the archive unpacks the
    same anywhere); links leading out of `root`, unreadable files and special files (FIFOs,
    sockets, devices) are skipped and counted in `skipped`. Raises ArchiveTooLarge as soon
    as the files add up to more than `max_bytes`.
    """
    packing = Packing()
    pending = [(root, name)]
    while pending:
        path, arcname = pending.pop()
        try:
            st = os.lstat(path)
        except OSError:
            packing.skipped += 1
            continue
        if stat.S_ISLNK(st.st_mode):
            target = os.path.realpath(path)
            if not is_inside(target, root):
                packing.skipped += 1
                continue
            linkname = os.path.relpath(target, os.path.dirname(path))
            packing.entries.append(Entry(path, arcname, "symlink", linkname=linkname))
            packing.files += 1
        elif stat.S_ISREG(st.st_mode):
            if not os.access(path, os.R_OK):
                packing.skipped += 1
                continue
            packing.bytes += st.st_size
            if packing.bytes > max_bytes:
                raise ArchiveTooLarge(
                    f"more than {packing.bytes} bytes to pack; the limit is {max_bytes} bytes"
                )
            packing.entries.append(Entry(path, arcname, "file", size=st.st_size))
            packing.files += 1
        elif stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(path) as listing:
                    children = sorted(entry.name for entry in listing)
            except OSError:
                packing.skipped += 1
                continue
            if arcname:
                packing.entries.append(Entry(path, arcname, "dir"))
            # reversed, so that popping from the end walks the names in order
            pending.extend(
                (os.path.join(path, child), _join(arcname, child)) for child in reversed(children)
            )
        else:
            packing.skipped += 1
    return packing


def _tarinfo(entry: Entry, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.name)
    # set-id and sticky bits do not travel between projects
    info.mode = st.st_mode & 0o777
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    return info


def write_tar(entries: list[Entry], out, compression: str | None) -> None:
    """Write `entries` as a tar stream to the file object `out` (gzipped if "gz").

    Blocks; raises OSError if a file changed or vanished since the scan, or if `out`
    is closed by the reader.
    """
    mode = "w|gz" if compression == "gz" else "w|"
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if entry.kind == "file":
                with open(entry.path, "rb") as f:
                    info = _tarinfo(entry, os.fstat(f.fileno()))
                    info.size = entry.size
                    tar.addfile(info, f)
                continue
            info = _tarinfo(entry, os.lstat(entry.path))
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
            else:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.linkname
            tar.addfile(info)
