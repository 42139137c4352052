"""localhub: what a project server offers beyond jupyter-server (docs/architecture.md).

Under the server's base URL, with jupyter-server's own authentication:

- ``GET smc/api/info``: processes, memory, disk, uptime, kernels, terminals, limits
- ``POST smc/api/exec``: run a command in the project, bounded in time and output
- ``GET smc/raw/<path>``: a file's bytes
- ``GET``/``PUT smc/api/archive?path=``: a file or folder as a tar stream, and back

The server side lives in submodules imported only when jupyter-server loads the
extension, so the hub can import this package without pulling in jupyter-server.
"""


def _jupyter_server_extension_points():
    from .app import LocalHub

    return [{"module": "smchub.extensions.localhub", "app": LocalHub}]
