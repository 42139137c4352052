from . import admin, pages

default_handlers = [*pages.default_handlers, *admin.default_handlers]
