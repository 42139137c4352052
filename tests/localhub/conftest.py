"""Fixtures: a real jupyter-server with the localhub extension, in this process.

pytest-jupyter's fixtures are bound here by name rather than listed in ``pytest_plugins``:
pytest accepts ``pytest_plugins`` only in the top-level conftest, and registering the
plugin there would put its autouse fixtures (one closes the event loop after every test)
under the whole suite, including the hub's session-wide tests. Imported here, they apply
to this folder only (its collection hooks are not needed: pytest-asyncio runs the tests).

pytest-jupyter runs each server on its own loop while pytest-asyncio runs each test on
the loop of its scope; ``jp_asyncio_loop`` is overridden so that both are the same
function-scoped loop. Test modules here mark themselves with
``pytest.mark.asyncio(loop_scope="function")`` to match.
"""

import pytest
from jupyter_server.serverapp import ServerApp
from pytest_jupyter import jupyter_server as jupyter_server_fixtures
from traitlets.config import Application, Config

# pytest-jupyter's server fixtures, and the fixtures they depend on
echo_kernel_spec = jupyter_server_fixtures.echo_kernel_spec
http_server = jupyter_server_fixtures.http_server
http_server_client = jupyter_server_fixtures.http_server_client
http_server_port = jupyter_server_fixtures.http_server_port
jp_argv = jupyter_server_fixtures.jp_argv
jp_auth_header = jupyter_server_fixtures.jp_auth_header
jp_base_url = jupyter_server_fixtures.jp_base_url
jp_config_dir = jupyter_server_fixtures.jp_config_dir
jp_configurable_serverapp = jupyter_server_fixtures.jp_configurable_serverapp
jp_data_dir = jupyter_server_fixtures.jp_data_dir
jp_env_config_path = jupyter_server_fixtures.jp_env_config_path
jp_env_jupyter_path = jupyter_server_fixtures.jp_env_jupyter_path
jp_environ = jupyter_server_fixtures.jp_environ
jp_fetch = jupyter_server_fixtures.jp_fetch
jp_home_dir = jupyter_server_fixtures.jp_home_dir
jp_http_port = jupyter_server_fixtures.jp_http_port
jp_kernel_dir = jupyter_server_fixtures.jp_kernel_dir
jp_logging_stream = jupyter_server_fixtures.jp_logging_stream
jp_nbconvert_templates = jupyter_server_fixtures.jp_nbconvert_templates
jp_root_dir = jupyter_server_fixtures.jp_root_dir
jp_runtime_dir = jupyter_server_fixtures.jp_runtime_dir
jp_serverapp = jupyter_server_fixtures.jp_serverapp
jp_system_config_path = jupyter_server_fixtures.jp_system_config_path
jp_system_jupyter_path = jupyter_server_fixtures.jp_system_jupyter_path
jp_web_app = jupyter_server_fixtures.jp_web_app
jp_ws_fetch = jupyter_server_fixtures.jp_ws_fetch

EXTENSION = "smchub.extensions.localhub"


@pytest.fixture
def jp_asyncio_loop(_function_scoped_runner):
    # the loop pytest-asyncio runs the test on; pytest-asyncio closes it, not this fixture
    return _function_scoped_runner.get_loop()


@pytest.fixture(autouse=True)
def server_app_singleton(jp_asyncio_loop):
    """Room for this test's ServerApp, cleaned up after; replaces jp_server_cleanup.

    traitlets allows one Application singleton per process. When the suite's session-wide
    hub is already running, it holds that place and ServerApp.instance() would refuse to
    start; the hub is idle while these tests run, so it steps aside for each of them.
    """
    hub = Application._instance
    Application._instance = None
    yield
    if isinstance(Application._instance, ServerApp):
        app = ServerApp.instance()
        jp_asyncio_loop.run_until_complete(app._cleanup())
        app.kernel_manager.context.destroy()
        ServerApp.clear_instance()
    Application._instance = hub


@pytest.fixture
def localhub_config():
    """Extra ``c.LocalHub`` settings for the server under test; override to change them."""
    return {}


@pytest.fixture
def jp_server_config(localhub_config):
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {EXTENSION: True}},
            "LocalHub": localhub_config,
        }
    )


@pytest.fixture
def localhub(jp_serverapp):
    """The running LocalHub extension app; tests may change its limits in place."""
    return jp_serverapp.web_app.settings["localhub"]


@pytest.fixture
def home(jp_root_dir):
    """The project home of the server under test (its root_dir)."""
    return jp_root_dir


@pytest.fixture
def outside(tmp_path):
    """A folder next to the home, which nothing may reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("not for the project")
    return folder


@pytest.fixture
def api(jp_fetch):
    """Call the server: returns the response whatever its status."""

    def call(*parts, **kwargs):
        kwargs.setdefault("raise_error", False)
        return jp_fetch(*parts, **kwargs)

    return call
