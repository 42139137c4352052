# An smchub configuration for a class or a lab, on one machine.
#
# smchub is JupyterHub: every c.JupyterHub.* / c.Authenticator.* / c.Spawner.* setting
# works as documented by JupyterHub. smchub's own settings are under c.SMCHub,
# c.ProjectSpawner and c.SMCAuthenticator; `smchub --generate-config` lists them all.
# Run it with:  smchub -f /srv/smchub/jupyterhub_config.py

c = get_config()  # noqa: F821

# --- where people reach the hub -----------------------------------------------------
# The embedded default listens on 127.0.0.1:8000 only. Behind a TLS reverse proxy
# (see docker/), keep it on loopback; to serve a network directly, bind all interfaces
# and give it a certificate.
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
# every project on its own origin, <project-id>.hub.example.org: set up wildcard DNS
# and a wildcard certificate for it (on loopback the default is hub.localhost)
c.JupyterHub.subdomain_host = "https://hub.example.org"
# c.JupyterHub.ssl_cert = "/etc/letsencrypt/live/hub.example.org/fullchain.pem"
# c.JupyterHub.ssl_key = "/etc/letsencrypt/live/hub.example.org/privkey.pem"

# --- state --------------------------------------------------------------------------
# SQLite is fine for a class; PostgreSQL for larger or highly available hubs:
# c.JupyterHub.db_url = "postgresql://smchub:secret@127.0.0.1/smchub"
c.JupyterHub.db_url = "sqlite:////srv/smchub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/smchub/jupyterhub_cookie_secret"
# project homes of the local node live in <data_dir>/projects/<project-id>
c.SMCHub.data_dir = "/srv/smchub/data"

# --- accounts -----------------------------------------------------------------------
c.Authenticator.admin_users = {"instructor"}
# who may make an account; admins in admin_users get a set-password link in the log
c.SMCAuthenticator.signup_mode = "open"  # or "token" (a class sign-up code), "approval", "closed"
c.SMCAuthenticator.min_password_length = 10
# Any JupyterHub authenticator works instead, e.g. GitHub OAuth or LTI from an LMS:
# c.JupyterHub.authenticator_class = "github"

# --- projects -----------------------------------------------------------------------
# What every project gets unless an admin changes it (PATCH /hub/api/projects/<id>)
c.SMCHub.default_quotas = {
    "memory_mb": 2000,
    "cpu": 1.0,
    "disk_mb": 5000,
    "idle_timeout_s": 2 * 3600,  # 0 means never stop idle projects
}
# removing a collaborator reaches running servers within this many seconds
c.ProjectSpawner.revocation_delay = 30
# give project servers time to start on a busy machine
c.ProjectSpawner.start_timeout = 120
