"""Open websockets close when their person loses access to the project.

jupyter-server checks a visitor once, when a websocket opens; a terminal, a kernel or a
collaborative document stays connected for as long as the browser keeps it open. So a
collaborator removed from a project (or a deleted project, a revoked token) would keep
typing in the project's terminals for days.

Every websocket that opens is remembered with the token it was opened with, and every few
seconds each of those tokens is checked again exactly as a new request would be: the
hub's answer about the token (HubOAuth.user_for_token, cached for HubOAuth.cache_max_age,
which the spawner sets to ProjectSpawner.revocation_delay) must still grant access to
this server, and the person's role (ProjectAuthorizer.still_allows) must still allow
what the websocket was let in for: a collaborator made a viewer keeps reading, but
their terminals and kernels close and their documents take no more changes from them.
Those whose access is gone are closed.

Why the server asks rather than the hub telling it: the check is the one every request
already makes, so it covers every way access ends (removal, deletion, expired or revoked
tokens, deleted accounts) without a new endpoint to secure on either side, and nothing is
lost when the hub or the server restarts while access ends. It costs at most one hub
request per connected token per revocation delay; the cache answers the rest.
"""

import asyncio
import weakref
from inspect import isawaitable

from tornado import web
from tornado.ioloop import PeriodicCallback
from tornado.websocket import WebSocketHandler

# "policy violation": the server ends the connection because of who is on it
CLOSE_CODE = 1008
CLOSE_REASON = "Your access to this project was removed."
ROLE_CLOSE_REASON = "Your role on this project no longer allows this; reload to go on reading."
# the hub could not be asked: keep what is open (see _current_model)
UNKNOWN = object()


class OpenWebsockets:
    """The websockets open on this server, each with the token that opened it."""

    def __init__(self, hub_auth, interval, log, still_allows=None):
        self.hub_auth = hub_auth
        self.interval = interval
        self.log = log
        # async (handler, hub model) -> whether the visitor's role still allows that
        # websocket (ProjectAuthorizer.still_allows); None: access is all it needs
        self.still_allows = still_allows
        # handler -> (token, session id); forgotten when tornado lets go of the handler
        self._sockets = weakref.WeakKeyDictionary()
        self._sweeper = None

    def watch(self, identity_provider):
        """Remember every websocket the identity provider lets in."""
        get_user = identity_provider.get_user

        async def get_user_and_remember(handler):
            user = get_user(handler)
            if isawaitable(user):
                user = await user
            if user is not None and isinstance(handler, WebSocketHandler):
                self._remember(handler)
            return user

        identity_provider.get_user = get_user_and_remember

    def _remember(self, handler):
        self._sockets[handler] = (
            self.hub_auth.get_token(handler),
            self.hub_auth.get_session_id(handler),
        )

    def start(self):
        self._sweeper = PeriodicCallback(self.sweep, self.interval * 1000)
        self._sweeper.start()

    def stop(self):
        if self._sweeper is not None:
            self._sweeper.stop()

    def _open_sockets(self):
        """{(token, session id): [handlers]} of the websockets open now."""
        by_token = {}
        for handler, key in list(self._sockets.items()):
            if handler.ws_connection is None:
                # 200 while still being let in; then 101 once it opened (so now it has
                # closed), or the refusal's status
                if handler.get_status() != 200:
                    del self._sockets[handler]
                continue
            by_token.setdefault(key, []).append(handler)
        return by_token

    async def sweep(self):
        """Close the websockets whose token no longer grants what they were opened for."""
        by_token = self._open_sockets()
        keys = list(by_token)
        models = await asyncio.gather(*(self._current_model(*key) for key in keys))
        for key, model in zip(keys, models, strict=True):
            if model is UNKNOWN:
                continue
            for handler in by_token[key]:
                if model is None:
                    reason = CLOSE_REASON
                elif self.still_allows is not None and not await self.still_allows(handler, model):
                    reason = ROLE_CLOSE_REASON
                else:
                    continue
                self.log.info("Closing websocket %s: %s", handler.request.path, reason)
                handler.close(CLOSE_CODE, reason)
                self._sockets.pop(handler, None)

    async def _current_model(self, token, session_id):
        """The hub's model of the token if it still grants access to this server, None
        if access is gone, UNKNOWN if the hub could not be asked."""
        if not token:
            # every way in through the hub carries a token; without one there is
            # nothing to check again, so nothing to trust
            return None
        try:
            model = await self.hub_auth.user_for_token(token, session_id=session_id, sync=False)
        except web.HTTPError as e:
            # the hub is down or failing: keep what is open rather than cut every
            # terminal during a hub restart; access that ended is enforced once it answers
            self.log.warning("Could not re-check open websockets with the hub: %s", e)
            return UNKNOWN
        if not model or not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            return None
        return model
