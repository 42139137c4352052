from . import pages

default_handlers = list(pages.default_handlers)
