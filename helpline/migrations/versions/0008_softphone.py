"""The browser phone: where each staff member's calls ring

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

``users.take_calls_on`` is "phone" or "browser". Existing staff keep "phone", which rings
their phone when one is set and their browser otherwise: what happened before this column.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a constant default needs no table copy on SQLite.
    op.add_column("users", sa.Column("take_calls_on", sa.String(length=8), nullable=False,
                                     server_default="phone"))


def downgrade() -> None:
    # In place (SQLite 3.35+ drops a column itself): a batch copy of users, which most tables
    # point at, would with foreign keys on delete or refuse their rows.
    op.drop_column("users", "take_calls_on")
