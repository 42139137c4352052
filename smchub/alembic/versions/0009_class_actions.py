"""class-wide actions: course jobs that start, stop or run a command in every student's
project; the job keeps its command, each student's row the exit code and the output's end

A class action has no assignment: assignment_id is already nullable, and
assignment_path stays NOT NULL (an action leaves it ""), because making it nullable on
SQLite recreates the table, and dropping the old one would cascade-delete every job's
student rows.

Revision ID: 0009_class_actions
Revises: 0008_course_jobs
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0009_class_actions"
down_revision = "0008_course_jobs"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("smc_course_jobs") as batch:
        batch.add_column(sa.Column("command", sa.UnicodeText(), nullable=True))
        batch.add_column(sa.Column("command_timeout", sa.Float(), nullable=True))
    with op.batch_alter_table("smc_course_job_students") as batch:
        batch.add_column(sa.Column("exit_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("output", sa.UnicodeText(), nullable=True))


def downgrade():
    # the earlier code knows no class actions: it would try to resume them as steps
    op.execute("delete from smc_course_jobs where step in ('start', 'stop', 'exec')")
    with op.batch_alter_table("smc_course_job_students") as batch:
        batch.drop_column("output")
        batch.drop_column("exit_code")
    # not in batch mode: recreating smc_course_jobs would cascade-delete the students of
    # the jobs kept (SQLite has had DROP COLUMN since 3.35)
    op.drop_column("smc_course_jobs", "command_timeout")
    op.drop_column("smc_course_jobs", "command")
