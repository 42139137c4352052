"""Project servers as the hub's own service: start, stop, reach and copy between them.

JupyterHub starts and stops servers from request handlers (BaseHandler.spawn_single_user
and stop_single_user). smchub needs the same from places no request reaches (course
steps running for a class, moves, timers), so this is that work done with only the app:
its users, proxy and limits. The handlers, moves and course steps all call this one
object, `SMCHub.servers`.

The hub talks to project servers directly (not through the proxy) with each server's
own API token, which JupyterHub scopes to that one server. Copies stream a tar archive
from the source server's localhub (GET smc/api/archive) into the target's (PUT), chunk
by chunk with back-pressure, so a folder of any size crosses without being held in the
hub's memory.
"""

import asyncio
import collections
import contextlib
import io
import math
import posixpath
import random
import tarfile
from urllib.parse import quote

import httpx
from jupyterhub import orm as hub_orm
from jupyterhub import roles
from tornado import web

from .metrics import (
    PROJECT_START_FAILURES,
    PROJECT_START_SECONDS,
    PROJECT_STOP_SECONDS,
    node_label,
)

# how long a start may take before callers that wait for it give up
START_TIMEOUT = 120
# chunks pulled from the source only as fast as the target takes them
CHUNK = 256 * 1024


class ServiceError(Exception):
    """Hub logic could not do what was asked; `status` is how the REST API answers it."""

    def __init__(self, status, message, retry_after=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class ServerError(ServiceError):
    """A project server could not be started, reached or copied to or from."""


class ProjectServers:
    """The project servers of one hub; made once by SMCHub as `app.servers`."""

    def __init__(self, app):
        self.app = app
        # course steps using each project's server now (project id -> how many): a job
        # that started a server does not stop it under another job's step
        self._job_uses = collections.Counter()

    @property
    def db(self):
        return self.app.db

    @property
    def log(self):
        return self.app.log

    # --- the JupyterHub user serving a project ------------------------------------

    def user_for(self, project):
        """The JupyterHub user serving `project`, made if the project has none yet."""
        orm_user = hub_orm.User.find(self.db, project.id)
        if orm_user is None:
            orm_user = hub_orm.User(name=project.id)
            self.db.add(orm_user)
            roles.assign_default_roles(self.db, entity=orm_user)
            self.db.commit()
        return self.app.users[orm_user]

    def cached_user(self, project_id):
        """The project's user if the hub holds it (every running server's user is held)."""
        orm_user = hub_orm.User.find(self.db, project_id)
        return None if orm_user is None else dict.get(self.app.users, orm_user.id)

    # --- starting -----------------------------------------------------------------

    def _check_limits(self):
        """JupyterHub's concurrent-spawn and active-server limits, as its handlers apply them."""
        counts = self.app.users.count_active_users()
        pending = counts["spawn_pending"] + counts["proxy_pending"]
        limit = self.app.concurrent_spawn_limit
        if limit and pending >= limit:
            # a random wait spreads out the retries of many people refused at once
            retry = int(random.uniform(*self.app.spawn_throttle_retry_range))
            if retry <= 90:
                human = f"{math.ceil(retry / 10)}0 seconds"
            else:
                human = f"{round(retry / 60)} minutes"
            self.log.warning("%s pending spawns, throttling; retry in %s s", pending, retry)
            raise ServerError(
                429, f"Too many users trying to log in right now. Try again in {human}.", retry
            )
        if self.app.active_server_limit and counts["active"] >= self.app.active_server_limit:
            self.log.info("%s servers active, no space available", counts["active"])
            raise ServerError(429, "Active user limit exceeded. Try again in a few minutes.")

    def begin_start(self, user):
        """Start the project's server; returns the future of the whole start.

        The future finishes once the server answers and has its proxy route. Other
        callers find it as the spawner's _spawn_future, as JupyterHub's own code does.
        """
        spawner = user.spawner
        if spawner.pending:
            raise RuntimeError(f"{spawner._log_name} pending {spawner.pending}")
        self._check_limits()
        # pending from now on: no gap in which a second start could slip in
        spawner._spawn_pending = True

        async def start():
            loop = asyncio.get_running_loop()
            tic = loop.time()
            await user.spawn()
            self.log.info("Project %s took %.3f seconds to start", user.name,
                          loop.time() - tic)  # fmt: skip
            self.app.eventlog.emit(
                schema_id="https://schema.jupyter.org/jupyterhub/events/server-action",
                data={"action": "start", "username": user.name, "servername": ""},
            )
            spawner._proxy_pending = True
            try:
                await self.app.proxy.add_user(user)
            except Exception:
                # a server nobody can reach only holds resources
                self.log.exception("Adding project %s to the proxy failed; stopping it", user.name)
                await user.stop()
            else:
                spawner.add_poll_callback(self._stopped_by_itself, user)
                PROJECT_START_SECONDS.labels(node_label(user)).observe(loop.time() - tic)
            finally:
                spawner._proxy_pending = False

        future = spawner._spawn_future = asyncio.ensure_future(start())

        def done(f):
            # a failure stays on the spawner, as in JupyterHub, so pages can show it
            if f.cancelled() or f.exception() is None:
                spawner._spawn_future = None
            else:
                self.log.warning("Starting project %s failed: %s", user.name, f.exception())
                PROJECT_START_FAILURES.labels(node_label(user)).inc()
            spawner._spawn_pending = False

        future.add_done_callback(done)
        return future

    async def _stopped_by_itself(self, user):
        """The server exited on its own: remove its route and clean up after it."""
        status = await user.spawner.poll()
        self.log.warning("Project %s's server stopped, with exit code %s", user.name, status)
        await self.app.proxy.delete_user(user)
        await user.stop()

    async def start(self, user, grace):
        """Start the server unless it is up or starting; waits `grace` seconds for an
        immediate refusal (no node has room, too many starts) to raise ServerError."""
        spawner = user.spawner
        await self.settled(user)
        if spawner.active:
            return
        future = self.begin_start(user)
        done, _ = await asyncio.wait([future], timeout=grace)
        if done:
            _raise_start_failure(user, future.exception())

    async def ensure_running(self, user, timeout=START_TIMEOUT):
        """Start the project's server if needed and wait until it answers."""
        spawner = user.spawner
        await self.settled(user)
        if spawner.ready:
            return
        if not spawner.active:
            future = self.begin_start(user)
            done, _ = await asyncio.wait([future], timeout=timeout)
            if done:
                _raise_start_failure(user, future.exception())
        deadline = asyncio.get_running_loop().time() + timeout
        while not spawner.ready:
            if not spawner.active:
                raise ServerError(503, f"project {user.name} could not be started; see its page")
            if asyncio.get_running_loop().time() > deadline:
                raise ServerError(503, f"project {user.name} did not start in time")
            await asyncio.sleep(0.1)

    async def route_when_checked(self):
        """Route each server the hub found at start as soon as its check ends.

        JupyterHub checks the servers a hub finds in the background and adds the
        missing routes once all the checks are done: a server whose start a killed hub
        cut short (running, never routed) would wait for the slowest check.
        """
        found = [
            user for user in self.app.users.values()
            if (spawner := user.spawners.get("")) is not None and spawner.pending == "check"
        ]  # fmt: skip

        async def route(user):
            while user.spawner.pending == "check":
                await asyncio.sleep(0.2)
            if user.spawner.ready:
                try:
                    await self.app.proxy.add_user(user)
                except Exception:
                    self.log.exception("Routing project %s after its check failed", user.name)

        await asyncio.gather(*(route(user) for user in found))

    @contextlib.contextmanager
    def used_by_job(self, project_id):
        """A course step uses the project's server for as long as the block runs."""
        self._job_uses[project_id] += 1
        try:
            yield
        finally:
            self._job_uses[project_id] -= 1
            if not self._job_uses[project_id]:
                del self._job_uses[project_id]

    def used_by_jobs(self, project_id):
        return self._job_uses[project_id] > 0

    async def unused_by_jobs(self, project_id):
        """Wait until no course step uses the project's server."""
        while self.used_by_jobs(project_id):
            await asyncio.sleep(0.1)

    async def settled(self, user):
        """Wait out a stop, or the check a restarted hub makes of a server it found (up
        to the server's http_timeout): a start asked for meanwhile starts the server
        anew if the check stopped it, instead of failing with it."""
        while user.spawner.pending in ("stop", "check"):
            await asyncio.sleep(0.1)

    # --- stopping -----------------------------------------------------------------

    def begin_stop(self, user):
        """Stop a server that is running and not busy; returns the stop's future."""
        spawner = user.spawner
        if spawner.pending:
            raise RuntimeError(f"{spawner._log_name} pending {spawner.pending}")
        # pending from now on, before anything is awaited
        spawner._stop_pending = True

        async def stop():
            loop = asyncio.get_running_loop()
            tic, node = loop.time(), node_label(user)
            try:
                await self.app.proxy.delete_user(user)
                await user.stop()
                PROJECT_STOP_SECONDS.labels(node).observe(loop.time() - tic)
                self.app.eventlog.emit(
                    schema_id="https://schema.jupyter.org/jupyterhub/events/server-action",
                    data={"action": "stop", "username": user.name, "servername": ""},
                )
            finally:
                spawner._stop_future = None
                spawner._stop_pending = False

        future = spawner._stop_future = asyncio.ensure_future(stop())
        return future

    async def stop(self, user, wait, grace=0):
        """Stop a project's server, whatever it is doing now.

        With wait=False, returns after `grace` seconds even if the stop goes on.
        """
        spawner = user.spawner
        if spawner.pending == "spawn":
            # a start cannot be cancelled midway; let it finish, then stop
            try:
                await spawner._spawn_future
            except Exception:
                return
        if spawner.pending == "stop":
            # a stop begun elsewhere (another request, the idle culler, hub shutdown)
            while wait and spawner.pending == "stop":
                await asyncio.sleep(0.1)
            return
        if spawner.pending == "check":
            # the hub is polling it (a restarted hub waits for the servers it found to
            # answer, for up to their http_timeout): stop it when that is done
            future = asyncio.ensure_future(self._stop_after_check(user))
        elif not spawner.active:
            return
        else:
            future = self.begin_stop(user)
        if wait:
            await future
        else:
            await asyncio.wait([future], timeout=grace)

    async def _stop_after_check(self, user):
        while user.spawner.pending == "check":
            await asyncio.sleep(0.1)
        await self.stop(user, wait=True)

    # --- talking to a server ------------------------------------------------------

    @staticmethod
    def url(user, path):
        """The URL of `path` on the project's server, reached directly from the hub."""
        server = user.spawner.server
        if server is None:
            raise ServerError(409, f"project {user.name}'s server stopped meanwhile")
        return server.url.rstrip("/") + "/" + path

    @staticmethod
    def headers(user):
        """Headers with a token that opens that server only: the server's own, or, for a
        server that outlived a hub restart (SIGKILL, or cleanup_servers off: JupyterHub
        keeps only its token's hash), a new one, which JupyterHub revokes when the server
        stops as it would the server's own."""
        if not user.spawner.api_token:
            user.spawner.api_token = user.new_api_token(
                note="smchub: the hub's calls to a server running before it restarted",
                scopes=[f"access:servers!server={user.name}/"],
            )
        return {"Authorization": f"token {user.spawner.api_token}"}

    async def info(self, user):
        """Processes, memory and disk of a running project, as its localhub reports them."""
        if not user.spawner.ready:
            raise ServerError(409, "The project is not running; start it to see its processes.")
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                r = await client.get(self.url(user, "smc/api/info"), headers=self.headers(user))
        except httpx.HTTPError as e:
            # it stopped (or is stopping) while we asked
            raise ServerError(409, f"The project server did not answer: {e}") from e
        if r.status_code != 200:
            raise ServerError(502, f"the project server answered {r.status_code}: {_message(r)}")
        return r.json()

    async def used_by_others(self, user):
        """Whether anyone but the hub may have used the running server since it started:
        False only when its localhub says no one did (an older server, or one that does
        not answer, counts as used)."""
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                r = await client.get(self.url(user, "smc/api/visits"), headers=self.headers(user))
            seen = r.json() if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return True
        return not (isinstance(seen, dict) and seen.get("tracked") is True
                    and seen.get("last_visit") is None)  # fmt: skip

    async def write_file(self, user, path, text):
        """Write a text file into the project (through the server's contents API)."""
        async with httpx.AsyncClient(timeout=60) as client:
            r = await client.put(
                self.url(user, f"api/contents/{path}"),
                json={"type": "file", "format": "text", "content": text},
                headers=self.headers(user),
            )
        if r.status_code not in (200, 201):
            raise ServerError(502, f"could not write {path}: {r.status_code} {r.text[:200]}")

    async def exec(self, user, body, timeout):
        """Run a command in the project (its smc/api/exec, `body` as it takes it); its
        answer: exit_code, stdout, stderr, timed_out. The server answers once the command
        ends or is killed at `timeout`."""
        try:
            async with httpx.AsyncClient(timeout=timeout + 30) as client:
                r = await client.post(
                    self.url(user, "smc/api/exec"), json=body, headers=self.headers(user)
                )
        except httpx.HTTPError as e:
            raise ServerError(502, f"the project server did not answer: {type(e).__name__} {e}")
        try:
            result = r.json()
        except ValueError:
            result = {}
        if r.status_code != 200:
            why = result.get("message") or r.reason_phrase
            raise ServerError(
                502, f"the project server refused the command ({r.status_code}): {why}"
            )
        return result

    async def kind_of(self, user, path):
        """What `path` is in the project: "directory", "file" or "notebook" (the contents
        API's types), or None if nothing is there."""
        relative = posixpath.normpath(path)
        url = self.url(user, "api/contents/" + quote("" if relative == "." else relative))
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                r = await client.get(url, params={"content": "0"}, headers=self.headers(user))
        except httpx.HTTPError as e:
            raise ServerError(502, f"the project server did not answer: {type(e).__name__} {e}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ServerError(_client_status(r.status_code), f"looking at {path!r}: {_message(r)}")
        return r.json().get("type")

    async def write_hidden_file(self, user, folder, name, text):
        """Write a text file (0600) into a folder of the project that the contents API
        does not reach (a hidden one), through the localhub's archive endpoint."""
        data = text.encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o600
            tar.addfile(member, io.BytesIO(data))
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                r = await client.put(
                    self.url(user, "smc/api/archive"),
                    params={"path": folder},
                    headers={**self.headers(user), "Content-Type": "application/x-tar"},
                    content=archive.getvalue(),
                )
        except httpx.HTTPError as e:
            raise ServerError(502, f"could not write {folder}/{name}: {type(e).__name__} {e}")
        if r.status_code != 200:
            raise ServerError(
                502, f"could not write {folder}/{name} ({r.status_code}): {_message(r)}"
            )

    async def read_notebook(self, user, path, most_bytes):
        """A notebook of the project, as the JSON its contents API gives; None if there is
        none at `path`. One bigger than `most_bytes` on disk is refused, unread."""
        relative = quote(posixpath.normpath(path))
        url = self.url(user, "api/contents/" + relative)
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                r = await client.get(url, params={"content": "0"}, headers=self.headers(user))
                if r.status_code == 200 and r.json().get("type") == "notebook":
                    size = r.json().get("size")
                    if isinstance(size, int) and size > most_bytes:
                        raise ServerError(413, f"{path} is larger than {most_bytes} bytes")
                    r = await client.get(url, params={"type": "notebook", "content": "1"},
                                         headers=self.headers(user))  # fmt: skip
        except httpx.HTTPError as e:
            raise ServerError(502, f"the project server did not answer: {type(e).__name__} {e}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ServerError(_client_status(r.status_code), f"reading {path!r}: {_message(r)}")
        model = r.json()
        return model.get("content") if model.get("type") == "notebook" else None

    async def copy_as_cp(self, source_user, path, target_user, target_path):
        """Copy `path` to `target_path` of another (or the same) project as `cp -r` does:
        into target_path if it is a folder, else as target_path (a file there is replaced,
        kept as name~). Returns copy()'s result with "path", where the copy is."""
        source_kind, target_kind = await asyncio.gather(
            self.kind_of(source_user, path), self.kind_of(target_user, target_path)
        )
        if source_kind is None:
            raise ServerError(404, f"{path!r} is no file or folder of the source project")
        if target_kind == "directory":
            into, name = target_path, posixpath.basename(posixpath.normpath(path))
        elif source_kind == "directory" and target_kind is not None:
            raise ServerError(
                409, f"{target_path!r} is a file in the target project: a folder cannot replace it"
            )
        else:
            into, name = posixpath.split(posixpath.normpath(target_path))
        result = await self.copy(source_user, path, target_user, into or ".", name=name,
                                 backup=target_kind is not None)  # fmt: skip
        return {**result, "path": posixpath.normpath(posixpath.join(into or ".", name))}

    async def copy(self, source_user, path, target_user, target_path, contents=False, backup=False,
                   name=None):  # fmt: skip
        """Stream `path` of one project server into `target_path` of another.

        With `contents`, the folder's contents land in target_path (not the folder itself);
        with `backup`, files the target has changed are kept as name~ before being replaced;
        with `name`, the copy is called so rather than after `path`.
        """
        try:
            return await self._copy(
                source_user, path, target_user, target_path, contents, backup, name
            )
        except httpx.HTTPError as e:
            raise ServerError(502, f"the copy was cut short: {e.__class__.__name__} {e}")

    async def _copy(self, source_user, path, target_user, target_path, contents, backup, name):
        timeout = httpx.Timeout(60, read=600, write=600)
        target_url = self.url(target_user, "smc/api/archive")
        async with httpx.AsyncClient(timeout=timeout) as client:
            # ask the target first: once the upload streams, a refusal can only cut it off
            check = await client.put(
                target_url,
                params={"path": target_path, "check": "1"},
                # the server answers before reading a body: do not reuse this connection
                headers={**self.headers(target_user), "Connection": "close"},
            )
            if check.status_code != 200:
                raise ServerError(
                    _client_status(check.status_code),
                    f"writing into {target_path!r} of the target project: {_message(check)}",
                )
            async with client.stream(
                "GET",
                self.url(source_user, "smc/api/archive"),
                params={
                    "path": path,
                    **({"contents": "1"} if contents else {}),
                    **({"name": name} if name else {}),
                },
                headers=self.headers(source_user),
            ) as download:
                if download.status_code != 200:
                    await download.aread()
                    raise ServerError(
                        _client_status(download.status_code),
                        f"reading {path!r} from the source project: {_message(download)}",
                    )
                upload = await client.put(
                    target_url,
                    params={"path": target_path, **({"backup": "1"} if backup else {})},
                    headers={**self.headers(target_user), "Content-Type": "application/x-tar"},
                    content=download.aiter_raw(CHUNK),
                )
        if upload.status_code != 200:
            raise ServerError(
                _client_status(upload.status_code),
                f"writing into {target_path!r} of the target project: {_message(upload)}",
            )
        body = upload.json()
        result = {"files": body.get("files"), "bytes": body.get("bytes")}
        if backup:
            result["backed_up"] = body.get("backed_up", [])
        return result


def _raise_start_failure(user, exc):
    """A finished start's failure as a ServerError with the status a person should see."""
    if exc is None:
        return
    if isinstance(exc, ServerError):
        raise exc
    # the spawner refuses with HTTP statuses of its own (limits 403, no room 503)
    if isinstance(exc, web.HTTPError):
        message = exc.log_message % exc.args if exc.args else exc.log_message
        raise ServerError(exc.status_code, message or str(exc)) from exc
    raise ServerError(500, f"Project failed to start: {exc}") from exc


def _message(response):
    try:
        return response.json().get("message") or response.reason_phrase
    except ValueError:
        return response.reason_phrase


def _client_status(status):
    # the server's 4xx (bad path, too large) are the caller's to fix; anything else is ours
    return status if 400 <= status < 500 and status not in (401, 403) else 502
