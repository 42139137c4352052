"""Snapshots and restores of homes on a local node.

restic runs on this machine as the hub's account and reads the home where it is. A
restore goes through a staging folder under the node's data folder (only the hub's
account can list it): restic writes there as root, the staging is handed to the
project's account, and restore_place.PLACE_SCRIPT, run as that account, copies it into
the home; the staging is removed afterwards, whatever happened.
"""

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys

from ..restic import ResticError
from .backend import SnapshotFailed
from .homes import _become
from .restore_place import PLACE_SCRIPT, place_result


def summary_of(output):
    """restic backup --json's summary line, as a dict."""
    for line in reversed(output.splitlines()):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("message_type") == "summary":
            return message
    raise SnapshotFailed("restic reported no summary for the snapshot")


async def snapshot_local(backend, project_id, restic, trigger):
    home = backend.home_for(project_id)
    if not os.path.isdir(home) or os.path.islink(home):
        raise SnapshotFailed(f"node {backend.node_name} has no home for this project")
    try:
        # a lock left by a killed prune would stop every backup: cleared if stale
        output = await restic.with_unlock(
            *restic.backup_args(project_id, trigger), cwd=home, background=True
        )
    except ResticError as e:
        raise SnapshotFailed(str(e)) from e
    return summary_of(output)


def _hand_over(staging, uid, gid):
    """Give what restic restored (as root) to the project's account; never follows links."""
    for folder, dirs, files in os.walk(staging):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)
    os.chown(staging, uid, gid)


async def restore_local(backend, project_id, restic, snapshot_id, source_path, target_path):
    account, home = await backend.prepare(project_id)
    root = os.path.join(os.path.dirname(backend.projects_root), "restoring")
    # 0711: each project can enter its own staging folder, and list none of them
    os.makedirs(root, mode=0o711, exist_ok=True)
    staging = os.path.join(root, f"{project_id}-{secrets.token_hex(8)}")
    os.mkdir(staging, 0o700)
    try:
        try:
            await restic.run(*restic.restore_args(snapshot_id, source_path, staging))
        except ResticError as e:
            raise SnapshotFailed(str(e)) from e
        if account is not None:
            await asyncio.to_thread(_hand_over, staging, account.uid, account.gid)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-c", PLACE_SCRIPT, staging, source_path, home, target_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_become(project_id),
            cwd=home,
        )  # fmt: skip
        out, err = await proc.communicate()
        return place_result(proc.returncode, out, err)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
