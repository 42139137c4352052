"""projects, collaborators, invites and accounts

Revision ID: 0001_projects
Revises:
Create Date: 2026-11-29

"""

import sqlalchemy as sa
from alembic import op

revision = "0001_projects"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "smc_projects",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("title", sa.Unicode(200), nullable=False),
        sa.Column("description", sa.UnicodeText(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("quota_overrides", sa.JSON(), nullable=False),
        sa.Column("node", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_smc_projects"),
    )
    op.create_index("ix_smc_projects_deleted", "smc_projects", ["deleted"])
    op.create_table(
        "smc_collaborators",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("added", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["smc_projects.id"],
            name="fk_smc_collaborators_project_id_smc_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_smc_collaborators_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_smc_collaborators"),
    )
    op.create_index("ix_smc_collaborators_user_id", "smc_collaborators", ["user_id"])
    op.create_table(
        "smc_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("hashed", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["smc_projects.id"],
            name="fk_smc_invites_project_id_smc_projects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_smc_invites_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_invites"),
        sa.UniqueConstraint("hashed", name="uq_smc_invites_hashed"),
    )
    op.create_index("ix_smc_invites_project_id", "smc_invites", ["project_id"])
    op.create_table(
        "smc_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Unicode(255), nullable=False),
        sa.Column("email", sa.Unicode(255), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_smc_accounts_user_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_accounts"),
        sa.UniqueConstraint("username", name="uq_smc_accounts_username"),
        sa.UniqueConstraint("email", name="uq_smc_accounts_email"),
    )


def downgrade():
    op.drop_table("smc_accounts")
    op.drop_table("smc_invites")
    op.drop_table("smc_collaborators")
    op.drop_table("smc_projects")
