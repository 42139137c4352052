"""accounts: approval state, sign-up codes, password-reset links, sign-in lockout

Revision ID: 0003_accounts
Revises: 0002_compute_nodes
Create Date: 2026-11-30

"""

import sqlalchemy as sa
from alembic import op

revision = "0003_accounts"
down_revision = "0002_compute_nodes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "smc_signup_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hashed", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("note", sa.Unicode(255), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_smc_signup_tokens_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_signup_tokens"),
        sa.UniqueConstraint("hashed", name="uq_smc_signup_tokens_hashed"),
    )
    with op.batch_alter_table("smc_accounts") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("signup_token_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_smc_accounts_signup_token_id_smc_signup_tokens",
            "smc_signup_tokens",
            ["signup_token_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "smc_password_resets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hashed", sa.String(64), nullable=False),
        sa.Column("username", sa.Unicode(255), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_smc_password_resets_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_password_resets"),
        sa.UniqueConstraint("hashed", name="uq_smc_password_resets_hashed"),
    )
    op.create_index("ix_smc_password_resets_username", "smc_password_resets", ["username"])
    op.create_table(
        "smc_login_failures",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Unicode(255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_smc_login_failures"),
    )
    op.create_index("ix_smc_login_failures_since", "smc_login_failures", ["since"])


def downgrade():
    op.drop_table("smc_login_failures")
    op.drop_table("smc_password_resets")
    with op.batch_alter_table("smc_accounts") as batch:
        batch.drop_constraint(
            "fk_smc_accounts_signup_token_id_smc_signup_tokens", type_="foreignkey"
        )
        batch.drop_column("signup_token_id")
        batch.drop_column("state")
    op.drop_table("smc_signup_tokens")
