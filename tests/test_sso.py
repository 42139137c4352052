"""SMCOAuthenticator without a provider: what it makes of claims, and the example config.

Sign-in through a real OpenID Connect provider is in tests/browser/test_sso.py.
"""

from pathlib import Path

import pytest
from traitlets.config import PyFileConfigLoader

from smchub.authenticators.oidc import SMCOAuthenticator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "claims, info",
    [
        (
            {"email": "sam@example.edu", "email_verified": True},
            {"email": "sam@example.edu", "email_verified": True},
        ),
        # unverified, or no word on it: the address is recorded, and claims nothing
        (
            {"email": "sam@example.edu", "email_verified": False},
            {"email": "sam@example.edu", "email_verified": False},
        ),
        ({"email": "sam@example.edu"}, {"email": "sam@example.edu", "email_verified": False}),
        # providers that send the claim as a string
        (
            {"email": " sam@example.edu ", "email_verified": "true"},
            {"email": "sam@example.edu", "email_verified": True},
        ),
        (
            {"email": "sam@example.edu", "email_verified": "false"},
            {"email": "sam@example.edu", "email_verified": False},
        ),
        # no address: nothing is verified
        ({"email_verified": True}, {"email": None, "email_verified": False}),
        ({"email": "", "email_verified": True}, {"email": None, "email_verified": False}),
        (
            {"email": ["sam@example.edu"], "email_verified": True},
            {"email": None, "email_verified": False},
        ),
    ],
)
def test_the_email_claims_become_the_user_info_smchub_reads(claims, info):
    assert SMCOAuthenticator().email_info(claims) == info


def test_the_claims_can_be_named_otherwise():
    authenticator = SMCOAuthenticator(email_claim="mail", email_verified_claim="mail_ok")
    info = authenticator.email_info({"mail": "sam@example.edu", "mail_ok": True, "email": "x@y.z"})
    assert info == {"email": "sam@example.edu", "email_verified": True}


def test_openid_connect_defaults():
    authenticator = SMCOAuthenticator()
    assert authenticator.scope == ["openid", "profile", "email"]
    assert authenticator.username_claim == "preferred_username"
    assert authenticator.basic_auth is True


def test_the_example_config_names_only_real_settings(monkeypatch):
    monkeypatch.setenv("SMCHUB_OIDC_CLIENT_SECRET", "s3cret")
    config = PyFileConfigLoader("sso_jupyterhub_config.py", str(EXAMPLES)).load_config()
    settings = set(config.SMCOAuthenticator)
    assert settings <= set(SMCOAuthenticator.class_trait_names(config=True)), settings
    authenticator = SMCOAuthenticator(config=config)
    assert authenticator.admin_groups == {"smchub-admins"}
    assert authenticator.auth_state_groups_key == "oauth_user.groups"
    assert config.JupyterHub.authenticator_class == "smchub.authenticators.oidc.SMCOAuthenticator"
