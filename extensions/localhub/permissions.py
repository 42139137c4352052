"""What a visitor may do inside a project server, as JupyterHub scopes.

The hub grants each collaborator, through the share of the project's server, the
jupyter-server actions their role allows: a viewer reads, a collaborator also writes and
executes. The project server's authorizer (authorizer.py) checks every request and
websocket against them. Pure names and checks, imported by the hub as well as the server,
so nothing here imports jupyter-server.
"""

from jupyterhub.services.auth import check_scopes

# jupyter-server's actions (jupyter_server.auth.Authorizer); one scope each, for every
# resource (contents, kernels, terminals, sessions, the localhub API...), because a role
# here is about what a person may do, not where
ACTIONS = ("read", "write", "execute")


def action_scope(action: str) -> str:
    """The custom scope that allows `action` on every resource of a server."""
    return f"custom:jupyter_server:{action}:*"


SCOPE_DESCRIPTIONS = {
    action_scope("read"): "Read files and notebooks in a project server, and its state.",
    action_scope("write"): "Change files in a project server and start kernels and terminals.",
    action_scope("execute"): "Run code in a project server's kernels, terminals and exec API.",
}


def server_filter(owner: str, server_name: str = "") -> str:
    return f"server={owner}/{server_name}"


def allows(scopes, action: str, owner: str, server_name: str = "") -> bool:
    """Whether `scopes` (a hub user model's) allow `action` on the server of `owner`."""
    required = f"{action_scope(action)}!{server_filter(owner, server_name)}"
    return bool(check_scopes({required}, set(scopes)))


def any_action(scopes) -> bool:
    """Whether `scopes` (a share's) name any action at all: shares made before roles
    existed name none, and their people are collaborators."""
    return any(scope.startswith("custom:jupyter_server:") for scope in scopes)


# What a course's exam window takes away in its students' projects (smchub.course_policy).
# The hub decides at each start and passes the names, comma-separated, in this variable;
# it restarts a running server when a window opens or closes, so a server's restrictions
# are fixed for its life.
EXAM_ENV = "SMCHUB_EXAM_RESTRICTIONS"
TERMINALS, DOWNLOADS, NETWORK = "terminals", "downloads", "network"
RESTRICTIONS = (TERMINALS, DOWNLOADS, NETWORK)


def exam_env_value(restrictions) -> str:
    return ",".join(sorted(restrictions))


def parse_exam_env(value: str) -> frozenset:
    """The restrictions named in EXAM_ENV's value."""
    return frozenset(name for name in (value or "").split(",") if name)
