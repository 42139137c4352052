"""course settings: whether students share their course projects, and an exam window
with the restrictions that hold in students' projects while it is open

Existing courses keep today's behaviour: students do not share, no exam window.

Revision ID: 0011_course_settings
Revises: 0010_deadlines
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0011_course_settings"
down_revision = "0010_deadlines"
branch_labels = None
depends_on = None

FLAGS = ("students_can_share", "exam_no_terminals", "exam_no_downloads", "exam_no_network")


def upgrade():
    with op.batch_alter_table("smc_courses") as batch:
        for flag in FLAGS:
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch.add_column(sa.Column("exam_start", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("exam_end", sa.DateTime(), nullable=True))


def downgrade():
    # not in batch mode: recreating smc_courses on SQLite would cascade-delete its
    # students, assignments and jobs (SQLite has had DROP COLUMN since 3.35)
    for column in ("exam_end", "exam_start", *reversed(FLAGS)):
        op.drop_column("smc_courses", column)
