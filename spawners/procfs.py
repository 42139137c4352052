"""A /proc of its own for each local project: it sees its own processes only.

Every process on a machine shows its command line, its start time and its owner in the
machine's /proc. A local project gets a mount namespace of its own with a fresh procfs
mounted on /proc with hidepid=invisible (per mount since Linux 5.8): processes of other
accounts (other projects, the hub, the proxy) are not there for it. The machine's /proc,
and what the hub reads from it, stay as they are.

Called in the child process, after fork and before it takes the project's account: it
needs root. The C functions are looked up at import so the child loads nothing.
"""

import ctypes
import os

CLONE_NEWNS = 0x00020000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc = ctypes.CDLL(None, use_errno=True)
_unshare = _libc.unshare
_mount = _libc.mount


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def hide_other_processes():
    """Give the calling process a mount namespace whose /proc hides other accounts."""
    _check(_unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # nothing mounted from here on reaches the machine's own mounts
    _check(_mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    _check(
        _mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=invisible"),
        "mounting /proc with hidepid=invisible",
    )
