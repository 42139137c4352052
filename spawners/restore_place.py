"""Putting restored files into a home, as the project's own account, on every node kind.

restic restores as root into a staging folder the project cannot reach. This script then
runs as the project's account (a local process or inside a helper container) and copies
what was restored into the home. Running as the project means a symbolic link the project
planted can lead only where the project could write anyway; it is refused all the same,
so a restore never goes through one. A file the project changed since the snapshot is
kept beside it as `name~` before the snapshot's version takes its place; identical files
are left alone. It prints {"files", "bytes", "kept"} as JSON, or exits with the reason
on stderr (status REFUSED, or 2).

It is a standalone script (python3 -c PLACE_SCRIPT staging source home target) so that
project images only need Python, not smchub.
"""

import json

from .backend import RestoreRefused, SnapshotFailed, SnapshotPathMissing

# the script's exit status when the restore is refused (a link or a file on the way, a
# link to restore) and when the snapshot has nothing at the path; any other failure
# exits with 2. Far from restic's own (0, 1, 3), which a helper may pass on.
REFUSED = 75
MISSING = 76

PLACE_SCRIPT = r"""
import errno, filecmp, json, os, shutil, stat, sys, tempfile

REFUSED = 75
MISSING = 76

staging, source, home, target = sys.argv[1:5]
result = {"files": 0, "bytes": 0, "kept": []}


def fail(message, status=2):
    sys.stderr.write(message + "\n")
    sys.exit(status)


def same(src, dst):
    a, b = os.lstat(src), os.lstat(dst)
    if stat.S_ISLNK(a.st_mode) and stat.S_ISLNK(b.st_mode):
        return os.readlink(src) == os.readlink(dst)
    if stat.S_ISREG(a.st_mode) and stat.S_ISREG(b.st_mode):
        return a.st_size == b.st_size and filecmp.cmp(src, dst, shallow=False)
    return False


def keep_aside(dst):
    aside = dst + "~"
    n = 1
    while os.path.isdir(aside) and not os.path.islink(aside):
        n += 1
        aside = "%s~%d" % (dst, n)
    os.replace(dst, aside)
    result["kept"].append(os.path.relpath(aside, home))


def place_file(src, dst):
    if os.path.lexists(dst):
        if same(src, dst):
            return
        keep_aside(dst)
    folder = os.path.dirname(dst)
    if os.path.islink(src):
        tmp = os.path.join(folder, ".restore-%d-%s" % (os.getpid(), os.path.basename(dst)))
        os.symlink(os.readlink(src), tmp)
        os.replace(tmp, dst)
    else:
        try:
            # staging on the home's file system (a local node): a move, not a copy
            os.replace(src, dst)
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            fd, tmp = tempfile.mkstemp(prefix=".restore-", dir=folder)
            os.close(fd)
            shutil.copy2(src, tmp, follow_symlinks=False)
            os.replace(tmp, dst)
        result["bytes"] += os.lstat(dst).st_size
    result["files"] += 1


def place_dir(src, dst):
    if os.path.lexists(dst) and (os.path.islink(dst) or not os.path.isdir(dst)):
        keep_aside(dst)
    if not os.path.exists(dst):
        os.mkdir(dst, 0o755)
    for entry in sorted(os.listdir(src)):
        s, d = os.path.join(src, entry), os.path.join(dst, entry)
        if os.path.isdir(s) and not os.path.islink(s):
            place_dir(s, d)
        else:
            place_file(s, d)


def checked_target():
    parts = [p for p in target.split("/") if p]
    if any(p in (".", "..") for p in parts):
        fail("the target path may not contain . or ..", REFUSED)
    path = home
    for part in parts[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            fail("the target path goes through a symbolic link: %s" % os.path.relpath(path, home),
                 REFUSED)
        if os.path.lexists(path) and not os.path.isdir(path):
            fail("the target path goes through a file: %s" % os.path.relpath(path, home), REFUSED)
        if not os.path.exists(path):
            os.mkdir(path, 0o755)
    return os.path.join(home, *parts) if parts else home


src = os.path.join(staging, source) if source else staging
if not os.path.lexists(src):
    fail("the snapshot has no %s" % (source or "files"), MISSING)
if os.path.islink(src):
    fail("%s is a symlink, not a file or folder; restore the folder holding it" % source,
         REFUSED)
dst = checked_target()
try:
    if os.path.isdir(src) and not os.path.islink(src):
        place_dir(src, dst)
    elif dst == home:
        fail("a file cannot replace the whole home: give a target_path", REFUSED)
    else:
        place_file(src, dst)
except OSError as e:
    fail("could not restore: %s" % e)
print(json.dumps(result))
"""


def place_result(returncode, stdout, stderr):
    """PLACE_SCRIPT's result (a dict) from its exit status and output, or the error."""
    message = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    message = message.strip().splitlines()[-1] if message.strip() else ""
    if returncode == 0:
        try:
            return json.loads(stdout.decode(errors="replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise SnapshotFailed("the restore reported no result") from None
    if returncode == REFUSED:
        raise RestoreRefused(message)
    if returncode == MISSING:
        raise SnapshotPathMissing(message)
    raise SnapshotFailed(message or f"the restore failed (exit status {returncode})")
