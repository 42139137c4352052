"""ProjectNamesReserved, mixed into any authenticator, without a hub."""

from types import SimpleNamespace

import pytest
from jupyterhub.auth import DummyAuthenticator

from smchub.app import SMCHub
from smchub.authenticators import ProjectNamesReserved, SMCAuthenticator
from smchub.authenticators.project_names import keeping_project_names

PROJECT = "0e4b6a1e-3c1f-4d55-8d5a-3ef2a8a1c0ff"


class RecordingAuthenticator(DummyAuthenticator):
    """An authenticator with hooks of its own, as LocalAuthenticator has."""

    def add_user(self, user):
        self.added.append(user.name)
        return super().add_user(user)

    def delete_user(self, user):
        self.deleted.append(user.name)
        return super().delete_user(user)


def recording():
    authenticator = keeping_project_names(RecordingAuthenticator)()
    authenticator.added, authenticator.deleted = [], []
    return authenticator


def test_a_configured_authenticator_is_kept_with_its_name_and_settings():
    cls = keeping_project_names(RecordingAuthenticator)
    assert cls.__mro__[:3] == (cls, ProjectNamesReserved, RecordingAuthenticator)
    assert cls.__name__ == "RecordingAuthenticator"
    assert keeping_project_names(RecordingAuthenticator) is cls
    assert keeping_project_names(SMCAuthenticator) is SMCAuthenticator
    hub = SMCHub(authenticator_class=DummyAuthenticator)
    hub.db = None  # what init_db opens; the authenticator only keeps it
    hub.config.DummyAuthenticator.password = "class secret"
    assert isinstance(hub.authenticator, ProjectNamesReserved)
    assert isinstance(hub.authenticator, DummyAuthenticator)
    assert hub.authenticator.password == "class secret"
    default = SMCHub()
    default.db = None
    assert isinstance(default.authenticator, SMCAuthenticator)


@pytest.mark.parametrize("name", [PROJECT, PROJECT.upper()])
def test_project_names_are_refused_as_people(name):
    authenticator = recording()
    assert not authenticator.validate_username(name)
    assert authenticator.validate_username("ada")


def test_project_users_never_reach_the_authenticators_hooks():
    authenticator = recording()
    authenticator.add_user(SimpleNamespace(name=PROJECT))
    authenticator.delete_user(SimpleNamespace(name=PROJECT))
    assert authenticator.added == authenticator.deleted == []
    authenticator.add_user(SimpleNamespace(name="ada"))
    authenticator.delete_user(SimpleNamespace(name="ada"))
    assert authenticator.added == authenticator.deleted == ["ada"]


def test_new_people_pass_the_hubs_policy():
    authenticator = recording()
    asked = []

    def policy(name, known=()):
        asked.append(name)
        return "This hub serves one person only." if name == "eve" else None

    authenticator.add_user(SimpleNamespace(name="ada"))  # no policy yet: config's people
    authenticator.new_person_policy = policy
    authenticator.add_user(SimpleNamespace(name="bob"))
    with pytest.raises(ValueError, match="one person only"):
        authenticator.add_user(SimpleNamespace(name="eve"))
    authenticator.add_user(SimpleNamespace(name=PROJECT))
    assert asked == ["bob", "eve"]
    assert authenticator.added == ["ada", "bob"]


def test_smc_authenticator_refuses_project_names_at_sign_up():
    authenticator = SMCAuthenticator()
    assert not authenticator.validate_username(PROJECT)
    assert authenticator.username_problem(PROJECT) == (
        "That name is reserved for projects; choose another."
    )
