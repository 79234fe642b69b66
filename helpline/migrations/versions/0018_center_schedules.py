"""Opening hours of treatment centers (HSDS 3.0 schedules)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

One row per schedule the source published, every HSDS field kept so that an export writes it
back unchanged.
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "center_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("link_type", sa.String(length=24), nullable=False),
        sa.Column("link_id", sa.String(length=128), nullable=False),
        sa.Column("freq", sa.String(length=8), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=True),
        sa.Column("byday", sa.String(length=64), nullable=False),
        sa.Column("bymonthday", sa.String(length=128), nullable=False),
        sa.Column("byweekno", sa.String(length=128), nullable=False),
        sa.Column("byyearday", sa.String(length=255), nullable=False),
        sa.Column("wkst", sa.String(length=2), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("dtstart", sa.Date(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("opens_at", sa.Time(), nullable=True),
        sa.Column("closes_at", sa.Time(), nullable=True),
        sa.Column("timezone", sa.Float(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("attending_type", sa.String(length=255), nullable=False),
        sa.Column("schedule_link", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["center_id"], ["treatment_centers.id"],
                                name=op.f("fk_center_schedules_center_id_treatment_centers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_center_schedules")),
    )
    op.create_index("ix_center_schedules_center", "center_schedules",
                    ["center_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_center_schedules_center", table_name="center_schedules")
    op.drop_table("center_schedules")
