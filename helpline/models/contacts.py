"""Contacts (a counselor's log of a call) and the referrals made in them."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from helpline.crypto import EncryptedText
from helpline.db import Base, utcnow


class ContactStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_created_counselor", "created_at", "counselor_id"),
        # Call history: newest first, filtered by date and optionally need (keyset on id).
        Index("ix_contacts_created_id", "created_at", "id"),
        Index("ix_contacts_need_created_id", "need", "created_at", "id"),
        # Supervisor reports (helpline.reports): risk levels and wrap-up time, index-only.
        Index("ix_contacts_report", "created_at", "suicide_risk", "overdose_risk",
              "wrapup_seconds", "call_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), unique=True, default=None)
    counselor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    # Copied from the call when the record opens, so call history filters one table.
    need: Mapped[str | None] = mapped_column(String(16), default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    wait_seconds: Mapped[int | None] = mapped_column(default=None)
    caller_type: Mapped[str | None] = mapped_column(String(20), default=None)
    substances: Mapped[list[str]] = mapped_column(JSON, default=list)
    suicide_risk: Mapped[str | None] = mapped_column(String(16), default=None)
    overdose_risk: Mapped[str | None] = mapped_column(String(16), default=None)
    age_range: Mapped[str | None] = mapped_column(String(16), default=None)
    state: Mapped[str | None] = mapped_column(String(2), default=None)
    zip_code: Mapped[str | None] = mapped_column(String(5), default=None)
    insurance: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    # Imminent risk: the crisis steps the counselor took (names of steps, never free text).
    crisis_steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Deferred: loading a contact must not decrypt its notes; reading them is audited
    # (helpline.contacts.read_notes).
    notes: Mapped[str | None] = deferred(
        mapped_column(EncryptedText("contacts.notes"), default=None)
    )
    # Why no crisis step was possible at imminent risk, and why a record was closed with
    # something missing: free text that may hold caller data, so sealed and deferred like the
    # notes (read through helpline.records.contacts.read_reasons, which audits).
    no_crisis_step_reason: Mapped[str | None] = deferred(
        mapped_column(EncryptedText("contacts.no_crisis_step_reason"), default=None)
    )
    wrap_up_override_reason: Mapped[str | None] = deferred(
        mapped_column(EncryptedText("contacts.wrap_up_override_reason"), default=None)
    )
    status: Mapped[str] = mapped_column(String(16), default=ContactStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # From the call's end to this record's wrap-up, set at wrap-up (None when the record was
    # closed before the call ended): reports average it without joining a million calls.
    wrapup_seconds: Mapped[int | None] = mapped_column(default=None)

    referrals: Mapped[list[Referral]] = relationship(
        back_populates="contact", order_by="Referral.id", cascade="all, delete-orphan"
    )


class Referral(Base):
    __tablename__ = "referrals"
    # Supervisor reports (helpline.reports): referrals by kind and center over a date range.
    __table_args__ = (Index("ix_referrals_report", "created_at", "kind", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # "center", "group" or "resource", and the id of that directory entry.
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int]
    # A copy of the name at the time of referral: entries can be renamed or removed.
    target_name: Mapped[str] = mapped_column(String(255))
    sent_by_sms_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outbox_id: Mapped[int | None] = mapped_column(default=None)
    # Closed loop (helpline.referral_outcomes): how the referral turned out, filled in by
    # follow-ups, with when, by whom and, if not admitted, why.
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outcome_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    outcome_followup_id: Mapped[int | None] = mapped_column(
        ForeignKey("followups.id", use_alter=True), default=None)
    # Warm handoff to the center's intake line (helpline.handoff).
    handed_off_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    handed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    handoff_consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"),
                                                           default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="referrals")
