"""smchub: a notebook cloud in the spirit of SageMathCloud, built on JupyterHub."""

from ._version import __version__

__all__ = ["__version__"]
