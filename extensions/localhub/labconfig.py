"""What JupyterLab shows of nbgrader in a project server.

nbgrader is installed in every project's environment because autograding runs it there
as a library (smchub.grader). Its formgrader, assignment and course lists and validation
are disabled and locked in that environment (the Makefile, docker/Dockerfile.project):
their server sides are off in project servers, and smchub's course steps do that work.
Its Create Assignment toolbar is how instructors mark cells, and stays, except in a
student's project for a course, where marking cells changes nothing that counts
(assignments go out from the instructor's source) and would only confuse.

The hub says whether a server is a student's course project in STUDENT_ENV; the toolbar
is then left out through JupyterLab's page config (disabledExtensions), as `jupyter
labextension disable` would, but for this server only.
"""

import os

# the hub sets it ("1") in the environment of a student's course project server
STUDENT_ENV = "SMCHUB_STUDENT_PROJECT"

NBGRADER_AUTHORING = "@jupyter/nbgrader:create-assignment"


def plugins_left_out(environ=os.environ):
    """The JupyterLab plugins this server's pages leave out."""
    return (NBGRADER_AUTHORING,) if environ.get(STUDENT_ENV) == "1" else ()


def leave_plugins_out(web_app, plugins):
    """Make JupyterLab's pages served by `web_app` disable `plugins`, on top of whatever
    page config hook was there."""
    before = web_app.settings.get("page_config_hook")

    def hook(handler, page_config):
        if before is not None:
            page_config = before(handler, page_config)
        disabled = list(page_config.get("disabledExtensions") or [])
        page_config["disabledExtensions"] = disabled + [p for p in plugins if p not in disabled]
        return page_config

    web_app.settings["page_config_hook"] = hook
