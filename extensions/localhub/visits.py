"""GET smc/api/visits: whether anyone but the hub has used this server since it started.

The hub asks before it stops a server that a course step started for its own work: a
server no person or service used holds only what the step did, and its home needs no
snapshot at that stop (smchub.snapshots).
"""

from datetime import datetime, timezone

from jupyter_server.auth.decorator import authorized
from tornado import web

from .authorizer import ProjectAuthorizer
from .base import LocalHubHandler


class VisitsHandler(LocalHubHandler):
    """``{"tracked": bool, "last_visit": ISO time or null}``: when someone other than the
    hub was last let in. ``tracked`` is false when the server runs without smchub's
    authorizer, which is what notes visits: then no one can say that nobody came."""

    auth_resource = "api"

    @web.authenticated
    @authorized
    def get(self):
        authorizer = self.authorizer
        if not isinstance(authorizer, ProjectAuthorizer):
            self.finish({"tracked": False, "last_visit": None})
            return
        last = authorizer.last_visit
        self.finish(
            {
                "tracked": True,
                "last_visit": (
                    None if last is None else datetime.fromtimestamp(last, timezone.utc).isoformat()
                ),
            }
        )
