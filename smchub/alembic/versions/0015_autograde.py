"""autograded assignments: the timeouts an instructor sets for grading a cell and a
notebook, and each student's score on each graded cell of their notebooks

Existing assignments keep the default timeouts and have no scores.

Revision ID: 0015_autograde
Revises: 0014_email_verification
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0015_autograde"
down_revision = "0014_email_verification"
branch_labels = None
depends_on = None


def upgrade():
    # plain ADD COLUMNs: recreating smc_assignments on SQLite (batch mode) would
    # cascade-delete the students' work rows
    op.add_column("smc_assignments", sa.Column("autograde_cell_timeout", sa.Float(), nullable=True))
    op.add_column(
        "smc_assignments", sa.Column("autograde_notebook_timeout", sa.Float(), nullable=True)
    )
    op.create_table(
        "smc_autograde_scores",
        sa.Column("student_id", sa.Integer(), primary_key=True),
        sa.Column("assignment_id", sa.Integer(), primary_key=True),
        sa.Column("notebook", sa.Unicode(255), primary_key=True),
        sa.Column("cell_id", sa.Unicode(255), primary_key=True),
        sa.Column("points", sa.Float(), nullable=True),
        sa.Column("max_points", sa.Float(), nullable=False),
        sa.Column("needs_manual_grade", sa.Boolean(), nullable=False),
        sa.Column("error", sa.UnicodeText(), nullable=True),
        sa.Column("graded", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["student_id", "assignment_id"],
            ["smc_student_assignments.student_id", "smc_student_assignments.assignment_id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_smc_autograde_scores_assignment_id", "smc_autograde_scores", ["assignment_id"]
    )


def downgrade():
    # the earlier code knows no autograde step
    op.execute("delete from smc_course_jobs where step = 'autograde'")
    op.drop_index("ix_smc_autograde_scores_assignment_id", table_name="smc_autograde_scores")
    op.drop_table("smc_autograde_scores")
    op.drop_column("smc_assignments", "autograde_notebook_timeout")
    op.drop_column("smc_assignments", "autograde_cell_timeout")
