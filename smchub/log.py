"""Keeping the secrets that links carry in their paths out of the hub's logs.

Invite links (/hub/projects/invite/<token>, /hub/api/invites/<token>) and password-reset
links (/hub/reset/<token>) are secrets: whoever reads the log could join the project or
set the person's password. JupyterHub scrubs tokens from query strings and headers in its
request log; these paths, also when URL-encoded in a redirect's `next=`, are scrubbed
here, in every request log line, warning and error, keeping a short prefix to tell
links apart (invites list the same prefix).
"""

import logging
import re

PREFIX_LENGTH = 6

_SLASH = r"(?:/|%2F|%252F)"
_SECRET_PATH = re.compile(
    rf"((?:{_SLASH}api{_SLASH}invites|{_SLASH}projects{_SLASH}invite|{_SLASH}reset){_SLASH})"
    rf"([A-Za-z0-9_\-]{{{PREFIX_LENGTH}}})([A-Za-z0-9_\-]+)",
    re.IGNORECASE,
)

# tornado's loggers for requests: the request log (JupyterHub's log_request writes it),
# HTTP errors' warnings and uncaught exceptions, each naming the request's URI
REQUEST_LOGGERS = ("tornado.access", "tornado.general", "tornado.application")


def scrub_secret_paths(text):
    """`text` with the tokens of invite and reset links cut to a short prefix."""
    return _SECRET_PATH.sub(r"\1\2…", text)


class SecretPathFilter(logging.Filter):
    """Rewrites log records so that no invite or reset token reaches a handler."""

    def filter(self, record):
        message = record.getMessage()
        scrubbed = scrub_secret_paths(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


_filter = SecretPathFilter()


def scrub_request_logs(app_log):
    """Scrub link secrets from tornado's request logs and the app's log (idempotent)."""
    for logger in (app_log, *map(logging.getLogger, REQUEST_LOGGERS)):
        logger.addFilter(_filter)
