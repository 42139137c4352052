"""email verification: whether an account's address is confirmed, and the one-time links
sent to confirm it

Existing accounts' addresses are unconfirmed: nobody has opened a link for them.

Revision ID: 0014_email_verification
Revises: 0013_course_assistants
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0014_email_verification"
down_revision = "0013_course_assistants"
branch_labels = None
depends_on = None


def upgrade():
    # a plain ADD COLUMN (with its default) on every database: no table is recreated
    op.add_column(
        "smc_accounts",
        sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "smc_email_verifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("hashed", sa.String(64), nullable=False),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("smc_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.Unicode(255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("hashed", name="uq_smc_email_verifications_hashed"),
    )
    op.create_index(
        "ix_smc_email_verifications_account_id", "smc_email_verifications", ["account_id"]
    )


def downgrade():
    op.drop_index("ix_smc_email_verifications_account_id", table_name="smc_email_verifications")
    op.drop_table("smc_email_verifications")
    # not in batch mode: recreating smc_accounts on SQLite would cascade to what refers
    # to it (SQLite has had DROP COLUMN since 3.35)
    op.drop_column("smc_accounts", "email_verified")
