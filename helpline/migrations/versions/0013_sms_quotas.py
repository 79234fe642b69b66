"""Texts: limits per call and per number a day, taken atomically

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08

One row per limit (a call's, or a number's day, by keyed hash), counted up by a conditional
upsert so that two texts sent at once cannot both take the last one. Refused texts are outbox
rows with status "refused": no column changes there.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_quotas",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sms_quotas")),
    )
    op.create_index(op.f("ix_sms_quotas_day"), "sms_quotas", ["day"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sms_quotas_day"), table_name="sms_quotas")
    op.drop_table("sms_quotas")
