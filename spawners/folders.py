"""Folders the hub keeps for itself under paths others may reach (/tmp, a data dir)."""

import os
import stat


class NotOurFolder(OSError):
    """The path is a link, a file, or a folder of another account."""


def own_folder(path, mode):
    """Make sure `path` is a folder of this account with exactly `mode`.

    Never follows a link, and never takes over a folder someone else made (in /tmp, say):
    those raise NotOurFolder, for the caller to say what to do.
    """
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise NotOurFolder(f"{path} is not a folder of this account's")
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
