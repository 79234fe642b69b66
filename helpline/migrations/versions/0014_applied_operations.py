"""IVR operations applied, by idempotency key

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

A webhook's operations (and their copies in the spool) carry a key; the key is inserted in the
transaction that applies the operation, so a retried delivery or a replay after a crash
applies it once.
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applied_operations",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_applied_operations")),
    )
    op.create_index(op.f("ix_applied_operations_applied_at"), "applied_operations",
                    ["applied_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_applied_operations_applied_at"), table_name="applied_operations")
    op.drop_table("applied_operations")
