"""A fork server for the local node: project servers forked from a pre-imported process.

Starting ``python -m jupyterhub.singleuser`` costs seconds, nearly all of it importing
jupyter-server, JupyterLab and their extensions. The fork server is a long-lived process
(one per local node, started by the hub) that imports all of that once, freezes it
(``gc.freeze()``, so children keep the pages shared) and then forks a child for each
project server. The child takes the project's cgroup, log, Unix account, folder and
environment, then runs the server module in-process, as ``python -m`` would have.

Protocol, over a Unix stream socket (mode 0600, in a folder only root can open; peers
must be root or the fork server's own user, checked with SO_PEERCRED), one request per
connection:

- ``ping\\n`` -> ``{"pid": ..., "preloaded": ..., "import_seconds": ...}\\n``
- ``exit\\n`` -> ``{"exiting": true}\\n``, and the fork server exits
- ``spawn\\n`` -> the fork server forks at once and answers ``{"pid": <child>}\\n``;
  the hub then sends one byte carrying the log file descriptor (SCM_RIGHTS) and the
  request as a JSON line (module, argv, env, cwd, uid, gid, groups, cgroups); the *child*
  reads it, sets itself up and answers ``{"ok": true}\\n`` or ``{"error": "..."}\\n``.

The fork server itself never reads a request: the project's environment (its API token,
OAuth client) goes to the child alone, so no child can find another project's secrets in
memory it inherited. The fork server starts with a clean environment for the same reason:
the PATH and locale every project gets, and what JupyterHub passes on by default. It runs
with ``python -P``: a project's folder is never on its server's module search path.

Lifecycle: the hub starts it at start-up and on first use, restarts it if it died, and
stops it when the hub stops; it exits by itself if the hub goes away. Project servers are
not affected by either: each child has its own session, and the hub finds it again by
pid (as it does after a hub restart). Whenever the fork server cannot be used, the local
backend starts the server as a new process instead, and logs why.
"""

import asyncio
import gc
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback

from . import procfs
from .folders import NotOurFolder, own_folder

# what a project server imports as it starts, and nothing else: with these loaded, a
# forked child imports no more (compare sys.modules of a server started with Popen).
# Importing more is not harmless: jupyterlab.labhubapp, for one, patches jupyter-server's
# handlers for the older, non-extension way of running singleuser servers.
PRELOAD = (
    "jupyterhub.singleuser",
    "jupyterhub.singleuser.extension",
    "jupyter_server.serverapp",
    "jupyter_server.files.handlers",
    "jupyter_server.kernelspecs.handlers",
    "jupyter_server.nbconvert.handlers",
    "jupyter_server.services.api.handlers",
    "jupyter_server.services.config.handlers",
    "jupyter_server.services.contents.handlers",
    "jupyter_server.services.events.handlers",
    "jupyter_server.services.kernels.handlers",
    "jupyter_server.services.kernelspecs.handlers",
    "jupyter_server.services.nbconvert.handlers",
    "jupyter_server.services.security.handlers",
    "jupyter_server.services.sessions.handlers",
    "jupyter_server.services.shutdown",
    "jupyter_server.view.handlers",
    "jupyter_core.migrate",
    "jupyterlab.labapp",
    "jupyter_server_terminals.app",
    "jupyter_server_fileid.extension",
    "jupyter_server_ydoc.app",
    "smchub.extensions.localhub.app",
    # the server's authorizer_class (ProjectSpawner's args), imported as it starts
    "smchub.extensions.localhub.authorizer",
    "smchub.extensions.localhub.history",
    "tornado.platform.asyncio",
    "jinja2.ext",
    "psutil",
    "runpy",
)

# Modules that read the environment as they are imported keep the fork server's values.
# A scan of every module a project server loads (module- and class-level reads of
# os.environ, HOME, the user) found two kinds. Those below change what a server does, so
# a project whose environment differs in one of them is started as a new process:
IMPORT_TIME_ENV = (
    "PYTHONPATH",
    "JUPYTERHUB_SINGLEUSER_APP",  # jupyterhub.singleuser: which app to run
    "JUPYTERHUB_SINGLEUSER_EXTENSION",
    "JUPYTERHUB_SINGLEUSER_LOAD_OTHER_EXTENSIONS",  # JupyterHubSingleUser
    "JUPYTERHUB_XSRF_ANONYMOUS_ID_HEADERS",  # jupyterhub._xsrf_utils
    "JUPYTER_ALLOW_INSECURE_WRITES",  # jupyter_core.paths
    "ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",  # jupyterlab
)  # fmt: skip
# The others are traits whose defaults were computed at import; every forked server gets
# them set again from its own environment (see _import_time_config). What remains is
# unused by project servers: jupyterhub.metrics (the hub's), send2trash (singleuser
# servers delete without a trash), zmq's backend choice, frozenlist/propcache switches.

# what the fork server inherits from the hub: what project servers inherit by default
# (JupyterHub's Spawner.env_keep); no secrets are among these
FORK_SERVER_ENV = ("JUPYTERHUB_SINGLEUSER_APP",)

MAX_REQUEST_BYTES = 4 * 2**20
CGROUP_ROOT = "/sys/fs/cgroup/"


class ForkServerError(RuntimeError):
    """The fork server could not start a project server; the message says why."""


# --- the hub's side ----------------------------------------------------------------


class ForkServer:
    """The hub's handle on one node's fork server: starts, asks, restarts and stops it."""

    def __init__(self, socket_path, log_path, log, preload=PRELOAD, python=sys.executable,
                 base_env=None, log_max_bytes=10 * 2**20):  # fmt: skip
        self.socket_path = socket_path
        self.base_env = dict(base_env or {"LANG": "C.UTF-8"})
        self.log_path = log_path
        self.log_max_bytes = log_max_bytes
        self.log = log
        self.preload = tuple(preload)
        self.python = python
        self.proc = None
        self.pid = None
        self._starting = None
        self._failed_at = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None and self.pid is not None

    def environment(self):
        """The fork server's environment: the base a project server's is made from."""
        env = {key: os.environ[key] for key in FORK_SERVER_ENV if key in os.environ}
        env.update(self.base_env)
        return env

    def can_serve(self, env):
        """Whether a server with environment `env` can be forked from this one."""
        mine = self.environment()
        return all(env.get(key) == mine.get(key) for key in IMPORT_TIME_ENV)

    async def ensure_running(self, timeout, retry_after=60):
        """Start the fork server if it is not running; wait until it answers."""
        if self.running:
            return
        if self._failed_at is not None and time.monotonic() - self._failed_at < retry_after:
            raise ForkServerError(
                f"the fork server failed to start less than {retry_after}s ago; see {self.log_path}"
            )
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start(timeout))
        try:
            await asyncio.shield(self._starting)
        except ForkServerError:
            self._failed_at = time.monotonic()
            raise

    def start_soon(self, timeout):
        """Begin starting the fork server in the background (at hub start-up)."""
        if self.running or (self._starting is not None and not self._starting.done()):
            return
        self._starting = asyncio.ensure_future(self._start(timeout))
        # the outcome is logged by _start; a later spawn retries if it failed
        self._starting.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _start(self, timeout):
        try:
            await self._launch(timeout)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if not isinstance(e, ForkServerError):
                e = ForkServerError(f"cannot start the fork server: {e}")
            self.log.warning("%s", e)
            raise e

    async def _launch(self, timeout):
        await self._replace_stale()
        _private_dir(os.path.dirname(self.socket_path))
        os.makedirs(os.path.dirname(self.log_path), mode=0o700, exist_ok=True)
        cmd = [
            self.python, "-P", "-m", "smchub.spawners.forkserver",
            "--socket", self.socket_path,
            "--parent", str(os.getpid()),
            "--preload", ",".join(self.preload),
        ]  # fmt: skip
        mode = "ab"
        if os.path.exists(self.log_path) and os.path.getsize(self.log_path) > self.log_max_bytes:
            mode = "wb"
        with open(self.log_path, mode, buffering=0) as log:
            self.proc = subprocess.Popen(
                cmd,
                env=self.environment(),
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self.pid = None
        self.log.info("Starting the fork server (pid %s) at %s", self.proc.pid, self.socket_path)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ForkServerError(
                    f"the fork server exited with status {self.proc.returncode} while "
                    f"starting; see {self.log_path}"
                )
            try:
                info = await self.request("ping", timeout=5)
            except (OSError, ForkServerError, asyncio.TimeoutError):
                info = None
            if info and info.get("pid") == self.proc.pid:
                self.pid = info["pid"]
                self._failed_at = None
                self.log.info(
                    "Fork server ready (pid %s): %s modules imported in %.1fs",
                    self.pid, info.get("preloaded"), info.get("import_seconds", 0),
                )  # fmt: skip
                return
            if time.monotonic() > deadline:
                self._terminate(self.proc)
                raise ForkServerError(
                    f"the fork server did not answer within {timeout}s; see {self.log_path}"
                )
            await asyncio.sleep(0.05)

    async def _replace_stale(self):
        """Ask a fork server left by an earlier hub on our socket to exit."""
        if not os.path.exists(self.socket_path):
            return
        try:
            info = await self.request("ping", timeout=2)
        except (OSError, ForkServerError, asyncio.TimeoutError):
            info = None
        if info:
            self.log.warning("Replacing the fork server (pid %s) of an earlier hub", info["pid"])
            try:
                await self.request("exit", timeout=2)
            except (OSError, ForkServerError, asyncio.TimeoutError):
                pass
            for _ in range(50):
                if not _pid_alive(info["pid"]):
                    break
                await asyncio.sleep(0.05)
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass

    async def _connect(self):
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, self.socket_path)
        except BaseException:
            sock.close()
            raise
        return sock

    async def request(self, op, timeout=10):
        """A simple request (ping, exit) and its JSON answer."""

        async def ask():
            sock = await self._connect()
            try:
                loop = asyncio.get_running_loop()
                await loop.sock_sendall(sock, op.encode() + b"\n")
                return await _read_json_line(sock)
            finally:
                sock.close()

        return await asyncio.wait_for(ask(), timeout)

    async def spawn(self, module, args, env, cwd, log_fd, uid=None, gid=None, groups=(),
                    cgroup_paths=(), hide_processes=False, timeout=30):  # fmt: skip
        """Fork a project server; returns its pid once it has taken its account and cgroup."""
        request = {
            "module": module,
            "args": list(args),
            "env": dict(env),
            "cwd": cwd,
            "uid": uid,
            "gid": gid,
            "groups": list(groups),
            "cgroups": list(cgroup_paths),
            "hide_processes": hide_processes,
        }
        payload = json.dumps(request).encode() + b"\n"
        loop = asyncio.get_running_loop()

        async def exchange():
            sock = await self._connect()
            try:
                await loop.sock_sendall(sock, b"spawn\n")
                pid = (await _read_json_line(sock)).get("pid")
                if not isinstance(pid, int):
                    raise ForkServerError("the fork server did not fork")
                await _send_fd(sock, log_fd)
                await loop.sock_sendall(sock, payload)
                answer = await _read_json_line(sock)
            finally:
                sock.close()
            if not answer.get("ok"):
                raise ForkServerError(
                    f"the forked server could not set itself up: {answer.get('error')}"
                )
            return pid

        try:
            return await asyncio.wait_for(exchange(), timeout)
        except asyncio.TimeoutError:
            raise ForkServerError(f"no answer from the fork server within {timeout}s")
        except OSError as e:
            raise ForkServerError(f"cannot talk to the fork server: {e}")

    async def stop(self):
        """Stop the fork server (project servers it forked keep running)."""
        proc, self.proc, self.pid = self.proc, None, None
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            for _ in range(40):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            self._terminate(proc)
        self.log.info("Stopped the fork server (pid %s)", proc.pid)

    @staticmethod
    def _terminate(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _read_json_line(sock, limit=64 * 1024):
    loop = asyncio.get_running_loop()
    data = b""
    while not data.endswith(b"\n"):
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            raise ForkServerError("the fork server closed the connection")
        data += chunk
        if len(data) > limit:
            raise ForkServerError("the fork server's answer is too long")
    try:
        answer = json.loads(data)
    except ValueError:
        raise ForkServerError(f"the fork server's answer is not JSON: {data[:200]!r}")
    if not isinstance(answer, dict):
        raise ForkServerError("the fork server's answer is not an object")
    return answer


async def _send_fd(sock, fd):
    # one byte carries the descriptor; it fits in any socket buffer, so this does not
    # block for long on a socket the peer is reading
    for _ in range(100):
        try:
            socket.send_fds(sock, [b"F"], [fd])
            return
        except BlockingIOError:
            await asyncio.sleep(0.01)
    raise ForkServerError("cannot pass the log file to the fork server")


def _private_dir(path):
    """Make sure `path` is a folder only this user (root, when the hub is) can open."""
    try:
        own_folder(path, 0o700)
    except NotOurFolder as e:
        raise ForkServerError(f"{e}; remove it") from None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def socket_path_for(run_dir, node_name):
    """Where a node's fork server listens; Unix socket paths must stay short."""
    path = os.path.join(run_dir, f"forkserver-{node_name}.sock")
    if len(path.encode()) <= 100:
        return path
    import hashlib

    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return os.path.join("/tmp", f"smchub-{os.geteuid()}-{digest}", f"forkserver-{node_name}.sock")


def runnable_module(cmd):
    """The module of a `python -m <module>` command run by this interpreter, else None."""
    if len(cmd) < 3 or cmd[1] != "-m":
        return None
    # the same interpreter in the same environment (a venv is found next to its python)
    python, mine = os.path.abspath(cmd[0]), os.path.abspath(sys.executable)
    if os.path.dirname(python) != os.path.dirname(mine):
        return None
    if os.path.realpath(python) != os.path.realpath(mine):
        return None
    return cmd[2]


# --- the fork server's side ------------------------------------------------------------


def _say(message, *args):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stderr.write(f"[forkserver {stamp}] {message % args if args else message}\n")
    sys.stderr.flush()


class _Server:
    def __init__(self, socket_path, parent_pid, preload):
        self.socket_path = socket_path
        self.parent_pid = parent_pid
        self.preload = preload
        self.pid = os.getpid()
        self.children = set()
        self.exited = []
        self.stopping = False
        self.imported = 0
        self.import_seconds = 0.0

    def import_modules(self):
        # no collections while importing: freed cycles would leave holes in pages that
        # children then write into; after freeze() no collection touches these objects
        gc.disable()
        tic = time.monotonic()
        for name in self.preload:
            try:
                __import__(name)
                self.imported += 1
            except Exception as e:
                _say("cannot preload %s: %s", name, e)
        self.import_seconds = time.monotonic() - tic
        import threading

        if threading.active_count() != 1:
            # forking with other threads running would copy locks they hold
            raise SystemExit(f"preloading started threads: {threading.enumerate()}")
        gc.freeze()
        gc.enable()

    def serve(self):
        self.saved_handlers = {
            sig: signal.getsignal(sig)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        signal.signal(signal.SIGCHLD, lambda *_: self.reap())
        signal.signal(signal.SIGTERM, self._stop_signal)
        signal.signal(signal.SIGINT, self._stop_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(self.socket_path)
        finally:
            os.umask(old_umask)
        os.chmod(self.socket_path, 0o600)
        self._socket_inode = os.stat(self.socket_path).st_ino
        listener.listen(128)
        # wakes up 4 times a second to notice a stop or the hub's end
        listener.settimeout(0.25)
        self.listener = listener
        _say("ready: pid %s, %s modules imported in %.2fs, listening on %s",
             self.pid, self.imported, self.import_seconds, self.socket_path)  # fmt: skip
        try:
            while not self.stopping:
                if self.parent_pid and os.getppid() != self.parent_pid:
                    _say("the hub (pid %s) is gone; exiting", self.parent_pid)
                    break
                self.log_exits()
                try:
                    conn, _ = listener.accept()
                except (TimeoutError, InterruptedError):
                    continue
                if self.parent_pid and os.getppid() != self.parent_pid:
                    # a request the hub sent just before it died: the next hub, which
                    # may already be clearing what that start left, gets no new server
                    conn.close()
                    _say("the hub (pid %s) is gone; exiting", self.parent_pid)
                    break
                try:
                    self.handle(conn)
                except Exception:
                    _say("request failed:\n%s", traceback.format_exc())
                finally:
                    if os.getpid() == self.pid:
                        conn.close()
        finally:
            if os.getpid() == self.pid:
                listener.close()
                try:
                    if os.stat(self.socket_path).st_ino == self._socket_inode:
                        os.unlink(self.socket_path)
                except (FileNotFoundError, AttributeError):
                    pass
                _say("stopped")

    def _stop_signal(self, signum, frame):
        self.stopping = True

    def reap(self):
        """Collect children that exited (on SIGCHLD; logging waits for the loop)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.exited.append((pid, os.waitstatus_to_exitcode(status)))

    def log_exits(self):
        while self.exited:
            pid, code = self.exited.pop(0)
            _say("project server %s exited with status %s", pid, code)

    def handle(self, conn):
        conn.settimeout(10)
        _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        struct.calcsize("3i")))  # fmt: skip
        if uid not in (0, os.getuid()):
            _say("refused a connection from uid %s", uid)
            return
        # the first line only: a spawn's request is for the child to read
        op = b""
        while not op.endswith(b"\n") and len(op) < 16:
            chunk = conn.recv(16 - len(op))
            if not chunk:
                return
            op += chunk
        op = op.strip()
        if op == b"ping":
            conn.sendall(self._json({
                "pid": self.pid, "preloaded": self.imported,
                "import_seconds": round(self.import_seconds, 3), "children": len(self.children),
            }))  # fmt: skip
        elif op == b"exit":
            conn.sendall(self._json({"exiting": True}))
            self.stopping = True
        elif op == b"spawn":
            self.fork(conn)
        else:
            _say("unknown request %r", op)

    @staticmethod
    def _json(obj):
        return json.dumps(obj).encode() + b"\n"

    def fork(self, conn):
        sys.stdout.flush()
        sys.stderr.flush()
        # no handler of ours may run in the child before it has put back the defaults
        blocked = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for sig, handler in self.saved_handlers.items():
                    signal.signal(sig, handler)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
                self.listener.close()
                code = _run_child(conn)
            except BaseException:
                traceback.print_exc()
            finally:
                # never return into the fork server's loop (and its clean-up)
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        self.children.add(pid)
        conn.sendall(self._json({"pid": pid}))
        _say("forked project server %s", pid)


def _run_child(conn):
    """In the child: take the request, become the project, run its server; an exit code."""
    os.setsid()
    try:
        request, log_fd = read_request(conn)
        _become(request, log_fd)
    except Exception as e:
        try:
            conn.sendall(_Server._json({"error": str(e) or type(e).__name__}))
        except OSError:
            pass
        return 1
    conn.sendall(_Server._json({"ok": True}))
    conn.close()
    # nothing of the fork server's stays open in the project's server
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    # first, so that the spawner's own arguments still win
    args = [*_import_time_config(os.environ), *request["args"]]
    _set_command_line([sys.executable, "-m", request["module"], *request["args"]])
    return _run_module(request["module"], args)


def _set_command_line(argv):
    """Show `argv` as this process's command line (ps, the localhub info page).

    A forked child would otherwise show the fork server's. The kernel reads the command
    line from the memory that held the original arguments; it is rewritten in place, cut
    to the room there is (the fork server's own arguments are long).
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # arg_start and arg_end are fields 48 and 49; the list starts at field 3
        start, end = int(fields[45]), int(fields[46])
        import ctypes

        text = "\0".join(argv).encode(errors="replace")[: end - start - 1]
        ctypes.memmove(start, text.ljust(end - start, b"\0"), end - start)
    except (OSError, ValueError, IndexError):
        pass


def _import_time_config(env):
    """Settings for trait defaults that modules computed from the environment at import.

    The fork server imported them with its own environment; these give the values a new
    `python -m jupyterhub.singleuser` would have computed from the project's.
    """
    from jupyter_core.paths import jupyter_data_dir

    args = [
        # jupyterhub.services.auth.HubAuth: cookie and redirect paths of the server
        f"--HubAuth.base_url={env.get('JUPYTERHUB_SERVICE_PREFIX') or '/'}",
        # jupyter_client.session.Session: the user named in kernel messages
        f"--Session.username={env.get('USER', 'username')}",
        # jupyter_server_fileid: its database, in the project's Jupyter data folder
        f"--BaseFileIdManager.db_path={os.path.join(jupyter_data_dir(), 'file_id_manager.db')}",
    ]
    for variable, trait in (
        ("JUPYTERHUB_SSL_KEYFILE", "keyfile"),
        ("JUPYTERHUB_SSL_CERTFILE", "certfile"),
        ("JUPYTERHUB_SSL_CLIENT_CA", "client_ca"),
    ):
        args.append(f"--HubAuth.{trait}={env.get(variable, '')}")
    for variable, trait, fallback in (
        ("JUPYTERHUB_ALLOW_TOKEN_IN_URL", "allow_token_in_url", False),
        ("JUPYTERHUB_ALLOW_WEBSOCKET_COOKIE_AUTH", "allow_websocket_cookie_auth", True),
    ):
        # as jupyterhub.utils._bool_env reads them
        value = env.get(variable, "")
        enabled = fallback if value == "" else value.lower() not in ("0", "false")
        args.append(f"--HubAuth.{trait}={enabled}")
    return args


def read_request(conn):
    """A fork request from the hub: the project server's log file descriptor first, then
    one JSON line, checked (check_request) before anything is done with it."""
    message, fds, _, _ = socket.recv_fds(conn, 1, 1)
    if message != b"F" or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise ForkServerError("expected the log file descriptor first")
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ForkServerError("the request ended early")
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ForkServerError("the request is too large")
    request = json.loads(data)
    check_request(request)
    return request, fds[0]


def check_request(request):
    """Refuse a request whose fields are not what the hub sends (ForkServerError names
    every bad field): the fork server runs as root and trusts nothing it is sent."""
    problems = []
    if not isinstance(request, dict):
        raise ForkServerError("bad request: not a JSON object")
    if not isinstance(request.get("module"), str) or not request["module"]:
        problems.append("module")
    if not _all(request.get("args"), list, str):
        problems.append("args")
    env = request.get("env")
    if not (_all(env, dict, str) and _all(list(env.values()), list, str)):
        problems.append("env")
    if not isinstance(request.get("cwd"), str) or not os.path.isabs(request["cwd"]):
        problems.append("cwd")
    for key in ("uid", "gid"):
        if request.get(key) is not None and type(request[key]) is not int:
            problems.append(key)
    if not _all(request.get("groups"), list, int):
        problems.append("groups")
    if type(request.get("hide_processes", False)) is not bool:
        problems.append("hide_processes")
    if not _all(request.get("cgroups"), list, str) or not all(
        os.path.realpath(path).startswith(CGROUP_ROOT) for path in request["cgroups"]
    ):
        problems.append("cgroups")
    # a project server never runs as root
    if os.geteuid() == 0 and (not request.get("uid") or not request.get("gid")):
        problems.append("uid/gid (refusing to run a project server as root)")
    if problems:
        raise ForkServerError(f"bad request: {', '.join(problems)}")


def _all(value, container, kind):
    return isinstance(value, container) and all(type(item) is kind for item in value)


def _become(request, log_fd):
    """Join the project's cgroup (while root), take its log, account, folder, environment."""
    pid = str(os.getpid())
    for path in request["cgroups"]:
        with open(os.path.join(os.path.realpath(path), "cgroup.procs"), "w") as f:
            f.write(pid)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    if request.get("hide_processes"):
        procfs.hide_other_processes()
    if request["uid"] is not None:
        os.setgroups(request["groups"])
        os.setgid(request["gid"])
        os.setuid(request["uid"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    ensure_jupyter_data_dir(os.environ)


def ensure_jupyter_data_dir(env):
    """Make the project's Jupyter data folder (as the project, never following a link
    as root): kernels run from a runtime folder outside it, so nothing else makes it, and
    server extensions keep their databases there."""
    home = env.get("HOME")
    path = env.get("JUPYTER_DATA_DIR") or (home and os.path.join(home, ".local/share/jupyter"))
    if path:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError:
            pass  # the extension that needs it says why in the server's log


def _run_module(module, args):
    """Run `module` as `python -m module args...` would, in this process."""
    import atexit
    import runpy

    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="smchub's fork server for project servers")
    parser.add_argument("--socket", required=True, help="the Unix socket to listen on")
    parser.add_argument("--parent", type=int, default=0, help="exit when this pid is gone")
    parser.add_argument("--preload", default=",".join(PRELOAD), help="modules to import")
    options = parser.parse_args(argv)
    server = _Server(options.socket, options.parent, [m for m in options.preload.split(",") if m])
    server.import_modules()
    server.serve()


if __name__ == "__main__":
    main()
