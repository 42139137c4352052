"""GET smc/api/info: what the project is running and what it uses."""

import asyncio
import os
from datetime import datetime, timezone

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import LocalHubHandler
from .limits import project_limits
from .usage import memory_report, own_cgroup_memory, process_tree


class InfoHandler(LocalHubHandler):
    """The project's processes, memory, disk, uptime, kernels, terminals and limits.

    Authorized as reading the server's "api" resource, like jupyter-server's /api/status.
    """

    auth_resource = "api"

    @web.authenticated
    @authorized
    async def get(self):
        localhub = self.localhub
        limits = project_limits(os.environ)
        processes, cgroup, disk = await asyncio.gather(
            asyncio.to_thread(process_tree, os.getpid()),
            asyncio.to_thread(own_cgroup_memory),
            localhub.disk_usage.measure(
                self.home, localhub.disk_usage_max_age, localhub.disk_usage_timeout
            ),
        )
        memory = memory_report(
            sum(p["rss"] for p in processes), cgroup, limits["memory_mb"], limits["enforced"]
        )
        quota = limits["disk_mb"]
        started = self.settings["started"]
        terminal_manager = self.settings.get("terminal_manager")
        self.finish(
            {
                "project_id": limits["project_id"],
                "processes": processes,
                "memory": memory,
                "disk": {
                    **disk,
                    "quota": None if quota is None else quota * 1024 * 1024,
                },
                "uptime": (datetime.now(timezone.utc) - started).total_seconds(),
                "kernels": [
                    {key: kernel[key] for key in ("id", "name", "execution_state", "connections")}
                    for kernel in self.kernel_manager.list_kernels()
                ],
                "terminals": (
                    [{"name": t["name"]} for t in terminal_manager.list()]
                    if terminal_manager is not None
                    else []
                ),
                "limits": {
                    "enforced": limits["enforced"],
                    "note": limits["note"],
                    "memory_mb": limits["memory_mb"],
                    "cpu": limits["cpu"],
                    "disk_mb": limits["disk_mb"],
                },
            }
        )
