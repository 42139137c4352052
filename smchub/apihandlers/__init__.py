from . import invites, oauth, projects, users

default_handlers = []
for _module in (projects, invites, users, oauth):
    default_handlers.extend(_module.default_handlers)
