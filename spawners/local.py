"""The local backend: a project server as a process on the hub's own machine.

When the hub runs as root (as SageMathCloud's compute nodes did), each project runs as
its own Unix account, in a home folder only that account can open. Otherwise every
project runs as the hub's own user, and the log says that projects are not isolated.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time

import psutil
from jupyterhub.utils import random_port
from traitlets import Integer, Unicode
from traitlets.config import LoggingConfigurable

from ..names import unix_name
from . import unixuser

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LocalBackend(LoggingConfigurable):
    """Runs project servers as local processes."""

    kind = "local"

    projects_root = Unicode(
        help="""Folder holding one home folder per project on this node.

        Set by the hub from c.SMCHub.data_dir; every folder above it must be
        searchable (o+x) by the per-project accounts.
        """
    ).tag(config=True)

    log_max_bytes = Integer(
        10 * 1024 * 1024,
        help="A project server's log is started afresh when it is larger than this.",
    ).tag(config=True)

    stop_timeout = Integer(
        10, help="Seconds a project server gets to exit after SIGTERM before SIGKILL."
    ).tag(config=True)

    _warned_not_root = False

    def home_for(self, project_id):
        return os.path.join(self.projects_root, project_id)

    def log_path(self, project_id):
        return os.path.join(os.path.dirname(self.projects_root), "logs", f"{project_id}.log")

    def _open_log(self, project_id):
        path = self.log_path(project_id)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
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
        if not self._warned_not_root:
            self.log.warning(
                "The hub is not running as root: every project runs as %s, "
                "without per-project accounts",
                os.environ.get("USER", os.getuid()),
            )
            LocalBackend._warned_not_root = True
        os.makedirs(home, mode=0o700, exist_ok=True)
        return None, home

    def environment(self, spawner, account, home):
        env = spawner.get_env()
        bindir = os.path.dirname(sys.executable)
        env.update(
            HOME=home,
            SHELL="/bin/bash",
            PATH=f"{bindir}:{DEFAULT_PATH}",
            LANG=os.environ.get("LANG", "C.UTF-8"),
        )
        if account is not None:
            env.update(USER=account.name, LOGNAME=account.name)
        return env

    async def start(self, spawner, project_id):
        """Start the server; returns (ip, port, handle)."""
        account, home = await self.prepare(project_id)
        ip = "127.0.0.1"
        spawner.ip = ip
        spawner.port = random_port()
        env = self.environment(spawner, account, home)
        cmd = spawner.cmd + spawner.get_args()
        self.log.info("Starting project %s on the local node: %s", project_id, " ".join(cmd))
        with self._open_log(project_id) as log:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own session, so stop() can signal the server and its kernels at once
                start_new_session=True,
                preexec_fn=unixuser.preexec_for(account) if account else None,
            )
        spawner._local_proc = proc
        handle = {"pid": proc.pid, "create_time": _create_time(proc.pid)}
        if account is not None:
            handle["uid"] = account.uid
        return ip, spawner.port, handle

    async def poll(self, spawner, handle):
        proc = getattr(spawner, "_local_proc", None)
        if proc is not None and proc.pid == handle.get("pid"):
            status = proc.poll()
            return status
        # found again after a hub restart: it is not our child any more
        process = _process(handle)
        if process is None:
            return 1
        return None

    async def stop(self, spawner, handle, now=False):
        process = _process(handle)
        proc = getattr(spawner, "_local_proc", None)
        if process is not None:
            pgid = handle["pid"]
            self._signal_group(pgid, signal.SIGKILL if now else signal.SIGTERM)
            deadline = time.monotonic() + (0 if now else self.stop_timeout)
            while _alive(process) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if _alive(process):
                self.log.warning("Project server %s ignored SIGTERM; killing it", pgid)
            self._signal_group(pgid, signal.SIGKILL)
        if proc is not None:
            proc.poll()
            spawner._local_proc = None
        if handle.get("uid"):
            # a project's account is its own: whatever still runs as it (a kernel that
            # left the session, a nohup job) belongs to this project and stops with it
            self._kill_account_processes(handle["uid"])

    def _signal_group(self, pgid, sig):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass

    def _kill_account_processes(self, uid):
        if uid == 0 or uid == os.getuid():
            return
        for process in psutil.process_iter(["uids"]):
            try:
                if process.info["uids"] and process.info["uids"].real == uid:
                    process.kill()
            except psutil.Error:
                pass


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
