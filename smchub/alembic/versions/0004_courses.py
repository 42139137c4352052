"""courses: students, assignments and handouts, per-student status and grades

Revision ID: 0004_courses
Revises: 0003_accounts
Create Date: 2026-11-29

"""

import sqlalchemy as sa
from alembic import op

revision = "0004_courses"
down_revision = "0003_accounts"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "smc_courses",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("title", sa.Unicode(200), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["smc_projects.id"],
            name="fk_smc_courses_project_id_smc_projects", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_courses"),
    )  # fmt: skip
    op.create_index("ix_smc_courses_project_id", "smc_courses", ["project_id"])
    op.create_table(
        "smc_course_students",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.Unicode(255), nullable=True),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("added", sa.DateTime(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["smc_courses.id"],
            name="fk_smc_course_students_course_id_smc_courses", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name="fk_smc_course_students_user_id_users", ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["smc_projects.id"],
            name="fk_smc_course_students_project_id_smc_projects", ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_course_students"),
        sa.UniqueConstraint("course_id", "user_id", name="uq_smc_course_students_course_user"),
        sa.UniqueConstraint("course_id", "email", name="uq_smc_course_students_course_email"),
    )  # fmt: skip
    op.create_index("ix_smc_course_students_course_id", "smc_course_students", ["course_id"])
    op.create_index("ix_smc_course_students_user_id", "smc_course_students", ["user_id"])
    op.create_index("ix_smc_course_students_email", "smc_course_students", ["email"])
    op.create_table(
        "smc_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(36), nullable=False),
        sa.Column("path", sa.Unicode(1024), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due", sa.DateTime(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["smc_courses.id"],
            name="fk_smc_assignments_course_id_smc_courses", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_smc_assignments"),
        sa.UniqueConstraint("course_id", "path", name="uq_smc_assignments_course_path"),
    )  # fmt: skip
    op.create_index("ix_smc_assignments_course_id", "smc_assignments", ["course_id"])
    op.create_table(
        "smc_student_assignments",
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("assigned", sa.DateTime(), nullable=True),
        sa.Column("collected", sa.DateTime(), nullable=True),
        sa.Column("graded", sa.DateTime(), nullable=True),
        sa.Column("returned", sa.DateTime(), nullable=True),
        sa.Column("grade", sa.Unicode(64), nullable=True),
        sa.Column("comments", sa.UnicodeText(), nullable=False),
        sa.Column("error", sa.UnicodeText(), nullable=True),
        sa.ForeignKeyConstraint(
            ["student_id"], ["smc_course_students.id"],
            name="fk_smc_student_assignments_student_id_smc_course_students",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["smc_assignments.id"],
            name="fk_smc_student_assignments_assignment_id_smc_assignments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "student_id", "assignment_id", name="pk_smc_student_assignments"
        ),
    )  # fmt: skip


def downgrade():
    op.drop_table("smc_student_assignments")
    op.drop_table("smc_assignments")
    op.drop_table("smc_course_students")
    op.drop_table("smc_courses")
