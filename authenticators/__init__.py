"""Authenticators for smchub. Any JupyterHub authenticator works; this one adds accounts."""

from .errors import SignupError
from .project_names import ProjectNamesReserved
from .smc import SMCAuthenticator

__all__ = ["ProjectNamesReserved", "SMCAuthenticator", "SignupError"]
