"""What every compute-node backend offers ProjectSpawner."""

from traitlets import Any, Unicode
from traitlets.config import LoggingConfigurable


class NodeBackend(LoggingConfigurable):
    """Runs project servers on one compute node.

    Backends are made per node by the spawner (and cached by the hub), configured by the
    node's row (url, options) and by c.<BackendClass>.* in jupyterhub_config.py.
    """

    kind = "abstract"

    node_name = Unicode()
    node_url = Unicode()
    node_options = Any({})
    hub = Any(help="the SMCHub application")

    async def start(self, spawner, project, quotas):
        """Start the project's server; returns (ip, port, handle)."""
        raise NotImplementedError

    async def poll(self, spawner, handle):
        """None while the server runs, else an exit status."""
        raise NotImplementedError

    async def stop(self, spawner, handle, now=False):
        raise NotImplementedError

    async def check(self):
        """Whether the node answers (for health checks); raises or returns False if not."""
        return True

    def limits_env(self, quotas, enforced, note):
        """Environment telling the project (its localhub info) about its limits."""
        return {
            "SMCHUB_MEMORY_LIMIT_MB": str(quotas["memory_mb"]),
            "SMCHUB_CPU_LIMIT": str(quotas["cpu"]),
            "SMCHUB_DISK_QUOTA_MB": str(quotas["disk_mb"]),
            "SMCHUB_LIMITS_ENFORCED": "1" if enforced else "0",
            "SMCHUB_LIMITS_NOTE": note,
            "SMCHUB_NODE": self.node_name,
        }
