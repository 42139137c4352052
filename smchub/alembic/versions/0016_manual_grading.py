"""manual grading of autograded assignments: a person's points for a cell (replacing the
automatic score, with a reason when it overrides one), their comment, who and when

Existing scores have no manual grading.

Revision ID: 0016_manual_grading
Revises: 0015_autograde
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

revision = "0016_manual_grading"
down_revision = "0015_autograde"
branch_labels = None
depends_on = None

COLUMNS = (
    ("manual_points", sa.Float()),
    ("comment", sa.UnicodeText()),
    ("override_reason", sa.UnicodeText()),
    ("graded_by", sa.Unicode(255)),
    ("manually_graded", sa.DateTime()),
)


def upgrade():
    # plain ADD COLUMNs, as in 0015: no table is recreated
    for name, kind in COLUMNS:
        op.add_column("smc_autograde_scores", sa.Column(name, kind, nullable=True))


def downgrade():
    with op.batch_alter_table("smc_autograde_scores") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
