"""Offers of queue callbacks: an offer is of a caller holding or of a callback they booked

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

``offers.call_id`` becomes optional and ``offers.followup_id`` names the callback offered; a
check constraint asks for exactly one of the two, and a partial unique index keeps one ringing
offer per callback, as for calls.
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_RINGING = sa.text("state = 'ringing'")
_PARTIAL = ("uq_offers_ringing_call", "uq_offers_ringing_counselor")


def _drop_partial_indexes() -> None:
    # SQLite copies the table to change a column: its partial indexes are made again after,
    # with their WHERE (a copy made from reflection might lose it).
    for name in _PARTIAL:
        op.drop_index(name, table_name="offers")


def _create_partial_indexes() -> None:
    op.create_index("uq_offers_ringing_call", "offers", ["call_id"], unique=True,
                    sqlite_where=_RINGING, postgresql_where=_RINGING)
    op.create_index("uq_offers_ringing_counselor", "offers", ["counselor_id"], unique=True,
                    sqlite_where=_RINGING, postgresql_where=_RINGING)


def upgrade() -> None:
    _drop_partial_indexes()
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.alter_column("call_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("followup_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_offers_followup_id_followups"), "followups",
                                    ["followup_id"], ["id"], ondelete="CASCADE")
        batch_op.create_check_constraint(op.f("ck_offers_one_contact"),
                                         "(call_id IS NULL) <> (followup_id IS NULL)")
        batch_op.create_index(op.f("ix_offers_followup_id"), ["followup_id"])
    _create_partial_indexes()
    op.create_index("uq_offers_ringing_followup", "offers", ["followup_id"], unique=True,
                    sqlite_where=_RINGING, postgresql_where=_RINGING)


def downgrade() -> None:
    op.execute("DELETE FROM offers WHERE call_id IS NULL")
    op.drop_index("uq_offers_ringing_followup", table_name="offers")
    _drop_partial_indexes()
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_offers_followup_id"))
        batch_op.drop_constraint(op.f("ck_offers_one_contact"), type_="check")
        batch_op.drop_constraint(op.f("fk_offers_followup_id_followups"), type_="foreignkey")
        batch_op.drop_column("followup_id")
        batch_op.alter_column("call_id", existing_type=sa.Integer(), nullable=False)
    _create_partial_indexes()
