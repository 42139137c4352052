"""The project server's authorizer: each visitor may do what their role on the project allows.

JupyterHub lets a visitor in when they hold access to this server; jupyter-server then asks
the authorizer about every request and websocket (read, write or execute on contents,
kernels, terminals, sessions, the localhub API...). A collaborator's access comes from
the share of this server the hub gave them, and the share also carries the actions of
their role (permissions.py): a viewer's allows reading only, so saving a file, starting
a kernel or a terminal, connecting to one, running a command or uploading an archive is
refused with 403.

The server reads its shares from the hub (GET /hub/api/shares/<project>/, with its own
token) rather than from the visitor's token: JupyterHub gives a browser's token for a
server only the scopes the person's roles hold, never those of a share, so the token
cannot say what the share allows. The list is re-read at most every HubOAuth.cache_max_age
seconds (ProjectSpawner.revocation_delay), as a visitor's token is; a role change reaches
a running server within that time. A visitor with access but no share (an admin, by
their role) may do everything, as in any JupyterHub server.

Collaborative documents need two exceptions, because jupyter-collaboration reads and
writes through the same routes: asking for a document's session (a PUT that only looks
up the file's id) is reading, and a document's websocket, which a viewer may open to
read, takes no changes from someone who may not write.

A visitor who may not write gets the contents API's models with `writable: false` (the
file's, and each entry's of a folder): JupyterLab then opens their files and notebooks
read-only, with its read-only mark, rather than letting them edit and be refused at save.

During a course's exam window, a student's project server is started with the window's
restrictions (permissions.EXAM_ENV) and refuses every person, instructors and admins
included, what they take away: terminals (their API and websockets, and localhub's
exec), and downloads (jupyter-server's /files/, /view/ and /nbconvert/, localhub's
smc/raw/ and archive GET). The contents API stays open: it is how JupyterLab opens and
saves files. Requests with the server's own token (the hub's course steps and class
actions) are not restricted.

Set by ProjectSpawner as ``ServerApp.authorizer_class``.
"""

import asyncio
import os
import time
import weakref
from urllib.parse import quote

from jupyter_server.base.handlers import AuthenticatedFileHandler
from jupyter_server.files.handlers import FilesHandler
from jupyter_server.nbconvert.handlers import NbconvertFileHandler, NbconvertPostHandler
from jupyter_server.services.contents.handlers import ContentsHandler
from jupyter_server.view.handlers import ViewHandler
from jupyterhub.singleuser.extension import JupyterHubAuthorizer
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httputil import url_concat
from tornado.websocket import WebSocketHandler
from traitlets import Set, Unicode, default

from .archive import ArchiveHandler
from .permissions import DOWNLOADS, EXAM_ENV, TERMINALS, allows, any_action, parse_exam_env
from .raw import RawHandler

try:
    from jupyter_server_ydoc.handlers import DocSessionHandler, YDocWebSocketHandler
except ImportError:  # a server without jupyter-collaboration has no documents to guard
    DocSessionHandler = YDocWebSocketHandler = ()

# the Y messages a read-only client may send: asking for the document (sync step 1)
# and its presence (awareness); updates, saves and chat change something
SYNC, SYNC_STEP1, AWARENESS = 0, 0, 1
# shares asked for per page (JupyterHub's largest page by default)
SHARES_PAGE = 200
# the routes that hand a person a file to keep (an archive GET too: see is_download);
# /files/ is served by the contents manager's files_handler_class, one of the first two
DOWNLOAD_HANDLERS = (AuthenticatedFileHandler, FilesHandler, ViewHandler,
                     NbconvertFileHandler, NbconvertPostHandler, RawHandler)  # fmt: skip


def is_download(handler) -> bool:
    """Whether `handler` answers with a file for the person to keep."""
    if isinstance(handler, ArchiveHandler):
        # a PUT brings files in; a GET hands a tar of them out
        return handler.request.method in ("GET", "HEAD")
    return isinstance(handler, DOWNLOAD_HANDLERS)


def read_only_message(message) -> bool:
    """Whether a document websocket message leaves the document as it is."""
    if not message:
        return True
    if message[0] == AWARENESS:
        return True
    return message[0] == SYNC and len(message) > 1 and message[1] == SYNC_STEP1


def read_only_model(model: dict) -> dict:
    """A contents model (and a folder's entries) as someone who may not write sees it."""
    shown = dict(model, writable=False)
    if model.get("type") == "directory" and isinstance(model.get("content"), list):
        shown["content"] = [dict(entry, writable=False) for entry in model["content"]]
    return shown


def show_read_only(handler):
    """Make a contents handler answer with read-only models (read_only_model)."""
    finish_model = handler._finish_model

    def finish_read_only(model, location=True):
        return finish_model(read_only_model(model), location)

    handler._finish_model = finish_read_only


class ProjectAuthorizer(JupyterHubAuthorizer):
    """Allows a visitor what their share of this server allows; its own user everything."""

    server_owner = Unicode(help="The JupyterHub user this server belongs to: the project.")

    @default("server_owner")
    def _default_server_owner(self):
        return os.environ.get("JUPYTERHUB_USER", "")

    server_name = Unicode(help="The JupyterHub name of this server ('' for the default one).")

    @default("server_name")
    def _default_server_name(self):
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")

    exam_restrictions = Set(
        help="""What a course's exam window takes away here (permissions.RESTRICTIONS),
        as the hub set it in the server's environment at start.""",
    )

    @default("exam_restrictions")
    def _default_exam_restrictions(self):
        return set(parse_exam_env(os.environ.get(EXAM_ENV, "")))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # person's name -> the scopes of their share of this server
        self._shares = {}
        self._shares_read_at = None
        self._reading = None
        # open websocket -> the actions it was let in for (see still_allows)
        self._websocket_actions = weakref.WeakKeyDictionary()
        # document websocket -> whether its person may change the document now
        self._may_write = weakref.WeakKeyDictionary()
        # when someone other than the hub was last let in (GET smc/api/visits)
        self.last_visit = None

    async def is_authorized(self, handler, user, action, resource):
        if isinstance(handler, DocSessionHandler):
            action = "read"
        # first JupyterHub's own check (access to this server), then the role's
        if not super().is_authorized(handler, user, action, resource):
            return False
        if self.exam_refuses(handler, user.hub_user, resource):
            return False
        shares = await self.current_shares()
        if not self.model_allows(user.hub_user, action, shares):
            return False
        if isinstance(handler, YDocWebSocketHandler):
            self._guard_document(handler, self.model_allows(user.hub_user, "write", shares))
        elif isinstance(handler, ContentsHandler):
            if not self.model_allows(user.hub_user, "write", shares):
                show_read_only(handler)
        elif isinstance(handler, WebSocketHandler):
            self._websocket_actions.setdefault(handler, set()).add(action)
        if not self.is_the_hub(user.hub_user):
            self.last_visit = time.time()
        return True

    def is_the_hub(self, model):
        """Whether a request comes with the server's own token, which only the hub (and
        this server) holds: copies, course steps, class actions."""
        return model.get("kind") == "user" and model.get("name") == self.server_owner

    def exam_refuses(self, handler, model, resource):
        """Whether an exam window's restrictions refuse this request or websocket."""
        if not self.exam_restrictions:
            return False
        if self.is_the_hub(model):
            # the hub's own requests: collecting the exam, class actions
            return False
        if TERMINALS in self.exam_restrictions and resource == "terminals":
            return True
        return DOWNLOADS in self.exam_restrictions and is_download(handler)

    def model_allows(self, model, action, shares):
        """Whether the visitor the hub's `model` describes may do `action` here."""
        if model.get("kind") != "user":
            # services never hold a share; JupyterHub's access check is theirs
            return True
        name = model.get("name")
        if name == self.server_owner:
            # the project itself: the hub's requests with the server's own token (copies,
            # course steps), which only the hub and this server hold
            return True
        if name not in shares:
            # access without a share: an admin, or someone an admin gave it by role
            return True
        if not any_action(shares[name]):
            # a share from before roles: its person is a collaborator
            return True
        return allows(shares[name], action, self.server_owner, self.server_name)

    async def still_allows(self, handler, model):
        """Whether an open websocket may stay open for the visitor's current `model`
        and share (their role may have changed): a kernel or terminal needs what it
        needed to open; a document stays open and takes changes only while they may
        write."""
        shares = await self.current_shares()
        if handler in self._may_write:
            self._may_write[handler] = self.model_allows(model, "write", shares)
        actions = self._websocket_actions.get(handler, ())
        return all(self.model_allows(model, action, shares) for action in actions)

    async def current_shares(self):
        """{name: scopes} of this server's shares, read again once the last is stale."""
        max_age = self.hub_auth.cache_max_age
        if self._shares_read_at is not None and time.monotonic() - self._shares_read_at < max_age:
            return self._shares
        if self._reading is None:
            # one request for every visitor waiting on it
            self._reading = asyncio.ensure_future(self._read_shares())
        reading = self._reading
        try:
            return await reading
        finally:
            if self._reading is reading and reading.done():
                self._reading = None

    async def _read_shares(self):
        hub_auth = self.hub_auth
        # .../shares/<owner>/<server name>, with its slash when the name is '' (the
        # default server): without it the hub lists every server of the owner
        url = url_path_join(hub_auth.api_url, "shares", quote(self.server_owner))
        url += "/" + quote(self.server_name)
        shares = {}
        offset = 0
        try:
            while True:
                page = await hub_auth._api_request(
                    "GET",
                    url_concat(url, {"offset": offset, "limit": SHARES_PAGE}),
                    headers={"Accept": "application/jupyterhub-pagination+json"},
                )
                for share in page["items"]:
                    if share.get("user"):
                        shares[share["user"]["name"]] = share["scopes"]
                following = (page.get("_pagination") or {}).get("next")
                if not following:
                    break
                offset = following["offset"]
        except web.HTTPError as e:
            if self._shares_read_at is None:
                raise
            # the hub is down or failing: keep the roles last read rather than refuse
            # everyone while it restarts; a change is enforced once it answers
            self.log.warning("Could not read this server's shares from the hub: %s", e)
            return self._shares
        self._shares = shares
        self._shares_read_at = time.monotonic()
        return shares

    def _guard_document(self, handler, may_write):
        self._may_write[handler] = may_write
        on_message = handler.on_message
        may_write_now = self._may_write

        async def on_message_if_allowed(message):
            if may_write_now.get(handler) or read_only_message(message):
                return await on_message(message)
            return None

        handler.on_message = on_message_if_allowed
