"""Noticing at once that a local project's server has exited.

JupyterHub learns that a server died at its next poll (c.Spawner.poll_interval): until
then the proxy still sends the project's traffic, with its people's cookies for the
project's origin, to the server's loopback port, where any other program on the machine
may listen by then. A pidfd (Linux 5.3) becomes readable the moment its process exits,
so the hub polls that server at once and its route goes with it.
"""

import asyncio
import contextlib
import os


class ExitWatch:
    """pidfds of the servers running on a local node, on the hub's event loop."""

    def __init__(self, log):
        self.log = log
        self._watched = {}  # project id -> (pid, pidfd)

    def watch(self, project_id, pid, spawner):
        """Poll `spawner` (JupyterHub's poll_and_notify) as soon as `pid` exits."""
        if self._watched.get(project_id, (None,))[0] == pid:
            return
        self.forget(project_id)
        try:
            fd = os.pidfd_open(pid)
        except OSError as e:
            # gone already (the next poll says so), or a kernel without pidfds
            self.log.debug("Not watching project %s's server %s: %s", project_id, pid, e)
            return
        asyncio.get_running_loop().add_reader(fd, self._exited, project_id, spawner)
        self._watched[project_id] = (pid, fd)

    def forget(self, project_id):
        """Stop watching (the hub stops the server itself, or the hub is stopping)."""
        pid, fd = self._watched.pop(project_id, (None, None))
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def forget_all(self):
        for project_id in list(self._watched):
            self.forget(project_id)

    def _exited(self, project_id, spawner):
        self.forget(project_id)
        task = asyncio.ensure_future(self._notify(spawner))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _notify(self, spawner):
        # a start still under way fails by itself, or ends with JupyterHub's and smchub's
        # callbacks in place, which this poll then calls
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(120):
                while spawner.pending is not None or spawner._proxy_pending:
                    await asyncio.sleep(0.1)
        self.log.info("Project %s's server exited; polling it now", spawner.project_id)
        await spawner.poll_and_notify()
