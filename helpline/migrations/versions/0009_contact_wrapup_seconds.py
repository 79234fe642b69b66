"""Wrap-up time kept on the contact

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

``contacts.wrapup_seconds`` is the time from the call's end to the record's wrap-up, written at
wrap-up; reports read it from the contacts' covering index instead of joining the calls.
Existing records get it from their call.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD_INDEX = ["created_at", "suicide_risk", "overdose_risk", "call_id", "closed_at"]
NEW_INDEX = ["created_at", "suicide_risk", "overdose_risk", "wrapup_seconds", "call_id"]


def _seconds(later: str, earlier: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {later} - {earlier}) AS INTEGER)"
    return f"unixepoch({later}) - unixepoch({earlier})"


def upgrade() -> None:
    op.add_column("contacts", sa.Column("wrapup_seconds", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE contacts SET wrapup_seconds = ("
        f"SELECT {_seconds('contacts.closed_at', 'calls.ended_at')} FROM calls "
        "WHERE calls.id = contacts.call_id AND calls.ended_at IS NOT NULL "
        "AND contacts.closed_at >= calls.ended_at) "
        "WHERE closed_at IS NOT NULL AND call_id IS NOT NULL"
    )
    op.drop_index("ix_contacts_report", table_name="contacts")
    op.create_index("ix_contacts_report", "contacts", NEW_INDEX, unique=False)


def downgrade() -> None:
    op.drop_index("ix_contacts_report", table_name="contacts")
    op.create_index("ix_contacts_report", "contacts", OLD_INDEX, unique=False)
    op.drop_column("contacts", "wrapup_seconds")
