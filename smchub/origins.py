"""Every project on its own origin: the rules for subdomains and project URLs.

A project server runs code its collaborators wrote (notebooks, JupyterLab extensions in
its home, files it serves). On the hub's origin that code could read the hub's pages
with a visitor's cookies and act as them, an admin included. With JupyterHub's
``subdomain_host`` each project is served at ``<project-id>.<hub host>``: the browser
keeps its scripts away from the hub's pages, cookies and XSRF token, and from every
other project.
"""

from urllib.parse import urlparse

from jupyterhub.utils import url_path_join

# names that always mean this machine; browsers also resolve every *.localhost name to
# it (RFC 6761), which is what lets the embedded default give each project an origin
# without any DNS set-up
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
EMBEDDED_HUB_HOST = "hub.localhost"

NO_SUBDOMAINS_WARNING = (
    "This hub serves every project on the hub's own origin (c.JupyterHub.subdomain_host "
    "is not set) while it lets people sign themselves up: a collaborator's JavaScript in "
    "a project can act as anyone who opens that project, admins included. Set "
    "c.JupyterHub.subdomain_host to the hub's public URL, with wildcard DNS (and a "
    "wildcard certificate) for *.<its host>, or close sign-up."
)


def default_subdomain_host(bind_url):
    """The subdomain host a hub bound at `bind_url` gets when the admin set none.

    A hub that listens on loopback only is reached as http://hub.localhost:<port>, and
    each project at http://<id>.hub.localhost:<port>, the shape a public hub has
    (hub.example.org, <id>.hub.example.org). Not bare "localhost": JupyterHub shares its
    session cookie with the projects' hosts through a Domain attribute, and a domain
    without a dot is one some clients (Python's cookie jar) never send back. Elsewhere
    the hub cannot guess its public name, so it has none (and warns, see
    NO_SUBDOMAINS_WARNING).
    """
    parsed = urlparse(bind_url)
    if parsed.hostname not in LOOPBACK_HOSTS:
        return ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.scheme}://{EMBEDDED_HUB_HOST}:{port}"


def project_url(project_id, base_url, subdomain_host="", subdomain_hook=None):
    """Where people open a project: its own origin when the hub has a subdomain host.

    The same host JupyterHub gives the project's serving user (User.host), computed
    without loading that user.
    """
    path = url_path_join(base_url, "user", project_id) + "/"
    if not subdomain_host:
        return path
    parsed = urlparse(subdomain_host)
    domain = subdomain_hook(project_id, parsed.hostname, kind="user")
    host = f"{parsed.scheme}://{domain}"
    if parsed.port:
        host = f"{host}:{parsed.port}"
    return host + path
