"""Moving homes on and off Docker nodes: the project's named volume, read and written
through a stopped helper container that mounts it.

Every Docker SDK call goes through the node's own executor (DockerBackend.in_thread),
one call at a time, so a slow engine holds up only this transfer.
"""

import asyncio

from docker.errors import NotFound

from .backend import HomeTransferError


def _helper(backend, project_id, command=("true",), user=None):
    """A stopped container with the project's volume, to read or write it through."""
    volume = backend.ensure_volume(project_id)
    return backend.client.containers.create(
        backend.image,
        command=list(command),
        user=user,
        network_mode="none",
        volumes={volume: {"bind": backend.home, "mode": "rw"}},
        labels={"smchub.project": project_id, "smchub.role": "home-transfer"},
    )


def _has_volume(backend, project_id):
    try:
        backend.client.volumes.get(backend.volume_name(project_id))
    except NotFound:
        return False
    return True


async def export_home(backend, project_id):
    if not await backend.in_thread(_has_volume, backend, project_id):
        raise HomeTransferError(f"node {backend.node_name} has no home for this project")
    helper = await backend.in_thread(_helper, backend, project_id)
    try:
        stream, _ = await backend.in_thread(helper.get_archive, backend.home + "/.")
        iterator = iter(stream)
        while True:
            chunk = await backend.in_thread(next, iterator, None)
            if chunk is None:
                break
            yield chunk
    finally:
        await backend.in_thread(helper.remove, force=True)


def _discard_volume(backend, project_id):
    try:
        backend.client.volumes.get(backend.volume_name(project_id)).remove()
    except NotFound:
        pass


async def import_home(backend, project_id, chunks):
    await backend.in_thread(_discard_volume, backend, project_id)
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

    helper = await backend.in_thread(_helper, backend, project_id)
    try:
        feeding = asyncio.ensure_future(feed())
        ok = await backend.in_thread(helper.put_archive, backend.home, pull())
        await feeding
        if not ok:
            raise HomeTransferError("the node's engine refused the archive")
    finally:
        await backend.in_thread(helper.remove, force=True)
    # whatever the owners in the archive, the home belongs to the project's uid
    uid = backend.project_user
    fixer = await backend.in_thread(
        _helper, backend, project_id,
        ("sh", "-c", f"chown -R {uid} {backend.home} && chmod 700 {backend.home} && "
                     f"find {backend.home} -type f -printf '%s\\n' | "
                     "awk '{n++; s+=$1} END {print n+0, s+0}'"),
        "0:0",
    )  # fmt: skip
    try:
        await backend.in_thread(fixer.start)
        result = await backend.in_thread(fixer.wait)
        logs = (await backend.in_thread(fixer.logs)).decode().split()
    finally:
        await backend.in_thread(fixer.remove, force=True)
    if result.get("StatusCode") != 0:
        raise HomeTransferError(f"could not give the home to the project: {' '.join(logs)}")
    return {"files": int(logs[0]), "bytes": int(logs[1]), "streamed": received}
