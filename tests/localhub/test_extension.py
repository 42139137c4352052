"""Loading the extension: lazily from the hub's side, configured from the server's config."""

import json
import subprocess
import sys

import pytest
from traitlets import TraitError


def test_importing_the_package_does_not_import_the_server_side():
    # the hub imports smchub.extensions.localhub; that must stay cheap
    code = (
        "import sys, smchub.extensions.localhub as m\n"
        "loaded = sorted(n for n in sys.modules"
        " if n.startswith(('smchub.extensions.localhub.', 'jupyter_server', 'tornado')))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_extension_point_names_the_app():
    from smchub.extensions.localhub import _jupyter_server_extension_points
    from smchub.extensions.localhub.app import LocalHub

    assert _jupyter_server_extension_points() == [
        {"module": "smchub.extensions.localhub", "app": LocalHub}
    ]


def test_a_default_above_its_maximum_is_a_config_error():
    from smchub.extensions.localhub.app import LocalHub

    app = LocalHub(exec_timeout=700)
    with pytest.raises(TraitError, match="LocalHub.exec_timeout .* is larger than"):
        app.initialize_settings()


@pytest.fixture
def localhub_config():
    return {
        "exec_timeout": 2,
        "exec_timeout_max": 5,
        "exec_max_output": 4,
        "archive_max_bytes": 10,
    }


@pytest.mark.asyncio(loop_scope="function")
async def test_limits_are_read_from_the_server_config(api, home, localhub):
    assert localhub.exec_timeout_max == 5
    r = await api(
        "smc", "api", "exec", method="POST", body=json.dumps({"command": "true", "timeout": 6})
    )
    assert r.code == 400
    assert "limit of 5 seconds" in json.loads(r.body)["message"]
    r = await api("smc", "api", "exec", method="POST", body=json.dumps({"command": "date"}))
    assert len(json.loads(r.body)["stdout"]) == 4
    (home / "eleven.txt").write_text("x" * 11)
    r = await api("smc", "api", "archive", params={"path": "eleven.txt"})
    assert r.code == 413


def test_every_limit_is_documented_config():
    from smchub.extensions.localhub.app import LocalHub

    names = [
        "exec_timeout",
        "exec_timeout_max",
        "exec_max_output",
        "exec_max_output_max",
        "exec_max_body",
        "archive_max_bytes",
        "archive_max_upload",
        "disk_usage_max_age",
        "disk_usage_timeout",
    ]
    traits = LocalHub.class_own_traits(config=True)
    for name in names:
        assert name in traits
        assert len(traits[name].help) > 40, name
