"""The hub never answers on a project's origin.

The proxy sends to the hub whatever no project server takes, whatever the host; so
without this, http://<project-id>.<hub host>/hub/login would be the hub's login page on
the project's origin, and a person who signed in there would hand their hub cookie to
the project's own scripts. Requests for a project's host that reach the hub are sent to
the same path on the hub's own origin instead.
"""

import re
from urllib.parse import urlparse

from tornado import web


def project_host_pattern(subdomain_host):
    """A tornado host pattern matching every project's host under `subdomain_host`."""
    domain = urlparse(subdomain_host).hostname
    return rf"^[^.]+\.{re.escape(domain)}(:\d+)?$"


class ProjectOriginHandler(web.RequestHandler):
    """Sends a request that reached the hub on a project's host to the hub's origin."""

    def check_xsrf_cookie(self):
        # nothing here acts on a request, so there is nothing to forge
        pass

    def prepare(self):
        hub_origin = self.settings["subdomain_host"]
        if self.request.method in ("GET", "HEAD"):
            self.redirect(hub_origin + self.request.uri)
            return
        # never act on a request made from a project's origin
        self.set_status(404)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"This address belongs to a project; the hub is at {hub_origin}\n")
