"""snapshots: each project's restic snapshots, its last snapshot failure, and when it was
deleted (so its owner can undelete it for a while)

Revision ID: 0007_snapshots
Revises: 0006_enrolment_approval
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0007_snapshots"
down_revision = "0006_enrolment_approval"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "smc_snapshots",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("node", sa.Unicode(255), nullable=True),
        sa.Column("files_new", sa.Integer(), nullable=False),
        sa.Column("files_changed", sa.Integer(), nullable=False),
        sa.Column("bytes_added", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["smc_projects.id"],
            name="fk_smc_snapshots_project_id_smc_projects", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_snapshots"),
    )  # fmt: skip
    op.create_index("ix_smc_snapshots_project_id", "smc_snapshots", ["project_id"])
    with op.batch_alter_table("smc_projects") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("snapshot_error", sa.UnicodeText(), nullable=True))
        batch.add_column(sa.Column("snapshot_error_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("smc_projects") as batch:
        batch.drop_column("snapshot_error_at")
        batch.drop_column("snapshot_error")
        batch.drop_column("deleted_at")
    op.drop_table("smc_snapshots")
