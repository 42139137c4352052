"""smchub's OpenAPI document as a contract the API tests hold the hub to.

Every answer a test gets through Person.api from one of smchub's own routes (a path of
share/smchub/openapi.yaml) is checked against the document: its status must be one the
operation lists, and its body must match that status's schema. Answers from
JupyterHub's routes, or from paths the document does not have, are not checked here
(tests/test_openapi.py checks that every smchub route is in the document).
"""

import functools

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from smchub.apihandlers.openapi import DOCUMENT_PATH, load_document


class BrokenContract(AssertionError):
    """An answer of the hub that the OpenAPI document does not allow."""


@functools.cache
def contract():
    """The document, loaded and checked (an invalid document fails here, once)."""
    config = Config(
        # test_openapi.py validates the document; doing it here would hold up the event
        # loop (the hub's too) for a second at the first API call of a session
        spec_validator_cls=None,
        # the grades CSV is checked as text, so as UTF-8; YAML as the data it holds
        extra_media_type_deserializers={"text/csv": _text, "application/yaml": _yaml},
    )
    return OpenAPI.from_dict(load_document()[1], base_uri=f"file://{DOCUMENT_PATH}", config=config)


def _text(data, **parameters):
    return data.decode(parameters.get("charset", "utf-8"))


def _yaml(data, **parameters):
    return yaml.safe_load(_text(data, **parameters))


class _Request:
    """An httpx request as openapi-core reads one."""

    def __init__(self, request):
        url = request.url
        self.host_url = f"{url.scheme}://{url.netloc.decode('ascii')}"
        # as tornado routes it: on the path as sent, before %2F becomes a slash
        self.path = url.raw_path.decode("ascii").partition("?")[0]
        self.method = request.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(url.params.multi_items()),
            header=Headers(dict(request.headers)),
        )
        self.content_type = request.headers.get("Content-Type", "")
        self.body = request.content or None


class _Response:
    """An httpx response as openapi-core reads one."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("Content-Type", "")
        self.data = response.content


def _errors(error):
    """The schema errors under an openapi-core error, each as one line."""
    found = []
    pending = [error]
    while pending:
        item = pending.pop()
        nested = list(getattr(item, "schema_errors", ()) or ())
        if nested:
            pending.extend(nested)
            continue
        if item.__cause__ is not None and item.__cause__ is not item:
            pending.append(item.__cause__)
            continue
        where = "/".join(str(p) for p in getattr(item, "absolute_path", ()))
        found.append(f"{where or '(body)'}: {_describe(item)}")
    return found


def _describe(error):
    try:
        return str(getattr(error, "message", error))[:300]
    except Exception:
        # some of openapi-core's errors cannot say themselves (a body that is not UTF-8)
        return f"{type(error).__name__} {error.args!r}"[:500]


def check_response(response):
    """Raise BrokenContract if `response` (an httpx.Response from smchub's API) breaks
    the document; answers from routes the document does not describe pass."""
    request = _Request(response.request)
    openapi = contract()
    try:
        openapi.validate_response(request, _Response(response))
    except PathNotFound:
        return
    except OperationNotFound:
        # tornado's answer to a method a route does not have; anything else is a method
        # the code has and the document lacks
        if response.status_code == 405:
            return
        raise BrokenContract(
            f"OpenAPI: {response.request.method} {request.path} answered "
            f"{response.status_code}, but the document has no such operation"
        ) from None
    except ResponseNotFound:
        raise BrokenContract(
            f"OpenAPI: {response.request.method} {request.path} answered "
            f"{response.status_code}, a status the document does not list for it: "
            f"{response.text[:300]}"
        ) from None
    except Exception as e:
        details = "\n  ".join(_errors(e)) or str(e)
        raise BrokenContract(
            f"OpenAPI: {response.request.method} {request.path} answered "
            f"{response.status_code}, which breaks the document ({type(e).__name__}):\n  "
            f"{details}\n  body: {response.text[:500]}"
        ) from None
