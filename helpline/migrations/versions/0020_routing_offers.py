"""Routing: offers rung to counselors, counselors' skills and the status they return to

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

One row per offer of a waiting call to a counselor. Two partial unique indexes keep one ringing
offer per call and per counselor, whatever routing passes race.
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_RINGING = sa.text("state = 'ringing'")


def upgrade() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("counselor_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("offered_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE",
                                name=op.f("fk_offers_call_id_calls")),
        sa.ForeignKeyConstraint(["counselor_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_offers_counselor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    op.create_index(op.f("ix_offers_call_id"), "offers", ["call_id"])
    op.create_index("ix_offers_state_expires", "offers", ["state", "expires_at"])
    op.create_index("ix_offers_counselor_offered", "offers", ["counselor_id", "offered_at"])
    op.create_index("uq_offers_ringing_call", "offers", ["call_id"], unique=True,
                    sqlite_where=_RINGING, postgresql_where=_RINGING)
    op.create_index("uq_offers_ringing_counselor", "offers", ["counselor_id"], unique=True,
                    sqlite_where=_RINGING, postgresql_where=_RINGING)
    op.add_column("users", sa.Column("status_reason", sa.String(length=20), nullable=True))
    op.add_column("users", sa.Column("status_before_call", sa.String(length=16), nullable=True))
    op.add_column("users", sa.Column("skills", sa.String(length=120), nullable=False,
                                     server_default=""))
    # Everyone who took calls took crisis calls before routing asked for the skill: keep it so,
    # until supervisors say who is crisis-trained.
    op.execute("UPDATE users SET skills = 'crisis' WHERE role IN ('counselor', 'supervisor')")


def downgrade() -> None:
    # In place (SQLite 3.35+ drops a column itself): a batch copy of users, which most tables
    # point at, would with foreign keys on delete or refuse their rows.
    op.drop_column("users", "skills")
    op.drop_column("users", "status_before_call")
    op.drop_column("users", "status_reason")
    op.drop_index("uq_offers_ringing_counselor", table_name="offers")
    op.drop_index("uq_offers_ringing_call", table_name="offers")
    op.drop_index("ix_offers_counselor_offered", table_name="offers")
    op.drop_index("ix_offers_state_expires", table_name="offers")
    op.drop_index(op.f("ix_offers_call_id"), table_name="offers")
    op.drop_table("offers")
