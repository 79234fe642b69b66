"""Reasons kept on the contact at wrap-up

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

``contacts.no_crisis_step_reason`` says why no crisis step was possible at imminent risk;
``contacts.wrap_up_override_reason`` why a record was closed with something missing. Both are
sealed free text (the application encrypts them), stored as text.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("no_crisis_step_reason", sa.Text(), nullable=True))
    op.add_column("contacts", sa.Column("wrap_up_override_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would trip the foreign
    # keys of the rows that point at contacts.
    op.drop_column("contacts", "wrap_up_override_reason")
    op.drop_column("contacts", "no_crisis_step_reason")
