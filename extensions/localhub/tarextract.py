"""Unpacking an uploaded tar archive under a folder of the home, safely.

Every member is checked before anything is written, so a refused archive leaves the disk
as it was. What is refused: absolute names and names with ``..``; devices, FIFOs and other
special files; sparse files (a few KB of archive that would be written out as gigabytes of
zeros); archives whose files add up to more than the room the caller gives; members
stored inside a member that the archive makes a link or a file; symbolic links that are
absolute, lead out of the target folder, or climb (``..``) after passing through another
link of the archive; hard links to anything but a file stored earlier in the archive;
members that would replace a folder with a file or a link, or be written through an
existing symbolic link that leads out of the target folder.
Python's own ``tarfile.data_filter`` is applied on top, where this Python has it (3.11.4+),
and agrees with these rules.
"""

import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass

from .paths import is_inside

CHUNK = 256 * 1024

# no set-id, sticky or world-writable bits; the owner can always read and write
FILE_MODE_MASK = 0o775


class ArchiveRefused(ValueError):
    """An archive that will not be unpacked; the message names the member and the reason."""


class ArchiveTooBig(ArchiveRefused):
    """An archive whose files add up to more bytes than the target has room for."""

    def __init__(self, size: int, room: int):
        super().__init__(f"its files add up to {size} bytes and there is room for {room}")
        self.size = size
        self.room = room


@dataclass
class Step:
    """One member to write: `name` below the target, of `kind` file/dir/symlink/hardlink."""

    member: tarfile.TarInfo
    name: str
    kind: str
    link: str = ""


def member_name(raw: str, what: str = "member") -> str:
    """The member name, normalised: "" for the archive's own top folder ("." or "./")."""
    if "\0" in raw:
        raise ArchiveRefused(f"{what} {raw!r} contains a NUL byte")
    if raw.startswith("/"):
        raise ArchiveRefused(f"{what} {raw!r} is an absolute path")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveRefused(f"{what} {raw!r} contains '..'")
    return "/".join(parts)


def member_kind(member: tarfile.TarInfo) -> str:
    """file, dir, symlink or hardlink; anything else is refused."""
    if member.issparse():
        # written out, its holes would become real zeros: tiny archive, full disk
        raise ArchiveRefused(
            f"member {member.name!r} is a sparse file; pack the archive without --sparse"
        )
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.ischr() or member.isblk():
        what = "device"
    elif member.isfifo():
        what = "FIFO"
    else:
        what = "special file"
    raise ArchiveRefused(
        f"member {member.name!r} is a {what}; archives may hold only files, folders and links"
    )


def plan_members(members: list[tarfile.TarInfo]) -> list[Step]:
    """Check the archive on its own terms (names, types, links) and list what to write."""
    kinds: dict[str, str] = {}
    folders: set[str] = set()
    steps = []
    for member in members:
        name = member_name(member.name)
        kind = member_kind(member)
        if not name:
            if kind == "dir":
                continue
            raise ArchiveRefused(f"member {member.name!r} has no name")
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if kinds.get(folder, "dir") != "dir":
                raise ArchiveRefused(
                    f"member {name!r} lies inside {folder!r}, which the archive makes a "
                    f"{kinds[folder]}"
                )
            folders.add(folder)
        if kind != "dir" and (name in folders or kinds.get(name) == "dir"):
            raise ArchiveRefused(f"member {name!r} would replace a folder with a {kind}")
        if kind == "dir" and kinds.get(name, "dir") != "dir":
            raise ArchiveRefused(f"member {name!r} would replace a {kinds[name]} with a folder")
        link = ""
        if kind == "hardlink":
            link = member_name(member.linkname, f"hard link {name!r} to")
            if kinds.get(link) != "file":
                raise ArchiveRefused(
                    f"hard link {name!r} points to {member.linkname!r}, which is not a file "
                    "stored earlier in the archive"
                )
        # a hard link is a file from here on: later hard links may point to it
        kinds[name] = "file" if kind == "hardlink" else kind
        steps.append(Step(member, name, kind, link))
    for step in steps:
        if step.kind == "symlink":
            check_symlink(step.name, step.member.linkname, kinds)
    return steps


def check_symlink(name: str, linkname: str, kinds: dict[str, str]) -> None:
    """Refuse a symbolic link that does not stay inside the folder the archive unpacks to.

    Walked component by component: a ``..`` after passing through another link of the
    archive is refused, since where it lands depends on that link, not on the text.
    """
    if not linkname or "\0" in linkname:
        raise ArchiveRefused(f"symbolic link {name!r} has an empty or invalid target")
    if linkname.startswith("/"):
        raise ArchiveRefused(f"symbolic link {name!r} points to an absolute path {linkname!r}")
    position = name.split("/")[:-1]
    through_link = False
    for part in linkname.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not position:
                raise ArchiveRefused(
                    f"symbolic link {name!r} points outside the target folder: {linkname!r}"
                )
            if through_link:
                raise ArchiveRefused(
                    f"symbolic link {name!r} climbs out of another link of the archive: "
                    f"{linkname!r}"
                )
            position.pop()
            continue
        position.append(part)
        if kinds.get("/".join(position)) == "symlink":
            through_link = True


def expanded_size(steps: list[Step]) -> int:
    """Bytes the files of the archive take once written (hard links take none)."""
    return sum(step.member.size for step in steps if step.kind == "file")


def check_destination(steps: list[Step], target: str) -> None:
    """Refuse what the disk as it is now would make unsafe or destructive.

    `target` is a real path. Nothing may land outside it: existing symbolic links in it
    are written through only if they resolve inside it, and links stored by the archive
    must resolve inside it.
    """
    for step in steps:
        destination = os.path.join(target, step.name)
        if not is_inside(os.path.realpath(os.path.dirname(destination)), target):
            raise ArchiveRefused(
                f"member {step.name!r} would be written through a symbolic link that leads "
                "out of the target folder"
            )
        if step.kind == "dir":
            if os.path.lexists(destination) and not os.path.isdir(destination):
                raise ArchiveRefused(f"member {step.name!r} would replace a file with a folder")
            if not is_inside(os.path.realpath(destination), target):
                raise ArchiveRefused(
                    f"member {step.name!r} is an existing symbolic link that leads out of "
                    "the target folder"
                )
        elif os.path.isdir(destination) and not os.path.islink(destination):
            raise ArchiveRefused(
                f"member {step.name!r} would replace the existing folder {step.name!r}"
            )
        if step.kind == "symlink":
            resolved = os.path.realpath(
                os.path.join(os.path.dirname(destination), step.member.linkname)
            )
            if not is_inside(resolved, target):
                raise ArchiveRefused(
                    f"symbolic link {step.name!r} would point outside the target folder "
                    f"through an existing link: {step.member.linkname!r}"
                )
        data_filter = getattr(tarfile, "data_filter", None)
        if data_filter is not None:
            try:
                data_filter(step.member, target)
            except tarfile.FilterError as e:
                raise ArchiveRefused(f"member {step.name!r}: {e}") from None


def same_content(path: str, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
    """Whether the regular file at `path` holds exactly the member's bytes."""
    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) != member.size:
        return False
    with open(path, "rb") as mine, tar.extractfile(member) as theirs:
        while True:
            a, b = mine.read(CHUNK), theirs.read(CHUNK)
            if a != b:
                return False
            if not a:
                return True


def backup_name(path: str) -> str:
    """Where an existing file goes before it is replaced, as rsync --backup names it."""
    candidate = path + "~"
    n = 1
    while os.path.lexists(candidate):
        candidate = f"{path}.~{n}~"
        n += 1
    return candidate


def write_steps(tar: tarfile.TarFile, steps: list[Step], target: str, backup=False) -> dict:
    """Write the checked `steps` under `target`; {files, bytes, backed_up} written.

    With `backup`, a file that would be replaced by different content is first renamed
    (name~), so nobody's changes are lost; files already identical are left alone.
    """
    os.makedirs(target, exist_ok=True)
    created_folders = []
    files = size = 0
    backed_up = []
    for step in steps:
        member = step.member
        destination = os.path.join(target, step.name)
        # archives need not list the folders of their members
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        if step.kind == "dir":
            if not os.path.isdir(destination):
                os.mkdir(destination, 0o700)
                created_folders.append((destination, member))
            continue
        if backup and os.path.lexists(destination):
            if step.kind == "file" and same_content(destination, tar, member):
                continue
            if os.path.isfile(destination) and not os.path.islink(destination):
                saved = backup_name(destination)
                os.rename(destination, saved)
                backed_up.append(os.path.relpath(saved, target))
        if os.path.lexists(destination):
            # replace what is there; never write through it
            os.unlink(destination)
        files += 1
        if step.kind == "file":
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out, tar.extractfile(member) as data:
                shutil.copyfileobj(data, out, CHUNK)
                os.fchmod(out.fileno(), (member.mode & FILE_MODE_MASK) | 0o600)
            os.utime(destination, (member.mtime, member.mtime))
            size += member.size
        elif step.kind == "symlink":
            os.symlink(member.linkname, destination)
        else:
            source = os.path.join(target, step.link)
            try:
                os.link(source, destination, follow_symlinks=False)
            except OSError:
                # another file system behind a link of the home: a copy is as good
                shutil.copy2(source, destination)
    for destination, member in reversed(created_folders):
        os.chmod(destination, (member.mode & FILE_MODE_MASK) | 0o700)
        os.utime(destination, (member.mtime, member.mtime))
    counts = {"files": files, "bytes": size}
    if backup:
        counts["backed_up"] = backed_up
    return counts


def unpack(spool, target: str, backup=False, room: int | None = None) -> dict:
    """Unpack the tar archive (plain or compressed) in the file `spool` under `target`.

    `target` is a real path inside the home; `room`, if given, is how many bytes of files
    may be written. Blocks. Raises ArchiveRefused (ArchiveTooBig past `room`), before
    writing anything, if the archive is unreadable, unsafe or too big.
    """
    spool.seek(0)
    try:
        tar = tarfile.open(fileobj=spool, mode="r:*")
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        raise ArchiveRefused("the request body is not a tar archive (plain or gzip)") from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise ArchiveRefused(f"the archive is damaged: {e}") from None
        steps = plan_members(members)
        size = expanded_size(steps)
        if room is not None and size > room:
            raise ArchiveTooBig(size, room)
        check_destination(steps, target)
        return write_steps(tar, steps, target, backup=backup)
