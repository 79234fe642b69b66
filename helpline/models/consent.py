"""A caller's consents (42 CFR §2.31; TCPA for texts), the disclosures made under them, and
the caller's safe-contact preferences.

One consent covers one revocable scope (calls, texts, sharing with one treatment provider,
contacting one third party) for one purpose, until a date or an event. Reading a consent is
through :mod:`helpline.consent`; every disclosure is a :class:`Disclosure` row naming the
consent it relied on (emergency disclosures under §2.51 keep their own table,
``emergency_disclosures``, and are listed beside these).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class Consent(Base):
    """What may be shared, with whom, why, until when, how it was given, and its withdrawal."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_caller_scope", "caller_hash", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The number the caller may be reached at (calls, texts) or the third party's. The sealing
    # purpose keeps the table's first name: numbers recorded before 0007 must still open.
    phone: Mapped[str | None] = mapped_column(EncryptedText("followup_consents.phone"),
                                              default=None)
    # The record the consent was given on (None for the IVR's keypress, or a walk-in).
    # (No ON DELETE on the foreign keys 0007 adds to existing tables: SQLite adds them inline,
    # where its reflection cannot see one, and nothing here deletes records, centers or
    # follow-ups.)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), default=None,
                                                   index=True)
    # call, sms, provider, third_party (helpline.consent_terms.SCOPES)
    scope: Mapped[str] = mapped_column(String(16))
    # For the provider scope: the directory entry, and its name as it was when consent was given.
    recipient_center_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_centers.id"),
                                                            default=None)
    recipient_name: Mapped[str] = mapped_column(String(255), default="")
    # For the third-party scope: who (a name is confidential: sealed, and deferred so that
    # asking the consent door never opens it; the caller's consents page reads it, audited).
    third_party_name: Mapped[str | None] = deferred(mapped_column(
        EncryptedText("consents.third_party_name"), default=None))
    purpose: Mapped[str] = mapped_column(String(32))
    # Codes of what may be shared (helpline.consent_terms.INFORMATION), SUD information named.
    information: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # An event that ends the consent (helpline.consent_terms.EXPIRY_EVENTS); when it happens,
    # expires_at is set to that moment.
    expiry_event: Mapped[str | None] = mapped_column(String(32), default=None)
    # verbal (a counselor's attestation), ivr_keypress (the caller pressed a key)
    method: Mapped[str] = mapped_column(String(16), default="verbal")
    script_version: Mapped[str] = mapped_column(String(40), default="")
    # The exact words the caller agreed to (the script read, or the IVR prompt).
    wording: Mapped[str] = mapped_column(Text)
    recorded_via: Mapped[str] = mapped_column(String(20))  # counselor, ivr, supervisor
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    withdrawn_how: Mapped[str | None] = mapped_column(String(40), default=None)


class Disclosure(Base):
    """One disclosure made under a consent: to whom, what, when, why, by whom (§2.32 log)."""

    __tablename__ = "disclosures"
    __table_args__ = (Index("ix_disclosures_caller_at", "caller_hash", "disclosed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caller_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None, index=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("consents.id"), index=True)
    # caller (the caller themself), provider, third_party
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_center_id: Mapped[int | None] = mapped_column(
        ForeignKey("treatment_centers.id", ondelete="SET NULL"), default=None)
    recipient_name: Mapped[str] = mapped_column(String(255), default="")
    # sms, call (a bridged callback), reminder (a counselor calls), conference (a handoff)
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    information: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The §2.32 notice that went with it ("" for a message to the caller themself).
    notice: Mapped[str] = mapped_column(String(16), default="")
    followup_id: Mapped[int | None] = mapped_column(
        ForeignKey("followups.id", ondelete="SET NULL"), default=None, index=True)
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), default=None)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), default=None)
    disclosed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Who made it when no staff member did ("scheduler").
    disclosed_by: Mapped[str] = mapped_column(String(40), default="")
    disclosed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SafeContactPreferences(Base):
    """How a caller may safely be contacted for follow-ups (one row per caller).

    No row means the safe defaults: no voicemail, the neutral alias, calls and texts, any time
    outside quiet hours, nobody else known to be a risk.
    """

    __tablename__ = "safe_contact_preferences"

    caller_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    voicemail_ok: Mapped[bool] = mapped_column(default=False)
    # "alias" (SAFE_CONTACT_ALIAS) or "helpline" (HELPLINE_NAME)
    name_choice: Mapped[str] = mapped_column(String(16), default="alias")
    allow_calls: Mapped[bool] = mapped_column(default=True)
    allow_texts: Mapped[bool] = mapped_column(default=True)
    # Safe hours in the caller's time zone, on top of quiet hours (None: any allowed hour).
    safe_hours_start: Mapped[int | None] = mapped_column(default=None)
    safe_hours_end: Mapped[int | None] = mapped_column(default=None)
    # Someone else on the line is a risk: ask for the caller by first name only, never say
    # why, hang up if someone else answers.
    someone_else_risk: Mapped[bool] = mapped_column(default=False)
    # The first name to ask for. Deferred: loading preferences must not open it; reading it is
    # audited (helpline.safe_contact.read_ask_for).
    ask_for: Mapped[str | None] = deferred(mapped_column(
        EncryptedText("safe_contact_preferences.ask_for"), default=None))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
