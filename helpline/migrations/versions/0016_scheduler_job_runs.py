"""The last run of each scheduler job

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

Written by the active scheduler as each run ends, read by /metrics on any web process.
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_job_runs",
        sa.Column("job_id", sa.String(length=191), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_scheduler_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_job_runs")
