"""Moving homes on and off Swarm machines.

A home is a volume on one machine, and the hub reaches machines only through the
manager and the machines' project ports. So a short-lived service, pinned to the
machine with the volume mounted, listens on a free port of the machine's network for
exactly one connection from the hub (which must first send a one-time token), and pipes
tar between that connection and the volume. Then it exits, and is removed.
"""

import asyncio
import secrets

from docker.types import Mount, RestartPolicy, ServiceMode

from .backend import HomeTransferError
from .homes import CHUNK

# runs inside the project image, as root, on the machine's own network
TRANSFER_SCRIPT = r"""
import socket, subprocess, sys
mode, port, token, home, owner = sys.argv[1:6]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("", int(port)))
listener.listen(4)
listener.settimeout(120)
while True:
    conn, _ = listener.accept()
    conn.settimeout(30)
    try:
        said = conn.recv(len(token) + 1)
    except OSError:
        said = b""
    if said == (token + "\n").encode():
        break
    conn.close()  # not the hub: keep waiting for it
listener.close()
conn.settimeout(None)
if mode == "export":
    rc = subprocess.call(["tar", "-C", home, "--numeric-owner", "-cf", "-", "."],
                         stdout=conn.fileno())
else:
    # an old home left by an earlier move: never unpack on top of it
    rc = subprocess.call(["find", home, "-mindepth", "1", "-delete"])
    rc = rc or subprocess.call(["tar", "-C", home, "-xf", "-"], stdin=conn.fileno())
    if rc == 0:
        rc = subprocess.call(["chown", "-R", owner, home]) or subprocess.call(
            ["chmod", "700", home])
        count = subprocess.run(
            "find %s -type f -printf '%%s\\n' | awk '{n++; s+=$1} END {print n+0, s+0}'" % home,
            shell=True, capture_output=True, text=True).stdout.strip()
        conn.sendall(("OK %s\n" % count).encode())
conn.close()
sys.exit(rc)
"""

TASK_DONE = {"complete"}
TASK_FAILED = {"failed", "rejected", "shutdown", "orphaned", "remove"}


async def _transfer_service(backend, project_id, mode, port, token):
    name = f"smchub-move-{mode}-{project_id}"
    await backend.remove_service(name, wait=0)
    return await backend.in_thread(
        backend.create_service,
        image=backend.image,
        name=name,
        args=[
            "python3",
            "-c",
            TRANSFER_SCRIPT,
            mode,
            str(port),
            token,
            backend.home,
            backend.project_user,
        ],  # fmt: skip
        user="0:0",
        mounts=[Mount(target=backend.home, source=backend.volume_name(project_id), type="volume")],
        networks=["host"],
        restart_policy=RestartPolicy(condition="none"),
        mode=ServiceMode("replicated", replicas=1),
        constraints=[f"node.id=={backend.swarm_node_id}"],
        labels={"smchub.project": project_id, "smchub.role": "home-transfer"},
    )


async def _task_state(backend, service):
    # the latest of the service's tasks (Swarm keeps the history of earlier attempts)
    tasks = sorted(await backend.service_tasks(service.id), key=lambda t: t.get("CreatedAt", ""))
    task = tasks[-1] if tasks else None
    return (task["Status"]["State"], task) if task else ("new", None)


async def _connect(backend, service, port, token, timeout=120):
    """Connect to the transfer service once it listens; sends the token."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state, task = await _task_state(backend, service)
        if state in TASK_FAILED or state in TASK_DONE:
            raise HomeTransferError(f"the transfer task on {backend.node_name} is {state}")
        if state == "running":
            try:
                reader, writer = await asyncio.open_connection(backend.host_ip, port)
            except OSError:
                pass
            else:
                writer.write(f"{token}\n".encode())
                await writer.drain()
                return reader, writer
        if asyncio.get_running_loop().time() > deadline:
            raise HomeTransferError(f"the transfer task on {backend.node_name} did not listen")
        await asyncio.sleep(0.2)


async def _finish(backend, service, timeout=120):
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:
            state, task = await _task_state(backend, service)
            if state in TASK_DONE:
                return
            if state in TASK_FAILED:
                message = task["Status"].get("Err") or task["Status"].get("Message") or state
                raise HomeTransferError(f"the transfer on {backend.node_name} failed: {message}")
            if asyncio.get_running_loop().time() > deadline:
                raise HomeTransferError(f"the transfer on {backend.node_name} did not finish")
            await asyncio.sleep(0.2)
    finally:
        await backend.remove_service(service.id)


async def export_home(backend, project_id):
    port = await backend.pick_port()
    token = secrets.token_hex(16)
    service = await _transfer_service(backend, project_id, "export", port, token)
    try:
        reader, writer = await _connect(backend, service, port, token)
        try:
            while chunk := await reader.read(CHUNK):
                yield chunk
        finally:
            writer.close()
    except BaseException:
        await backend.remove_service(service.id)
        raise
    await _finish(backend, service)


async def import_home(backend, project_id, chunks):
    port = await backend.pick_port()
    token = secrets.token_hex(16)
    service = await _transfer_service(backend, project_id, "import", port, token)
    received = 0
    try:
        reader, writer = await _connect(backend, service, port, token)
        async for chunk in chunks:
            received += len(chunk)
            writer.write(chunk)
            await writer.drain()
        writer.write_eof()
        line = (await reader.readline()).decode().split()
        writer.close()
    except BaseException:
        await backend.remove_service(service.id)
        raise
    await _finish(backend, service)
    if len(line) != 3 or line[0] != "OK":
        raise HomeTransferError(f"writing the home on {backend.node_name} failed")
    return {"files": int(line[1]), "bytes": int(line[2]), "streamed": received}
