"""Creating and upgrading smchub's tables with its own alembic history."""

import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION_TABLE = "smchub_alembic_version"


def alembic_config(url=None):
    cfg = Config(os.path.join(HERE, "alembic.ini"))
    cfg.set_main_option("script_location", os.path.join(HERE, "alembic"))
    if url:
        # '%' is interpolation syntax in alembic's config parser
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision():
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def upgrade(engine, revision="head"):
    """Bring smchub's tables to `revision` on the database behind `engine`.

    Safe on every start: a database already at head is left untouched, and each
    migration runs in its own transaction.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
