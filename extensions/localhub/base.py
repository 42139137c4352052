"""What every localhub handler shares: the extension's settings, the home, path checks."""

import json

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .paths import PathRefused, resolve_in_home


class LocalHubHandler(ExtensionHandlerMixin, APIHandler):
    """Base of the localhub API handlers: JSON errors ``{"message": ...}``, paths confined."""

    @property
    def localhub(self):
        """The LocalHub extension app, holding the configured limits."""
        return self.extensionapp

    @property
    def home(self) -> str:
        """The project home: the server's root_dir."""
        return self.serverapp.root_dir

    def resolve(self, path: str, what: str = "path") -> str:
        """The real path of a client path, or 400 if it is not confined to the home."""
        try:
            return resolve_in_home(self.home, path)
        except PathRefused as e:
            raise web.HTTPError(400, f"{what} {e}") from None

    def read_json_object(self, max_bytes: int) -> dict:
        """The request body as a JSON object: 413 past `max_bytes`, 400 if not an object."""
        body = self.request.body
        if len(body) > max_bytes:
            raise web.HTTPError(
                413, f"request body is {len(body)} bytes; the limit is {max_bytes} bytes"
            )
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise web.HTTPError(400, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return data
