"""Project ids and the names reserved for them.

Each project is served by a JupyterHub user named after its id, so the project's server
lives at /user/<project-id>/. Any name shaped like a project id is therefore reserved:
nobody can sign up, be created or be renamed to one.
"""

import re
import uuid

PROJECT_ID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)


def new_project_id():
    return str(uuid.uuid4())


def is_project_name(name):
    """Whether a (user) name has the shape of a project id."""
    return bool(name) and bool(PROJECT_ID_RE.match(name))


def unix_name(project_id):
    """The Unix account a project runs as on a local node.

    SageMathCloud named each project's Linux user after the project id without dashes:
    32 hex digits, exactly useradd's limit.
    """
    return project_id.replace("-", "").lower()
