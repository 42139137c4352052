"""Snapshots and restores of homes on Swarm machines.

A home is a volume on one machine, which the hub reaches only through the manager. So a
short-lived service of the project image, pinned to that machine with the volume mounted,
runs the same commands as a Docker node's helper container (docker_snapshots.py); the
hub reads their result from the service's logs once its task is over, and removes the
service whatever happened.

A folder repository is bind-mounted from the machine's own file system: it must be
visible at the same path on every machine of the swarm (a shared mount), otherwise give
c.SMCHub.snapshot_repository as a restic URL (sftp, rest, s3...), which the task reaches
over the machine's own network. The task is on that network whatever the repository:
Swarm services cannot be put on no network at all (it has no "none" network), and
nothing a project wrote is ever run by the task.
"""

import asyncio
import secrets

from docker.errors import DockerException
from docker.types import DriverConfig, Mount, RestartPolicy, ServiceMode
from requests.exceptions import RequestException

from .backend import SnapshotFailed
from .docker_snapshots import (
    BACKUP_CAPS,
    HELPER_TIMEOUT,
    LABEL_ROLE,
    RESTORE_CAPS,
    backup_command,
    backup_result,
    created,
    restore_command,
    restore_result,
    snapshot_mount,
)
from .swarm_homes import TASK_DONE, TASK_FAILED, _task_state

# seconds a task may wait for its machine (a machine that is down, an image it lacks)
START_TIMEOUT = 120


def helper_service_kwargs(backend, project_id, restic, command, mount_at, caps, read_only,
                          name):  # fmt: skip
    """What a snapshot or restore service is made of (for client.services.create)."""
    access = restic.container_access()
    driver = backend.volume_driver
    mounts = [
        Mount(
            target=mount_at,
            source=backend.volume_name(project_id),
            type="volume",
            read_only=read_only,
            labels={"smchub.project": project_id},
            driver_config=DriverConfig(driver, backend.volume_options) if driver else None,
        )
    ]
    for host_folder, container_folder in access["binds"].items():
        mounts.append(Mount(target=container_folder, source=host_folder, type="bind"))
    labels = {"smchub.project": project_id, "smchub.role": LABEL_ROLE}
    return {
        "image": backend.image,
        "name": name,
        # Args: the image's entrypoint (tini) stays PID 1, as for project servers
        "args": command,
        "user": "0:0",
        "workdir": mount_at,
        "env": access["env"],
        "mounts": mounts,
        "networks": ["host"],
        "cap_drop": ["ALL"],
        "cap_add": caps,
        "restart_policy": RestartPolicy(condition="none"),
        "mode": ServiceMode("replicated", replicas=1),
        "constraints": [f"node.id=={backend.swarm_node_id}"],
        "labels": labels,
        "container_labels": labels,
    }


def _logs(backend, service_id, stdout):
    chunks = backend.client.api.service_logs(
        service_id, stdout=stdout, stderr=not stdout, is_tty=False
    )
    return b"".join(chunks)


async def _run_service(backend, project_id, restic, command, mount_at, caps, kind):
    """Run a helper service to the end of its task; (exit code, stdout, stderr)."""
    name = f"smchub-{kind}-{project_id}-{secrets.token_hex(3)}"
    # a snapshot only reads the home
    read_only = kind == "snapshot"
    kwargs = helper_service_kwargs(
        backend, project_id, restic, command, mount_at, caps, read_only, name
    )
    creating = backend.in_thread(backend.create_service, **kwargs)
    try:
        service = await created(creating, lambda s: asyncio.ensure_future(_remove(backend, s.id)))
    except (DockerException, RequestException) as e:
        raise SnapshotFailed(f"the swarm made no {kind} task on {backend.node_name}: {e}") from e
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            state, task = await _task_state(backend, service)
            if state in TASK_DONE or state in TASK_FAILED:
                break
            waited = loop.time() - started
            if state != "running" and waited > START_TIMEOUT:
                why = (task or {}).get("Status", {}).get("Message") or state
                raise SnapshotFailed(
                    f"the {kind} task did not start on {backend.node_name} in "
                    f"{START_TIMEOUT} s: {why}"
                )
            if waited > HELPER_TIMEOUT:
                raise SnapshotFailed(f"the {kind} task on {backend.node_name} did not finish")
            await asyncio.sleep(backend.task_poll_interval)
        # a task that is complete exited with 0 (which the API may leave out)
        exit_code = (task["Status"].get("ContainerStatus") or {}).get("ExitCode")
        if state in TASK_DONE:
            exit_code = exit_code or 0
        elif not exit_code:
            # never ran: rejected (no such image on the machine), or the machine is gone
            why = task["Status"].get("Err") or task["Status"].get("Message") or state
            raise SnapshotFailed(f"the {kind} task on {backend.node_name} is {state}: {why}")
        stdout = await backend.in_thread(_logs, backend, service.id, True)
        stderr = await backend.in_thread(_logs, backend, service.id, False)
        return exit_code, stdout, stderr
    except (DockerException, RequestException) as e:
        raise SnapshotFailed(f"the {kind} task on {backend.node_name} failed: {e}") from e
    finally:
        await asyncio.shield(_remove(backend, service.id))


async def _remove(backend, service_id):
    try:
        await backend.remove_service(service_id)
    except (DockerException, RequestException) as e:
        backend.log.warning("Could not remove the service %s: %s", service_id, e)


async def snapshot_swarm(backend, project_id, restic, trigger):
    command = backup_command(restic, project_id, trigger)
    rc, out, err = await _run_service(
        backend, project_id, restic, command, snapshot_mount(project_id), BACKUP_CAPS,
        "snapshot",
    )  # fmt: skip
    return backup_result(rc, out, err)


async def restore_swarm(backend, project_id, restic, snapshot_id, source_path, target_path):
    command = restore_command(
        restic, snapshot_id, source_path, backend.home, target_path, backend.project_user
    )
    rc, out, err = await _run_service(
        backend, project_id, restic, command, backend.home, RESTORE_CAPS, "restore"
    )
    return restore_result(rc, out, err)
