"""The scopes smchub checks, in one place for the hub, its API and its authenticator.

smchub's scopes are JupyterHub custom scopes (defined in SMCHub.init_role_creation), so
roles give them to users, groups and services as any other scope, and a token carries
only what its owner chose. Each route checks the narrowest scope that allows it.
"""

# scope that lets a person (or a token of theirs) use the projects API on the projects
# they collaborate on; given to everyone through the default 'user' role, and absent
# from the OAuth tokens that project servers receive, so a server cannot act for its
# visitors
PROJECTS_SCOPE = "custom:smchub:projects"

# every project, whoever's it is: reading (listing, filtering, snapshots' list) and
# changing (creating one for a person, collaborators, starting, stopping, deleting)
READ_ALL_PROJECTS_SCOPE = "custom:smchub:read:projects:all"
ALL_PROJECTS_SCOPE = "custom:smchub:projects:all"

# every course: reading (its students, work, jobs, grades) and running it (steps,
# students, deadlines, settings)
READ_ALL_COURSES_SCOPE = "custom:smchub:read:courses:all"
ALL_COURSES_SCOPE = "custom:smchub:courses:all"

# compute nodes: reading their list and load, and managing them (adding, draining,
# removing, moving projects between them)
READ_NODES_SCOPE = "custom:smchub:read:nodes"
NODES_SCOPE = "custom:smchub:nodes"

# all of smchub's admin powers: the scopes above, and projects' quotas; JupyterHub's
# admin role has it, so admins' cookies and full tokens do, while a token an admin
# makes with narrower scopes does not
ADMIN_SCOPE = "custom:smchub:admin"

# the scopes a client other than a collaborator may reach smchub's API with
WIDE_SCOPES = (
    READ_ALL_PROJECTS_SCOPE,
    READ_ALL_COURSES_SCOPE,
    READ_NODES_SCOPE,
)

# their definitions for JupyterHub: a scope that changes includes the one that reads
CUSTOM_SCOPES = {
    PROJECTS_SCOPE: {
        "description": "Create, read and manage the projects you collaborate on.",
    },
    READ_ALL_PROJECTS_SCOPE: {
        "description": "Read every project on the hub: list, filter, see its people.",
    },
    ALL_PROJECTS_SCOPE: {
        "description": "Manage every project on the hub: create projects for people, "
        "invite and remove collaborators, start, stop and delete.",
        "subscopes": [READ_ALL_PROJECTS_SCOPE],
    },
    READ_ALL_COURSES_SCOPE: {
        "description": "Read every course: students, assignments, work, jobs, grades.",
    },
    ALL_COURSES_SCOPE: {
        "description": "Run every course: students, assignments, steps, deadlines, settings.",
        "subscopes": [READ_ALL_COURSES_SCOPE],
    },
    READ_NODES_SCOPE: {
        "description": "Read the compute nodes and their load.",
    },
    NODES_SCOPE: {
        "description": "Manage compute nodes and move projects between them.",
        "subscopes": [READ_NODES_SCOPE],
    },
    ADMIN_SCOPE: {
        "description": "smchub's admin powers: every project and course, quotas and compute nodes.",
        "subscopes": [ALL_PROJECTS_SCOPE, ALL_COURSES_SCOPE, NODES_SCOPE],
    },
}

# scope that lets a request manage accounts and sign-up codes: JupyterHub's own for
# managing people, which its admin role has and an admin may give a trusted service
ACCOUNTS_ADMIN_SCOPE = "admin:users"
