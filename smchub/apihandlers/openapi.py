"""GET /hub/api/openapi.yaml (and .json): the OpenAPI document of smchub's REST API.

The document is share/smchub/openapi.yaml, kept in the repository beside the code it
describes (the test suite checks every answer of the API tests against it). It is public,
like JupyterHub's GET /hub/api: it says what the API is, nothing about what is on the hub.
"""

import copy
import functools
import json
import os

import yaml
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.utils import url_path_join

from .._data import DATA_FILES_PATH

DOCUMENT_PATH = os.path.join(DATA_FILES_PATH, "openapi.yaml")
# the prefix the document's paths are written under, for a hub at /
DOCUMENT_PREFIX = "/hub/api"


@functools.cache
def load_document(path=DOCUMENT_PATH):
    """The document as written (YAML text) and as data; read once, it changes only with
    the installed package."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text, yaml.safe_load(text)


class OpenAPIHandler(APIHandler):
    """The OpenAPI 3.1 document, with its server URL made this hub's API prefix."""

    def set_default_headers(self):
        # a public document: API explorers on other origins may read it, as JupyterHub
        # lets them read GET /hub/api
        if "Access-Control-Allow-Origin" not in self.settings.get("headers", {}):
            self.set_header("Access-Control-Allow-Origin", "*")
        super().set_default_headers()

    def check_xsrf_cookie(self):
        pass

    def get(self, kind):
        text, document = load_document()
        prefix = url_path_join(self.hub.base_url, "api")
        if kind == "yaml" and prefix == DOCUMENT_PREFIX:
            self.set_header("Content-Type", "application/yaml; charset=utf-8")
            self.finish(text)
            return
        document = copy.deepcopy(document)
        document["servers"] = [{"url": prefix, "description": "this hub's API"}]
        if kind == "yaml":
            self.set_header("Content-Type", "application/yaml; charset=utf-8")
            self.finish(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(document))


default_handlers = [(r"/api/openapi\.(yaml|json)", OpenAPIHandler)]
