"""A caller's calls by time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Every new call looks up the same caller's previous call (newest first). With an index on the
hash alone, a frequent caller's calls were all read and sorted each time; this index reads one.
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_caller_started", "calls", ["caller_hash", "started_at", "id"],
                    unique=False)
    op.drop_index("ix_calls_caller_hash", table_name="calls")


def downgrade() -> None:
    op.create_index("ix_calls_caller_hash", "calls", ["caller_hash"], unique=False)
    op.drop_index("ix_calls_caller_started", table_name="calls")
