from . import invites, projects, users

default_handlers = []
for _module in (projects, invites, users):
    default_handlers.extend(_module.default_handlers)
