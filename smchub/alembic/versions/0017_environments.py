"""software environments: the environment chosen for a project and for a course, and the
image each was pinned to (reference, the image name it came from, the kind of node)

Existing projects and courses have the hub's default environment and no pin.

Revision ID: 0017_environments
Revises: 0016_manual_grading
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

revision = "0017_environments"
down_revision = "0016_manual_grading"
branch_labels = None
depends_on = None

TABLES = ("smc_projects", "smc_courses")
COLUMNS = (
    ("environment", sa.Unicode(64)),
    ("image_digest", sa.Unicode(512)),
    ("image_source", sa.Unicode(512)),
    ("image_kind", sa.String(32)),
)


def upgrade():
    # plain ADD COLUMNs: no table is recreated
    for table in TABLES:
        for name, kind in COLUMNS:
            op.add_column(table, sa.Column(name, kind, nullable=True))


def downgrade():
    # not in batch mode: recreating these tables on SQLite would cascade-delete the rows
    # that refer to them (SQLite has had DROP COLUMN since 3.35)
    for table in TABLES:
        for name, _ in reversed(COLUMNS):
            op.drop_column(table, name)
