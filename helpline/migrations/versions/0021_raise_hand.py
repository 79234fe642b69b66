"""A counselor's raised hand: asking a supervisor for help, shown on the wallboard

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

When the counselor raised their hand; NULL when it is down (lowered by them, or acknowledged
by a supervisor).
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("hand_raised_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35+ drops a column itself): a batch copy of users, which most tables
    # point at, would with foreign keys on delete or refuse their rows.
    op.drop_column("users", "hand_raised_at")
