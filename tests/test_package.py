"""The distribution: every package reaches the wheel, the config is generated, migrations match."""

import os
import subprocess
import sys
import zipfile

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

import smchub.authenticators.orm  # noqa: F401  (registers its tables)
from smchub import dbutil, orm
from smchub.spawners.registry import backend_kinds, loadable_backend_classes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMCHUB = os.path.join(os.path.dirname(sys.executable), "smchub")


def package_folders():
    """Every folder of Python files in the repository, with its import name."""
    roots = {
        "smchub": "smchub",
        "spawners": "smchub.spawners",
        "authenticators": "smchub.authenticators",
        "extensions": "smchub.extensions",
    }
    for folder, name in roots.items():
        for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, folder)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            if any(f.endswith(".py") for f in filenames):
                rel = os.path.relpath(dirpath, os.path.join(REPO, folder))
                yield name if rel == "." else name + "." + rel.replace(os.sep, ".")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), REPO],
        check=True,
    )  # fmt: skip
    (path,) = out.glob("smchub-*.whl")
    return zipfile.ZipFile(path)


def test_every_package_folder_reaches_the_wheel(wheel):
    names = set(wheel.namelist())
    folders = list(package_folders())
    assert "smchub.spawners" in folders and "smchub.extensions.localhub" in folders
    for package in folders:
        path = package.replace(".", "/")
        assert any(n.startswith(path + "/") and n.endswith(".py") for n in names), package
    # the folders mapped into the namespace are not installed at the top level too
    assert not any(n.startswith(("spawners/", "authenticators/", "extensions/")) for n in names)
    # data files: templates and static assets, alembic's scripts and config
    assert any(n.endswith("share/smchub/templates/projects.html") for n in names)
    assert any(n.endswith("share/smchub/static/js/api.js") for n in names)
    assert "smchub/alembic.ini" in names
    assert any(n.startswith("smchub/alembic/versions/") for n in names)


def test_generate_config_includes_smchub_settings(tmp_path):
    config = tmp_path / "jupyterhub_config.py"
    subprocess.run([SMCHUB, "--generate-config", "-f", str(config)], check=True, cwd=tmp_path)
    text = config.read_text()
    for setting in (
        "c.SMCHub.data_dir",
        "c.SMCHub.default_quotas",
        "c.JupyterHub.bind_url",
        "c.ProjectSpawner.revocation_delay",
        "c.SMCAuthenticator.signup_mode",
    ):
        assert setting in text, setting
    # every registered kind of node has its settings in the file, each in its own section
    for kind, cls in loadable_backend_classes().items():
        assert f"# {cls.__name__}(" in text, f"no {cls.__name__} section for {kind} nodes"
    for setting in (
        "c.LocalBackend.pids_limit",
        "c.DockerBackend.check_timeout",
        "c.SwarmBackend.port_range",
        "c.KubernetesBackend.namespace",
    ):
        assert setting in text, setting


def test_every_kind_of_node_is_registered():
    assert backend_kinds() == ["docker", "kubernetes", "local", "swarm"]


def test_help_lists_smchub_settings():
    out = subprocess.run([SMCHUB, "--help-all"], capture_output=True, text=True, check=True)
    assert "--SMCHub.data_dir" in out.stdout


def test_migrations_match_the_models(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/m.sqlite")
    # JupyterHub's tables first: ours refer to its users
    from jupyterhub import orm as hub_orm

    hub_orm.Base.metadata.create_all(engine)
    dbutil.upgrade(engine)
    assert dbutil.current_revision(engine) == dbutil.head_revision()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        diff = compare_metadata(context, orm.Base.metadata)
    # only differences that concern smchub's own tables
    ours = [d for d in diff if "smc_" in repr(d)]
    assert ours == []
    # upgrading again is a no-op
    dbutil.upgrade(engine)
