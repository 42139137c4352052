"""The scopes smchub checks, in one place for the hub, its API and its authenticator."""

# scope that lets a person (or a token of theirs) use the projects API; given to
# everyone through the default 'user' role, and absent from the OAuth tokens that
# project servers receive, so a server cannot act for its visitors
PROJECTS_SCOPE = "custom:smchub:projects"

# scope of smchub's admin powers (every project and course, quotas, compute nodes);
# JupyterHub's admin role has it, so admins' cookies and full tokens do, while a
# token an admin makes with narrower scopes does not
ADMIN_SCOPE = "custom:smchub:admin"

# scope that lets a request manage accounts and sign-up codes: JupyterHub's own for
# managing people, which its admin role has and an admin may give a trusted service
ACCOUNTS_ADMIN_SCOPE = "admin:users"
