"""Project snapshots: when they are taken, what is recorded, restores and undelete.

The app owns one `Snapshots` (as `app.snapshots`); it runs the same with or without a
request. Snapshots are taken when a project stops (the spawner calls project_stopped),
every c.SMCHub.snapshot_interval while it runs (kept only if files changed), before a move
or a course step writes into it, when it is deleted, and on demand. The node holding the
home takes them where the home is (NodeBackend.snapshot_home); the hub's restic
repository (restic.py) holds them all, deduplicated across projects.

A snapshot can never hurt a project: a failure is logged, counted in the metrics and
recorded on the project (its page shows it), and stops, starts and moves go on. Only an
explicit request (snapshot now, restore, undelete) answers with the failure.
"""

import asyncio
import os
import time
from datetime import timedelta

from prometheus_client import Counter, Histogram

from . import orm
from .projects import effective_quotas, restore_access
from .restic import Restic, ResticError
from .servers import ServiceError
from .spawners.backend import RestoreRefused, SnapshotFailed, SnapshotPathMissing

SNAPSHOTS = Counter(
    "smchub_snapshots",
    "Project snapshots attempted, by what triggered them and how they ended",
    ["trigger", "outcome"],
)
SNAPSHOT_SECONDS = Histogram(
    "smchub_snapshot_duration_seconds",
    "Time to take a project snapshot (successful ones)",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)


# the trigger of a stop after which the home is as its last snapshot has it
KEPT_HOME = object()


class SnapshotUnavailable(ServiceError):
    """A snapshot, restore or undelete that was asked for could not be done."""


def check_relative_path(value, name, allow_empty=True):
    """A path inside a home or snapshot, normalised ("a/b"); refuses what could leave it."""
    if not isinstance(value, str) or len(value) > 4096 or "\0" in value:
        raise SnapshotUnavailable(400, f"{name} must be a path relative to the project home")
    if value.startswith("/"):
        raise SnapshotUnavailable(400, f"{name} must be relative, not absolute: {value}")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SnapshotUnavailable(400, f"{name} may not go up with '..': {value}")
    if not parts and not allow_empty:
        raise SnapshotUnavailable(400, f"{name} must name a file or folder")
    return "/".join(parts)


class _Pending:
    """One project's snapshot that is queued or running."""

    def __init__(self, trigger):
        self.trigger = trigger
        self.started = False
        self.future = None


class Snapshots:
    """The hub's snapshots of every project (one per hub, `app.snapshots`)."""

    def __init__(self, app):
        self.app = app
        self.restic = Restic(
            app.snapshot_repository_location,
            app.snapshot_password_location,
            os.path.join(os.path.abspath(app.data_dir), "snapshot-cache"),
            log=app.log,
        )
        self._slots = asyncio.Semaphore(max(1, app.snapshot_parallelism))
        self._locks = {}
        # project id -> its queued snapshot (not started yet), and its running one
        self._queued = {}
        self._running = {}
        # project id -> the trigger to record when its server stops next (move, delete)
        self._stop_trigger = {}
        self._maintaining = None

    @property
    def db(self):
        return self.app.db

    @property
    def log(self):
        return self.app.log

    # --- taking snapshots -------------------------------------------------------

    def project_stopped(self, project_id):
        """A project's server stopped: snapshot its home, in the background."""
        trigger = self._stop_trigger.pop(project_id, "stop")
        if trigger is KEPT_HOME:
            if self._last_one_holds(project_id):
                SNAPSHOTS.labels("stop", "skipped").inc()
                return
            trigger = "stop"
        self.schedule(project_id, trigger)

    def stop_keeps_home(self, project_id):
        """The next stop of this project leaves its home as its last snapshot has it, give
        or take files the hub copied in from elsewhere (a course step's): it takes no
        snapshot, unless the last one failed or there is none."""
        self._stop_trigger[project_id] = KEPT_HOME

    def forget_expected_stop(self, project_id):
        """The stop announced by expect_stop or stop_keeps_home did not happen."""
        self._stop_trigger.pop(project_id, None)

    def _last_one_holds(self, project_id):
        """Whether the project's home is in a snapshot taken or being taken: it has one,
        or one is under way, and the last attempt did not fail."""
        project = self.db.get(orm.Project, project_id)
        if project is None or project.snapshot_error is not None:
            return False
        return self.is_running(project_id) or self._has_snapshot(project_id)

    def schedule(self, project_id, trigger):
        """Snapshot a project soon; returns a future of its Snapshot row (or None).

        A snapshot already queued for the project (not started) is that one, taken for
        the more telling trigger; one already running is followed by a new one, since it
        may have missed changes made after it started.
        """
        queued = self._queued.get(project_id)
        if queued is not None:
            if trigger != "interval":
                queued.trigger = trigger
            return queued.future
        pending = _Pending(trigger)
        self._queued[project_id] = pending
        pending.future = asyncio.ensure_future(self._run(project_id, pending))
        return pending.future

    async def take(self, project, trigger):
        """Snapshot `project` now and wait; the Snapshot row, or None if it failed (the
        failure is recorded on the project) or nothing changed (interval)."""
        return await self.schedule(project.id, trigger)

    def expect_stop(self, project_id, trigger):
        """The next stop of this project is for `trigger` (a move, a delete)."""
        self._stop_trigger[project_id] = trigger

    async def after_stop(self, project, trigger):
        """Wait for the snapshot its stop took (as `trigger`), or take one if the project
        was not running; returns the row or None."""
        self._stop_trigger.pop(project.id, None)
        for pending in (self._queued.get(project.id), self._running.get(project.id)):
            if pending is not None and pending.trigger == trigger:
                return await pending.future
        return await self.take(project, trigger)

    def is_running(self, project_id):
        return project_id in self._queued or project_id in self._running

    async def _run(self, project_id, pending):
        lock = self._locks.setdefault(project_id, asyncio.Lock())
        try:
            async with lock:
                if self._queued.get(project_id) is pending:
                    del self._queued[project_id]
                pending.started = True
                self._running[project_id] = pending
                async with self._slots:
                    return await self._snapshot(project_id, pending.trigger)
        finally:
            if self._running.get(project_id) is pending:
                del self._running[project_id]
            if not lock.locked() and project_id not in self._queued:
                self._locks.pop(project_id, None)

    async def _snapshot(self, project_id, trigger):
        project = self.db.get(orm.Project, project_id)
        if project is None or project.node is None:
            # never placed: it has no home anywhere yet
            return None
        started = time.perf_counter()
        try:
            backend = self.app.backend_for(project.node)
            if backend is None:
                raise SnapshotFailed(f"its node {project.node} no longer exists")
            await self.restic.ensure_ready(may_create=not self._has_snapshot())
            summary = await asyncio.wait_for(
                backend.snapshot_home(project_id, self.restic, trigger),
                self.app.snapshot_timeout or None,
            )
            short_id = summary.get("snapshot_id")
            if not short_id:
                raise SnapshotFailed("restic reported no snapshot id")
            changed = sum(
                summary.get(k, 0)
                for k in ("files_new", "files_changed", "dirs_new", "dirs_changed")
            )
            if trigger == "interval" and not changed and self._has_snapshot(project_id):
                # nothing changed since the last one: keep the history short
                await self.restic.forget([short_id])
                SNAPSHOTS.labels(trigger, "unchanged").inc()
                return None
            full_id = await self.restic.full_id(short_id)
        except Exception as e:
            message = _describe(e)
            self.log.warning("Snapshot of project %s (%s) failed: %s", project_id, trigger, message)
            SNAPSHOTS.labels(trigger, "failed").inc()
            project = self.db.get(orm.Project, project_id)
            if project is not None:
                project.snapshot_error = message[:2000]
                project.snapshot_error_at = orm.now()
                self.db.commit()
            return None
        SNAPSHOT_SECONDS.observe(time.perf_counter() - started)
        SNAPSHOTS.labels(trigger, "taken").inc()
        row = orm.Snapshot(
            id=full_id,
            project_id=project_id,
            time=orm.now(),
            trigger=trigger,
            node=project.node,
            files_new=summary.get("files_new", 0),
            files_changed=summary.get("files_changed", 0),
            bytes_added=summary.get("data_added", 0),
        )
        self.db.add(row)
        project = self.db.get(orm.Project, project_id)
        project.snapshot_error = None
        project.snapshot_error_at = None
        self.db.commit()
        self.log.info(
            "Snapshot %s of project %s (%s): %s new, %s changed files, %s bytes added",
            row.id[:8], project_id, trigger, row.files_new, row.files_changed, row.bytes_added,
        )  # fmt: skip
        return row

    def _has_snapshot(self, project_id=None):
        """Whether the project (or any project) has a snapshot on record."""
        query = self.db.query(orm.Snapshot.id)
        if project_id is not None:
            query = query.filter_by(project_id=project_id)
        return query.first() is not None

    # --- reading and restoring --------------------------------------------------

    def list(self, project):
        return (
            self.db.query(orm.Snapshot)
            .filter_by(project_id=project.id)
            .order_by(orm.Snapshot.time.desc(), orm.Snapshot.id)
            .all()
        )

    def find(self, project, snapshot_id):
        """The project's snapshot with this id (full, or a prefix of at least 8), or 404."""
        if (
            isinstance(snapshot_id, str)
            and 8 <= len(snapshot_id) <= 64
            and all(c in "0123456789abcdef" for c in snapshot_id)
        ):
            rows = (
                self.db.query(orm.Snapshot)
                .filter(orm.Snapshot.project_id == project.id)
                .filter(orm.Snapshot.id.startswith(snapshot_id))
                .limit(2)
                .all()
            )
            if len(rows) == 1:
                return rows[0]
        raise SnapshotUnavailable(404, f"No such snapshot of this project: {snapshot_id[:80]}")

    async def entry(self, snapshot, path):
        """restic's node for `path` in the snapshot (root: a folder), or 404."""
        if not path:
            return {"type": "dir", "name": "", "path": "/"}
        try:
            node = await self.restic.stat(snapshot.id, path)
        except ResticError as e:
            raise SnapshotUnavailable(503, f"The snapshot cannot be read: {e}") from e
        if node is None:
            raise SnapshotUnavailable(404, f"The snapshot has no {path}")
        return node

    async def browse(self, snapshot, path):
        """The entries of a folder of the snapshot: name, path, type, size, mtime."""
        node = await self.entry(snapshot, path)
        if node["type"] != "dir":
            raise SnapshotUnavailable(400, f"{path} is not a folder")
        try:
            nodes = await self.restic.ls(snapshot.id, path)
        except ResticError as e:
            raise SnapshotUnavailable(503, f"The snapshot cannot be read: {e}") from e
        return [
            {
                "name": n["name"],
                "path": n["path"].lstrip("/"),
                "type": n["type"],
                "size": n.get("size", 0),
                "mtime": n.get("mtime"),
            }
            for n in sorted(nodes, key=lambda n: (n["type"] != "dir", n["name"]))
        ]

    async def restore(self, project, snapshot, path, target_path=None):
        """Put `path` of the snapshot back into the project (at `target_path`)."""
        path = check_relative_path(path, "path")
        target_path = (
            path if target_path is None else check_relative_path(target_path, "target_path")
        )
        # what is at the path (a file, a folder, a link, nothing) is checked by the
        # restore itself: each restic command costs half a second before it reads anything
        return await self._restore(project, snapshot, path, target_path)

    async def _restore(self, project, snapshot, path, target_path):
        if project.node is None:
            self.app.place_project(
                project, effective_quotas(self.app.default_quotas, project.quota_overrides)
            )
        backend = self.app.backend_for(project.node)
        if backend is None:
            raise SnapshotUnavailable(409, f"The project's node {project.node} no longer exists.")
        try:
            result = await backend.restore_home(
                project.id, self.restic, snapshot.id, path, target_path
            )
        except RestoreRefused as e:
            raise SnapshotUnavailable(400, f"Cannot restore that: {e}") from e
        except SnapshotPathMissing as e:
            raise SnapshotUnavailable(404, f"The snapshot has no {path or 'files'}") from e
        except (SnapshotFailed, ResticError, OSError) as e:
            raise SnapshotUnavailable(503, f"The restore failed: {_describe(e)}") from e
        self.log.info(
            "Restored %s of snapshot %s into %s of project %s: %s",
            path or "/", snapshot.id[:8], target_path or "/", project.id, result,
        )  # fmt: skip
        return result

    # --- deleted projects -------------------------------------------------------

    def retention(self):
        return timedelta(days=self.app.deleted_retention_days)

    def restorable_deleted(self, person=None):
        """Deleted projects still in their retention (owned by `person` if given)."""
        cutoff = orm.now() - self.retention()
        query = self.db.query(orm.Project).filter(
            orm.Project.deleted.is_(True), orm.Project.deleted_at > cutoff
        )
        if person is not None:
            query = query.join(orm.Collaborator).filter(
                orm.Collaborator.user_id == person.id, orm.Collaborator.role == "owner"
            )
        return query.order_by(orm.Project.deleted_at.desc()).all()

    async def undelete(self, project):
        """Bring a deleted project back with its files (the newest snapshot's)."""
        if not project.deleted or project.deleted_at is None:
            raise SnapshotUnavailable(409, "The project is not deleted.")
        if project.deleted_at <= orm.now() - self.retention():
            raise SnapshotUnavailable(404, f"No such project: {project.id}")
        latest = self.list(project)
        if latest:
            # the files first: a project back without them would be half-done
            await self._restore(project, latest[0], "", "")
        restore_access(self.app, project)
        self.log.info("Undeleted project %s", project.id)

    # --- upkeep -------------------------------------------------------------------

    def snapshot_running_projects(self):
        """Every interval: each running project (kept only if its files changed)."""
        for user in list(self.app.users.values()):
            spawner = user.spawners.get("")
            if spawner is None or not spawner.ready:
                continue
            if self.db.get(orm.Project, user.name) is not None:
                self.schedule(user.name, "interval")

    def maintain(self):
        """Once a day: retention policy, deleted projects past retention, prune."""
        if self._maintaining is None or self._maintaining.done():
            self._maintaining = asyncio.ensure_future(self._maintain())
        return self._maintaining

    async def _maintain(self):
        try:
            await self.restic.ensure_ready(may_create=False)
            expired = self._expired_deleted()
            doomed = [
                row.id
                for row in self.db.query(orm.Snapshot).filter(orm.Snapshot.project_id.in_(expired))
            ]
            await self.restic.forget(doomed)
            if self.app.snapshot_keep:
                await self.restic.forget_by_policy(self.app.snapshot_keep)
            await self.restic.prune()
            # the rows follow the repository: what forget and the policy removed goes
            kept = {s["id"] for s in await self.restic.snapshots()}
            removed = 0
            for row in self.db.query(orm.Snapshot):
                if row.id not in kept:
                    self.db.delete(row)
                    removed += 1
            self.db.commit()
            self.log.info(
                "Snapshot upkeep: %d snapshots of %d deleted projects forgotten, %d rows removed",
                len(doomed), len(expired), removed,
            )  # fmt: skip
        except Exception as e:
            SNAPSHOTS.labels("upkeep", "failed").inc()
            self.log.error("Snapshot upkeep failed: %s", _describe(e))

    def _expired_deleted(self):
        cutoff = orm.now() - self.retention()
        return [
            pid
            for (pid,) in self.db.query(orm.Project.id).filter(
                orm.Project.deleted.is_(True), orm.Project.deleted_at <= cutoff
            )
        ]

    async def close(self, timeout):
        """At hub shutdown: let the snapshots of the servers it stopped finish."""
        futures = [p.future for p in [*self._queued.values(), *self._running.values()]]
        if futures:
            self.log.info("Waiting up to %ss for %d snapshots", timeout, len(futures))
            await asyncio.wait(futures, timeout=timeout)


def _describe(error):
    if isinstance(error, asyncio.TimeoutError):
        return "it took too long (c.SMCHub.snapshot_timeout)"
    return str(error) or type(error).__name__
