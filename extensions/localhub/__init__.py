"""localhub: what a project server offers beyond jupyter-server (DESIGN.md §5)."""


def _jupyter_server_extension_points():
    # the server side is imported lazily, so the hub can import this package cheaply
    return [{"module": "smchub.extensions.localhub"}]


def _load_jupyter_server_extension(serverapp):
    serverapp.log.info("smchub localhub extension loaded")
