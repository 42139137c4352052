"""Fixtures: a real SMCHub in this process, behind the real configurable-http-proxy
(or HAProxy, with SMCHUB_TEST_PROXY=haproxy: see hubfixture.proxy_under_test).

The hub runs on pytest's (session-wide) event loop, so tests talk to it with an async
HTTP client over loopback, exactly as a browser or script would, and can still look at
its database. Project servers are real jupyterhub-singleuser processes.
"""

import os
import shutil
import tempfile

import pytest

from . import loopback_names
from .hubfixture import running_hub

# projects have origins of their own, http://<id>.localhost:<port>/
loopback_names.install()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "runs_last: waits for something built beside the tests (the full image's first "
        "build, tests/services/with-full-image.sh), so it runs after all the others",
    )


def pytest_collection_modifyitems(config, items):
    # a stable sort: the others keep their order
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


@pytest.fixture(scope="session")
def hub_root():
    # not pytest's tmp_path: its /tmp/pytest-of-root is 0700, and per-project accounts
    # must be able to walk down to their homes
    root = tempfile.mkdtemp(prefix="smchub-test-")
    os.chmod(root, 0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def hub(hub_root):
    async with running_hub(os.path.join(hub_root, "hub")) as running:
        yield running
