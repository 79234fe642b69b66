"""Directory upkeep: capacity, verification and import bookkeeping

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Treatment capacity on each center, an index for the "not verified for six months"
list, and the latitude band (a generated column) that the radius search seeks on.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LAT_CELL = "CAST(latitude * 4 + 400 AS INTEGER)"


def upgrade() -> None:
    # Plain ADD COLUMN rather than a batch copy: SQLite can add a virtual generated column in
    # place, and a table copy could not insert into it.
    op.add_column("treatment_centers", sa.Column("accepting_patients", sa.Boolean(), nullable=True))
    op.add_column("treatment_centers", sa.Column("waitlist", sa.Boolean(), nullable=True))
    op.add_column("treatment_centers", sa.Column("waitlist_days", sa.Integer(), nullable=True))
    op.add_column("treatment_centers", sa.Column("same_day_moud", sa.Boolean(), nullable=True))
    op.add_column("treatment_centers",
                  sa.Column("capacity_confirmed_at", sa.DateTime(), nullable=True))
    op.add_column("treatment_centers",
                  sa.Column("capacity_confirmed_by", sa.String(length=120), nullable=False,
                            server_default=""))
    # Stored on PostgreSQL (an index needs it), virtual on SQLite (ADD COLUMN allows no other).
    stored = True if op.get_bind().dialect.name == "postgresql" else None
    op.add_column("treatment_centers",
                  sa.Column("lat_cell", sa.Integer(), sa.Computed(LAT_CELL, persisted=stored),
                            nullable=True))
    op.drop_index("ix_treatment_centers_lat_lon", table_name="treatment_centers")
    op.create_index("ix_treatment_centers_box", "treatment_centers",
                    ["lat_cell", "longitude", "latitude", "active"], unique=False)
    op.create_index("ix_treatment_centers_last_verified_at", "treatment_centers",
                    ["last_verified_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_treatment_centers_last_verified_at", table_name="treatment_centers")
    op.drop_index("ix_treatment_centers_box", table_name="treatment_centers")
    op.create_index("ix_treatment_centers_lat_lon", "treatment_centers",
                    ["latitude", "longitude"], unique=False)
    # SQLite drops a column in place (3.35+) unless an index or constraint names it.
    for column in ("lat_cell", "capacity_confirmed_by", "capacity_confirmed_at",
                   "same_day_moud", "waitlist_days", "waitlist", "accepting_patients"):
        op.drop_column("treatment_centers", column)
