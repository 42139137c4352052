"""The localhub extension application: its settings and its handlers."""

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Integer, TraitError

from .archive import ArchiveHandler
from .exec import ExecHandler
from .info import InfoHandler
from .labconfig import leave_plugins_out, plugins_left_out
from .nodelay import send_without_delay
from .raw import RawHandler
from .revocation import OpenWebsockets
from .usage import DiskUsage
from .visits import VisitsHandler

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


class LocalHub(ExtensionApp):
    """What a project server offers beyond jupyter-server (docs/architecture.md).

    Project info, command execution, raw file downloads and tar archives in and out of the
    project home, all confined to the home and bounded by the limits below
    (``c.LocalHub.<name>`` in the project server's config).
    """

    name = "localhub"

    exec_timeout = Float(
        30,
        min=0.001,
        help="""Seconds a command run through smc/api/exec may take when the request gives no
        timeout. Past it the command's whole process group is killed.""",
    ).tag(config=True)

    exec_timeout_max = Float(
        600,
        min=0.001,
        help="""Largest timeout, in seconds, a smc/api/exec request may ask for.
        Asking for more is refused with 400.""",
    ).tag(config=True)

    exec_max_output = Integer(
        1 * MIB,
        min=0,
        help="""Bytes of stdout, and separately of stderr, that smc/api/exec returns when the
        request gives no max_output. Output past it is read and dropped, and the reply says
        truncated: true.""",
    ).tag(config=True)

    exec_max_output_max = Integer(
        16 * MIB,
        min=0,
        help="""Largest max_output, in bytes per stream, a smc/api/exec request may ask for.
        The output is held in memory until the command ends, so this bounds the memory one
        request can use.""",
    ).tag(config=True)

    exec_max_body = Integer(
        1 * MIB,
        min=1,
        help="Largest JSON body, in bytes, accepted by smc/api/exec; larger ones get 413.",
    ).tag(config=True)

    archive_max_bytes = Integer(
        4 * GIB,
        min=0,
        help="""Largest total size, in bytes of file contents before compression, that
        GET smc/api/archive will pack. Larger requests get 413 before anything is sent.""",
    ).tag(config=True)

    archive_max_upload = Integer(
        4 * GIB,
        min=1,
        help="""Largest request body, in bytes as sent (compressed or not), that
        PUT smc/api/archive accepts. Larger uploads get 413.""",
    ).tag(config=True)

    disk_usage_max_age = Float(
        5,
        min=0,
        help="""Seconds a measurement of the home's disk use is reused by smc/api/info
        before the home is walked again.""",
    ).tag(config=True)

    disk_usage_timeout = Float(
        5,
        min=0.001,
        help="""Seconds smc/api/info may spend walking the home to measure its disk use.
        A walk cut short reports what it counted, with complete: false.""",
    ).tag(config=True)

    revocation_check_interval = Float(
        5,
        min=0.1,
        help="""Seconds between checks that the people with websockets open (terminals,
        kernels, collaborative documents) still have access to the project. A websocket
        whose person lost access closes within HubOAuth.cache_max_age (the hub's
        ProjectSpawner.revocation_delay) plus this.""",
    ).tag(config=True)

    def initialize_settings(self):
        for default, maximum in [
            ("exec_timeout", "exec_timeout_max"),
            ("exec_max_output", "exec_max_output_max"),
        ]:
            if getattr(self, default) > getattr(self, maximum):
                raise TraitError(
                    f"LocalHub.{default} ({getattr(self, default)}) is larger than "
                    f"LocalHub.{maximum} ({getattr(self, maximum)}): lower the first or "
                    "raise the second."
                )
        self.disk_usage = DiskUsage()
        send_without_delay(self.serverapp.web_app)
        self.open_websockets = self._watch_websockets()

    def _watch_websockets(self):
        """Re-check open websockets' access with the hub, when there is a hub to ask."""
        from jupyterhub.singleuser.extension import JupyterHubIdentityProvider

        from .authorizer import ProjectAuthorizer

        provider = self.serverapp.identity_provider
        if not isinstance(provider, JupyterHubIdentityProvider):
            # a plain jupyter server (no hub): access never changes while it runs
            return None
        authorizer = self.serverapp.authorizer
        # a visitor whose role changed keeps only the websockets the new role allows
        still_allows = (
            authorizer.still_allows if isinstance(authorizer, ProjectAuthorizer) else None
        )
        sockets = OpenWebsockets(
            provider.hub_auth, self.revocation_check_interval, self.log, still_allows
        )
        sockets.watch(provider)
        return sockets

    async def _start_jupyter_server_extension(self, serverapp):
        # here, not in initialize_settings: JupyterHub's singleuser app sets its own page
        # config hook after the extensions are loaded, which this one wraps
        plugins = plugins_left_out()
        if plugins:
            leave_plugins_out(serverapp.web_app, plugins)
        if self.open_websockets is not None:
            self.open_websockets.start()

    async def stop_extension(self):
        if self.open_websockets is not None:
            self.open_websockets.stop()

    def initialize_handlers(self):
        self.handlers.extend(
            [
                (r"/smc/api/info", InfoHandler),
                (r"/smc/api/visits", VisitsHandler),
                (r"/smc/api/exec", ExecHandler),
                (r"/smc/api/archive", ArchiveHandler),
                (r"/smc/raw/(.*)", RawHandler),
            ]
        )
