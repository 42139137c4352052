"""JSONAPIHandler: the base of every smchub REST handler, the authenticator's included.

It holds what any JSON API of the hub needs and nothing about projects: bodies read
strictly (size, UTF-8, JSON, text a database can store), addresses checked the same
way, pagination bounded, answers written as JSON.
"""

import json

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

MAX_BODY_BYTES = 64 * 1024

UNSTORABLE = (
    "Text in the {where} contains a lone UTF-16 surrogate (\\ud800-\\udfff without its "
    "pair), which cannot be stored as UTF-8; send the character itself, or both halves."
)


def _strings(value):
    """Every string in a JSON value, keys included (iterative: nesting depth is the client's)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _storable(text):
    """Whether `text` can be stored as UTF-8: JSON's \\ud800 escapes make lone surrogates,
    which every database refuses (and a failed flush would poison the shared session)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class JSONAPIHandler(APIHandler):
    """A JupyterHub API handler with strict JSON bodies and checked addresses."""

    @property
    def smchub(self):
        """The running SMCHub application."""
        return self.settings["smchub"]

    async def prepare(self):
        await super().prepare()
        # NUL is no character a name, id or query needs, and PostgreSQL refuses it in text
        if any("\0" in arg for arg in self.path_args or ()) or any(
            b"\0" in value for values in self.request.query_arguments.values() for value in values
        ):
            raise web.HTTPError(400, "The address contains a NUL character.")
        if not all(_storable(arg) for arg in self.path_args or ()):
            raise web.HTTPError(400, UNSTORABLE.format(where="address"))
        for values in self.request.query_arguments.values():
            for value in values:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    raise web.HTTPError(400, "The address's query is not valid UTF-8.") from None

    def get_api_pagination(self):
        offset, limit = super().get_api_pagination()
        # databases store 64-bit integers; no list is a billion long
        if offset > 10**9:
            raise web.HTTPError(400, f"offset {offset} is too large")
        return offset, limit

    def get_json_body(self):
        """The body as JSON, refusing what is too big, not UTF-8 or not JSON."""
        body = self.request.body
        if not body:
            return None
        if len(body) > MAX_BODY_BYTES:
            raise web.HTTPError(
                413, f"Request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}."
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPError(400, "Request body is not valid UTF-8.")
        try:
            model = json.loads(text)
        except ValueError as e:
            raise web.HTTPError(400, f"Request body is not valid JSON: {e}")
        except RecursionError:
            raise web.HTTPError(400, "Request body is nested too deeply.")
        strings = list(_strings(model))
        if any("\0" in string for string in strings):
            raise web.HTTPError(400, "Text in the request body may not contain NUL characters.")
        if not all(_storable(string) for string in strings):
            raise web.HTTPError(400, UNSTORABLE.format(where="request body"))
        return model

    def json_object_body(self, allowed, required=()):
        """The body as a JSON object whose keys are among `allowed`."""
        model = self.get_json_body()
        if model is None:
            model = {}
        if not isinstance(model, dict):
            raise web.HTTPError(400, "Request body must be a JSON object.")
        unknown = sorted(set(model) - set(allowed))
        if unknown:
            raise web.HTTPError(
                400,
                f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.",
            )
        missing = [key for key in required if key not in model]
        if missing:
            raise web.HTTPError(400, f"Missing field(s): {', '.join(missing)}.")
        return model

    def write_json(self, model, status=200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(model))
