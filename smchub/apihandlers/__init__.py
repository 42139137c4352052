from . import courses, files, invitations, invites, nodes, oauth, projects, snapshots, users

default_handlers = []
# snapshots first: /api/projects/deleted before /api/projects/<id>
for _module in (snapshots, projects, files, courses, invitations, invites, nodes, users, oauth):
    default_handlers.extend(_module.default_handlers)
