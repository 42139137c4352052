from . import courses, files, invitations, invites, nodes, oauth, projects, users

default_handlers = []
for _module in (projects, files, courses, invitations, invites, nodes, users, oauth):
    default_handlers.extend(_module.default_handlers)
