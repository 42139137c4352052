"""Clients of a node's Docker Engine that verify it with the node's own CA.

The Docker SDK gives a node's CA to its requests session, and requests lets a CA bundle
named in the process's environment (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, which many systems
set) take the place of a session's own (psf/requests#3829): a hub run with either set would
check an engine's certificate against that bundle and refuse every engine of a private CA.
These clients keep the node's CA; proxies and the rest of the environment still apply."""

import docker
from requests.sessions import merge_setting


class EngineAPIClient(docker.APIClient):
    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        # a request's own choice, else the session's (the node's CA), never the environment's
        settings["verify"] = merge_setting(verify, self.verify)
        return settings


class EngineClient(docker.DockerClient):
    """docker.DockerClient on an EngineAPIClient (whose constructor already asks the
    engine its API version, through the node's CA)."""

    def __init__(self, *args, **kwargs):
        self.api = EngineAPIClient(*args, **kwargs)
