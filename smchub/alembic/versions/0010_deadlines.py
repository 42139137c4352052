"""deadlines: per-student extensions, the collection the hub makes at each student's
deadline (and the digest of the work it took, so later changes are collected as late),
and course jobs the hub starts itself

Revision ID: 0010_deadlines
Revises: 0009_class_actions
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0010_deadlines"
down_revision = "0009_class_actions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("smc_student_assignments") as batch:
        batch.add_column(sa.Column("due", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("due_collected", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("due_collected_for", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("due_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("late_collected", sa.DateTime(), nullable=True))
    with op.batch_alter_table("smc_course_jobs") as batch:
        batch.add_column(
            sa.Column("trigger", sa.String(16), nullable=False, server_default="person")
        )


def downgrade():
    # the earlier code knows no jobs without a person, nor the due-date step
    op.execute("delete from smc_course_jobs where trigger != 'person' or step = 'due'")
    # not in batch mode: recreating smc_course_jobs would cascade-delete the students of
    # the jobs kept (SQLite has had DROP COLUMN since 3.35)
    op.drop_column("smc_course_jobs", "trigger")
    for column in ("late_collected", "due_digest", "due_collected_for", "due_collected", "due"):
        op.drop_column("smc_student_assignments", column)
