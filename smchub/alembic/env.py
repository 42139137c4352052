"""alembic environment for smchub's tables.

smchub keeps its own history in its own version table, so JupyterHub's migrations and
ours never see each other's revisions.
"""

from alembic import context
from sqlalchemy import create_engine

import smchub.authenticators.orm  # noqa: F401  (its tables share smchub's metadata)
from smchub.orm import Base

config = context.config
VERSION_TABLE = config.get_main_option("version_table") or "smchub_alembic_version"

common_opts = dict(
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    transaction_per_migration=True,
    # SQLite cannot ALTER most things; batch mode copies tables instead
    render_as_batch=True,
)


def _url():
    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )


def run_migrations_offline():
    context.configure(url=_url(), literal_binds=True, **common_opts)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **common_opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, **common_opts)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
