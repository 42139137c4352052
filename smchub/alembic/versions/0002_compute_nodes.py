"""compute nodes, and the node labels a project asks for

Revision ID: 0002_compute_nodes
Revises: 0001_projects
Create Date: 2026-11-29

"""

import sqlalchemy as sa
from alembic import op

revision = "0002_compute_nodes"
down_revision = "0001_projects"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "smc_compute_nodes",
        sa.Column("name", sa.Unicode(255), nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("url", sa.Unicode(1024), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("from_config", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_smc_compute_nodes"),
    )
    with op.batch_alter_table("smc_projects") as batch:
        batch.add_column(sa.Column("node_labels", sa.JSON(), nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("smc_projects") as batch:
        batch.drop_column("node_labels")
    op.drop_table("smc_compute_nodes")
