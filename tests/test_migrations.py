"""smchub's migrations upgrade an existing database without losing anything."""

import os
from datetime import datetime

import pytest
from alembic.script import ScriptDirectory
from jupyterhub import orm as hub_orm
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from smchub import dbutil

from .hubfixture import new_database_url


def revisions():
    script = ScriptDirectory.from_config(dbutil.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.fixture
def engine(tmp_path):
    os.chmod(tmp_path, 0o711)
    engine = create_engine(new_database_url(str(tmp_path)))
    hub_orm.Base.metadata.create_all(engine)  # JupyterHub's own tables come first
    yield engine
    engine.dispose()


def fill(conn, tables):
    """Rows in every smchub table that exists at this revision."""
    now = datetime(2026, 1, 2, 3, 4, 5)
    with Session(bind=conn) as session:
        session.add(hub_orm.User(name="ada"))
        session.flush()
    uid = conn.execute(text("select id from users where name = 'ada'")).scalar()
    pid = "0e4b6a1e-3c1f-4d55-8d5a-3ef2a8a1c001"
    conn.execute(
        text(
            "insert into smc_projects (id, title, description, created, deleted, "
            "quota_overrides, node) values (:id, 'Thesis', 'ch. 1', :t, false, "
            "'{\"memory_mb\": 4096}', 'local')"
        ),
        {"id": pid, "t": now},
    )
    conn.execute(
        text(
            "insert into smc_collaborators (project_id, user_id, role, added) "
            "values (:p, :u, 'owner', :t)"
        ),
        {"p": pid, "u": uid, "t": now},
    )
    conn.execute(
        text(
            "insert into smc_invites (project_id, hashed, prefix, created, uses) "
            "values (:p, 'abc', 'ab', :t, 2)"
        ),
        {"p": pid, "t": now},
    )
    conn.execute(
        text(
            "insert into smc_accounts (username, email, password_hash, created, user_id) "
            "values ('ada', 'ada@example.org', 'hash', :t, :u)"
        ),
        {"t": now, "u": uid},
    )
    if "smc_compute_nodes" in tables:
        conn.execute(
            text(
                "insert into smc_compute_nodes (name, backend, url, cpu, memory_mb, labels, "
                "options, state, created, from_config) values ('n1', 'docker', 'unix:///x', "
                "2, 2048, '{\"zone\": \"a\"}', '{}', 'draining', :t, false)"
            ),
            {"t": now},
        )
    return pid


def snapshot(conn, tables):
    """Every row of every table, as {column: value} in a stable order."""
    result = {}
    for table in tables:
        rows = [dict(row._mapping) for row in conn.execute(text(f"select * from {table}"))]
        result[table] = sorted(rows, key=repr)
    return result


@pytest.mark.parametrize("start", revisions()[:-1])
def test_upgrade_from_each_earlier_revision_keeps_data(engine, start):
    dbutil.upgrade(engine, start)
    tables = [t for t in inspect(engine).get_table_names() if t.startswith("smc_")]
    with engine.begin() as conn:
        pid = fill(conn, tables)
    with engine.connect() as conn:
        before = snapshot(conn, tables)
    dbutil.upgrade(engine)
    assert dbutil.current_revision(engine) == dbutil.head_revision()
    with engine.connect() as conn:
        after = snapshot(conn, tables)
        for table in tables:
            # every row is still there; new columns may have been added to the right
            assert len(after[table]) == len(before[table]), table
            for old, new in zip(before[table], after[table], strict=True):
                assert {k: new[k] for k in old} == old, (table, old, new)
        title = conn.execute(text("select title from smc_projects where id = :i"), {"i": pid})
        assert title.scalar() == "Thesis"


def test_fresh_database_reaches_head(engine):
    dbutil.upgrade(engine)
    assert dbutil.current_revision(engine) == dbutil.head_revision()
    names = set(inspect(engine).get_table_names())
    assert {"smc_projects", "smc_collaborators", "smc_invites", "smc_compute_nodes"} <= names
