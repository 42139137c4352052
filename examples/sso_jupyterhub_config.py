# smchub with single sign-on through an OpenID Connect provider (a university's
# Keycloak, Entra ID, Google, Okta, ...), with oauthenticator's GenericOAuthenticator
# as smchub's SMCOAuthenticator (pip install "smchub[sso]").
#
# Register the hub at the provider as a confidential web client with the redirect URI
# https://hub.example.org/hub/oauth_callback, and copy the endpoints below from the
# provider's https://<issuer>/.well-known/openid-configuration.
# Run with:  smchub -f examples/sso_jupyterhub_config.py

import os

c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.subdomain_host = "https://hub.example.org"
c.JupyterHub.db_url = "sqlite:////srv/smchub/jupyterhub.sqlite"
c.SMCHub.data_dir = "/srv/smchub/data"

c.JupyterHub.authenticator_class = "smchub.authenticators.oidc.SMCOAuthenticator"
c.SMCOAuthenticator.login_service = "Example University"
c.SMCOAuthenticator.client_id = "smchub"
c.SMCOAuthenticator.client_secret = os.environ["SMCHUB_OIDC_CLIENT_SECRET"]
c.SMCOAuthenticator.oauth_callback_url = "https://hub.example.org/hub/oauth_callback"
ISSUER = "https://login.example.edu/realms/example"
c.SMCOAuthenticator.authorize_url = f"{ISSUER}/protocol/openid-connect/auth"
c.SMCOAuthenticator.token_url = f"{ISSUER}/protocol/openid-connect/token"
c.SMCOAuthenticator.userdata_url = f"{ISSUER}/protocol/openid-connect/userinfo"
# the defaults: "openid profile email", the username from preferred_username
c.SMCOAuthenticator.scope = ["openid", "profile", "email", "groups"]
c.SMCOAuthenticator.username_claim = "preferred_username"

# who may sign in: everyone the provider signs in (or allowed_groups, allowed_users)
c.SMCOAuthenticator.allow_all = True
# admins are the members of the provider's group "smchub-admins", checked at every
# sign-in (leaving the group takes admin away at the next one); admin_users still adds
# admins by name
c.SMCOAuthenticator.manage_groups = True
c.SMCOAuthenticator.auth_state_groups_key = "oauth_user.groups"
c.SMCOAuthenticator.admin_groups = {"smchub-admins"}
c.Authenticator.admin_users = set()

# Course places reserved for an email go to whoever signs in with that address when the
# provider's email_verified claim is true; otherwise the instructor approves them.
# Providers that name the claims otherwise:
# c.SMCOAuthenticator.email_claim = "mail"
# c.SMCOAuthenticator.email_verified_claim = "email_verified"
