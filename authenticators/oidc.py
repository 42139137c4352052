"""SMCOAuthenticator: single sign-on through an OpenID Connect provider.

oauthenticator's GenericOAuthenticator does the OAuth 2 dance, reads the provider's
userinfo and, with manage_groups and admin_groups, makes admins from a groups claim.
What smchub adds is where the person's email goes: the hub reads people's addresses
from JupyterHub's user_info (smchub/courses.py), and a course place reserved for an
address goes at once to someone whose address is verified. The provider vouches for
it with the standard ``email_verified`` claim; nothing else counts as verified.
"""

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Unicode, default

from .project_names import ProjectNamesReserved


class SMCOAuthenticator(ProjectNamesReserved, GenericOAuthenticator):
    """GenericOAuthenticator for OpenID Connect providers, reporting people's emails.

    Configure it as GenericOAuthenticator (client_id, client_secret, authorize_url,
    token_url, userdata_url from the provider's /.well-known/openid-configuration);
    admins come from a groups claim with manage_groups, auth_state_groups_key and
    admin_groups. Each sign-in records the ``email`` and ``email_verified`` claims in
    the person's user_info, where smchub's courses read them.
    """

    email_claim = Unicode(
        "email",
        help="""The userinfo claim holding the person's email address.

        OpenID Connect's standard claim is "email" (it needs the "email" scope).
        """,
    ).tag(config=True)

    email_verified_claim = Unicode(
        "email_verified",
        help="""The userinfo claim saying whether the provider verified the address.

        Only an address the provider calls verified claims course places reserved for
        it; without the claim, an instructor approves the person instead.
        """,
    ).tag(config=True)

    # OpenID Connect's defaults, where GenericOAuthenticator's are plain OAuth 2's

    @default("scope")
    def _scope_default(self):
        return ["openid", "profile", "email"]

    @default("username_claim")
    def _username_claim_default(self):
        return "preferred_username"

    @default("basic_auth")
    def _basic_auth_default(self):
        # client_secret_basic is OpenID Connect's default client authentication
        return True

    def email_info(self, claims):
        """The user_info smchub reads: the address and whether the provider verified it."""
        email = claims.get(self.email_claim)
        email = email.strip() if isinstance(email, str) and email.strip() else None
        verified = claims.get(self.email_verified_claim)
        # some providers send the claim as the string "true"
        verified = verified is True or (isinstance(verified, str) and verified.lower() == "true")
        return {"email": email, "email_verified": bool(email) and verified}

    async def update_auth_model(self, auth_model):
        claims = auth_model["auth_state"][self.user_auth_state_key]
        # JupyterHub stores user_info at every sign-in, so a changed or newly verified
        # address reaches the hub the next time the person signs in
        auth_model["user_info"] = self.email_info(claims)
        return auth_model
