"""Consent records, disclosures, safe contact and closed-loop referrals

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

One notion of consent: ``followup_consents`` becomes ``consents`` (its rows stay, with scope
call or sms and purpose followup), and each ``contacts.sms_consent`` that was ticked becomes a
consent row (scope sms, purpose referral) before the column goes. Then the disclosure log,
safe-contact preferences, the closed loop on referrals and the follow-up's referral.

SQLite: no table is copied (a batch copy of a table others point at would, with foreign keys
on, delete or refuse their rows): renames, ADD COLUMN with inline REFERENCES, and DROP COLUMN
are all done in place.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PRE_0007 = "pre-0007"
SMS_WORDING = ("The caller agreed to receive the referrals by text (ticked on the record "
               "before consent records existed).")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _fk_column(table: str, name: str, target: str) -> None:
    """A nullable foreign-key column, added in place on both databases. No ON DELETE: SQLite
    keeps an inline REFERENCES clause whose options its reflection cannot read back."""
    fk = sa.ForeignKey(target, name=op.f(f"fk_{table}_{name}_{target.split('.')[0]}"))
    op.add_column(table, sa.Column(name, sa.Integer(), fk, nullable=True),
                  inline_references=_sqlite())


def _json(value: str) -> str:
    return f"CAST('{value}' AS JSON)" if not _sqlite() else f"'{value}'"


def upgrade() -> None:
    # --- followup_consents becomes consents ------------------------------------------------
    op.rename_table("followup_consents", "consents")
    if not _sqlite():
        op.execute("ALTER SEQUENCE followup_consents_id_seq RENAME TO consents_id_seq")
        op.execute("ALTER TABLE consents RENAME CONSTRAINT pk_followup_consents TO pk_consents")
    op.drop_index("ix_followup_consents_caller_hash", table_name="consents")
    # "third_party" does not fit channel's 8 characters: a new column, then the old one goes.
    op.add_column("consents", sa.Column("scope", sa.String(length=16), nullable=False,
                                        server_default="call"))
    op.execute("UPDATE consents SET scope = channel")
    op.drop_column("consents", "channel")
    op.add_column("consents", sa.Column("purpose", sa.String(length=32), nullable=False,
                                        server_default="followup"))
    op.add_column("consents", sa.Column("information", sa.JSON(), nullable=False,
                                        server_default='["followup_contact"]'))
    op.add_column("consents", sa.Column("recipient_name", sa.String(length=255),
                                        nullable=False, server_default=""))
    op.add_column("consents", sa.Column("third_party_name", sa.Text(), nullable=True))
    op.add_column("consents", sa.Column("expires_at", sa.DateTime(), nullable=True))
    op.add_column("consents", sa.Column("expiry_event", sa.String(length=32), nullable=True))
    op.add_column("consents", sa.Column("method", sa.String(length=16), nullable=False,
                                        server_default="verbal"))
    op.add_column("consents", sa.Column("script_version", sa.String(length=40), nullable=False,
                                        server_default=PRE_0007))
    _fk_column("consents", "contact_id", "contacts.id")
    _fk_column("consents", "recipient_center_id", "treatment_centers.id")
    op.create_index("ix_consents_caller_scope", "consents", ["caller_hash", "scope"])
    op.create_index(op.f("ix_consents_contact_id"), "consents", ["contact_id"])
    # The IVR's callbacks were consented by a keypress, to the prompt recorded as wording.
    op.execute("UPDATE consents SET method = 'ivr_keypress', script_version = 'ivr-callback-1' "
               "WHERE recorded_via = 'ivr'")
    # Each record whose texting box was ticked: a consent to texts for referral details.
    referral_list = _json('["referral_list"]')
    op.execute(
        "INSERT INTO consents (caller_hash, contact_id, scope, purpose, information, "
        "recipient_name, method, script_version, wording, recorded_via, recorded_by_id, "
        "recorded_at) "
        f"SELECT caller_hash, id, 'sms', 'referral', {referral_list}, '', "
        f"'verbal', '{PRE_0007}', '{SMS_WORDING}', 'counselor', counselor_id, updated_at "
        "FROM contacts WHERE sms_consent")
    op.drop_column("contacts", "sms_consent")

    # --- the disclosure log and safe-contact preferences ------------------------------------
    op.create_table(
        "disclosures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller_hash", sa.String(length=64), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_center_id", sa.Integer(), nullable=True),
        sa.Column("recipient_name", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("information", sa.JSON(), nullable=False),
        sa.Column("notice", sa.String(length=16), nullable=False),
        sa.Column("followup_id", sa.Integer(), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("disclosed_by_id", sa.Integer(), nullable=True),
        sa.Column("disclosed_by", sa.String(length=40), nullable=False),
        sa.Column("disclosed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["consent_id"], ["consents.id"],
                                name=op.f("fk_disclosures_consent_id_consents")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"],
                                name=op.f("fk_disclosures_contact_id_contacts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["disclosed_by_id"], ["users.id"],
                                name=op.f("fk_disclosures_disclosed_by_id_users")),
        sa.ForeignKeyConstraint(["followup_id"], ["followups.id"],
                                name=op.f("fk_disclosures_followup_id_followups"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"],
                                name=op.f("fk_disclosures_outbox_id_outbox")),
        sa.ForeignKeyConstraint(["recipient_center_id"], ["treatment_centers.id"],
                                name=op.f("fk_disclosures_recipient_center_id_treatment_centers"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"],
                                name=op.f("fk_disclosures_referral_id_referrals"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    op.create_index("ix_disclosures_caller_at", "disclosures", ["caller_hash", "disclosed_at"])
    op.create_index(op.f("ix_disclosures_consent_id"), "disclosures", ["consent_id"])
    op.create_index(op.f("ix_disclosures_contact_id"), "disclosures", ["contact_id"])
    op.create_index(op.f("ix_disclosures_followup_id"), "disclosures", ["followup_id"])

    op.create_table(
        "safe_contact_preferences",
        sa.Column("caller_hash", sa.String(length=64), nullable=False),
        sa.Column("voicemail_ok", sa.Boolean(), nullable=False),
        sa.Column("name_choice", sa.String(length=16), nullable=False),
        sa.Column("allow_calls", sa.Boolean(), nullable=False),
        sa.Column("allow_texts", sa.Boolean(), nullable=False),
        sa.Column("safe_hours_start", sa.Integer(), nullable=True),
        sa.Column("safe_hours_end", sa.Integer(), nullable=True),
        sa.Column("someone_else_risk", sa.Boolean(), nullable=False),
        sa.Column("ask_for", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"],
                                name=op.f("fk_safe_contact_preferences_updated_by_id_users")),
        sa.PrimaryKeyConstraint("caller_hash", name=op.f("pk_safe_contact_preferences")),
    )

    # --- the closed loop on referrals, and the follow-up that closes it ---------------------
    op.add_column("referrals", sa.Column("outcome_reason", sa.String(length=32), nullable=True))
    op.add_column("referrals", sa.Column("outcome_at", sa.DateTime(), nullable=True))
    op.add_column("referrals", sa.Column("handed_off_at", sa.DateTime(), nullable=True))
    _fk_column("referrals", "outcome_by_id", "users.id")
    _fk_column("referrals", "outcome_followup_id", "followups.id")
    _fk_column("referrals", "handed_off_by_id", "users.id")
    _fk_column("referrals", "handoff_consent_id", "consents.id")
    _fk_column("followups", "referral_id", "referrals.id")
    op.create_index(op.f("ix_followups_referral_id"), "followups", ["referral_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_followups_referral_id"), table_name="followups")
    for table, column in (("followups", "referral_id"), ("referrals", "handoff_consent_id"),
                          ("referrals", "handed_off_by_id"),
                          ("referrals", "outcome_followup_id"), ("referrals", "outcome_by_id"),
                          ("referrals", "handed_off_at"), ("referrals", "outcome_at"),
                          ("referrals", "outcome_reason")):
        op.drop_column(table, column)
    op.drop_table("safe_contact_preferences")
    op.drop_index(op.f("ix_disclosures_followup_id"), table_name="disclosures")
    op.drop_index(op.f("ix_disclosures_contact_id"), table_name="disclosures")
    op.drop_index(op.f("ix_disclosures_consent_id"), table_name="disclosures")
    op.drop_index("ix_disclosures_caller_at", table_name="disclosures")
    op.drop_table("disclosures")

    # Texting consents go back to the record's box; consents the old table cannot hold go.
    op.add_column("contacts", sa.Column("sms_consent", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.execute("UPDATE contacts SET sms_consent = true WHERE id IN (SELECT contact_id FROM "
               "consents WHERE scope = 'sms' AND purpose = 'referral' AND withdrawn_at IS NULL)")
    op.execute("DELETE FROM consents WHERE purpose <> 'followup'")
    op.drop_index(op.f("ix_consents_contact_id"), table_name="consents")
    op.drop_index("ix_consents_caller_scope", table_name="consents")
    op.add_column("consents", sa.Column("channel", sa.String(length=8), nullable=False,
                                        server_default="call"))
    op.execute("UPDATE consents SET channel = scope")
    for column in ("recipient_center_id", "contact_id", "script_version", "method",
                   "expiry_event", "expires_at", "third_party_name", "recipient_name",
                   "information", "purpose", "scope"):
        op.drop_column("consents", column)
    op.create_index("ix_followup_consents_caller_hash", "consents", ["caller_hash"])
    if not _sqlite():
        op.execute("ALTER TABLE consents RENAME CONSTRAINT pk_consents TO pk_followup_consents")
        op.execute("ALTER SEQUENCE consents_id_seq RENAME TO followup_consents_id_seq")
    op.rename_table("consents", "followup_consents")
