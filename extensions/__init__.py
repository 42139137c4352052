"""jupyter-server extensions that smchub loads into every project server."""
