"""enrolment approval: who claims a course place reserved for an email, pending approval

A place reserved for an email goes at once only to someone whose address their
authenticator vouches for; anyone else with that address is recorded as the place's
claimant until an instructor approves them.

Revision ID: 0006_enrolment_approval
Revises: 0005_invitations
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0006_enrolment_approval"
down_revision = "0005_invitations"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("smc_course_students") as batch:
        batch.add_column(sa.Column("claimant_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_smc_course_students_claimant_id_users", "users", ["claimant_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip


def downgrade():
    with op.batch_alter_table("smc_course_students") as batch:
        batch.drop_constraint("fk_smc_course_students_claimant_id_users", type_="foreignkey")
        batch.drop_column("claimant_id")
