"""A compute node's Docker Engine on another machine, reached over TCP with TLS: the
engine machine of tests/hubsite.py, a dockerd in a network namespace of its own that
accepts only clients with a certificate of the site's CA. The hub verifies the engine with
the node's CA even when its environment names a CA bundle of its own (REQUESTS_CA_BUNDLE,
as many systems set it), and neither side accepts the other's certificate from another CA.
"""

import os

import certifi
import pytest
from docker.errors import DockerException
from requests.exceptions import RequestException

from smchub.spawners.docker import DockerBackend

from .hubsite import ENGINE_STATE, Engine, Lan, engine_on, site_ca

DOCKER_HOSTS = os.environ.get("SMCHUB_TEST_DOCKER_HOSTS", "").split()
DOCKER_IMAGE = os.environ.get("SMCHUB_TEST_PROJECT_IMAGE", "")

pytestmark = pytest.mark.skipif(
    not DOCKER_HOSTS and not os.environ.get("CI"),
    reason="needs a test Docker Engine (tests/services/with-docker.sh starts it)",
)


def backend_with(machine, **tls):
    return DockerBackend(node_name="far", node_url=machine.url,
                         node_options={"image": DOCKER_IMAGE, **tls})  # fmt: skip


async def refused(backend, match):
    try:
        with pytest.raises((DockerException, RequestException), match=match):
            await backend.check()
    finally:
        backend.executor.shutdown()


async def test_a_node_over_tls_is_verified_with_its_own_ca_only(tmp_path, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    machine = Engine(ENGINE_STATE, DOCKER_HOSTS[0], DOCKER_IMAGE)
    with Lan() as lan, engine_on(lan, str(tmp_path), machine) as tls:
        backend = backend_with(machine, **tls)
        try:
            assert await backend.check()
            # the engine's own image, as the hub pins it at a start
            assert (await backend.resolve_image(DOCKER_IMAGE)).startswith("sha256:")
            assert await backend.has_image(DOCKER_IMAGE)
        finally:
            backend.executor.shutdown()

        other = site_ca(str(tmp_path / "other-ca"))
        stranger = other("hub")
        # an engine whose certificate the node's CA did not sign: the hub refuses it
        await refused(backend_with(machine, **{**tls, "tls_ca": stranger["ca"]}),
                      "certificate verify failed")  # fmt: skip
        # a hub with another CA's certificate, or none: the engine refuses it
        await refused(backend_with(machine, **{**tls, "tls_cert": stranger["cert"],
                                               "tls_key": stranger["key"]}),
                      "certificate|handshake|SSL")  # fmt: skip
        await refused(backend_with(machine, tls_ca=tls["tls_ca"]), "certificate|handshake|SSL")
        # and nothing answers a client without TLS
        await refused(backend_with(machine), "HTTPS|400")
