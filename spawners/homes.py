"""Moving a project's home off a local node and onto one, as a tar stream.

Each backend knows where its homes live and moves them with its own export_home and
import_home: here a folder owned by the project's Unix account (local); a named volume
on the node's Docker Engine in docker_homes.py; a volume on a Swarm machine in
swarm_homes.py. The stream is the home's contents with relative names, so any kind can
read what any other wrote; whatever arrives is owned by the project's account on the
receiving side.

A home arrives into an empty place. A node the project left earlier may still hold
its old home; unpacking on top of it would bring back files deleted since, so that
old home is discarded first.
"""

import asyncio
import os
import secrets
import shutil
import subprocess

from ..names import unix_name
from . import unixuser
from .backend import HomeTransferError

CHUNK = 256 * 1024


def _become(project_id):
    """preexec_fn running tar as the project's own account (when the hub is root)."""
    if not unixuser.running_as_root():
        return None
    account = unixuser.lookup(unix_name(project_id))
    if account is None:
        raise HomeTransferError(f"project {project_id} has no account on this machine")
    return unixuser.preexec_for(account)


async def export_local(backend, project_id):
    home = backend.home_for(project_id)
    if not os.path.isdir(home):
        raise HomeTransferError(f"node {backend.node_name} has no home for this project")
    # tar runs as the project, so it reads only what the project could read itself
    proc = await asyncio.create_subprocess_exec(
        "tar", "-C", home, "--numeric-owner", "-cf", "-", ".",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_become(project_id),
    )  # fmt: skip
    try:
        while chunk := await proc.stdout.read(CHUNK):
            yield chunk
    finally:
        if proc.returncode is None and proc.stdout.at_eof() is False:
            proc.kill()
        error = await proc.stderr.read()
        if await proc.wait() != 0:
            raise HomeTransferError(f"reading the home failed: {error.decode(errors='replace')}")


def _discard_local(home, log):
    """Out of the way at once (a rename), then deleted; root's rmtree never follows links."""
    aside = f"{home}.discarded-{secrets.token_hex(4)}"
    os.rename(home, aside)
    try:
        shutil.rmtree(aside)
    except OSError as e:
        log.warning("Could not delete the old home %s: %s", aside, e)


async def import_local(backend, project_id, chunks):
    if os.path.lexists(old := backend.home_for(project_id)):
        await asyncio.to_thread(_discard_local, old, backend.log)
    account, home = await backend.prepare(project_id)
    # extracting as the project means the archive can write nothing its account could not
    proc = await asyncio.create_subprocess_exec(
        "tar", "-C", home, "--no-same-owner", "-xf", "-",
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_become(project_id),
    )  # fmt: skip
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            proc.stdin.write(chunk)
            await proc.stdin.drain()
    finally:
        proc.stdin.close()
    error = await proc.stderr.read()
    if await proc.wait() != 0:
        raise HomeTransferError(f"writing the home failed: {error.decode(errors='replace')}")
    return _count(home) | {"streamed": received}


def _count(home):
    files = size = 0
    for folder, _dirs, names in os.walk(home):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                files += 1
                size += os.path.getsize(path)
    return {"files": files, "bytes": size}
