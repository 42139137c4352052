"""invitations: people asked to join a project, pending their answer

Invite links already record who made them (smc_invites.created_by_id, since 0001), which
is what lets removing a collaborator take their links with them.

Revision ID: 0005_invitations
Revises: 0004_courses
Create Date: 2026-12-01

"""

import sqlalchemy as sa
from alembic import op

revision = "0005_invitations"
down_revision = "0004_courses"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "smc_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["smc_projects.id"],
            name="fk_smc_invitations_project_id_smc_projects", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name="fk_smc_invitations_user_id_users", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"], ["users.id"],
            name="fk_smc_invitations_invited_by_id_users", ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_invitations"),
        sa.UniqueConstraint("project_id", "user_id", name="uq_smc_invitations_project_user"),
    )  # fmt: skip
    op.create_index("ix_smc_invitations_project_id", "smc_invitations", ["project_id"])
    op.create_index("ix_smc_invitations_user_id", "smc_invitations", ["user_id"])


def downgrade():
    op.drop_table("smc_invitations")
