"""The local backend: a project server as a process on the hub's own machine.

When the hub runs as root (as SageMathCloud's compute nodes did), each project runs as
its own Unix account, in a home folder only that account can open, inside a cgroup that
holds it to its memory and CPU quotas. Otherwise every project runs as the hub's own
user, and the log and the project's info say that projects are neither isolated nor
limited.
"""

import asyncio
import os
import pwd
import signal
import subprocess
import sys
import time

import psutil
from tornado import web
from traitlets import (
    Bool,
    Float,
    Integer,
    List,
    TraitError,
    Tuple,
    Unicode,
    default,
    validate,
)

from ..names import unix_name
from . import cgroups, forkserver, homes, kernel_sockets, local_snapshots, procfs, unixuser
from .backend import NodeBackend
from .exit_watch import ExitWatch
from .ports import NoFreePort, bindable, check_port_range, choose_port, holders, listeners

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# starts of a project's server, each on another port, while other accounts take its port
PORT_ATTEMPTS = 3


class LocalBackend(NodeBackend):
    """Runs project servers as local processes."""

    kind = "local"

    log_max_bytes = Integer(
        10 * 1024 * 1024,
        help="A project server's log is started afresh when it is larger than this.",
    ).tag(config=True)

    stop_timeout = Integer(
        10, help="Seconds a project server gets to exit after SIGTERM before SIGKILL."
    ).tag(config=True)

    pids_limit = Integer(
        512,
        min=16,
        help="""Most processes and threads a local project may have at once (cgroup pids.max).

        Holds a fork bomb in one project to its own share, so the node (the hub included)
        can still start processes. A project server with a few kernels and terminals uses
        well under a hundred.
        """,
    ).tag(config=True)

    hide_other_processes = Bool(
        True,
        help="""Give each project a /proc that shows its own processes only.

        Each project server gets a mount namespace of its own with a procfs mounted
        hidepid=invisible: other projects', the hub's and the proxy's processes (their
        command lines, owners, start times) are not visible to it. Needs the hub to be
        root and Linux 5.8 or later; a project whose server cannot set it up does not
        start, and its log says why (turn this off on older kernels).
        """,
    ).tag(config=True)

    port_range = Tuple(
        Integer(),
        Integer(),
        default_value=(20000, 29999),
        help="""Loopback ports that project servers listen on (first, last).

        Keep it below the machine's ephemeral ports (net.ipv4.ip_local_port_range, 32768
        and up by default), which the kernel hands to outgoing connections at any time.
        Projects' own programs may listen on these ports too: the hub takes one that
        nothing listens on.""",
    ).tag(config=True)

    @validate("port_range")
    def _validate_port_range(self, proposal):
        return check_port_range(proposal.value, "c.LocalBackend.port_range")

    def _pick_port(self, address, exclude=()):
        """A port of `address` for a new server: no other server of this hub's has it,
        nor `exclude`, and nothing listens there now."""
        taken = self.ports_in_use() | set(exclude)
        for _ in range(50):
            try:
                port = choose_port(self.port_range, taken)
            except NoFreePort as e:
                raise self._no_free_port(str(e)) from None
            if bindable(address, port):
                return port
            taken.add(port)
        raise self._no_free_port(f"50 ports of {self.port_range} tried were in use")

    def _no_free_port(self, reason):
        held = holders(self.port_range)
        self.log.warning(
            "Node %s: no free port for a project server (%s); listening in %s: %s",
            self.node_name, reason, self.port_range,
            ", ".join(f"{_account_name(uid)} on {n}" for uid, n in held.most_common(10)),
        )  # fmt: skip
        return web.HTTPError(
            503,
            f"Node {self.node_name} has no free port for the project's server ({reason}): "
            "the hub's admin can widen c.LocalBackend.port_range, and its log says who "
            "holds the ports.",
        )

    use_fork_server = Bool(
        True,
        help="""Fork project servers from a process that has imported them already.

        A new `python -m jupyterhub.singleuser` spends seconds importing jupyter-server,
        JupyterLab and their extensions. With this on, each local node has a fork server
        (started with the hub, stopped with it, restarted if it dies) that imports all of
        that once; every project server is a child of it that takes the project's Unix
        account, cgroup, folder and environment, as a new process would. Starts are many
        times faster, and servers share the imported code's memory.

        It is used when the spawner's command is `python -m <module>` with the hub's own
        Python (the default). Otherwise, or if the fork server fails, the project server
        is started as a new process, and the hub's log says why.
        """,
    ).tag(config=True)

    fork_server_timeout = Float(
        60,
        help="""Seconds the fork server gets to import the server's modules and answer.

        A start that finds it not ready waits this long, then starts a new process.
        """,
    ).tag(config=True)

    fork_server_preload = List(
        Unicode(),
        help="""Modules the fork server imports before forking project servers.

        The default covers everything jupyterhub-singleuser with JupyterLab, terminals,
        real-time collaboration and the localhub extension imports as it starts. Add the
        modules of other server extensions you install, so they are imported once.
        """,
    ).tag(config=True)

    @default("fork_server_preload")
    def _fork_server_preload_default(self):
        return list(forkserver.PRELOAD)

    kernel_sockets_root = Unicode(
        help=f"""Folder holding each local project's kernel sockets, one private folder each.

        Kernels talk to their server over Unix sockets (not TCP ports, which every
        account on the node could connect to), named after their connection files; a
        socket's path must fit in 107 bytes, so this folder's path must be short (at
        most {kernel_sockets.ROOT_MAX_CHARS} characters). Default: /run/smchub-kernels when
        the hub is root, else a folder of the hub's user in the system's temporary folder.
        """,
    ).tag(config=True)

    @default("kernel_sockets_root")
    def _kernel_sockets_root_default(self):
        return kernel_sockets.default_root()

    @validate("kernel_sockets_root")
    def _check_kernel_sockets_root(self, proposal):
        try:
            return kernel_sockets.check_root(proposal["value"])
        except ValueError as e:
            raise TraitError(f"c.LocalBackend.kernel_sockets_root: {e}") from e

    _cgroups = None  # detected once per process: (version, roots or reason)
    _fork_servers = {}  # socket path -> ForkServer, shared by this process's backends

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # project id -> the Popen of a server this backend started itself (not through
        # the fork server): poll and stop reap it, so it never lingers as a zombie
        self._children = {}
        self._exits = ExitWatch(self.log)

    projects_root = Unicode(
        help="""Folder of this node's project homes (node option; default: the hub's,
        <c.SMCHub.data_dir>/projects).""",
    ).tag(node_option=True)

    @default("projects_root")
    def _projects_root_default(self):
        return self.hub.projects_root

    @property
    def logs_dir(self):
        return os.path.join(os.path.dirname(self.projects_root), "logs")

    @property
    def run_dir(self):
        return os.path.join(os.path.dirname(self.projects_root), "run")

    def home_for(self, project_id):
        return os.path.join(self.projects_root, project_id)

    @classmethod
    def cgroup_support(cls):
        if cls._cgroups is None:
            cls._cgroups = cgroups.detect() if os.geteuid() == 0 else (None, "the hub is not root")
        return cls._cgroups

    def _open_log(self, project_id):
        os.makedirs(self.logs_dir, mode=0o700, exist_ok=True)
        path = os.path.join(self.logs_dir, f"{project_id}.log")
        mode = "ab"
        if os.path.exists(path) and os.path.getsize(path) > self.log_max_bytes:
            mode = "wb"
        return open(path, mode, buffering=0)

    async def prepare(self, project_id):
        """The project's account and home; returns (account or None, home)."""
        home = self.home_for(project_id)
        if unixuser.running_as_root():
            account = await unixuser.ensure_account(unix_name(project_id), home)
            unixuser.ensure_home(home, account.uid, account.gid)
            return account, home
        os.makedirs(home, mode=0o700, exist_ok=True)
        return None, home

    def kernel_runtime_dir(self, project_id, account):
        """The project's private folder for kernel sockets and connection files."""
        owner = (account.uid, account.gid) if account else (os.geteuid(), os.getegid())
        return kernel_sockets.ensure_project_dir(self.kernel_sockets_root, project_id, *owner)

    def limits(self, project_id, quotas):
        """The project's cgroup (or None) and a note on what is enforced."""
        version, roots = self.cgroup_support()
        if version is None:
            note = f"memory and CPU limits are not enforced on node {self.node_name}: {roots}"
            self.log.warning("Project %s: %s", project_id, note)
            return None, note
        group = cgroups.ProjectCgroup(version, roots, project_id)
        try:
            pids_enforced = group.create(quotas["memory_mb"], quotas["cpu"], self.pids_limit)
        except (OSError, cgroups.CgroupError) as e:
            note = f"memory and CPU limits are not enforced on node {self.node_name}: {e}"
            self.log.warning("Project %s: %s", project_id, note)
            return None, note
        if pids_enforced:
            processes = f"at most {self.pids_limit} processes"
        else:
            processes = "no process limit (the kernel offers no pids cgroup)"
            self.log.warning("Project %s: %s on node %s", project_id, processes, self.node_name)
        note = (
            f"{quotas['memory_mb']} MB of memory, {quotas['cpu']:g} CPU and {processes} "
            f"enforced by cgroup {version}; the disk quota is reported, not enforced"
        )
        return group, note

    def base_env(self):
        """What every local project server's environment has, whoever the project."""
        bindir = os.path.dirname(sys.executable)
        return {"PATH": f"{bindir}:{DEFAULT_PATH}", "LANG": os.environ.get("LANG", "C.UTF-8")}

    def environment(self, spawner, account, home, runtime_dir):
        env = spawner.get_env()
        env.update(self.base_env(), HOME=home, SHELL="/bin/bash")
        env["JUPYTER_RUNTIME_DIR"] = runtime_dir
        if account is not None:
            env.update(USER=account.name, LOGNAME=account.name)
        return env

    async def start(self, spawner, project, quotas):
        account, home = await self.prepare(project.id)
        group, note = self.limits(project.id, quotas)
        spawner.ip = "127.0.0.1"
        own_uid = account.uid if account is not None else os.geteuid()
        squatted = set()
        for _ in range(PORT_ATTEMPTS):
            spawner.port = self._pick_port(spawner.ip, squatted)
            handle = await self._start_server(spawner, project, quotas, account, home, group, note)
            # Anyone on the machine may listen on a loopback port. One who took this
            # port between the pick and the server's bind has made the server exit and
            # answered the hub's check in its place: it must not get the project's
            # traffic (its people's cookies for the project's origin among it).
            others = listeners(spawner.ip, spawner.port) - {own_uid}
            if not others:
                self._exits.watch(project.id, handle["pid"], spawner)
                return spawner.ip, spawner.port, handle
            squatted.add(spawner.port)
            self.log.warning(
                "Project %s: %s listened on port %s of node %s as the project's server "
                "started there; the server is stopped and started on another port",
                project.id, ", ".join(_account_name(uid) for uid in sorted(others)),
                spawner.port, self.node_name,
            )  # fmt: skip
            await self.stop(spawner, handle, now=True)
        raise web.HTTPError(
            503,
            f"Another account's program took the port of the project's server on node "
            f"{self.node_name}, {PORT_ATTEMPTS} times; the hub's log says whose. Start "
            "the project again in a while.",
        )

    async def _start_server(self, spawner, project, quotas, account, home, group, note):
        """Run the project's server on spawner.port; its handle once it accepts
        connections (or it has had its time)."""
        runtime_dir = self.kernel_runtime_dir(project.id, account)
        env = self.environment(spawner, account, home, runtime_dir)
        env.update(self.limits_env(quotas, group is not None, note))
        cmd = spawner.cmd + spawner.get_args()

        self.log.info("Starting project %s on node %s as %s", project.id, self.node_name,
                      account.name if account else "the hub's user")  # fmt: skip
        self._children.pop(project.id, None)
        # what holds the server's processes, kept before there is one: a hub killed
        # before it learns the pid (the fork server may fork after its death) leaves the
        # next hub this to stop, not a server no one knows of
        holder = {}
        if account is not None:
            holder["uid"] = account.uid
        if group is not None:
            holder["cgroup"] = group.version
        if holder:
            spawner.keep_handle(holder)
        with self._open_log(project.id) as log:
            pid = None
            if self.use_fork_server:
                pid = await self._fork(project.id, cmd, env, home, account, group, log)
            if pid is None:
                proc = self._popen(cmd, env, home, account, group, log)
                self._children[project.id] = proc
                pid = proc.pid
        handle = {"pid": pid, "create_time": _create_time(pid)}
        if account is not None:
            handle["uid"] = account.uid
        if group is not None:
            handle["cgroup"] = group.version
        spawner.keep_handle(handle)
        await self._wait_until_listening(spawner, handle, timeout=spawner.http_timeout)
        return handle

    def _popen(self, cmd, env, home, account, group, log):
        """The project server as a new process."""
        become = unixuser.preexec_for(account) if account else None
        hide = account is not None and self.hide_other_processes

        def preexec():
            # in the child, still root: join the cgroup, then become the project
            if group is not None:
                group.join_self()
            if hide:
                procfs.hide_other_processes()
            if become is not None:
                become()
            forkserver.ensure_jupyter_data_dir(env)

        return subprocess.Popen(
            cmd,
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # its own session, so stop() can signal the server and its kernels at once
            start_new_session=True,
            preexec_fn=preexec,
        )

    # --- the fork server ---------------------------------------------------------

    def fork_server(self):
        """This node's fork server (one per node, shared by the hub's backends)."""
        path = forkserver.socket_path_for(self.run_dir, self.node_name)
        server = self._fork_servers.get(path)
        if server is None:
            log_path = os.path.join(self.logs_dir, f"forkserver-{self.node_name}.log")
            server = forkserver.ForkServer(
                path, log_path, self.log, self.fork_server_preload, base_env=self.base_env()
            )
            self._fork_servers[path] = server
        return server

    def warm(self):
        """Start the fork server in the background, so the first start finds it ready."""
        if self.use_fork_server:
            self.fork_server().start_soon(self.fork_server_timeout)

    def export_home(self, project_id):
        return homes.export_local(self, project_id)

    async def import_home(self, project_id, chunks):
        return await homes.import_local(self, project_id, chunks)

    async def snapshot_home(self, project_id, restic, trigger):
        return await local_snapshots.snapshot_local(self, project_id, restic, trigger)

    async def restore_home(self, project_id, restic, snapshot_id, source_path, target_path):
        return await local_snapshots.restore_local(
            self, project_id, restic, snapshot_id, source_path, target_path
        )

    async def close(self):
        """Stop this node's fork server (the hub is stopping); project servers keep running."""
        self._exits.forget_all()
        path = forkserver.socket_path_for(self.run_dir, self.node_name)
        server = self._fork_servers.pop(path, None)
        if server is not None:
            await server.stop()

    async def _fork(self, project_id, cmd, env, home, account, group, log):
        """The pid of the project server forked by the fork server, or None to Popen."""
        server = self.fork_server()
        module = forkserver.runnable_module(cmd)
        if module is None:
            why = "its command is not `python -m <module>` with the hub's Python"
        elif not server.can_serve(env):
            why = f"its environment changes one of {', '.join(forkserver.IMPORT_TIME_ENV)}"
        else:
            why = None
        if why:
            self.log.info("Project %s: not using the fork server: %s", project_id, why)
            return None
        try:
            await server.ensure_running(self.fork_server_timeout)
            return await server.spawn(
                module,
                cmd[3:],
                env,
                cwd=home,
                log_fd=log.fileno(),
                uid=account.uid if account else None,
                gid=account.gid if account else None,
                groups=os.getgrouplist(account.name, account.gid) if account else (),
                cgroup_paths=group.paths if group is not None else (),
                hide_processes=account is not None and self.hide_other_processes,
            )
        except forkserver.ForkServerError as e:
            self.log.warning(
                "Project %s: the fork server failed (%s); starting a new process instead",
                project_id, e,
            )  # fmt: skip
            return None

    async def _wait_until_listening(self, spawner, handle, timeout):
        """Return once the server accepts connections, so JupyterHub's first check answers.

        JupyterHub polls a new server with a backoff that grows to seconds; a server that
        starts in a tenth of a second should not wait for it. Connection attempts are
        spaced by a tenth of the time waited so far (5 ms to 200 ms): at most 10% late,
        and cheap for the hub when many projects start at once.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                _, writer = await asyncio.open_connection(spawner.ip, spawner.port)
            except OSError:
                pass
            else:
                writer.close()
                return
            status = await self.poll(spawner, handle)
            if status is not None:
                raise web.HTTPError(
                    500,
                    f"The project server exited as it started (status {status}); "
                    f"its log on node {self.node_name} says why.",
                )
            waited = loop.time() - started
            if waited > timeout:
                # JupyterHub's own wait reports the timeout
                return
            await asyncio.sleep(min(max(waited / 10, 0.005), 0.2))

    async def poll(self, spawner, handle):
        if not handle.get("pid"):
            if spawner.pending == "spawn":
                return None  # starting here, the pid comes next
            # a start a killed hub cut short before it learned the pid: not kept (its
            # address was never checked), and cleared now, since JupyterHub stops only
            # what poll calls running
            await self._clear_cut_short(spawner.project_id, handle)
            return 1
        proc = self._children.get(spawner.project_id)
        if proc is not None and proc.pid == handle.get("pid"):
            return proc.poll()
        # found again after a hub restart: it is not our child any more
        if _process(handle) is None:
            return 1
        if spawner.pending != "spawn":
            self._exits.watch(spawner.project_id, handle["pid"], spawner)
        return None

    async def stop(self, spawner, handle, now=False):
        project_id = spawner.project_id
        self._exits.forget(project_id)
        process = _process(handle)
        if process is not None:
            pgid = handle["pid"]
            _signal_group(pgid, signal.SIGKILL if now else signal.SIGTERM)
            deadline = time.monotonic() + (0 if now else self.stop_timeout)
            while _alive(process) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if _alive(process):
                self.log.warning("Project server %s ignored SIGTERM; killing it", pgid)
            _signal_group(pgid, signal.SIGKILL)
        proc = self._children.pop(project_id, None)
        if proc is not None:
            proc.poll()  # reaped, so no zombie is left behind
        if handle.get("pid"):
            await self._sweep(project_id, handle)
        else:
            await self._clear_cut_short(project_id, handle)
        kernel_sockets.remove_project_dir(self.kernel_sockets_root, project_id)

    async def _clear_cut_short(self, project_id, handle):
        """Stop what a start cut short left. A server forked just before its hub died
        may still be between fork and exec at the first sweep (not yet in the project's
        cgroup or account); the fork server forks nothing once its hub is gone, so a
        second sweep a moment later finds what is left."""
        await self._sweep(project_id, handle)
        await asyncio.sleep(1)
        await self._sweep(project_id, handle)

    async def _sweep(self, project_id, handle):
        """Stop whatever is left of the project (a kernel that left the session, a
        nohup job): its cgroup and its own account hold only its processes."""
        if handle.get("cgroup"):
            version, roots = self.cgroup_support()
            if version:
                group = cgroups.ProjectCgroup(version, roots, project_id)
                group.kill_all()
                for _ in range(50):
                    if not group.pids():
                        break
                    await asyncio.sleep(0.05)
                group.remove()
        if handle.get("uid"):
            # also outside the cgroup: a process that never got into it
            _kill_account_processes(handle["uid"])


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _kill_account_processes(uid):
    if uid in (0, os.getuid()):
        return
    for process in psutil.process_iter(["uids"]):
        try:
            if process.info["uids"] and process.info["uids"].real == uid:
                process.kill()
        except psutil.Error:
            pass


def _account_name(uid):
    try:
        return f"account {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _create_time(pid):
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _process(handle):
    """The process a handle points at, if it still runs (and is not a reused pid)."""
    pid = handle.get("pid")
    if not pid:
        return None
    try:
        process = psutil.Process(pid)
        if handle.get("create_time") and abs(process.create_time() - handle["create_time"]) > 1:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except psutil.Error:
        return None


def _alive(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
