"""Overdose protocol and screening

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overdose_protocols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("counselor_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("location_kind", sa.String(length=16), nullable=True),
        sa.Column("conference_room", sa.String(length=40), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end_outcome", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"],
                                name=op.f("fk_overdose_protocols_call_id_calls"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_overdose_protocols_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["counselor_id"], ["users.id"],
                                name=op.f("fk_overdose_protocols_counselor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overdose_protocols")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_overdose_protocols_contact_id")),
    )
    with op.batch_alter_table("overdose_protocols", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_overdose_protocols_call_id"), ["call_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_overdose_protocols_counselor_id"),
                              ["counselor_id"], unique=False)
        batch_op.create_index("ix_overdose_protocols_running", ["ended_at", "started_at"],
                              unique=False)

    op.create_table(
        "overdose_protocol_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"],
                                name=op.f("fk_overdose_protocol_steps_by_id_users")),
        sa.ForeignKeyConstraint(
            ["protocol_id"], ["overdose_protocols.id"],
            name=op.f("fk_overdose_protocol_steps_protocol_id_overdose_protocols"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overdose_protocol_steps")),
    )
    with op.batch_alter_table("overdose_protocol_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_overdose_protocol_steps_protocol_id"),
                              ["protocol_id"], unique=False)

    op.create_table(
        "emergency_disclosures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.Integer(), nullable=True),
        sa.Column("caller_hash", sa.String(length=64), nullable=True),
        sa.Column("recipient_name", sa.String(length=120), nullable=False),
        sa.Column("recipient_affiliation", sa.String(length=160), nullable=False),
        sa.Column("disclosed_by_id", sa.Integer(), nullable=False),
        sa.Column("disclosed_at", sa.DateTime(), nullable=False),
        sa.Column("nature", sa.String(length=40), nullable=False),
        sa.Column("information", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.String(length=24), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_emergency_disclosures_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["disclosed_by_id"], ["users.id"],
                                name=op.f("fk_emergency_disclosures_disclosed_by_id_users")),
        sa.ForeignKeyConstraint(
            ["protocol_id"], ["overdose_protocols.id"],
            name=op.f("fk_emergency_disclosures_protocol_id_overdose_protocols"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_disclosures")),
    )
    with op.batch_alter_table("emergency_disclosures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_emergency_disclosures_caller_hash"),
                              ["caller_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_emergency_disclosures_contact_id"),
                              ["contact_id"], unique=False)
        batch_op.create_index("ix_emergency_disclosures_disclosed_at", ["disclosed_at", "id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_emergency_disclosures_protocol_id"),
                              ["protocol_id"], unique=False)

    op.create_table(
        "screenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=24), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("interpretation", sa.String(length=40), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"], name=op.f("fk_screenings_by_id_users")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_screenings_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screenings")),
        sa.UniqueConstraint("contact_id", "instrument", name=op.f("uq_screenings_contact_id")),
    )
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.create_index("ix_screenings_report", ["at", "instrument", "positive"],
                              unique=False)

    # Existing calls were never flagged: the server default fills them in.
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overdose_suspected", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("overdose_suspected")

    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_index("ix_screenings_report")
    op.drop_table("screenings")

    with op.batch_alter_table("emergency_disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_disclosures_protocol_id"))
        batch_op.drop_index("ix_emergency_disclosures_disclosed_at")
        batch_op.drop_index(batch_op.f("ix_emergency_disclosures_contact_id"))
        batch_op.drop_index(batch_op.f("ix_emergency_disclosures_caller_hash"))
    op.drop_table("emergency_disclosures")

    with op.batch_alter_table("overdose_protocol_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_overdose_protocol_steps_protocol_id"))
    op.drop_table("overdose_protocol_steps")

    with op.batch_alter_table("overdose_protocols", schema=None) as batch_op:
        batch_op.drop_index("ix_overdose_protocols_running")
        batch_op.drop_index(batch_op.f("ix_overdose_protocols_counselor_id"))
        batch_op.drop_index(batch_op.f("ix_overdose_protocols_call_id"))
    op.drop_table("overdose_protocols")
