"""course setting: the course's teaching assistants (every teacher but the course
project's owner) only view its students' projects

Existing courses keep today's behaviour: every teacher collaborates on students' projects.

Revision ID: 0013_course_assistants
Revises: 0012_peer_feedback
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0013_course_assistants"
down_revision = "0012_peer_feedback"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("smc_courses") as batch:
        batch.add_column(
            sa.Column(
                "assistants_view_only", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade():
    # not in batch mode: recreating smc_courses on SQLite would cascade-delete its
    # students, assignments and jobs (SQLite has had DROP COLUMN since 3.35)
    op.drop_column("smc_courses", "assistants_view_only")
