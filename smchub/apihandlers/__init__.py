from . import (
    courses,
    environments,
    files,
    invitations,
    invites,
    nodes,
    oauth,
    openapi,
    projects,
    snapshots,
    users,
)

default_handlers = []
# snapshots first: /api/projects/deleted before /api/projects/<id>
_modules = (snapshots, projects, files, courses, environments, invitations, invites, nodes, users,
            oauth, openapi)  # fmt: skip
for _module in _modules:
    default_handlers.extend(_module.default_handlers)
