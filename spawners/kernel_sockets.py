"""Private folders for local projects' kernel sockets.

Project servers run their kernels with ``KernelManager.transport = "ipc"``: a kernel's
channels are Unix sockets named after its connection file, in the server's runtime
folder (JUPYTER_RUNTIME_DIR). Over TCP any account on the node could find a kernel's
ports in /proc/net/tcp and subscribe to its output, which needs no key; a socket in a
folder only the project's account can open is out of everyone else's reach.

Each project gets ``<root>/<16 hex digits of its id>``, mode 0700, owned by its account,
inside a root folder only the hub's account can write to (so nobody else can make or
swap a project's folder). Unix socket paths are limited to 107 bytes, and jupyter_client
names sockets ``<runtime dir>/kernel-<uuid>-ipc-<n>``: the root's path must be short.
"""

import os
import shutil
import tempfile

from ..names import unix_name
from .folders import NotOurFolder, own_folder

SOCKET_PATH_MAX = 107
# "/" + 16 hex digits + "/kernel-" + a uuid + "-ipc-" + a channel number (at most 2 digits)
PROJECT_PART = len("/0123456789abcdef/kernel-") + 36 + len("-ipc-") + 2
ROOT_MAX_CHARS = SOCKET_PATH_MAX - PROJECT_PART


def default_root():
    if os.geteuid() == 0:
        return "/run/smchub-kernels"
    return os.path.join(tempfile.gettempdir(), f"smchub-{os.geteuid()}-kernels")


def check_root(path):
    """`path` if kernel sockets under it fit in a Unix socket path; else a clear error."""
    if not os.path.isabs(path):
        raise ValueError(f"the kernel sockets folder must be an absolute path, not {path!r}")
    if len(os.fsencode(path)) > ROOT_MAX_CHARS:
        raise ValueError(
            f"the kernel sockets folder {path!r} is too long for Unix socket paths: "
            f"use one of at most {ROOT_MAX_CHARS} characters, such as {default_root()!r}"
        )
    return path


def _ensure_root(root):
    """The root folder: the hub's own, writable by it alone, never a link; projects walk
    through it (0711) to their own folder, and see nothing else."""
    try:
        own_folder(root, 0o711)
    except NotOurFolder:
        raise OSError(
            f"{root} (the kernel sockets folder) is not a folder of the hub's account; "
            "remove it or set c.LocalBackend.kernel_sockets_root"
        ) from None


def project_dir(root, project_id):
    return os.path.join(root, unix_name(project_id)[:16])


def ensure_project_dir(root, project_id, uid, gid):
    """The project's folder, emptied of earlier runs' sockets, owned by it, mode 0700."""
    _ensure_root(root)
    path = project_dir(root, project_id)
    remove_project_dir(root, project_id)
    os.mkdir(path, 0o700)
    os.chown(path, uid, gid)
    os.chmod(path, 0o700)
    return path


def remove_project_dir(root, project_id):
    """Remove the project's folder (its server has stopped); an absent one is fine."""
    path = project_dir(root, project_id)
    try:
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass
