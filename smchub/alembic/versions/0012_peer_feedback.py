"""peer feedback: how many peers review each student's collected work, and who reviews
whom, under which anonymous labels, with when each copy went out and each feedback came
back (the pairing is stored so a retried or resumed step copies to the same reviewers)

Existing assignments have no peer feedback.

Revision ID: 0012_peer_feedback
Revises: 0011_course_settings
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0012_peer_feedback"
down_revision = "0011_course_settings"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("smc_assignments") as batch:
        batch.add_column(sa.Column("peer_k", sa.Integer(), nullable=True))
    op.create_table(
        "smc_peer_reviews",
        sa.Column(
            "assignment_id",
            sa.Integer(),
            sa.ForeignKey("smc_assignments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "reviewer_id",
            sa.Integer(),
            sa.ForeignKey("smc_course_students.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "author_id",
            sa.Integer(),
            sa.ForeignKey("smc_course_students.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("work_label", sa.Unicode(64), nullable=False),
        sa.Column("reviewer_label", sa.Unicode(64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("copied", sa.DateTime(), nullable=True),
        sa.Column("feedback_collected", sa.DateTime(), nullable=True),
        sa.UniqueConstraint(
            "assignment_id", "reviewer_id", "work_label", name="uq_smc_peer_reviews_work_label"
        ),
        sa.UniqueConstraint(
            "assignment_id", "author_id", "reviewer_label", name="uq_smc_peer_reviews_from_label"
        ),
    )
    op.create_index("ix_smc_peer_reviews_author_id", "smc_peer_reviews", ["author_id"])


def downgrade():
    # the earlier code knows no peer steps
    op.execute("delete from smc_course_jobs where step in ('peer', 'peer-collect')")
    op.drop_index("ix_smc_peer_reviews_author_id", table_name="smc_peer_reviews")
    op.drop_table("smc_peer_reviews")
    # not in batch mode: recreating smc_assignments on SQLite would cascade-delete the
    # students' work rows (SQLite has had DROP COLUMN since 3.35)
    op.drop_column("smc_assignments", "peer_k")
