"""The hub's restic repository: one for every project, deduplicated across all of them.

smchub does not have a backup format of its own; it runs Debian's restic. Every call is a
subprocess (nothing blocks the event loop) with the repository and its password in the
environment (never on a command line, which /proc shows to everyone), a private umask
(the repository and its cache are the hub account's alone), and PR_SET_PDEATHSIG so that
a restic whose hub was killed dies too, leaving a lock restic itself knows is stale.

Snapshots are taken with the home as the working directory and "." as the path, so a
snapshot's tree is the home's contents at its root, whichever kind of node took it:
browsing, dumping and restoring use the same paths ("/notes/a.ipynb") for every node.
"""

import asyncio
import ctypes
import json
import os
import secrets
import signal

# tags on every snapshot: which project, and what took it
PROJECT_TAG = "project:"
TRIGGER_TAG = "trigger:"
# where a folder repository appears inside a helper container or task
CONTAINER_REPOSITORY = "/smchub-snapshots"

_PR_SET_PDEATHSIG = 1
# environment variables of restic's remote backends, passed from the hub's environment
CREDENTIALS = ("AWS_", "B2_", "AZURE_", "GOOGLE_", "RESTIC_REST_", "OS_", "ST_")


class ResticError(RuntimeError):
    """restic failed; the message is what it said."""

    def __init__(self, message, locked=False, missing=False):
        super().__init__(message)
        self.locked = locked
        self.missing = missing


# how much less CPU a background run (a snapshot) gets than the hub and the project
# servers when they compete: a snapshot takes 0.5 s of CPU (3.5 s the first, which makes
# the repository), and a burst of stops queues several, which at equal priority slowed
# the next starts; alone on the machine it runs as fast as before
BACKGROUND_NICENESS = 10


def _die_with_parent():
    # runs in the child before exec: a hub killed with SIGKILL takes its restic along
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _background_child():
    _die_with_parent()
    os.nice(BACKGROUND_NICENESS)


def is_folder(repository):
    """Whether the repository is a plain folder on this machine (not a URL)."""
    return ":" not in repository.split("/", 1)[0] or repository.startswith("local:")


def folder_of(repository):
    return repository[len("local:") :] if repository.startswith("local:") else repository


def read_or_make_password(path):
    """The repository's password, generated (0600) on first use like the cookie secret."""
    try:
        with open(path) as f:
            password = f.read().strip()
        if password:
            return password
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


class Restic:
    """One restic repository, used by the hub (and, through container_access, by helper
    containers next to Docker volumes)."""

    def __init__(self, repository, password_file, cache_dir, binary="restic", log=None):
        self.repository = repository
        self.password_file = password_file
        self.cache_dir = cache_dir
        self.binary = binary
        self.log = log
        self._ready = None

    # --- environment -------------------------------------------------------------

    def password(self):
        return read_or_make_password(self.password_file)

    def env(self):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "RESTIC_REPOSITORY": self.repository,
            "RESTIC_PASSWORD": self.password(),
            "RESTIC_CACHE_DIR": self.cache_dir,
        }
        # credentials for remote repositories (S3, B2, rest-server, ...) pass through
        for key, value in os.environ.items():
            if key.startswith(CREDENTIALS):
                env.setdefault(key, value)
        return env

    def container_access(self):
        """How restic inside a container on this machine reaches the repository.

        {"env": {...}, "binds": {host_folder: container_folder}}; a folder repository is
        bind-mounted (the node must see the hub's folder at the same path: a Docker
        Engine or Swarm machine on the hub's own machine, or a shared mount), a URL is
        passed as it is (the container then needs a network that reaches it).
        """
        env = {"RESTIC_PASSWORD": self.password(), "RESTIC_REPOSITORY": self.repository}
        # a URL repository's credentials (S3, B2, rest-server, ...) go along
        # (not CA bundle paths: files of the hub's machine)
        env.update(
            {
                k: v
                for k, v in self.env().items()
                if k.startswith(CREDENTIALS) and not k.endswith("_CA_BUNDLE")
            }
        )
        binds = {}
        if is_folder(self.repository):
            binds[os.path.abspath(folder_of(self.repository))] = CONTAINER_REPOSITORY
            env["RESTIC_REPOSITORY"] = CONTAINER_REPOSITORY
        return {"env": env, "binds": binds}

    # --- running restic ----------------------------------------------------------

    async def run(self, *args, cwd=None, timeout=None, background=False):
        """Run restic with these arguments; returns its stdout (bytes). A `background`
        run (nobody waits for it) yields the CPU to everything else."""
        proc = await asyncio.create_subprocess_exec(
            self.binary, *args,
            cwd=cwd, env=self.env(), umask=0o077,
            preexec_fn=_background_child if background else _die_with_parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise error_from(err.decode(errors="replace"), proc.returncode)
        return out

    async def stream(self, *args):
        """Run restic and yield its stdout in chunks (for dumps of any size)."""
        proc = await asyncio.create_subprocess_exec(
            self.binary, *args,
            env=self.env(), umask=0o077, preexec_fn=_die_with_parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            while chunk := await proc.stdout.read(256 * 1024):
                yield chunk
        finally:
            if proc.returncode is None:
                if not proc.stdout.at_eof():
                    proc.kill()
                err = await proc.stderr.read()
                await proc.wait()
                if proc.returncode not in (0, -signal.SIGKILL):
                    raise error_from(err.decode(errors="replace"), proc.returncode)

    async def ensure_ready(self, may_create=True):
        """Make the repository on first use (once per hub); an existing one is kept.

        With may_create False, a missing repository is an error rather than made anew:
        once snapshots exist, a missing repository is storage that went away (an
        unmounted share), and a new empty one in its place would hide that.
        """
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._make_ready(may_create))
        try:
            await asyncio.shield(self._ready)
        except Exception:
            # try again next time: the storage may come back
            self._ready = None
            raise

    async def _make_ready(self, may_create):
        if is_folder(self.repository):
            folder = folder_of(self.repository)
            if os.path.exists(os.path.join(folder, "config")):
                return
            if not may_create:
                raise ResticError(
                    f"the snapshot repository {self.repository} is missing (storage not "
                    "mounted?); snapshots fail until it is back",
                    missing=True,
                )
        else:
            try:
                await self.run("cat", "config", timeout=60)
                return
            except ResticError as e:
                if not e.missing or not may_create:
                    raise
        await self.run("init", timeout=120)
        if self.log:
            self.log.info("Created the snapshot repository %s", self.repository)

    async def with_unlock(self, *args, **kwargs):
        """run(), clearing stale locks (a killed run's) and trying once more if locked."""
        try:
            return await self.run(*args, **kwargs)
        except ResticError as e:
            if not e.locked:
                raise
        # `restic unlock` removes only stale locks: from dead processes on this machine,
        # or older than 30 minutes; a live run's lock stays and the retry fails clearly
        await self.run("unlock", timeout=60, background=kwargs.get("background", False))
        return await self.run(*args, **kwargs)

    # --- commands ----------------------------------------------------------------

    @staticmethod
    def backup_args(project_id, trigger):
        """restic's arguments for a snapshot of the home in the working directory.

        The project is restic's "host": its snapshots are one group for the retention
        policy and for finding the parent snapshot, on whichever node it was taken.
        """
        return [
            "backup", "--json", "--host", project_id,
            "--tag", PROJECT_TAG + project_id, "--tag", TRIGGER_TAG + trigger,
            ".",
        ]  # fmt: skip

    @staticmethod
    def restore_args(snapshot_id, source_path, target):
        """restic's arguments to restore `source_path` ("" for all) into folder `target`."""
        args = ["restore", snapshot_id, "--target", target]
        if source_path:
            args += ["--include", "/" + source_path]
        return args

    async def snapshots(self, project_id=None):
        args = ["snapshots", "--json"]
        if project_id:
            args += ["--tag", PROJECT_TAG + project_id]
        return json.loads(await self.run(*args, timeout=120) or b"[]") or []

    async def full_id(self, short_id):
        """A snapshot's full id from the short one restic 0.14's summary gives.

        A folder repository names each snapshot's file by its full id: a listing finds
        it without another restic run (half a second to open the repository's key).
        """
        if is_folder(self.repository):
            folder = os.path.join(folder_of(self.repository), "snapshots")
            names = await asyncio.to_thread(os.listdir, folder)
            found = [name for name in names if name.startswith(short_id)]
            if len(found) == 1:
                return found[0]
        return (await self.snapshots_by_id(short_id))["id"]

    async def snapshots_by_id(self, snapshot_id):
        """restic's record of one snapshot (by its full or short id)."""
        found = json.loads(await self.run("snapshots", "--json", snapshot_id, timeout=120) or b"[]")
        if len(found) != 1:
            raise ResticError(f"snapshot {snapshot_id} is not in the repository")
        return found[0]

    async def ls(self, snapshot_id, path):
        """The entries of one folder of a snapshot (path "" for its root)."""
        folder = "/" + path.strip("/") if path.strip("/") else "/"
        out = await self.run("ls", "--json", snapshot_id, folder, timeout=120)
        entries = []
        for line in out.splitlines():
            node = json.loads(line)
            if node.get("struct_type") != "node":
                continue
            parent = os.path.dirname(node["path"])
            if parent == folder and node["path"] != folder:
                entries.append(node)
        return entries

    async def stat(self, snapshot_id, path):
        """The node at `path` of a snapshot, or None."""
        parent = os.path.dirname(path.strip("/"))
        name = os.path.basename(path.strip("/"))
        for node in await self.ls(snapshot_id, parent):
            if node["name"] == name:
                return node
        return None

    def dump(self, snapshot_id, path):
        """A file's bytes, or a folder as a tar archive, streamed."""
        return self.stream("dump", snapshot_id, "/" + path.strip("/"))

    async def forget(self, snapshot_ids):
        if snapshot_ids:
            await self.with_unlock("forget", *snapshot_ids, timeout=600)

    async def forget_by_policy(self, keep):
        """Apply the retention policy to every project's snapshots (grouped per project,
        its "host")."""
        args = ["forget", "--json", "--group-by", "host"]
        for key, value in keep.items():
            args += [f"--keep-{key}", str(value)]
        return await self.with_unlock(*args, timeout=3600)

    async def prune(self):
        await self.with_unlock("prune", timeout=6 * 3600)


def error_from(stderr, returncode):
    message = stderr.strip().splitlines()
    text = message[-1] if message else f"restic exited with {returncode}"
    lowered = stderr.lower()
    locked = "already locked" in lowered or "unable to create lock" in lowered
    missing = (
        "does not exist" in lowered or "is there a repository at the following location" in lowered
    )
    return ResticError(text.removeprefix("Fatal: "), locked=locked, missing=missing)
