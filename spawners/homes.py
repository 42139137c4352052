"""Moving a project's home off one node and onto another, as a tar stream.

Each backend kind knows where homes live: a folder owned by the project's Unix account
(local), a named volume on the node's Docker Engine (docker). The stream is the home's
contents with relative names, so any kind can read what any other wrote; whatever
arrives is owned by the project's account on the receiving side.

A home arrives into an empty place. A node the project left earlier may still hold
its old home; unpacking on top of it would bring back files deleted since, so that
old home is discarded first.
"""

import asyncio
import os
import secrets
import shutil
import subprocess

from docker.errors import NotFound

from ..names import unix_name
from . import unixuser

CHUNK = 256 * 1024


class HomeTransferError(RuntimeError):
    """A home could not be read or written; the message says why."""


# --- local ---------------------------------------------------------------------------


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


# --- docker --------------------------------------------------------------------------


def _helper(backend, project_id, command=("true",), user=None):
    """A stopped container with the project's volume, to read or write it through."""
    volume = backend.ensure_volume(project_id)
    image = (backend.node_options or {}).get("image") or backend.image
    return backend.client.containers.create(
        image,
        command=list(command),
        user=user,
        network_mode="none",
        volumes={volume: {"bind": backend.home, "mode": "rw"}},
        labels={"smchub.project": project_id, "smchub.role": "home-transfer"},
    )


async def export_docker(backend, project_id):
    try:
        backend.client.volumes.get(backend.volume_name(project_id))
    except NotFound:
        raise HomeTransferError(f"node {backend.node_name} has no home for this project")
    helper = await asyncio.to_thread(_helper, backend, project_id)
    try:
        stream, _ = await asyncio.to_thread(helper.get_archive, backend.home + "/.")
        iterator = iter(stream)
        while True:
            chunk = await asyncio.to_thread(next, iterator, None)
            if chunk is None:
                break
            yield chunk
    finally:
        await asyncio.to_thread(helper.remove, force=True)


def _discard_volume(backend, project_id):
    try:
        backend.client.volumes.get(backend.volume_name(project_id)).remove()
    except NotFound:
        pass


async def import_docker(backend, project_id, chunks):
    await asyncio.to_thread(_discard_volume, backend, project_id)
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue(maxsize=8)
    received = 0

    async def feed():
        nonlocal received
        try:
            async for chunk in chunks:
                received += len(chunk)
                await queue.put(chunk)
        finally:
            await queue.put(None)

    def pull():
        # the Docker SDK wants a plain iterator: take chunks from the event loop's queue
        while True:
            chunk = asyncio.run_coroutine_threadsafe(queue.get(), loop).result()
            if chunk is None:
                return
            yield chunk

    helper = await asyncio.to_thread(_helper, backend, project_id)
    try:
        feeding = asyncio.ensure_future(feed())
        ok = await asyncio.to_thread(helper.put_archive, backend.home, pull())
        await feeding
        if not ok:
            raise HomeTransferError("the node's engine refused the archive")
    finally:
        await asyncio.to_thread(helper.remove, force=True)
    # whatever the owners in the archive, the home belongs to the project's uid
    uid = backend.project_user
    fixer = await asyncio.to_thread(
        _helper, backend, project_id,
        ("sh", "-c", f"chown -R {uid} {backend.home} && chmod 700 {backend.home} && "
                     f"find {backend.home} -type f -printf '%s\\n' | "
                     "awk '{n++; s+=$1} END {print n+0, s+0}'"),
        "0:0",
    )  # fmt: skip
    try:
        await asyncio.to_thread(fixer.start)
        result = await asyncio.to_thread(fixer.wait)
        logs = (await asyncio.to_thread(fixer.logs)).decode().split()
    finally:
        await asyncio.to_thread(fixer.remove, force=True)
    if result.get("StatusCode") != 0:
        raise HomeTransferError(f"could not give the home to the project: {' '.join(logs)}")
    return {"files": int(logs[0]), "bytes": int(logs[1]), "streamed": received}


TRANSFERS = {
    "local": (export_local, import_local),
    "docker": (export_docker, import_docker),
}


def transfer_functions(backend):
    """(export, import) for a backend: its own methods, or the ones above for its kind."""
    if hasattr(backend, "export_home") and hasattr(backend, "import_home"):
        return (
            lambda _backend, project_id: backend.export_home(project_id),
            lambda _backend, project_id, chunks: backend.import_home(project_id, chunks),
        )
    if backend.kind not in TRANSFERS:
        raise HomeTransferError(f"homes cannot be moved to or from {backend.kind} nodes yet")
    return TRANSFERS[backend.kind]
