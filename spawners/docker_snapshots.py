"""Snapshots and restores of homes on Docker nodes: restic in a helper container of the
project image, next to the project's volume.

The helper runs as root inside the container (to read every file of the home, and to
hand restored files to the project), without any capability it does not need and
without a way to gain privileges. It reaches the repository as Restic.container_access()
says: a folder repository is bind-mounted (so it must be visible at the same path on the
node's machine: an engine on the hub's machine, or a shared mount), and the helper then
has no network at all; a URL repository is reached over the node's projects network
(Docker's default bridge may be switched off, as on the test engines). A restore writes
into a staging folder of the helper's own file system, which no project container sees,
then the project's own account puts the files into the home (restore_place.py).

The commands are shared with the Swarm backend (swarm_snapshots.py), which runs them as
a task on the machine of the volume. Every Docker SDK call goes through the node's own
executor (DockerBackend.in_thread); the helper is polled, never waited on in a thread, so
a long snapshot holds up none of the node's calls, and it is removed whatever happens.
"""

import asyncio
import shlex

from docker.errors import DockerException
from requests.exceptions import RequestException

from ..restic import BACKGROUND_NICENESS, CONTAINER_REPOSITORY, error_from, is_folder
from .backend import SnapshotFailed
from .docker_homes import _has_volume
from .local_snapshots import summary_of
from .restore_place import MISSING, PLACE_SCRIPT, REFUSED, place_result

# inside a restore helper, outside the volume: the project never sees it
STAGING = "/smchub-restore"
# restic's exit code for a snapshot that was made although some files could not be read
RESTIC_INCOMPLETE = 3
# how long a helper may run before it is removed (the hub's own deadlines are shorter)
HELPER_TIMEOUT = 6 * 3600
LABEL_ROLE = "snapshot"
# restic reads every file of the home (mounted read-only) whatever its mode, and writes
# into a folder repository that may belong to the hub's account, then gives it back
BACKUP_CAPS = ["DAC_OVERRIDE", "CHOWN"]
# restic writes the staging folder as root and sets owners and modes; chown hands it over;
# setpriv becomes the project's account (which drops every capability). Both sets are
# within Docker's defaults (and Kubernetes' "baseline" Pod Security Standard).
RESTORE_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"]


def snapshot_mount(project_id):
    """Where a snapshot helper mounts the home.

    restic picks a snapshot's parent (whose unchanged files it does not read again) by
    host and path only, not by tag. The host is already the project (backup_args), and a
    path of its own per project keeps each project's snapshots a chain of their own
    whatever the host, and tells them apart in restic's own listings.
    """
    return f"/smchub-homes/{project_id}"


def owner_ids(project_user):
    """(uid, gid) of "uid:gid" (or "uid", whose group is the same number)."""
    uid, _, gid = project_user.partition(":")
    return int(uid), int(gid or uid)


def _give_repository_back(folder_repository):
    """Shell: what restic wrote into a folder repository, given to the repository's owner.

    restic runs as root in the helper; a hub running as another account must still read
    (and, for stale locks, remove) every file, so whatever root made there changes owner
    back to that of the repository's config file. Nothing to do when the hub is root.
    """
    if not folder_repository:
        return ""
    repo = shlex.quote(CONTAINER_REPOSITORY)
    return (
        f'owner=$(stat -c %u:%g {repo}/config 2>/dev/null) && [ "$owner" != 0:0 ] && '
        f'find {repo} ! -user "${{owner%:*}}" -exec chown -h "$owner" {{}} + ; '
    )


def backup_command(restic, project_id, trigger):
    """The helper's command: restic's snapshot of the home in its working directory.

    A home that is missing or empty (a volume made by mounting it here) is refused, not
    recorded as a snapshot of nothing.
    """
    folder = is_folder(restic.repository)
    # background work: the machine's project servers come first (as on local nodes)
    backup = shlex.join(
        ["nice", "-n", str(BACKGROUND_NICENESS), "restic",
         *restic.backup_args(project_id, trigger), "--no-cache"]
    )  # fmt: skip
    script = (
        'if [ -z "$(ls -A)" ]; then echo "this machine has no home for the project" >&2; '
        "exit 65; fi; "
        f"{backup}; rc=$?; {_give_repository_back(folder)}exit $rc"
    )
    return ["sh", "-c", script]


def restore_command(restic, snapshot_id, source_path, home, target_path, project_user):
    """The helper's command: restic restores into the staging folder as root, the staging
    is handed to the project's account, and PLACE_SCRIPT, run as that account, puts it
    into the home. Only PLACE_SCRIPT writes to stdout (its JSON result)."""
    uid, gid = owner_ids(project_user)
    folder = is_folder(restic.repository)
    restore = shlex.join(
        ["restic", *restic.restore_args(snapshot_id, source_path, STAGING), "--no-cache"]
    )
    place = shlex.join([
        "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
        "python3", "-I", "-c", PLACE_SCRIPT, STAGING, source_path, home, target_path,
    ])  # fmt: skip
    script = (
        f"mkdir -m 700 {STAGING} && {{ {restore} >&2; }}; rc=$?; "
        f"{_give_repository_back(folder)}[ $rc = 0 ] || exit $rc; "
        f"chown -R -h {uid}:{gid} {STAGING} && exec {place}"
    )
    return ["sh", "-c", script]


def failure(returncode, stderr, what):
    """SnapshotFailed with what the helper said (restic's own message when it was restic)."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    if not text.strip():
        return SnapshotFailed(f"the {what} helper exited with {returncode} and said nothing")
    return SnapshotFailed(str(error_from(text, returncode)))


def backup_result(returncode, stdout, stderr):
    """restic's summary from a snapshot helper's output, or SnapshotFailed."""
    if returncode in (0, RESTIC_INCOMPLETE):
        try:
            return summary_of(stdout.decode(errors="replace"))
        except SnapshotFailed:
            pass
    raise failure(returncode, stderr, "snapshot")


def restore_result(returncode, stdout, stderr):
    """PLACE_SCRIPT's result from a restore helper's output, or SnapshotFailed (its own
    refusals as restore_place says them, anything else as the helper said it)."""
    if returncode in (0, REFUSED, MISSING):
        return place_result(returncode, stdout, stderr)
    raise failure(returncode, stderr, "restore")


# --- helper containers ------------------------------------------------------------------


def _create_helper(backend, project_id, restic, command, mount_at, caps, read_only):
    access = restic.container_access()
    mode = "ro" if read_only else "rw"
    volumes = {backend.volume_name(project_id): {"bind": mount_at, "mode": mode}}
    for host_folder, container_folder in access["binds"].items():
        volumes[host_folder] = {"bind": container_folder, "mode": "rw"}
    if is_folder(restic.repository):
        network = {"network_mode": "none"}
    else:
        network = {"network": backend.ensure_network()["Name"]}
    return backend.client.containers.create(
        backend.image,
        command=command,
        user="0:0",
        working_dir=mount_at,
        environment=access["env"],
        volumes=volumes,
        cap_drop=["ALL"],
        cap_add=caps,
        security_opt=["no-new-privileges"],
        labels={"smchub.project": project_id, "smchub.role": LABEL_ROLE},
        **network,
    )


def _state(container):
    container.reload()
    return container.attrs["State"]


def _output(container):
    return container.logs(stdout=True, stderr=False), container.logs(stdout=False, stderr=True)


async def created(creating, remove):
    """What `creating` (a future) makes; if the caller is cancelled meanwhile, the object
    is removed once made (it holds the repository's password) by `remove(object)`."""
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        creating.add_done_callback(lambda f: f.cancelled() or f.exception() or remove(f.result()))
        raise


async def _run_helper(backend, project_id, restic, command, mount_at, caps, read_only):
    """Run a helper container to its end; (exit code, stdout, stderr). Always removed."""
    creating = backend.in_thread(
        _create_helper, backend, project_id, restic, command, mount_at, caps, read_only
    )
    try:
        container = await created(creating, lambda c: backend.in_thread(_remove, c))
    except (DockerException, RequestException) as e:
        raise SnapshotFailed(f"node {backend.node_name} made no helper: {e}") from e
    try:
        await backend.in_thread(container.start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HELPER_TIMEOUT
        pause = 0.1
        while (state := await backend.in_thread(_state, container))["Status"] != "exited":
            if loop.time() > deadline:
                raise SnapshotFailed(f"the helper on node {backend.node_name} did not finish")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        stdout, stderr = await backend.in_thread(_output, container)
        return state["ExitCode"], stdout, stderr
    except (DockerException, RequestException) as e:
        raise SnapshotFailed(f"the helper on node {backend.node_name} failed: {e}") from e
    finally:
        # cancelled or not, the helper goes (and the repository's password with it)
        await asyncio.shield(backend.in_thread(_remove, container))


def _remove(container):
    try:
        container.remove(force=True)
    except (DockerException, RequestException):
        pass  # the engine is gone; the label smchub.role=snapshot finds it later


async def snapshot_docker(backend, project_id, restic, trigger):
    try:
        has_home = await backend.in_thread(_has_volume, backend, project_id)
    except (DockerException, RequestException) as e:
        raise SnapshotFailed(f"node {backend.node_name} does not answer: {e}") from e
    if not has_home:
        raise SnapshotFailed(f"node {backend.node_name} has no home for this project")
    command = backup_command(restic, project_id, trigger)
    rc, out, err = await _run_helper(
        backend, project_id, restic, command, snapshot_mount(project_id), BACKUP_CAPS, True
    )
    return backup_result(rc, out, err)


async def restore_docker(backend, project_id, restic, snapshot_id, source_path, target_path):
    # a project that never ran here gets its volume, which Docker fills from the image's
    # home (owned by the project) when it is first mounted there
    try:
        await backend.in_thread(backend.ensure_volume, project_id)
    except (DockerException, RequestException) as e:
        raise SnapshotFailed(f"node {backend.node_name} does not answer: {e}") from e
    command = restore_command(
        restic, snapshot_id, source_path, backend.home, target_path, backend.project_user
    )
    rc, out, err = await _run_helper(
        backend, project_id, restic, command, backend.home, RESTORE_CAPS, False
    )
    return restore_result(rc, out, err)
