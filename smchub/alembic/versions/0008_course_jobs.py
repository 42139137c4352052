"""course jobs: a step run for several students, and where it is for each, in the
database so that a restarted hub resumes it; and an index on the students' projects
(every collaborator change asks whether the project is a student's course project)

Revision ID: 0008_course_jobs
Revises: 0007_snapshots
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0008_course_jobs"
down_revision = "0007_snapshots"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "smc_course_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("course_id", sa.String(36), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("assignment_path", sa.Unicode(1024), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.UnicodeText(), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("course_server_started", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["smc_courses.id"],
            name="fk_smc_course_jobs_course_id_smc_courses", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["smc_assignments.id"],
            name="fk_smc_course_jobs_assignment_id_smc_assignments", ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"], ["users.id"],
            name="fk_smc_course_jobs_started_by_id_users", ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_course_jobs"),
    )  # fmt: skip
    op.create_index("ix_smc_course_jobs_course_id", "smc_course_jobs", ["course_id"])
    op.create_table(
        "smc_course_job_students",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Unicode(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.UnicodeText(), nullable=True),
        sa.Column("started", sa.DateTime(), nullable=True),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.Column("server_started", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["smc_course_jobs.id"],
            name="fk_smc_course_job_students_job_id_smc_course_jobs", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["smc_course_students.id"],
            name="fk_smc_course_job_students_student_id_smc_course_students",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "student_id", name="pk_smc_course_job_students"),
    )  # fmt: skip
    op.create_index(
        "ix_smc_course_job_students_student_id", "smc_course_job_students", ["student_id"]
    )
    op.create_index("ix_smc_course_students_project_id", "smc_course_students", ["project_id"])


def downgrade():
    op.drop_index("ix_smc_course_students_project_id", "smc_course_students")
    op.drop_table("smc_course_job_students")
    op.drop_table("smc_course_jobs")
