"""The caller ID's STIR/SHAKEN attestation on each call

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

A caller ID can be spoofed. Twilio passes the carrier's attestation (``StirVerstat``) on the
first webhook; the call keeps it, so that a number opens earlier contacts' notes only when the
carrier fully vouched for it. Existing calls have none: they count as unverified.
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable ADD COLUMN needs no table copy on SQLite (calls is pointed at by contacts).
    op.add_column("calls", sa.Column("caller_attestation", sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column("calls", "caller_attestation")
