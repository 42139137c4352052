"""Authenticators for smchub. Any JupyterHub authenticator works; this one adds accounts."""

from .smc import SMCAuthenticator

__all__ = ["SMCAuthenticator"]
